#include "pleas/least_squares.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <numeric>
#include <random>

#include "engine/progress.h"
#include "kernels/ops.h"
#include "models/vit.h"

namespace pleas {

LsqObjective parse_objective(const std::string& s) {
  if (s == "ensemble" || s == "eq1") return LsqObjective::ensemble;
  if (s == "separate_inputs") return LsqObjective::separate_inputs;
  if (s == "separate") return LsqObjective::separate;
  if (s == "ensemble_inputs") return LsqObjective::ensemble_inputs;
  if (s == "regmean") return LsqObjective::regmean;
  PLEAS_FAIL("least squares: unknown objective '", s,
             "' (ensemble, separate_inputs, separate, ensemble_inputs, regmean)");
}

namespace {

// How a parent pair's channels are combined into the merged layout: the value at a merged
// position is ca·A + cb·B with (ca, cb) by kind: avg = Eq. 1's ensemble, 'A'/'B' = that parent's
// version (its own value on merged units).
enum class Mix { avg, a, b };

struct LayerCoef {
  Tensor ia, ib;            // i64 [n] gathers
  std::vector<float> kinds;  // 0 = A-only, 1 = merged, 2 = B-only
  Tensor ca[3], cb[3];      // per Mix, f32 [n]
  std::vector<Tensor> maps;  // explicit alignments: per parent, f32 [n, D] layout merge map (M_x)
  int64_t size() const { return maps.empty() ? ia.size(0) : maps[0].size(0); }
};

// The layout merge maps of every parent (an alignment given by maps, or N > 2 parents): the
// merged-layout ensemble is Σ_x M_x · f_x.
LayerCoef map_coefficients(const MergePlan& plan, const std::vector<MergedPos>& pos, int64_t parent_size, Device dev) {
  LayerCoef c;
  for (int x = 0; x < plan.parents; ++x) {
    LayoutMaps lm = layout_maps(plan, pos, parent_size, x);
    std::vector<float> m(lm.M.begin(), lm.M.end());
    c.maps.push_back(Tensor::from_vector(m, {lm.P, lm.D}, dev));
  }
  return c;
}

LayerCoef coefficients(const std::vector<MergedPos>& pos, Device dev) {
  LayerCoef c;
  std::vector<int64_t> ia, ib;
  std::vector<float> ca[3], cb[3];
  for (const MergedPos& p : pos) {
    ia.push_back(p.a >= 0 ? p.a : 0);
    ib.push_back(p.b >= 0 ? p.b : 0);
    const bool A = p.kind == 'A', M = p.kind == 'M', B = p.kind == 'B';
    ca[0].push_back(A ? 1.f : M ? 0.5f : 0.f);
    cb[0].push_back(B ? 1.f : M ? 0.5f : 0.f);
    ca[1].push_back(A || M ? 1.f : 0.f);
    cb[1].push_back(B ? 1.f : 0.f);
    ca[2].push_back(A ? 1.f : 0.f);
    cb[2].push_back(B || M ? 1.f : 0.f);
  }
  const int64_t n = int64_t(pos.size());
  c.ia = Tensor::from_vector(ia, {n}, dev);
  c.ib = Tensor::from_vector(ib, {n}, dev);
  for (int m = 0; m < 3; ++m) {
    c.ca[m] = Tensor::from_vector(ca[m], {n}, dev);
    c.cb[m] = Tensor::from_vector(cb[m], {n}, dev);
  }
  return c;
}

// x of both parents -> merged layout along the channel axis (1 for convolutions [N, C, H, W],
// the last for linear layers [..., C], e.g. ViT tokens [N, L, C]).
Tensor mix(const Tensor& xa, const Tensor& xb, const LayerCoef& c, Mix m, int axis) {
  if (axis < 0) axis += xa.dim();
  PLEAS_CHECK(c.maps.empty(), "least squares: internal: gather mix on a map-merged layer");
  const int k = int(m);
  return gather_mix(xa, xb, axis, c.ia, c.ib, c.ca[k], c.cb[k]);  // one pass: ca·xa[ia] + cb·xb[ib]
}

// Σ_x M_x · x_x along the channel axis (explicit maps; Eq. 1's ensemble in aligned coordinates).
Tensor mix_maps(const std::vector<const Tensor*>& xs, const LayerCoef& c, int axis) {
  const Tensor& x0 = *xs[0];
  if (axis < 0) axis += x0.dim();
  std::vector<int> to_last, back;
  for (int d = 0; d < x0.dim(); ++d)
    if (d != axis) to_last.push_back(d);
  to_last.push_back(axis);
  back.assign(size_t(x0.dim()), 0);
  for (int d = 0; d < x0.dim(); ++d) back[size_t(to_last[size_t(d)])] = d;
  Tensor acc;
  Shape shape;
  for (size_t x = 0; x < xs.size(); ++x) {
    Tensor t = xs[x]->permute(to_last).contiguous();
    shape = t.shape();
    const int64_t D = shape.back();
    PLEAS_CHECK(D == c.maps[x].size(1), "least squares: activation with ", D, " channels, the merge map expects ",
                c.maps[x].size(1));
    Tensor y = matmul(t.reshape({-1, D}), c.maps[x], false, true);
    acc = acc.defined() ? add(acc, y) : y;
  }
  shape.back() = c.maps[0].size(0);
  return acc.reshape(shape).permute(back).contiguous();
}

struct Acts {
  std::map<std::string, std::pair<Tensor, Tensor>> io;  // path -> (input, output)
};

void collect(Model& m, const Tensor& x, const std::vector<std::string>& paths, Acts& acts) {
  Hooks hooks;
  for (const std::string& p : paths)
    hooks.add(p, [&acts](const std::string& path, const Tensor& in, const Tensor& out) {
      // Held without a copy: conv, linear and LayerNorm inputs and outputs are never modified after
      // they are reported (models/hooks.h).
      acts.io[path] = {in, out};
    });
  ForwardCtx ctx;
  ctx.hooks = &hooks;
  m.forward(x, ctx);
}

struct Accum {
  std::string path;
  bool conv = false, bias = false;
  int kh = 1, kw = 1;
  Conv2dArgs args;
  int64_t K = 0, P = 0, Q = 0;
  LayerCoef in, out;
  Tensor G, C;  // f64 [K,K], [K,P] on the merge device: the normal equations never leave it
  const LayerNorm* norm = nullptr;  // the merged model's norm before this layer (norm_inputs_merged)
  std::string norm_path;
};

// G[:Kx, :Kx] += gxx and C[:Kx] += cxy: f32 products summed into the f64 accumulators on their device.
void add_products(Accum& a, int64_t Kx, const Tensor& gxx, const Tensor& cxy) {
  Tensor g = a.G.narrow(0, 0, Kx).narrow(1, 0, Kx), c = a.C.narrow(0, 0, Kx);
  add_into(g, gxx);
  add_into(c, cxy);
}

// The normal equations of one batch, G += [X 1]ᵀ[X 1] and C += [X 1]ᵀY, from the samples as rows
// of Z = [X Y] [M, K' + P]: the Gram of Z (f32, on Z's device; threaded SYRK on the CPU) holds
// XᵀX in its top-left block and YᵀX below it, summed into the f64 accumulators. With a bias the
// last unknown multiplies a constant 1, whose Gram row is the column sums of X (and M on the
// diagonal) and whose cross row is the column sums of Y.
void accumulate(Accum& a, const Tensor& Z) {
  const int64_t Kx = a.K - (a.bias ? 1 : 0), W = Kx + a.P, M = Z.size(0);
  PLEAS_CHECK(Z.size(1) == W, "least squares: internal: ", a.path, " samples of width ", Z.size(1), ", expected ", W);
  Tensor Gz = Tensor::zeros({W, W}, DType::f32, Z.device());
  gram_accumulate(Gz, Z);
  add_products(a, Kx, Gz.narrow(0, 0, Kx).narrow(1, 0, Kx), Gz.narrow(0, 0, Kx).narrow(1, Kx, a.P));
  if (!a.bias) return;
  const Tensor s = sum(Z, {0});  // [W]: column sums of X, then of Y
  const int64_t b = a.K - 1;
  Tensor grow = a.G.narrow(0, b, 1).narrow(1, 0, Kx), gcol = a.G.narrow(1, b, 1).narrow(0, 0, Kx);
  Tensor gbb = a.G.narrow(0, b, 1).narrow(1, b, 1), crow = a.C.narrow(0, b, 1);
  add_into(grow, s.narrow(0, 0, Kx).reshape({1, Kx}));
  add_into(gcol, s.narrow(0, 0, Kx).reshape({Kx, 1}));
  add_into(gbb, Tensor::full({1, 1}, double(M), DType::f64, Z.device()));
  add_into(crow, s.narrow(0, Kx, a.P).reshape({1, a.P}));
}

// A stride-1 convolution without bias, straight from its input x [N, Q, H, W] and target
// y [N, P, OH, OW]: XᵀX from the shift structure of the im2col matrix (conv_gram_accumulate, ~3x
// fewer multiply-adds than the SYRK for 3x3 kernels) and XᵀY one GEMM per kernel offset and output
// row (conv_cross_accumulate); the im2col matrix is never formed.
void accumulate_structured(Accum& a, const Tensor& x, const Tensor& y) {
  const int64_t Kx = a.K;
  Tensor Gx = Tensor::zeros({Kx, Kx}, DType::f32, x.device()), Cx = Tensor::zeros({Kx, a.P}, DType::f32, x.device());
  conv_gram_accumulate(Gx, x, a.kh, a.kw, a.args);
  conv_cross_accumulate(Cx, x, y, a.kh, a.kw, a.args);
  add_products(a, Kx, Gx, Cx);
}

// MemAvailable of /proc/meminfo in bytes (0 where unknown).
double available_memory_bytes() {
  std::FILE* f = std::fopen("/proc/meminfo", "r");
  if (!f) return 0;
  char line[256];
  double kb = 0;
  while (std::fgets(line, sizeof line, f))
    if (std::sscanf(line, "MemAvailable: %lf kB", &kb) == 1) break;
  std::fclose(f);
  return kb * 1024.0;
}

// Bytes held per image while a chunk is processed: every hooked input and output of every parent
// (measured by a one-image forward) plus the largest layer's features ([K' + P] x positions, the
// mixed input and its target).
double probe_bytes_per_image(const std::vector<Model*>& parents, const Tensor& images,
                             const std::vector<std::string>& paths, const std::vector<Accum>& acc) {
  double held = 0, features = 0;
  const Tensor one = images.narrow(0, 0, 1);
  std::vector<Acts> io(parents.size());
  for (size_t x = 0; x < parents.size(); ++x) {
    collect(*parents[x], one, paths, io[x]);
    for (const auto& [path, t] : io[x].io) held += 4.0 * double(t.first.numel() + t.second.numel());
  }
  for (const Accum& a : acc) {
    const auto& [in, out] = io[0].io.at(a.path);
    const double pos = double(out.numel()) / double(out.size(a.conv ? 1 : -1));  // samples per image
    // Z [K' + P, positions] plus the mixed input and target (up to twice a parent's width).
    features = std::max(features, 4.0 * double(a.K + a.P) * pos + 8.0 * double(in.numel() + out.numel()));
  }
  return held + 2.0 * features;
}

}  // namespace

LsqStats least_squares_refit(const PermSpec& spec, const MergePlan& plan, Model& A, Model& B, Model& merged,
                             data::DataLoader& loader, const LsqOptions& opt) {
  return least_squares_refit(spec, plan, std::vector<Model*>{&A, &B}, merged, loader, opt);
}

LsqStats least_squares_refit(const PermSpec& spec, const MergePlan& plan, const std::vector<Model*>& parents,
                             Model& merged, data::DataLoader& loader, const LsqOptions& opt) {
  using Clock = std::chrono::steady_clock;
  auto since = [](Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); };
  LsqStats st;
  const Device dev = merged.device();
  PLEAS_CHECK(int(parents.size()) == plan.parents, "least squares: ", parents.size(), " models for a plan of ",
              plan.parents, " parents");
  const bool use_maps = plan.force_maps || !plan.permutation_only();
  PLEAS_CHECK(!use_maps || opt.objective == LsqObjective::ensemble, "least squares: only the ensemble objective (Eq. 1) ",
              "is defined for alignments other than a two-model permutation (the others need each parent's version ",
              "of the merged layout)");
  std::map<std::string, Conv2d*> convs;
  std::map<std::string, Linear*> linears;
  for (Conv2d* c : merged.convs()) convs[c->path] = c;
  for (Linear* l : merged.linears()) linears[l->path] = l;

