// CPU shift-structured im2col products: the Gram G [C·KH·KW, C·KH·KW] += UᵀU (and the cross
// product with the layer's outputs, C += UᵀY, below) for U the im2col rows of
// x [N, C, H, W] (one row per (image, output position), column (c·KH + kh)·KW + kw), computed
// without forming U (kernels/common/conv_gram_index.h for the decomposition).
//
// Block (k, k') of G is Σ_{t ∈ Iy×Ix} A[t] B[t + δ]ᵀ with A, B the phase images of the two offsets,
// δ their shift difference and Iy×Ix offset k's window inside the pair's support Vy×Vx. All blocks
// with the same key (φ, φ', δ) are assembled from shared sums: Vy is cut into segments at every
// block's window ends, each segment's sum over the full Vx ("row sums") is computed once, and a
// block subtracts the few columns of Vx outside its Ix ("column sums", also shared). Block (k', k)
// is block (k, k') transposed, so only one orientation of each key is computed. For a 3×3,
// stride-1 convolution that is 13 keys (each ≈ one pass over the positions) instead of 45
// distinct blocks of the direct SYRK: ~3× fewer multiply-adds, minus the border columns.
#include <omp.h>

#include <algorithm>
#include <map>
#include <tuple>
#include <vector>

#include "kernels/backend_ops.h"
#include "kernels/common/conv_gram_index.h"
#include "kernels/cpu/blas_gemm.h"

