// The shared representation of alignments (pleas/alignment.h): a permutation merge written out as
// merge/unmerge maps reproduces the gather path bit for bit (ResNet and ViT); N-parent permutation
// maps give the plain N-way weight average; least squares through maps (N = 3) equals a float64
// dense reference built by plain loops from the hooked activations.
#include <functional>
#include <random>

#include "data/loader.h"
#include "data/synthetic.h"
#include "models/model_io.h"
#include "models/vit.h"
#include "pleas/cca.h"
#include "pleas/feature_stats.h"
#include "pleas/least_squares.h"
#include "pleas/partial_merge.h"
#include "pleas/zipit.h"
#include "resnet_fixture.h"
#include "vit_fixture.h"

using namespace pleas;

namespace {

using test::perturbed;
using test::random_perms;
std::unique_ptr<Model> golden() { return test::golden_resnet20(); }

std::vector<std::vector<double>> random_sim(const PermSpec& spec, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<std::vector<double>> s;
  for (auto& g : spec.groups) {
    s.emplace_back();
    for (int64_t i = 0; i < g.size; ++i) s.back().push_back(u(rng));
  }
  return s;
}

void expect_identical(const TensorDict& a, const TensorDict& b) {
  ASSERT_EQ(a.size(), b.size());
  for (auto& [name, t] : a) {
    ASSERT_TRUE(b.count(name)) << name;
    const Tensor& u = b.at(name);
    ASSERT_EQ(t.shape(), u.shape()) << name;
    ASSERT_EQ(t.dtype(), u.dtype()) << name;
    if (t.dtype() == DType::i64) {
      EXPECT_EQ(t.to_vector<int64_t>(), u.to_vector<int64_t>()) << name;
      continue;
    }
    const auto x = t.to_vector<float>(), y = u.to_vector<float>();
    size_t diff = 0;
    for (size_t i = 0; i < x.size(); ++i) diff += x[i] != y[i];
    EXPECT_EQ(diff, 0u) << name << ": " << diff << " of " << x.size() << " values differ";
  }
}

}  // namespace

TEST(AlignmentMaps, PermutationMergeThroughMapsIsBitForBit) {
  auto a = golden();
  auto b = perturbed(*a, 50, 0.3);
  const PermSpec spec = perm_spec(*a);
  for (double r : {0.0, 0.4, 1.0}) {
    MergePlan plan = plan_merge(spec, random_perms(spec, 3), random_sim(spec, 4), uniform_k(spec, r), false);
    std::string bl1, bl2;
    const TensorDict gathered = merge_state(spec, plan, a->state_dict(), b->state_dict(), &bl1);
    plan.force_maps = true;
    const TensorDict mapped = merge_state(spec, plan, a->state_dict(), b->state_dict(), &bl2);
    expect_identical(gathered, mapped);
    EXPECT_EQ(bl1, bl2);
  }
}

TEST(AlignmentMaps, ViTPermutationMergeThroughMapsIsBitForBit) {
  test::VitShape sh;
  auto a = build_model(test::random_vit(sh, 1), test::vit_metadata(sh), Device::cpu(), "A");
  auto b = build_model(test::random_vit(sh, 2), test::vit_metadata(sh), Device::cpu(), "B");
  const PermSpec spec = perm_spec(*a);
  std::vector<int64_t> k;
  for (auto& g : spec.groups) k.push_back(g.fixed ? g.size : g.head_dim ? 2 * g.head_dim : g.size / 2);
  MergePlan plan = plan_merge(spec, identity_perms(spec), random_sim(spec, 9), k, false);
  std::string bl1, bl2, v1, v2;
  const TensorDict gathered = merge_state(spec, plan, a->state_dict(), b->state_dict(), &bl1, &v1);
  plan.force_maps = true;
  const TensorDict mapped = merge_state(spec, plan, a->state_dict(), b->state_dict(), &bl2, &v2);
  expect_identical(gathered, mapped);
  EXPECT_EQ(bl1, bl2);
  EXPECT_EQ(v1, v2);
}