  std::vector<Accum> acc;
  std::vector<std::string> paths;
  for (const LayerSpec& l : spec.layers) {
    if (l.kind != LayerKind::conv && l.kind != LayerKind::linear) continue;
    Accum a;
    a.path = l.path;
    a.conv = l.kind == LayerKind::conv;
    a.bias = l.has_bias;
    const auto ipos = merged_layout(spec, plan, l.in), opos = merged_layout(spec, plan, l.out, l.out_split);
    a.in = use_maps ? map_coefficients(plan, ipos, spec.layout_size(l.in), dev) : coefficients(ipos, dev);
    a.out = use_maps ? map_coefficients(plan, opos, spec.layout_size(l.out), dev) : coefficients(opos, dev);
    a.Q = a.in.size();
    a.P = a.out.size();
    if (a.conv) {
      Conv2d* c = convs.at(l.path);
      PLEAS_CHECK(c->args.groups == 1, "least squares: ", l.path, " is a grouped convolution");
      a.kh = int(c->weight.size(2));
      a.kw = int(c->weight.size(3));
      a.args = c->args;
    } else {
      PLEAS_CHECK(linears.count(l.path), "least squares: merged model has no linear layer ", l.path);
    }
    if (opt.norm_inputs_merged && !l.input_norm.empty()) {
      auto* v = dynamic_cast<VisionTransformer*>(&merged);
      PLEAS_CHECK(v, "least squares: ", l.path, " reads LayerNorm ", l.input_norm, " but the merged model is not a ViT");
      for (const LayerNorm* n : v->layer_norms())
        if (n->path == l.input_norm) a.norm = n;
      PLEAS_CHECK(a.norm, "least squares: the merged model has no LayerNorm ", l.input_norm);
      a.norm_path = l.input_norm;
      paths.push_back(l.input_norm);
    }
    a.K = a.Q * a.kh * a.kw + (a.bias ? 1 : 0);
    a.G = Tensor::zeros({a.K, a.K}, DType::f64, dev);
    a.C = Tensor::zeros({a.K, a.P}, DType::f64, dev);
    acc.push_back(std::move(a));
    paths.push_back(l.path);
  }