namespace pleas::cpu {

namespace {

struct Axis {
  std::vector<ShiftPhase> sp;  // per kernel offset
  int64_t in = 0, out = 0, stride = 1;
  int64_t len(int64_t phase) const { return phase_length(in, phase, stride); }
};

Axis make_axis(int64_t in, int64_t k, int64_t s, int64_t p, int64_t d) {
  Axis a;
  a.in = in;
  a.stride = s;
  a.out = (in + 2 * p - d * (k - 1) - 1) / s + 1;
  for (int64_t i = 0; i < k; ++i) a.sp.push_back(shift_phase(i, s, p, d));
  return a;
}

// Phase image (py, px) of x laid out [Ly][Lx][N][C]: position t's N·C values are contiguous and
// so is a run of positions along x, so every sum over a run of t is one GEMM.
template <typename T>
std::vector<T> phase_image(const T* x, int64_t N, int64_t C, int64_t H, int64_t W, const Axis& ay,
                           const Axis& ax, int64_t py, int64_t px) {
  const int64_t Ly = ay.len(py), Lx = ax.len(px);
  std::vector<T> P(size_t(Ly * Lx * N * C));
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c) {
      const T* src = x + (n * C + c) * H * W;
      for (int64_t ty = 0; ty < Ly; ++ty)
        for (int64_t tx = 0; tx < Lx; ++tx)
          P[size_t(((ty * Lx + tx) * N + n) * C + c)] = src[(ay.stride * ty + py) * W + ax.stride * tx + px];
    }
  return P;
}

// One phase image: data [Ly][Lx][N][C].
template <typename T>
struct Phase {
  std::vector<T> data;
  int64_t ly = 0, lx = 0;
};

// The phase images of every (φy, φx) that some kernel offset reads, by phase.
template <typename T>
std::map<std::pair<int64_t, int64_t>, Phase<T>> phase_images(const T* x, int64_t N, int64_t C, int64_t H, int64_t W,
                                                             const Axis& ay, const Axis& ax) {
  std::map<std::pair<int64_t, int64_t>, Phase<T>> phases;
  for (const ShiftPhase& sy : ay.sp)
    for (const ShiftPhase& sx : ax.sp) {
      if (phases.count({sy.phase, sx.phase})) continue;
      Phase<T>& p = phases[{sy.phase, sx.phase}];
      p.ly = ay.len(sy.phase);
      p.lx = ax.len(sx.phase);
      p.data = phase_image(x, N, C, H, W, ay, ax, sy.phase, sx.phase);
    }
  return phases;
}

// (φy, φx) of A, (φy, φx) of B, δy, δx.
using Key = std::tuple<int64_t, int64_t, int64_t, int64_t, int64_t, int64_t>;
struct Block {
  int64_t i, j;      // offsets (flattened ky·KW + kx) of the rows and columns of the block
  Interval iy, ix;   // window of offset i inside the key's support
};

// out [C, C] += Σ_{runs} A[run]ᵀ B[run + δ], one GEMM per row of t (a run of `cols` positions).
template <typename T>
void sum_rows(T* out, const Phase<T>& A, const Phase<T>& B, int64_t N, int64_t C, int64_t dy, int64_t dx,
              int64_t y0, int64_t y1, int64_t x0, int64_t cols) {
  if (cols <= 0) return;
  for (int64_t y = y0; y < y1; ++y) {
    const T* a = A.data.data() + ((y * A.lx + x0) * N) * C;
    const T* b = B.data.data() + (((y + dy) * B.lx + x0 + dx) * N) * C;
    blas_gemm<T>(C, C, cols * N, a, BlasLayout{true, C}, b, BlasLayout{false, C}, T(1), out, C);
  }
}

template <typename T>
void key_blocks(const Key& key, const std::vector<Block>& blocks, const Phase<T>& A, const Phase<T>& B, int64_t N,
                int64_t C, Interval vy, Interval vx, T* G, int64_t Kp, int64_t KK) {
  const int64_t dy = std::get<4>(key), dx = std::get<5>(key);
  std::vector<int64_t> cuts = {vy.lo, vy.hi};
  for (const Block& b : blocks)
    if (b.iy.size() > 0 && b.ix.size() > 0) cuts.push_back(b.iy.lo), cuts.push_back(b.iy.hi);
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());
  const size_t CC = size_t(C * C);
  std::vector<std::vector<T>> rows(cuts.size() - 1);  // segment s = [cuts[s], cuts[s + 1])
  std::map<std::pair<size_t, int64_t>, std::vector<T>> cols;  // (segment, x) -> Σ over the segment at column x
  std::vector<T> acc(CC);
  for (const Block& b : blocks) {
    if (b.iy.size() == 0 || b.ix.size() == 0) continue;  // the window misses the support: a zero block
    std::fill(acc.begin(), acc.end(), T(0));
    for (size_t s = 0; s + 1 < cuts.size(); ++s) {
      if (cuts[s] < b.iy.lo || cuts[s + 1] > b.iy.hi) continue;
      std::vector<T>& r = rows[s];
      if (r.empty()) {
        r.assign(CC, T(0));
        sum_rows(r.data(), A, B, N, C, dy, dx, cuts[s], cuts[s + 1], vx.lo, vx.size());
      }
      for (size_t e = 0; e < CC; ++e) acc[e] += r[e];
      // Columns of the support outside this block's window.
      for (int64_t x = vx.lo; x < vx.hi; ++x) {
        if (x >= b.ix.lo && x < b.ix.hi) continue;
        std::vector<T>& c = cols[{s, x}];
        if (c.empty()) {
          c.assign(CC, T(0));
          sum_rows(c.data(), A, B, N, C, dy, dx, cuts[s], cuts[s + 1], x, 1);
        }
        for (size_t e = 0; e < CC; ++e) acc[e] -= c[e];
      }
    }
    // G[(c·KK + i), (c'·KK + j)] += acc[c, c'] and, off the diagonal, its mirror.
    for (int64_t c = 0; c < C; ++c)
      for (int64_t c2 = 0; c2 < C; ++c2) {
        const T v = acc[size_t(c * C + c2)];
        G[(c * KK + b.i) * Kp + c2 * KK + b.j] += v;
        if (b.i != b.j) G[(c2 * KK + b.j) * Kp + c * KK + b.i] += v;
      }
  }
}

template <typename T>
void conv_gram_t(Tensor& G, const Tensor& x, int kh, int kw, const Conv2dArgs& a) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
  const Axis ay = make_axis(H, kh, a.stride_h, a.pad_h, a.dilation_h);
  const Axis ax = make_axis(W, kw, a.stride_w, a.pad_w, a.dilation_w);
  const int64_t KK = int64_t(kh) * kw, Kp = C * KK;
  const T* xp = x.data<T>();
  const auto phases = phase_images(xp, N, C, H, W, ay, ax);
  // Every unordered pair of offsets, in the orientation whose key is the smaller.
  std::map<Key, std::vector<Block>> keys;
  for (int64_t i = 0; i < KK; ++i)
    for (int64_t j = i; j < KK; ++j) {
      int64_t u = i, v = j;
      auto key_of = [&](int64_t p, int64_t q) {
        const ShiftPhase &py = ay.sp[size_t(p / kw)], &px = ax.sp[size_t(p % kw)];
        const ShiftPhase &qy = ay.sp[size_t(q / kw)], &qx = ax.sp[size_t(q % kw)];
        return Key{py.phase, px.phase, qy.phase, qx.phase, qy.shift - py.shift, qx.shift - px.shift};
      };
      if (key_of(v, u) < key_of(u, v)) std::swap(u, v);
      keys[key_of(u, v)].push_back(Block{u, v, {}, {}});
    }
  std::vector<std::pair<Key, std::vector<Block>>> work(keys.begin(), keys.end());
  T* g = G.data<T>();
  // One key per task: its sums are computed by one thread in a fixed order and keys write disjoint
  // blocks of G, so the result does not depend on the schedule or the thread count.