namespace {

// Three parents aligned to the first by permutations (perms[x][g][u] = x's unit at merged unit u).
struct Three {
  std::vector<std::unique_ptr<Model>> m;
  PermSpec spec;
  std::vector<std::vector<std::vector<int64_t>>> perms;
  MergePlan plan;
};

Three three() {
  Three t;
  t.m.push_back(golden());
  t.m.push_back(perturbed(*t.m[0], 70, 0.3));
  t.m.push_back(perturbed(*t.m[0], 90, 0.3));
  t.spec = perm_spec(*t.m[0]);
  t.perms = {identity_perms(t.spec), random_perms(t.spec, 11), random_perms(t.spec, 12)};
  t.plan.parents = 3;
  for (size_t g = 0; g < t.spec.groups.size(); ++g)
    t.plan.groups.push_back(maps_merge(permutation_maps({t.perms[0][g], t.perms[1][g], t.perms[2][g]})));
  return t;
}

}  // namespace

// N = 3: merged weight [p, q] = (1/3) Σ_x W_x[π_x(p), π_x(q)] for every conv/linear layer, the BN
// vectors likewise (plain loops over the state dicts).
TEST(AlignmentMaps, ThreeParentPermutationMapsAverageAlignedWeights) {
  Three t = three();
  std::vector<TensorDict> sd;
  for (auto& m : t.m) sd.push_back(m->state_dict());
  const TensorDict merged = merge_state(t.spec, t.plan, {&sd[0], &sd[1], &sd[2]}, nullptr);
  int checked = 0;
  for (const LayerSpec& l : t.spec.layers) {
    if (l.kind != LayerKind::conv && l.kind != LayerKind::bn && l.kind != LayerKind::linear) continue;
    const std::string name = l.path + ".weight";
    const auto oi = [&](int x) { return layout_index(t.spec, l.out, t.perms[size_t(x)]); };
    const auto ii = [&](int x) { return layout_index(t.spec, l.in, t.perms[size_t(x)]); };
    const Tensor& w0 = sd[0].at(name);
    const int64_t P = w0.size(0), Q = l.kind == LayerKind::bn ? 1 : w0.size(1), kk = w0.numel() / (P * Q);
    std::vector<double> ref(size_t(w0.numel()), 0.0);
    for (int x = 0; x < 3; ++x) {
      const auto w = sd[size_t(x)].at(name).to_double_vector();
      const auto o = oi(x), i = ii(x);
      for (int64_t p = 0; p < P; ++p)
        for (int64_t q = 0; q < Q; ++q)
          for (int64_t j = 0; j < kk; ++j) {
            const int64_t src = l.kind == LayerKind::bn ? o[size_t(p)] : (o[size_t(p)] * Q + i[size_t(q)]) * kk + j;
            ref[size_t((p * Q + q) * kk + j)] += w[size_t(src)] / 3.0;
          }
    }
    EXPECT_TRUE(test::all_close(merged.at(name), ref, 1e-6, 1e-6)) << name;
    ++checked;
  }
  EXPECT_GT(checked, 30);
}

