// Least squares (Eq. 1) against a dense float64 reference: Gram matrices built with plain loops
// from hooked activations, solved by Gaussian elimination; and BatchNorm recomputation.
#include <random>

#include "data/loader.h"
#include "data/synthetic.h"
#include "models/model_io.h"
#include "pleas/least_squares.h"
#include "test_util.h"

using namespace pleas;

namespace {


struct Fixture {
  std::unique_ptr<Model> a, b, merged;
  PermSpec spec;
  MergePlan plan;
};

Fixture setup(double ratio) {
  Fixture s;
  const std::string g = std::string(PLEAS_SOURCE_DIR) + "/tests/goldens/cifar_resnet20.weights.safetensors";
  s.a = load_model(g);
  canonicalize(*s.a);
  s.spec = perm_spec(*s.a);
  TensorDict sb = s.a->state_dict();
  uint64_t seed = 7;
  for (auto& [name, t] : sb)
    if (t.dim() >= 2) t = add(t, mul(rand_normal(t.shape(), seed++), Tensor::full({1}, 0.02)));
  s.b = build_model(sb, s.a->metadata, Device::cpu(), "B");
  std::vector<std::vector<double>> sim;
  for (auto& gr : s.spec.groups) sim.emplace_back(size_t(gr.size), 0.5);
  s.plan = plan_merge(s.spec, identity_perms(s.spec), sim, uniform_k(s.spec, ratio), false);
  std::string blocks;
  TensorDict st = merge_state(s.spec, s.plan, s.a->state_dict(), s.b->state_dict(), &blocks);
  Metadata meta = s.a->metadata;
  if (!blocks.empty()) meta["pleas_blocks"] = blocks;
  s.merged = build_model(st, meta, Device::cpu(), "merged");
  return s;
}

data::DataLoader loader(size_t n, int64_t batch) {
  return data::DataLoader(std::make_shared<data::RandomImageDataset>(n), data::Transform::cifar(), batch, 1);
}

}  // namespace

// The A-only output rows of a partially merged 3x3 conv read [A-only | merged] inputs: fit them by
// plain double loops (im2col written out, X̃ and Ỹ built per Eq. 1) and compare.
TEST(LeastSquares, MatchesDenseReferenceOnABlock) {
  Fixture s = setup(0.5);
  auto ld = loader(6, 3);
  LsqOptions opt;
  opt.ridge = 1e-6;
  opt.progress = false;
  least_squares_refit(s.spec, s.plan, *s.a, *s.b, *s.merged, ld, opt);

  const std::string path = "layer1.1.conv1";
  const LayerSpec* ls = nullptr;
  for (auto& l : s.spec.layers)
    if (l.path == path) ls = &l;
  ASSERT_NE(ls, nullptr);
  auto ipos = merged_layout(s.spec, s.plan, ls->in), opos = merged_layout(s.spec, s.plan, ls->out);
  int64_t ia = 0, im = 0, oa = 0;
  for (auto& p : ipos) { ia += p.kind == 'A'; im += p.kind == 'M'; }
  for (auto& p : opos) oa += p.kind == 'A';
  const int64_t n = (ia + im) * 9;
  std::vector<double> G(size_t(n * n), 0.0), C(size_t(n * oa), 0.0);
  ld.start_epoch(0);
  data::Batch b;
  while (ld.next(b)) {
    const test::HookedIO ha = test::hooked_io(*s.a, path, b.images), hb = test::hooked_io(*s.b, path, b.images);
    const std::vector<double> &xa = ha.in, &ya = ha.out, &xb = hb.in;
    const Shape &xs = ha.in_shape, &ys = ha.out_shape;
    const int64_t N = xs[0], Ci = xs[1], H = xs[2], W = xs[3], Co = ys[1];
    auto xval = [&](const MergedPos& p, int64_t nn, int64_t h, int64_t w) {
      double va = p.a >= 0 ? xa[size_t(((nn * Ci + p.a) * H + h) * W + w)] : 0;
      double vb = p.b >= 0 ? xb[size_t(((nn * Ci + p.b) * H + h) * W + w)] : 0;
      return p.kind == 'A' ? va : p.kind == 'B' ? vb : 0.5 * (va + vb);
    };
    for (int64_t nn = 0; nn < N; ++nn)
      for (int64_t h = 0; h < H; ++h)
        for (int64_t w = 0; w < W; ++w) {
          std::vector<double> row(static_cast<size_t>(n));
          for (int64_t q = 0; q < ia + im; ++q)
            for (int64_t kh = 0; kh < 3; ++kh)
              for (int64_t kw = 0; kw < 3; ++kw) {
                int64_t hh = h + kh - 1, ww = w + kw - 1;
                row[size_t(q * 9 + kh * 3 + kw)] = (hh < 0 || ww < 0 || hh >= H || ww >= W) ? 0 : xval(ipos[size_t(q)], nn, hh, ww);
              }
          for (int64_t i = 0; i < n; ++i) {
            for (int64_t j = 0; j < n; ++j) G[size_t(i * n + j)] += row[size_t(i)] * row[size_t(j)];
            for (int64_t r = 0; r < oa; ++r)
              C[size_t(i * oa + r)] += row[size_t(i)] * ya[size_t(((nn * Co + opos[size_t(r)].a) * H + h) * W + w)];
          }
        }
  }
  double tr = 0;
  for (int64_t i = 0; i < n; ++i) tr += G[size_t(i * n + i)];
  for (int64_t i = 0; i < n; ++i) G[size_t(i * n + i)] += 1e-6 * tr / double(n) + 1e-12;
  std::vector<double> x = test::gauss_solve(G, C, n, oa);  // [n, oa] = W_blockᵀ
  Conv2d* conv = nullptr;
  for (Conv2d* c : s.merged->convs())
    if (c->path == path) conv = c;
  ASSERT_NE(conv, nullptr);
  ASSERT_FALSE(conv->blocks.empty());
  auto wv = test::host(conv->block_weight[0]);  // [oa, ia+im, 3, 3]
  std::vector<double> ref(wv.size());
  for (int64_t r = 0; r < oa; ++r)
    for (int64_t c = 0; c < n; ++c) ref[size_t(r * n + c)] = x[size_t(c * oa + r)];
  EXPECT_TRUE(test::all_close(wv, ref, 2e-4, 2e-3));
}