#pragma omp parallel for schedule(dynamic)
  for (size_t w = 0; w < work.size(); ++w) {
    const Key& key = work[w].first;
    const Phase<T>& A = phases.at({std::get<0>(key), std::get<1>(key)});
    const Phase<T>& B = phases.at({std::get<2>(key), std::get<3>(key)});
    const Interval vy = pair_support(A.ly, B.ly, std::get<4>(key));
    const Interval vx = pair_support(A.lx, B.lx, std::get<5>(key));
    std::vector<Block> blocks = work[w].second;
    for (Block& b : blocks) {
      b.iy = block_window(ay.sp[size_t(b.i / kw)].shift, ay.out, vy);
      b.ix = block_window(ax.sp[size_t(b.i % kw)].shift, ax.out, vx);
    }
    key_blocks(key, blocks, A, B, N, C, vy, vx, g, Kp, KK);
  }
}

// C [C·KK, P] += Uᵀ Y with Y [M, P] the rows (n, oh, ow) of y [N, P, OH, OW]: for kernel offset k,
// output o reads phase image A at t = o + a_k, so Σ_o A[o + a_k] Y[o]ᵀ is one GEMM per output row
// over the run of output columns whose t lies inside A (y laid out [OH][OW][N][P] like A).
template <typename T>
void conv_cross_t(Tensor& Cm, const Tensor& x, const Tensor& y, int kh, int kw, const Conv2dArgs& a) {
  const int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3), P = y.size(1);
  const Axis ay = make_axis(H, kh, a.stride_h, a.pad_h, a.dilation_h);
  const Axis ax = make_axis(W, kw, a.stride_w, a.pad_w, a.dilation_w);
  const int64_t KK = int64_t(kh) * kw, OH = ay.out, OW = ax.out;
  const T* xp = x.data<T>();
  const T* yp = y.data<T>();
  std::vector<T> Yt(size_t(OH * OW * N * P));
#pragma omp parallel for collapse(2) schedule(static)
  for (int64_t n = 0; n < N; ++n)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t q = 0; q < OH * OW; ++q) Yt[size_t((q * N + n) * P + p)] = yp[(n * P + p) * OH * OW + q];
  const auto phases = phase_images(xp, N, C, H, W, ay, ax);
  T* cp = Cm.data<T>();
#pragma omp parallel for schedule(dynamic)
  for (int64_t k = 0; k < KK; ++k) {
    const ShiftPhase sy = ay.sp[size_t(k / kw)], sx = ax.sp[size_t(k % kw)];
    const Phase<T>& A = phases.at({sy.phase, sx.phase});
    const Interval oy = intersect({0, OH}, {-sy.shift, A.ly - sy.shift});
    const Interval ox = intersect({0, OW}, {-sx.shift, A.lx - sx.shift});
    std::vector<T> acc(size_t(C * P), T(0));
    if (ox.size() > 0)
      for (int64_t o = oy.lo; o < oy.hi; ++o) {
        const T* ar = A.data.data() + (((o + sy.shift) * A.lx + ox.lo + sx.shift) * N) * C;
        const T* yr = Yt.data() + ((o * OW + ox.lo) * N) * P;
        blas_gemm<T>(C, P, ox.size() * N, ar, BlasLayout{true, C}, yr, BlasLayout{false, P}, T(1), acc.data(), P);
      }
    for (int64_t c = 0; c < C; ++c)
      for (int64_t p = 0; p < P; ++p) cp[(c * KK + k) * P + p] += acc[size_t(c * P + p)];
  }
}

}  // namespace

void conv_cross_accumulate(Tensor& C, const Tensor& x, const Tensor& y, int kh, int kw, const Conv2dArgs& args) {
  if (C.dtype() == DType::f64) conv_cross_t<double>(C, x, y, kh, kw, args);
  else conv_cross_t<float>(C, x, y, kh, kw, args);
}

void conv_gram_accumulate(Tensor& G, const Tensor& x, int kh, int kw, const Conv2dArgs& args) {
  if (G.dtype() == DType::f64) conv_gram_t<double>(G, x, kh, kw, args);
  else conv_gram_t<float>(G, x, kh, kw, args);
}

}  // namespace pleas::cpu