// The least-squares weight of a 3x3 conv by plain loops: per row block (all rows when the layer is
// dense), the normal equations of X̃ = Σ_x M_in,x X_x (im2col written out) against Ỹ = Σ_x M_out,x Y_x,
// solved in float64. Returns the dense [P, Q, 3, 3] weight (zero outside the blocks).
std::vector<double> lsq_dense_reference(const PermSpec& spec, const MergePlan& plan, const std::vector<Model*>& parents,
                                        Model& merged, const std::string& path, data::DataLoader& ld, double ridge) {
  const LayerSpec* ls = nullptr;
  for (auto& l : spec.layers)
    if (l.path == path) ls = &l;
  PLEAS_CHECK(ls, "no layer ", path);
  const auto ipos = merged_layout(spec, plan, ls->in), opos = merged_layout(spec, plan, ls->out);
  std::vector<LayoutMaps> mi, mo;
  for (int x = 0; x < int(parents.size()); ++x) {
    mi.push_back(layout_maps(plan, ipos, spec.layout_size(ls->in), x));
    mo.push_back(layout_maps(plan, opos, spec.layout_size(ls->out), x));
  }
  const int64_t Q = int64_t(ipos.size()), P = int64_t(opos.size()), n = Q * 9;
  std::vector<double> G(size_t(n * n), 0.0), C(size_t(n * P), 0.0);
  ld.start_epoch(0);
  data::Batch b;
  while (ld.next(b)) {
    std::vector<test::HookedIO> h;
    for (Model* m : parents) h.push_back(test::hooked_io(*m, path, b.images));
    const Shape& xs = h[0].in_shape;
    const int64_t N = xs[0], Ci = xs[1], H = xs[2], W = xs[3], Co = h[0].out_shape[1];
    for (int64_t nn = 0; nn < N; ++nn)
      for (int64_t y = 0; y < H; ++y)
        for (int64_t x = 0; x < W; ++x) {
          std::vector<double> row(size_t(n), 0.0), tgt(size_t(P), 0.0);
          for (size_t par = 0; par < parents.size(); ++par) {
            for (int64_t q = 0; q < Q; ++q)
              for (int64_t c = 0; c < Ci; ++c) {
                const double m = mi[par].M[size_t(q * Ci + c)];
                if (m == 0) continue;
                for (int64_t kh = 0; kh < 3; ++kh)
                  for (int64_t kw = 0; kw < 3; ++kw) {
                    const int64_t yy = y + kh - 1, xx = x + kw - 1;
                    if (yy < 0 || xx < 0 || yy >= H || xx >= W) continue;
                    row[size_t(q * 9 + kh * 3 + kw)] += m * h[par].in[size_t(((nn * Ci + c) * H + yy) * W + xx)];
                  }
              }
            for (int64_t p = 0; p < P; ++p)
              for (int64_t c = 0; c < Co; ++c)
                tgt[size_t(p)] += mo[par].M[size_t(p * Co + c)] * h[par].out[size_t(((nn * Co + c) * H + y) * W + x)];
          }
          for (int64_t i = 0; i < n; ++i) {
            for (int64_t j = 0; j < n; ++j) G[size_t(i * n + j)] += row[size_t(i)] * row[size_t(j)];
            for (int64_t r = 0; r < P; ++r) C[size_t(i * P + r)] += row[size_t(i)] * tgt[size_t(r)];
          }
        }
  }
  Conv2d* conv = nullptr;
  for (Conv2d* c : merged.convs())
    if (c->path == path) conv = c;
  PLEAS_CHECK(conv, "merged model has no conv ", path);
  std::vector<RowBlock> blocks = conv->blocks;
  if (blocks.empty()) blocks = {{0, P, 0, Q}};
  std::vector<double> Wd(size_t(P * n), 0.0);
  for (const RowBlock& bl : blocks) {
    const int64_t k = (bl.in1 - bl.in0) * 9, m = bl.out1 - bl.out0;
    std::vector<double> Gs(size_t(k * k)), Cs(size_t(k * m));
    double tr = 0;
    for (int64_t i = 0; i < k; ++i) {
      for (int64_t j = 0; j < k; ++j) Gs[size_t(i * k + j)] = G[size_t((bl.in0 * 9 + i) * n + bl.in0 * 9 + j)];
      for (int64_t r = 0; r < m; ++r) Cs[size_t(i * m + r)] = C[size_t((bl.in0 * 9 + i) * P + bl.out0 + r)];
      tr += Gs[size_t(i * k + i)];
    }
    for (int64_t i = 0; i < k; ++i) Gs[size_t(i * k + i)] += ridge * tr / double(k) + 1e-12;
    const std::vector<double> x = test::gauss_solve(Gs, Cs, k, m);  // [k, m] = W_blockᵀ
    for (int64_t r = 0; r < m; ++r)
      for (int64_t c = 0; c < k; ++c) Wd[size_t((bl.out0 + r) * n + bl.in0 * 9 + c)] = x[size_t(c * m + r)];
  }
  return Wd;
}

