// CPU per-channel ops on x [N, C, inner...]: batch_norm (inference), scale_shift, and the
// per-channel batch statistics (two-pass, in double).
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/backend_ops.h"
#include "kernels/common/channel_index.h"

namespace pleas::cpu {

namespace {
constexpr int64_t kParallelMin = 1 << 15;  // elements below which threads cost more than they save

// y[n,c,j] = x[n,c,j] · s[c] + t[c] for contiguous x, y viewed as [N, C, inner].
void channel_affine(float* y, const float* x, const float* s, const float* t, int64_t N, int64_t C,
                    int64_t inner) {
  if (inner == 1) {  // [N, C]: vectorise along C
#pragma omp parallel for schedule(static) if (N * C > kParallelMin)
    for (int64_t n = 0; n < N; ++n) {
      const float* xr = x + n * C;
      float* yr = y + n * C;
      for (int64_t c = 0; c < C; ++c) yr[c] = xr[c] * s[c] + t[c];
    }
    return;
  }
  const int64_t rows = N * C;
#pragma omp parallel for schedule(static) if (rows * inner > kParallelMin)
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = channel_of<int64_t>(r * inner, inner, C);
    const float sc = s[c], sh = t[c];
    const float* xr = x + r * inner;
    float* yr = y + r * inner;
    for (int64_t j = 0; j < inner; ++j) yr[j] = xr[j] * sc + sh;
  }
}

// A [C] parameter as doubles; `dflt` everywhere when p is undefined.
std::vector<double> param_or(const Tensor& p, int64_t C, double dflt) {
  return p.defined() ? p.to_double_vector() : std::vector<double>(static_cast<size_t>(C), dflt);
}

void run_affine(Tensor& y, const Tensor& x, const std::vector<float>& s, const std::vector<float>& t) {
  const Tensor xc = x.contiguous();
  const int64_t N = x.size(0), C = x.size(1);
  const int64_t inner = channel_inner(x.shape().data(), x.dim());
  if (x.numel() == 0) return;
  channel_affine(y.data<float>(), xc.data<float>(), s.data(), t.data(), N, C, inner);
}
}  // namespace

void batch_norm(Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias,
                const Tensor& mean, const Tensor& var, double eps) {
  // Folded into one affine map per channel, computed in double:
  //   y = (x - mean) / sqrt(var + eps) * w + b = x * s + t,  s = w / sqrt(var + eps),  t = b - mean * s.
  const int64_t C = x.size(1);
  const std::vector<double> w = param_or(weight, C, 1.0), b = param_or(bias, C, 0.0);
  const std::vector<double> mu = mean.to_double_vector(), v = var.to_double_vector();
  std::vector<float> s(static_cast<size_t>(C)), t(static_cast<size_t>(C));
  for (size_t c = 0; c < size_t(C); ++c) {
    const double sc = w[c] / std::sqrt(v[c] + eps);
    s[c] = float(sc);
    t[c] = float(b[c] - mu[c] * sc);
  }
  run_affine(y, x, s, t);
}

void scale_shift(Tensor& y, const Tensor& x, const Tensor& scale, const Tensor& shift) {
  const Tensor s = scale.contiguous(), t = shift.contiguous();
  const float* sp = s.data<float>();
  const float* tp = t.data<float>();
  const int64_t C = x.size(1);
  run_affine(y, x, std::vector<float>(sp, sp + C), std::vector<float>(tp, tp + C));
}

void batch_channel_stats(Tensor& mean, Tensor& var, const Tensor& x) {
  // Two passes per channel in double: mean = Σx / n, then var = Σ(x - mean)² / n (biased). The
  // second pass subtracts the exact-to-double mean first, so a large common offset (|mean| >> std)
  // does not cancel the variance away as E[x²] - E[x]² would.
  const Tensor xc = x.contiguous();
  const float* xp = xc.data<float>();
  const int64_t N = x.size(0), C = x.size(1);
  const int64_t inner = channel_inner(x.shape().data(), x.dim());
  const double count = double(N * inner);
  double* mp = mean.data<double>();
  double* vp = var.data<double>();
  if (inner == 1) {
    // [N, C] rows (channels-last samples, e.g. ViT tokens): walk the rows in memory order with one
    // accumulator per channel, each thread over its own rows, partial sums combined per pass.
    std::vector<double> sum(size_t(C), 0.0), sq(size_t(C), 0.0);
#pragma omp parallel if (x.numel() > kParallelMin)
    {
      std::vector<double> part(size_t(C), 0.0);
#pragma omp for schedule(static)
      for (int64_t n = 0; n < N; ++n) {
        const float* row = xp + n * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) part[size_t(c)] += row[c];
      }
#pragma omp critical
      for (int64_t c = 0; c < C; ++c) sum[size_t(c)] += part[size_t(c)];
#pragma omp barrier
      std::fill(part.begin(), part.end(), 0.0);
#pragma omp for schedule(static)
      for (int64_t n = 0; n < N; ++n) {
        const float* row = xp + n * C;
#pragma omp simd
        for (int64_t c = 0; c < C; ++c) {
          const double d = double(row[c]) - sum[size_t(c)] / count;
          part[size_t(c)] += d * d;
        }
      }
#pragma omp critical
      for (int64_t c = 0; c < C; ++c) sq[size_t(c)] += part[size_t(c)];
    }
    for (int64_t c = 0; c < C; ++c) {
      mp[c] = sum[size_t(c)] / count;
      vp[c] = sq[size_t(c)] / count;
    }
    return;
  }
#pragma omp parallel for schedule(dynamic, 1) if (x.numel() > kParallelMin)
  for (int64_t c = 0; c < C; ++c) {
    double s = 0;
    for (int64_t n = 0; n < N; ++n) {
      const float* row = xp + channel_elem_offset<int64_t>(c, n * inner, C, inner);
#pragma omp simd reduction(+ : s)
      for (int64_t j = 0; j < inner; ++j) s += row[j];
    }
    const double mu = s / count;
    double ss = 0;
    for (int64_t n = 0; n < N; ++n) {
      const float* row = xp + channel_elem_offset<int64_t>(c, n * inner, C, inner);
#pragma omp simd reduction(+ : ss)
      for (int64_t j = 0; j < inner; ++j) {
        const double d = double(row[j]) - mu;
        ss += d * d;
      }
    }
    mp[c] = mu;
    vp[c] = ss / count;
  }
}

}  // namespace pleas::cpu