  // (input mix, target mix) pairs whose normal equations are summed.
  std::vector<std::pair<Mix, Mix>> terms;
  switch (opt.objective) {
    case LsqObjective::ensemble: terms = {{Mix::avg, Mix::avg}}; break;
    case LsqObjective::separate_inputs: terms = {{Mix::a, Mix::avg}, {Mix::b, Mix::avg}}; break;
    case LsqObjective::separate:
    case LsqObjective::regmean: terms = {{Mix::a, Mix::a}, {Mix::b, Mix::b}}; break;
    case LsqObjective::ensemble_inputs: terms = {{Mix::avg, Mix::a}, {Mix::avg, Mix::b}}; break;
  }

  std::mt19937_64 rng(opt.seed);
  Progress bar(opt.progress);
  loader.start_epoch(0);
  data::Batch batch;
  int64_t seen = 0;
  // Memory: the normal equations (f64) stay for the whole pass; the hooked activations of both
  // parents and one layer's features are held for one chunk of images at a time. The chunk is
  // sized from a one-image probe so that they fit opt.memory_bytes (a loader batch larger than
  // that is split: the sums are the same, the order of f32 products per chunk is not).
  double eq_bytes = 0;
  for (const Accum& a : acc) eq_bytes += 8.0 * double(a.K) * double(a.K + a.P);
  const double avail = available_memory_bytes();
  if (avail > 0)
    PLEAS_CHECK(eq_bytes < 0.9 * avail, "least squares: the normal equations need ", eq_bytes / 1e9,
                " GB (f64 Gram and cross matrices of ", acc.size(), " layers) but only ", avail / 1e9,
                " GB of memory is available; merge fewer units separately (a lower --budget) or use a larger machine");
  int64_t chunk = 0;  // images per chunk, set on the first batch
  Clock::time_point tf = Clock::now();
  while (loader.next(batch)) {
    const int64_t B = batch.images.size(0);
    if (chunk == 0) {
      const double per_image = probe_bytes_per_image(parents, batch.images, paths, acc);
      chunk = std::max<int64_t>(1, int64_t(double(opt.memory_bytes) / std::max(per_image, 1.0)));
      if (avail > 0 && eq_bytes + double(std::min(chunk, B)) * per_image > 0.9 * avail)
        PLEAS_FAIL("least squares: even one image needs ", per_image / 1e6, " MB of activations besides ", eq_bytes / 1e9,
                   " GB of normal equations, more than the ", avail / 1e9, " GB available");
      if (opt.progress)
        std::fprintf(stderr, "  least squares: %.0f MB of normal equations, %.1f MB of activations per image: chunks of %lld images\n",
                     eq_bytes / 1e6, per_image / 1e6, (long long)std::min(chunk, B));
      st.images_per_chunk = std::min(chunk, B);
    }
    for (int64_t c0 = 0; c0 < B; c0 += chunk) {
      const Tensor images = B <= chunk ? batch.images : batch.images.narrow(0, c0, std::min(chunk, B - c0));
      std::vector<Acts> io(parents.size());
      for (size_t x = 0; x < parents.size(); ++x) collect(*parents[x], images, paths, io[x]);
      int64_t held = 0;
      for (const Acts& a : io)
        for (const auto& [path, t] : a.io) held += (t.first.numel() + t.second.numel()) * int64_t(sizeof(float));
      st.peak_batch_bytes = std::max(st.peak_batch_bytes, held);
      st.forward_s += since(tf);
      const Clock::time_point tb = Clock::now();
      double gram_before = st.gram_s;
      // Parent activations of `path` (input or output), mixed into the merged layout.
      auto mixed = [&](const std::string& path, bool input, const LayerCoef& c, Mix m, int axis) {
        if (!use_maps) {
          const auto &pa = io[0].io.at(path), &pb = io[1].io.at(path);
          return input ? mix(pa.first, pb.first, c, m, axis) : mix(pa.second, pb.second, c, m, axis);
        }
        std::vector<const Tensor*> xs;
        for (Acts& a : io) xs.push_back(input ? &a.io.at(path).first : &a.io.at(path).second);
        return mix_maps(xs, c, axis);
      };
      for (Accum& a : acc) {
        const Tensor& xa = io[0].io.at(a.path).first;
        const int64_t N = xa.size(0);
        Tensor rows;  // optional subset of (image, position) rows
        for (auto [xm, ym] : terms) {
          const int axis = a.conv ? 1 : -1;
          Tensor X, Y = mixed(a.path, false, a.out, ym, axis);
          if (a.norm) {  // X = LN_m(mixed stream): the parents' norm inputs, the merged model's norm
            X = pleas::forward(*a.norm, mixed(a.norm_path, true, a.in, xm, -1), ForwardCtx{});
            // A layer that reads one token of the norm's output (the head: the class token).
            if (X.dim() > xa.dim()) X = X.select(1, 0).contiguous();
          } else {
            X = mixed(a.path, true, a.in, xm, axis);
          }
          const int64_t Kx = a.K - (a.bias ? 1 : 0), W = Kx + a.P;
          // The structured products need every position of the input (no subsampling) and pay off
          // for stride-1 kernels larger than 1x1 (bench_gram BM_ConvGram: 2.5-5x faster than unfold
          // + SYRK on ResNet-20/50 3x3 layers; slower at stride 2).
          if (a.conv && opt.structured_gram && !a.bias && a.kh * a.kw > 1 && a.args.stride_h == 1 &&
              a.args.stride_w == 1 && !(opt.max_positions > 0 && Y.size(2) * Y.size(3) > opt.max_positions)) {
            const Clock::time_point tg = Clock::now();
            accumulate_structured(a, X, Y);
            st.gram_s += since(tg);
            st.gram_flops += double(N * Y.size(2) * Y.size(3)) * double(W) * double(W + 1);
            continue;
          }
          // Otherwise the samples as rows of Z = [X Y] [M, K' + P] (K' = Q·kh·kw; the bias column is
          // not materialised): one SYRK gives XᵀX and YᵀX together. A convolution's samples are its
          // (image, position) pairs: unfold2d_rows_into writes the im2col columns of the whole batch
          // into the first K' rows of a [K' + P, N·positions] buffer and the targets fill the rest,
          // so Z is a transposed view and nothing is transposed by a copy.
          Tensor Z;
          if (a.conv) {
            const int64_t pos = Y.size(2) * Y.size(3);
            Tensor buf = Tensor::empty({Kx + a.P, N * pos}, DType::f32, dev);
            Tensor xs = buf.narrow(0, 0, Kx), ys = buf.narrow(0, Kx, a.P).reshape({a.P, N, pos});
            unfold2d_rows_into(xs, X, a.kh, a.kw, a.args);
            ys.copy_(Y.reshape({N, a.P, pos}).permute({1, 0, 2}));
            if (opt.max_positions > 0 && pos > opt.max_positions) {
              if (!rows.defined()) {
                std::vector<int64_t> r;
                std::vector<int64_t> all(static_cast<size_t>(pos));
                std::iota(all.begin(), all.end(), 0);
                for (int64_t n = 0; n < N; ++n) {
                  std::shuffle(all.begin(), all.end(), rng);
                  for (int64_t j = 0; j < opt.max_positions; ++j) r.push_back(n * pos + all[size_t(j)]);
                }
                rows = Tensor::from_vector(r, {int64_t(r.size())}, dev);
              }
              buf = index_select(buf, 1, rows);
            }
            Z = buf.transpose(0, 1);
          } else {
            // Every token is a sample ([N, L, Q] -> [N·L, Q]).
            Z = cat({X.reshape({-1, a.Q}), Y.reshape({-1, a.P})}, 1);
          }
          const Clock::time_point tg = Clock::now();
          accumulate(a, Z);
          st.gram_s += since(tg);
          st.gram_flops += double(Z.size(0)) * double(Z.size(1)) * double(Z.size(1) + 1);
        }
      }
      st.features_s += since(tb) - (st.gram_s - gram_before);
      seen += images.size(0);
      bar.update(false, "  least squares: %lld images accumulated", (long long)seen);
      tf = Clock::now();
    }
  }
  bar.update(true, "  least squares: %lld images accumulated", (long long)seen);
  PLEAS_CHECK(seen > 0, "least squares: the merge data is empty");