// Least squares through maps (three parents) against the plain-loop reference.
TEST(AlignmentMaps, LeastSquaresThroughMapsMatchesDenseReference) {
  Three t = three();
  std::vector<TensorDict> sd;
  for (auto& m : t.m) sd.push_back(m->state_dict());
  const TensorDict st = merge_state(t.spec, t.plan, {&sd[0], &sd[1], &sd[2]}, nullptr);
  auto merged = build_model(st, t.m[0]->metadata, Device::cpu(), "merged");
  data::DataLoader ld(std::make_shared<data::RandomImageDataset>(4), data::Transform::cifar(), 2, 1);
  LsqOptions opt;
  opt.ridge = 1e-6;
  opt.progress = false;
  const std::vector<Model*> parents = {t.m[0].get(), t.m[1].get(), t.m[2].get()};
  least_squares_refit(t.spec, t.plan, parents, *merged, ld, opt);
  const auto ref = lsq_dense_reference(t.spec, t.plan, parents, *merged, "layer1.1.conv1", ld, 1e-6);
  Conv2d* conv = nullptr;
  for (Conv2d* c : merged->convs())
    if (c->path == "layer1.1.conv1") conv = c;
  ASSERT_NE(conv, nullptr);
  EXPECT_TRUE(conv->blocks.empty());
  EXPECT_TRUE(test::all_close(conv->weight, ref, 2e-4, 2e-3));
}

TEST(AlignmentMaps, BadMapsAreRejected) {
  GroupMaps g = permutation_maps({{0, 1, 2}, {2, 0, 1}});
  g.kind[0] = 'B';  // B before M: not [A | M | B]
  EXPECT_THROW(check_maps(g, "test"), Error);
  EXPECT_THROW(permutation_maps({{0, 1, 1}, {0, 1, 2}}), Error);
  GroupMaps h = permutation_maps({{0, 1}, {1, 0}});
  h.kind = {'A', 'M'};  // unit 0 is read by parent 1
  EXPECT_THROW(check_maps(h, "test"), Error);
}

namespace {

// A plan whose non-fixed groups are merged by maps built from the two parents' feature statistics.
MergePlan plan_from_stats(const PermSpec& spec, const std::vector<GroupStats>& st,
                          const std::function<GroupMaps(const GroupStats&, int64_t d)>& f, const std::vector<int64_t>& k) {
  std::vector<std::vector<double>> sim;
  for (auto& g : spec.groups) sim.emplace_back(size_t(g.size), 0.5);
  MergePlan plan = plan_merge(spec, identity_perms(spec), sim, k, false);
  for (size_t g = 0; g < spec.groups.size(); ++g)
    if (!spec.groups[g].fixed) plan.groups[g] = maps_merge(f(st[g], spec.groups[g].size));
  return plan;
}

std::unique_ptr<Model> build_plan(const PermSpec& spec, const MergePlan& plan, const std::vector<Model*>& parents) {
  std::vector<TensorDict> sd;
  for (Model* m : parents) sd.push_back(m->state_dict());
  std::vector<const TensorDict*> sp;
  for (auto& s : sd) sp.push_back(&s);
  std::string blocks;
  TensorDict st = merge_state(spec, plan, sp, &blocks);
  Metadata meta = parents[0]->metadata;
  if (!blocks.empty()) meta["pleas_blocks"] = blocks;
  return build_model(st, meta, Device::cpu(), "merged");
}

data::DataLoader random_loader(size_t n, int64_t batch) {
  return data::DataLoader(std::make_shared<data::RandomImageDataset>(n), data::Transform::cifar(), batch, 1);
}

// The golden and a perturbed copy (or, with `self`, an exact copy), with their feature statistics.
struct StatsPair {
  std::unique_ptr<Model> a, b;
  PermSpec spec;
  std::vector<GroupStats> st;
  data::DataLoader ld = random_loader(4, 2);
  explicit StatsPair(bool self = false) : a(golden()) {
    b = self ? build_model(a->state_dict(), a->metadata, Device::cpu(), "copy") : perturbed(*a, 50, 0.3);
    spec = perm_spec(*a);
    st = feature_stats(spec, {a.get(), b.get()}, ld, SiteRule::pooled, false);
  }
  std::vector<int64_t> full_k() const {
    std::vector<int64_t> k;
    for (auto& g : spec.groups) k.push_back(g.size);
    return k;
  }
};

}  // namespace