// Merging a model with itself at k = d: least squares reproduces the model on the merge data
// (targets are exactly X W; weights agree up to the data's null space), and BatchNorm
// recomputation gives what recomputing the model itself gives.
TEST(LeastSquares, SelfMergeRecoversWeights) {
  Fixture s = setup(0.0);
  s.b = build_model(s.a->state_dict(), s.a->metadata, Device::cpu(), "B");
  std::string blocks;
  TensorDict st = merge_state(s.spec, s.plan, s.a->state_dict(), s.b->state_dict(), &blocks);
  s.merged = build_model(st, s.a->metadata, Device::cpu(), "merged");
  auto ld = loader(24, 8);
  LsqOptions opt;
  opt.ridge = 1e-9;
  opt.progress = false;
  least_squares_refit(s.spec, s.plan, *s.a, *s.b, *s.merged, ld, opt);
  ld.start_epoch(0);
  data::Batch b;
  ASSERT_TRUE(ld.next(b));
  Tensor x = b.images;
  EXPECT_TRUE(test::all_close_scaled(s.merged->forward(x), s.a->forward(x), 1e-3, 1e-3));
  // The stem (27 unknowns per unit, well determined) recomputes to the parent's statistics.
  recompute_batch_norm(*s.merged, ld, false);
  recompute_batch_norm(*s.a, ld, false);
  BatchNorm2d* bm = s.merged->batch_norms()[0];
  BatchNorm2d* ba = s.a->batch_norms()[0];
  EXPECT_TRUE(test::all_close(bm->running_mean, test::host(ba->running_mean), 1e-4, 1e-4));
  EXPECT_TRUE(test::all_close(bm->running_var, test::host(ba->running_var), 1e-4, 1e-4));
}

TEST(LeastSquares, ObjectivesParse) {
  EXPECT_EQ(parse_objective("regmean"), LsqObjective::regmean);
  EXPECT_THROW(parse_objective("adam"), Error);
}

// A memory bound that forces chunks of one image (the loader's batches of 4 split) gives the
// same normal equations: the merged weights equal the unchunked fit's up to f32 summation order;
// so does the direct form of the Gram (LsqOptions::structured_gram = false).
// The stats count the Gram work exactly: Σ over layers and images of positions·W·(W + 1), W = K' + P.
TEST(LeastSquares, ChunkedAndDirectEqualStructuredAndCountGramWork) {
  Fixture s = setup(0.5), t = setup(0.5);
  auto ld = loader(8, 4);
  LsqOptions opt;
  opt.ridge = 1e-2;  // 8 images leave layer3's 576 unknowns underdetermined: a ridge that conditions them
  opt.progress = false;
  const LsqStats whole = least_squares_refit(s.spec, s.plan, *s.a, *s.b, *s.merged, ld, opt);
  EXPECT_EQ(whole.images_per_chunk, 4);
  opt.memory_bytes = 1;  // less than one image: chunks of one
  const LsqStats chunked = least_squares_refit(t.spec, t.plan, *t.a, *t.b, *t.merged, ld, opt);
  EXPECT_EQ(chunked.images_per_chunk, 1);
  EXPECT_DOUBLE_EQ(whole.gram_flops, chunked.gram_flops);
  double flops = 0;
  for (Conv2d* c : s.merged->convs()) {
    const test::HookedIO h = test::hooked_io(*s.merged, c->path, test::random_tensor({1, 3, 32, 32}, 1));
    const double pos = double(h.out_shape[2] * h.out_shape[3]);
    const double w = double(c->weight.size(1) * c->weight.size(2) * c->weight.size(3) + c->weight.size(0));
    flops += 8 * pos * w * (w + 1);
  }
  for (Linear* l : s.merged->linears()) {
    const double w = double(l->weight.size(1) + l->weight.size(0));
    flops += 8 * w * (w + 1);
  }
  EXPECT_DOUBLE_EQ(whole.gram_flops, flops);
  // The direct form (SYRK over [X Y] for every layer) gives the same fit as the structured one.
  Fixture u = setup(0.5);
  opt.memory_bytes = int64_t(1) << 30;
  opt.structured_gram = false;
  least_squares_refit(u.spec, u.plan, *u.a, *u.b, *u.merged, ld, opt);
  auto sa = s.merged->state_dict(), sb = t.merged->state_dict(), sc = u.merged->state_dict();
  for (auto& [name, v] : sa) {
    if (v.dtype() != DType::f32) continue;
    EXPECT_TRUE(test::all_close_scaled(sb.at(name), v, 1e-4, 1e-4)) << name;
    EXPECT_TRUE(test::all_close_scaled(sc.at(name), v, 1e-4, 1e-4)) << name << " (direct form)";
  }
}