  // Solve each block of output rows over the inputs it may read, on the merge device: the block's
  // normal equations are gathered from G and C there (only the block's diagonal comes to the host,
  // for the ridge) and its solution is written into the weights there.
  const Clock::time_point ts = Clock::now();
  for (Accum& a : acc) {
    const int64_t kk = int64_t(a.kh) * a.kw;
    std::vector<RowBlock> blocks = a.conv ? convs.at(a.path)->blocks : linears.at(a.path)->blocks;
    if (blocks.empty()) blocks = {{0, a.P, 0, a.Q}};
    Tensor W = Tensor::zeros({a.P, a.Q * kk}, DType::f32, dev), bias = Tensor::zeros({a.P}, DType::f32, dev);
    for (const RowBlock& b : blocks) {
      std::vector<int64_t> sel;
      for (int64_t j = b.in0 * kk; j < b.in1 * kk; ++j) sel.push_back(j);
      if (a.bias) sel.push_back(a.K - 1);
      const int64_t n = int64_t(sel.size()), m = b.out1 - b.out0, cols = (b.in1 - b.in0) * kk;
      const Tensor idx = Tensor::from_vector(sel, {n}, dev);
      Tensor Gt = index_select(index_select(a.G, 0, idx), 1, idx);
      const Tensor Ct = index_select(a.C, 0, idx).narrow(1, b.out0, m).contiguous();
      if (opt.objective == LsqObjective::regmean) {  // off-diagonal entries scaled by alpha (on the host)
        std::vector<double> g = Gt.to_vector<double>();
        for (int64_t i = 0; i < n; ++i)
          for (int64_t j = 0; j < n; ++j)
            if (i != j) g[size_t(i * n + j)] *= opt.regmean_alpha;
        Gt = Tensor::from_vector(g, {n, n}, dev);
      }
      double tr = 0;
      for (double d : Gt.as_strided({n}, {n + 1}, Gt.offset()).to(Device::cpu()).to_vector<double>()) tr += d;
      double lambda = opt.ridge * tr / double(n) + 1e-12;
      // Rank-deficient blocks (fewer samples than unknowns, dead units) get a larger ridge.
      Tensor X;
      for (int attempt = 0;; ++attempt) {
        try {
          X = spd_solve(Gt, Ct, lambda);
          break;
        } catch (const Error& e) {
          if (attempt == 6) throw;
          lambda = lambda * 10 + 1e-10 * tr / double(n);
          if (opt.progress)
            std::fprintf(stderr, "  least squares: %s: Gram block not positive definite, ridge raised to %.3g\n",
                         a.path.c_str(), lambda);
        }
      }
      // X [n, m] = W_blockᵀ (then the bias row): rows out0.. of W, columns in0·kk.. .
      Tensor wv = W.narrow(0, b.out0, m).narrow(1, b.in0 * kk, cols);
      wv.copy_(X.narrow(0, 0, cols).transpose(0, 1));
      if (a.bias) {
        Tensor bv = bias.narrow(0, b.out0, m);
        bv.copy_(X.select(0, n - 1));
      }
    }
    if (a.conv) {
      Conv2d* c = convs.at(a.path);
      c->weight = W.reshape(c->weight.shape());
      if (a.bias) c->bias = bias;
      set_blocks(*c, std::vector<RowBlock>(c->blocks));
    } else {
      Linear* l = linears.at(a.path);
      l->weight = W.reshape(l->weight.shape());
      if (a.bias) l->bias = bias;
      set_blocks(*l, std::vector<RowBlock>(l->blocks));
    }
  }
  st.solve_s = since(ts);
  return st;
}

void recompute_batch_norm(Model& m, data::DataLoader& loader, bool progress) {
  begin_bn_recompute(m);
  Progress bar(progress);
  ForwardCtx ctx;
  ctx.bn_mode = BnMode::recompute;
  loader.start_epoch(0);
  data::Batch batch;
  int64_t seen = 0;
  while (loader.next(batch)) {
    m.forward(batch.images, ctx);
    seen += batch.images.size(0);
    bar.update(false, "  BatchNorm recompute: %lld images", (long long)seen);
  }
  bar.update(true, "  BatchNorm recompute: %lld images", (long long)seen);
  finish_bn_recompute(m);
}

}  // namespace pleas