// ZipIt! with zero merges per group is both networks side by side: the ensemble's logits.
TEST(AlignmentMaps, ZipItZeroMergesIsTheEnsemble) {
  StatsPair s;
  auto &a = s.a, &b = s.b;
  const PermSpec& spec = s.spec;
  const auto& st = s.st;
  MergePlan plan = plan_from_stats(spec, st, [](const GroupStats& g, int64_t d) { return zipit_maps(g.cov, d, 2, 0); }, s.full_k());
  for (auto& g : plan.groups) {
    if (!g.maps.empty()) {
      EXPECT_EQ(g.width(), 2 * g.d);
    }
  }
  auto m = build_plan(spec, plan, {a.get(), b.get()});
  Tensor x = test::random_tensor({3, 3, 32, 32}, 5);
  const auto la = test::host(a->forward(x)), lb = test::host(b->forward(x));
  std::vector<double> ens(la.size());
  for (size_t i = 0; i < la.size(); ++i) ens[i] = 0.5 * (la[i] + lb[i]);
  EXPECT_TRUE(test::all_close(m->forward(x), ens, 1e-5, 1e-5));
  EXPECT_EQ(m->num_params(), 2 * a->num_params() - 10);  // two networks, one head reading both
}

// CCA Merge of a model with itself returns the model (the maps are the identity up to rounding).
TEST(AlignmentMaps, CcaSelfMergeIsTheModel) {
  StatsPair s(true);
  auto &a = s.a, &b = s.b;
  const PermSpec& spec = s.spec;
  MergePlan plan = plan_from_stats(spec, s.st, [](const GroupStats& g, int64_t d) { return cca_maps(g.cov, d, 2); }, s.full_k());
  auto m = build_plan(spec, plan, {a.get(), b.get()});
  EXPECT_EQ(m->num_params(), a->num_params());
  Tensor x = test::random_tensor({3, 3, 32, 32}, 6);
  EXPECT_TRUE(test::all_close_scaled(m->forward(x), a->forward(x), 1e-4, 1e-4));
}

// Least squares after ZipIt! (partial: 60 % of the full zip's merges, so some units are kept
// separate and the layers have row blocks) and after CCA, against the plain-loop reference.
TEST(AlignmentMaps, LeastSquaresAfterZipItAndCcaMatchesDenseReference) {
  StatsPair s;
  auto &a = s.a, &b = s.b;
  const PermSpec& spec = s.spec;
  auto& ld = s.ld;
  for (int which = 0; which < 2; ++which) {
    MergePlan plan = plan_from_stats(spec, s.st, [which](const GroupStats& g, int64_t d) {
      return which == 0 ? zipit_maps(g.cov, d, 2, (6 * d) / 10) : cca_maps(g.cov, d, 2);
    }, s.full_k());
    auto m = build_plan(spec, plan, {a.get(), b.get()});
    LsqOptions opt;
    opt.ridge = 1e-6;
    opt.progress = false;
    least_squares_refit(spec, plan, {a.get(), b.get()}, *m, ld, opt);
    const auto ref = lsq_dense_reference(spec, plan, {a.get(), b.get()}, *m, "layer1.1.conv1", ld, 1e-6);
    Conv2d* conv = nullptr;
    for (Conv2d* c : m->convs())
      if (c->path == "layer1.1.conv1") conv = c;
    ASSERT_NE(conv, nullptr);
    EXPECT_EQ(conv->blocks.empty(), which == 1) << "ZipIt! partial keeps separate units (row blocks); CCA is dense";
    EXPECT_TRUE(test::all_close(conv->weight, ref, 2e-4, 2e-3)) << (which == 0 ? "zipit" : "cca");
  }
}
