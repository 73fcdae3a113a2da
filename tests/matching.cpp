// Matching: weight matching (Git Re-Basin coordinate descent) and activation matching recover a
// known permutation of a model, exactly and under noise; costs and correlations agree with plain
// double loops over the state dicts / hooked activations; activation matching is the cross block of
// feature_stats' correlation under either site rule; results are deterministic.
#include <cmath>
#include <random>

#include "data/loader.h"
#include "data/synthetic.h"
#include "models/model_io.h"
#include "pleas/lap.h"
#include "pleas/matching.h"
#include "resnet_fixture.h"

using namespace pleas;
using test::noisy;
using test::golden_path;
using test::random_perms;

namespace {

using Perms = std::vector<std::vector<int64_t>>;

struct Fixture {
  std::unique_ptr<Model> model;
  PermSpec spec;
  TensorDict state;
};

Fixture load(const std::string& name) {
  Fixture f;
  f.model = load_model(golden_path(name));
  canonicalize(*f.model);
  f.spec = perm_spec(*f.model);
  f.state = f.model->state_dict();
  return f;
}

Perms inverse(const Perms& p) {
  Perms q = p;
  for (size_t g = 0; g < p.size(); ++g)
    for (size_t i = 0; i < p[g].size(); ++i) q[g][size_t(p[g][i])] = int64_t(i);
  return q;
}

void expect_same_state(const TensorDict& got, const TensorDict& ref) {
  ASSERT_EQ(got.size(), ref.size());
  for (auto& [name, t] : ref) EXPECT_TRUE(test::all_close(got.at(name), t, 0, 0)) << name;
}

// C_g[i][j] = Σ_{(layer, axis) ∋ g} ⟨A's unit i, B's unit j with B's other axis permuted by P⟩, by
// plain double loops over host copies (the reference for weight_matching_cost).
std::vector<double> brute_cost(const PermSpec& s, const TensorDict& A, const TensorDict& B, const Perms& P, int g) {
  const int64_t d = s.groups[size_t(g)].size;
  std::vector<double> C(size_t(d * d), 0.0);
  auto outer = [&](const std::string& name, int64_t off) {
    const auto a = test::host(A.at(name)), b = test::host(B.at(name));
    for (int64_t i = 0; i < d; ++i)
      for (int64_t j = 0; j < d; ++j) C[size_t(i * d + j)] += a[size_t(off + i)] * b[size_t(off + j)];
  };
  for (const LayerSpec& l : s.layers) {
    const int64_t oo = s.group_offset(l.out, g), io = s.group_offset(l.in, g);
    if (l.kind == LayerKind::channel_map) continue;
    if (l.kind == LayerKind::bn) {
      if (oo >= 0)
        for (const char* p : {".weight", ".bias", ".running_mean", ".running_var"}) outer(l.path + p, oo);
      continue;
    }
    const Tensor& wt = A.at(l.path + ".weight");
    const int64_t O = wt.size(0), I = wt.size(1), K = wt.numel() / (O * I);
    const auto a = test::host(wt), b = test::host(B.at(l.path + ".weight"));
    const auto oidx = layout_index(s, l.out, P), iidx = layout_index(s, l.in, P);
    if (oo >= 0) {
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; ++j) {
          double acc = 0;
          for (int64_t c = 0; c < I; ++c)
            for (int64_t k = 0; k < K; ++k)
              acc += a[size_t(((oo + i) * I + c) * K + k)] * b[size_t(((oo + j) * I + iidx[size_t(c)]) * K + k)];
          C[size_t(i * d + j)] += acc;
        }
      if (l.has_bias) outer(l.path + ".bias", oo);
    }
    if (io >= 0) {
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; ++j) {
          double acc = 0;
          for (int64_t o = 0; o < O; ++o)
            for (int64_t k = 0; k < K; ++k)
              acc += a[size_t((o * I + io + i) * K + k)] * b[size_t((oidx[size_t(o)] * I + io + j) * K + k)];
          C[size_t(i * d + j)] += acc;
        }
    }
  }
  return C;
}

// ‖unit i‖² over all of its entries (the diagonal of the cost of a state against itself).
std::vector<double> brute_sq_norms(const PermSpec& s, const TensorDict& A, int g) {
  const int64_t d = s.groups[size_t(g)].size;
  const auto C = brute_cost(s, A, A, identity_perms(s), g);
  std::vector<double> n(static_cast<size_t>(d));
  for (int64_t i = 0; i < d; ++i) n[size_t(i)] = C[size_t(i * d + i)];
  return n;
}

void check_weight_recovery(const std::string& name) {
  Fixture f = load(name);
  const Perms P = random_perms(f.spec, 5);
  const TensorDict B = permute_state(f.spec, f.state, P);
  const Matching m = weight_matching(f.spec, f.state, B, 0);
  EXPECT_EQ(m.perms, inverse(P)) << name;
  expect_same_state(permute_state(f.spec, B, m.perms), f.state);
  EXPECT_GE(m.sweeps, 1);
  EXPECT_LE(m.sweeps, 100);
  ASSERT_EQ(m.similarity.size(), f.spec.groups.size());
  double objective = 0;
  for (size_t g = 0; g < f.spec.groups.size(); ++g) {
    EXPECT_TRUE(test::all_close(m.similarity[g], std::vector<double>(m.similarity[g].size(), 1.0), 1e-5, 0))
        << name << " group " << f.spec.groups[g].name;
    if (f.spec.groups[g].fixed) continue;
    for (double v : brute_sq_norms(f.spec, f.state, int(g))) objective += v;
  }
  // At the exact match every matched pair contributes ‖A_i‖²: the objective is Σ of squared norms.
  EXPECT_NEAR(m.objective, objective, 1e-5 * objective) << name;
}


// 20 images: batches of 8, 8, 4.
std::unique_ptr<data::DataLoader> random_loader(int size, Device dev = Device::cpu()) {
  return std::make_unique<data::DataLoader>(std::make_shared<data::RandomImageDataset>(20, size, 10, 77),
                                            data::Transform::cifar(), 8, 1, dev);
}

std::unique_ptr<Model> model_from(const TensorDict& state, const Model& like, Device dev = Device::cpu()) {
  TensorDict s;
  for (auto& [k, t] : state) s[k] = t;
  return build_model(s, like.metadata, dev, "test");
}

// Pearson correlations of group g's units (A rows, B columns) by double loops over the hooked
// activations of every batch and every site where g appears.
std::vector<double> brute_corr(const PermSpec& s, Model& A, Model& B, data::DataLoader& loader, int g) {
  const int64_t d = s.groups[size_t(g)].size;
  double n = 0;
  std::vector<double> sa(static_cast<size_t>(d)), sb(static_cast<size_t>(d)), saa(static_cast<size_t>(d)), sbb(static_cast<size_t>(d)), sab(static_cast<size_t>(d * d));
  std::map<std::string, std::vector<double>> acts[2];
  std::map<std::string, Shape> shapes;
  Hooks h[2];
  for (int w = 0; w < 2; ++w)
    for (const ActSite& site : s.sites)
      h[w].add(site.path, [&, w, relu = site.relu](const std::string& p, const Tensor&, const Tensor& out) {
        auto v = test::host(out);
        if (relu)
          for (double& x : v) x = std::max(x, 0.0);
        acts[w][p] = v;
        shapes[p] = out.shape();
      });
  loader.start_epoch(0);
  data::Batch batch;
  while (loader.next(batch)) {
    ForwardCtx ca, cb;
    ca.hooks = &h[0];
    cb.hooks = &h[1];
    A.forward(batch.images, ca);
    B.forward(batch.images, cb);
    for (const ActSite& site : s.sites) {
      const int64_t off = s.group_offset(site.layout, g);
      if (off < 0) continue;
      const Shape& sh = shapes.at(site.path);
      const int64_t N = sh[0], C = sh[1], HW = sh[2] * sh[3];
      const auto &xa = acts[0].at(site.path), &xb = acts[1].at(site.path);
      for (int64_t nn = 0; nn < N; ++nn)
        for (int64_t q = 0; q < HW; ++q) {
          n += 1;
          for (int64_t i = 0; i < d; ++i) {
            const double a = xa[size_t((nn * C + off + i) * HW + q)], b = xb[size_t((nn * C + off + i) * HW + q)];
            sa[size_t(i)] += a;
            sb[size_t(i)] += b;
            saa[size_t(i)] += a * a;
            sbb[size_t(i)] += b * b;
            for (int64_t j = 0; j < d; ++j)
              sab[size_t(i * d + j)] += a * xb[size_t((nn * C + off + j) * HW + q)];
          }
        }
    }
  }
  std::vector<double> corr(static_cast<size_t>(d * d));
  for (int64_t i = 0; i < d; ++i)
    for (int64_t j = 0; j < d; ++j) {
      const double ma = sa[size_t(i)] / n, mb = sb[size_t(j)] / n;
      const double va = saa[size_t(i)] / n - ma * ma, vb = sbb[size_t(j)] / n - mb * mb;
      corr[size_t(i * d + j)] = (sab[size_t(i * d + j)] / n - ma * mb) / (std::sqrt(va) * std::sqrt(vb) + 1e-12);
    }
  return corr;
}

}  // namespace

// ---- weight matching ----

TEST(WeightMatching, RecoversPermutationCifarResNet20) { check_weight_recovery("cifar_resnet20"); }
TEST(WeightMatching, RecoversPermutationResNet18) { check_weight_recovery("resnet18_w12"); }

TEST(WeightMatching, CostMatchesBruteForce) {
  Fixture f = load("cifar_resnet20");
  const TensorDict B = permute_state(f.spec, noisy(f.state, 0.5, 11), random_perms(f.spec, 3));
  const Perms P = random_perms(f.spec, 4);  // an arbitrary current state of the other groups
  // stream1 (conv, BN, many convs' inputs, the linear layer's input), a padded stream group and a
  // block's inner group, plus the fixed input group (first conv's axis 1 only).
  for (const char* name : {"stream1", "stream2.pad", "layer2.1.inner", "input"}) {
    const int g = f.spec.find_group(name);
    ASSERT_GE(g, 0) << name;
    const auto ref = brute_cost(f.spec, f.state, B, P, g);
    EXPECT_TRUE(test::all_close(weight_matching_cost(f.spec, f.state, B, P, g), ref, 1e-4, 1e-4)) << name;
  }
  // The classes group carries the linear layer's rows and bias.
  const int cg = f.spec.classes_group;
  EXPECT_TRUE(test::all_close(weight_matching_cost(f.spec, f.state, B, P, cg), brute_cost(f.spec, f.state, B, P, cg),
                              1e-4, 1e-4));
}

TEST(WeightMatching, CostMatchesBruteForceResNet18) {
  Fixture f = load("resnet18_w12");
  const TensorDict B = noisy(f.state, 1.0, 21);
  const Perms P = random_perms(f.spec, 8);
  for (const char* name : {"stream1", "stream3", "layer3.0.inner1"}) {
    const int g = f.spec.find_group(name);
    ASSERT_GE(g, 0) << name;
    EXPECT_TRUE(test::all_close(weight_matching_cost(f.spec, f.state, B, P, g), brute_cost(f.spec, f.state, B, P, g),
                                1e-4, 1e-4))
        << name;
  }
}

TEST(WeightMatching, RecoversPermutationUnderNoise) {
  Fixture f = load("cifar_resnet20");
  const Perms P = random_perms(f.spec, 9);
  const TensorDict Bn = noisy(f.state, 0.3, 100);
  const TensorDict B = permute_state(f.spec, Bn, P);
  const Matching m = weight_matching(f.spec, f.state, B, 1);
  EXPECT_EQ(m.perms, inverse(P));
  // Similarity = cosine of the matched units, recomputed by double loops in the final coordinates.
  const TensorDict Bp = permute_state(f.spec, B, m.perms);
  const Perms id = identity_perms(f.spec);
  double objective = 0;
  for (size_t g = 0; g < f.spec.groups.size(); ++g) {
    const int64_t d = f.spec.groups[g].size;
    const auto C = brute_cost(f.spec, f.state, Bp, id, int(g));
    const auto na = brute_sq_norms(f.spec, f.state, int(g)), nb = brute_sq_norms(f.spec, Bp, int(g));
    std::vector<double> cos(static_cast<size_t>(d));
    for (int64_t i = 0; i < d; ++i) {
      cos[size_t(i)] = C[size_t(i * d + i)] / std::sqrt(na[size_t(i)] * nb[size_t(i)]);
      if (!f.spec.groups[g].fixed) objective += C[size_t(i * d + i)];
    }
    EXPECT_TRUE(test::all_close(m.similarity[g], cos, 1e-5, 1e-5)) << f.spec.groups[g].name;
    for (double c : cos) EXPECT_GT(c, 0.8) << f.spec.groups[g].name;  // noisy, but clearly matched
    for (double c : cos) EXPECT_LT(c, 1.0 - 1e-4) << f.spec.groups[g].name;  // the noise is there
  }
  EXPECT_NEAR(m.objective, objective, 1e-5 * std::fabs(objective));
}

TEST(WeightMatching, IndependentModelsImproveOnIdentity) {
  // Two unrelated models: the matching cannot be exact, but coordinate descent only ever raises
  // the objective above the identity's, and its perms are a local optimum (one more pass over any
  // group keeps it).
  Fixture f = load("cifar_resnet20");
  const TensorDict B = noisy(f.state, 5.0, 300);  // noise dominates: essentially independent
  const Matching m = weight_matching(f.spec, f.state, B, 2);
  double identity_objective = 0;
  const Perms id = identity_perms(f.spec);
  for (size_t g = 0; g < f.spec.groups.size(); ++g) {
    if (f.spec.groups[g].fixed) continue;
    const int64_t d = f.spec.groups[g].size;
    const auto C = weight_matching_cost(f.spec, f.state, B, id, int(g));
    for (int64_t i = 0; i < d; ++i) identity_objective += C[size_t(i * d + i)];
    // Local optimality: the best assignment of C_g given the final perms is the final perm's value.
    const auto Cf = weight_matching_cost(f.spec, f.state, B, m.perms, int(g));
    double val = 0;
    for (int64_t i = 0; i < d; ++i) val += Cf[size_t(i * d + m.perms[g][size_t(i)])];
    EXPECT_NEAR(solve_assignment(Cf, d, true).cost, val, 1e-9 * std::fabs(m.objective) + 1e-9) << f.spec.groups[g].name;
  }
  EXPECT_GT(m.objective, identity_objective);
  for (size_t g = 0; g < f.spec.groups.size(); ++g)
    for (double c : m.similarity[g]) {
      EXPECT_GE(c, -1.0 - 1e-9);
      EXPECT_LE(c, 1.0 + 1e-9);
    }
}

TEST(WeightMatching, Deterministic) {
  Fixture f = load("cifar_resnet20");
  const TensorDict B = permute_state(f.spec, noisy(f.state, 2.0, 50), random_perms(f.spec, 6));
  const Matching a = weight_matching(f.spec, f.state, B, 42), b = weight_matching(f.spec, f.state, B, 42);
  EXPECT_EQ(a.perms, b.perms);
  EXPECT_EQ(a.similarity, b.similarity);
  EXPECT_EQ(a.sweeps, b.sweeps);
  EXPECT_EQ(a.objective, b.objective);
  // max_sweeps bounds the descent.
  EXPECT_EQ(weight_matching(f.spec, f.state, B, 42, 1).sweeps, 1);
}

TEST(WeightMatching, Errors) {
  Fixture f = load("cifar_resnet20");
  TensorDict B = f.state;
  B.erase("layer1.0.conv1.weight");
  try {
    weight_matching(f.spec, f.state, B, 0);
    FAIL() << "missing tensor accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("weight_matching"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("layer1.0.conv1.weight"), std::string::npos) << e.what();
  }
  B = f.state;
  B["bn1.weight"] = Tensor::zeros({7});
  EXPECT_THROW(weight_matching(f.spec, f.state, B, 0), Error);
  EXPECT_THROW(weight_matching(f.spec, f.state, f.state, 0, 0), Error);
  Perms P = identity_perms(f.spec);
  EXPECT_THROW(weight_matching_cost(f.spec, f.state, f.state, P, int(f.spec.groups.size())), Error);
  P[1][0] = P[1][1];  // not a permutation
  EXPECT_THROW(weight_matching_cost(f.spec, f.state, f.state, P, 1), Error);
  P.pop_back();
  EXPECT_THROW(weight_matching_cost(f.spec, f.state, f.state, P, 1), Error);
}

// ---- activation matching ----

TEST(ActivationMatching, RecoversPermutationCifarResNet20) {
  Fixture f = load("cifar_resnet20");
  const Perms P = random_perms(f.spec, 12);
  auto B = model_from(permute_state(f.spec, f.state, P), *f.model);
  auto loader = random_loader(32);
  const Matching m = activation_matching(f.spec, *f.model, *B, *loader, false);
  EXPECT_EQ(m.perms, inverse(P));
  EXPECT_EQ(m.sweeps, 0);
  for (size_t g = 0; g < f.spec.groups.size(); ++g)
    EXPECT_TRUE(test::all_close(m.similarity[g], std::vector<double>(m.similarity[g].size(), 1.0), 1e-6, 0))
        << f.spec.groups[g].name;
}

TEST(ActivationMatching, RecoversPermutationResNet18) {
  Fixture f = load("resnet18_w12");
  const Perms P = random_perms(f.spec, 13);
  auto B = model_from(permute_state(f.spec, f.state, P), *f.model);
  auto loader = random_loader(64);
  const Matching m = activation_matching(f.spec, *f.model, *B, *loader, false);
  EXPECT_EQ(m.perms, inverse(P));
  for (size_t g = 0; g < f.spec.groups.size(); ++g)
    EXPECT_TRUE(test::all_close(m.similarity[g], std::vector<double>(m.similarity[g].size(), 1.0), 1e-6, 0))
        << f.spec.groups[g].name;
}

TEST(ActivationMatching, NoisyMatchesBruteForceCorrelation) {
  Fixture f = load("cifar_resnet20");
  const Perms P = random_perms(f.spec, 14);
  auto B = model_from(permute_state(f.spec, noisy(f.state, 0.05, 400), P), *f.model);
  auto loader = random_loader(32);
  const Matching m = activation_matching(f.spec, *f.model, *B, *loader, false);
  EXPECT_EQ(m.perms, inverse(P));
  // Correlations pooled over every batch (8 + 8 + 4 images) and every site of the group.
  for (const char* name : {"stream1", "stream3.pad", "layer2.0.inner"}) {
    const int g = f.spec.find_group(name);
    ASSERT_GE(g, 0) << name;
    const int64_t d = f.spec.groups[size_t(g)].size;
    const auto corr = brute_corr(f.spec, *f.model, *B, *loader, g);
    const Assignment a = solve_assignment(corr, d, true);
    EXPECT_EQ(m.perms[size_t(g)], a.col_of_row) << name;
    std::vector<double> sim(static_cast<size_t>(d));
    for (int64_t i = 0; i < d; ++i) sim[size_t(i)] = corr[size_t(i * d + a.col_of_row[size_t(i)])];
    EXPECT_TRUE(test::all_close(m.similarity[size_t(g)], sim, 1e-6, 1e-6)) << name;
    for (double s : sim) EXPECT_LT(s, 1.0 - 1e-7) << name;  // the noise is visible
  }
}

TEST(ActivationMatching, Deterministic) {
  Fixture f = load("cifar_resnet20");
  auto B = model_from(permute_state(f.spec, noisy(f.state, 0.3, 500), random_perms(f.spec, 15)), *f.model);
  auto loader = random_loader(32);
  const Matching a = activation_matching(f.spec, *f.model, *B, *loader, false);
  const Matching b = activation_matching(f.spec, *f.model, *B, *loader, false);  // restarts the epoch
  EXPECT_EQ(a.perms, b.perms);
  EXPECT_EQ(a.similarity, b.similarity);
  EXPECT_EQ(a.objective, b.objective);
}

// Activation matching is feature_stats of (A, B): its correlation is the cross block (A's unit i,
// B's unit d + j) of the two-model correlation, under either site rule; the perms are its
// assignment, the similarities its matched entries (bit for bit).
TEST(ActivationMatching, IsTheCrossBlockOfFeatureStats) {
  Fixture f = load("cifar_resnet20");
  auto B = model_from(permute_state(f.spec, noisy(f.state, 0.3, 800), random_perms(f.spec, 18)), *f.model);
  auto loader = random_loader(32);
  for (SiteRule rule : {SiteRule::pooled, SiteRule::per_site}) {
    const Matching m = activation_matching(f.spec, *f.model, *B, *loader, false, rule);
    const std::vector<GroupStats> st = feature_stats(f.spec, {f.model.get(), B.get()}, *loader, rule, false);
    double objective = 0;
    for (size_t g = 0; g < f.spec.groups.size(); ++g) {
      const int64_t d = f.spec.groups[g].size;
      if (f.spec.groups[g].fixed) {
        EXPECT_EQ(m.perms[g], identity_perms(f.spec)[g]);
        EXPECT_EQ(m.similarity[g], std::vector<double>(size_t(d), 1.0));
        continue;
      }
      std::vector<double> cross(static_cast<size_t>(d * d));
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; ++j) cross[size_t(i * d + j)] = st[g].corr[size_t(i * 2 * d + d + j)];
      const Assignment a = solve_assignment(cross, d, true);
      EXPECT_EQ(m.perms[g], a.col_of_row) << site_rule_name(rule) << " " << f.spec.groups[g].name;
      std::vector<double> sim(static_cast<size_t>(d));
      for (int64_t i = 0; i < d; ++i) sim[size_t(i)] = cross[size_t(i * d + m.perms[g][size_t(i)])];
      EXPECT_EQ(m.similarity[g], sim) << site_rule_name(rule) << " " << f.spec.groups[g].name;
      objective += a.cost;
    }
    EXPECT_NEAR(m.objective, objective, 1e-9 * std::fabs(objective));
  }
  // The rules differ (the streams have several sites).
  EXPECT_NE(activation_matching(f.spec, *f.model, *B, *loader, false, SiteRule::per_site).similarity,
            activation_matching(f.spec, *f.model, *B, *loader, false).similarity);
}

TEST(ActivationMatching, PerSiteRecoversPermutation) {
  Fixture f = load("cifar_resnet20");
  const Perms P = random_perms(f.spec, 19);
  auto B = model_from(permute_state(f.spec, f.state, P), *f.model);
  auto loader = random_loader(32);
  const Matching m = activation_matching(f.spec, *f.model, *B, *loader, false, SiteRule::per_site);
  EXPECT_EQ(m.perms, inverse(P));
  for (size_t g = 0; g < f.spec.groups.size(); ++g)
    EXPECT_TRUE(test::all_close(m.similarity[g], std::vector<double>(m.similarity[g].size(), 1.0), 1e-6, 0))
        << f.spec.groups[g].name;
}

TEST(ActivationMatching, Errors) {
  Fixture f = load("cifar_resnet20");
  auto r18 = load_model(golden_path("resnet18_w12"));
  auto loader = random_loader(32);
  // A spec of another architecture: its sites do not fit the models.
  EXPECT_THROW(activation_matching(perm_spec(*r18), *f.model, *f.model, *loader, false), Error);
  try {
    activation_matching(f.spec, *f.model, *r18, *loader, false);
    FAIL() << "mismatched model B accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("activation_matching"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("of model 1 has output"), std::string::npos) << e.what();
  }
}

// ---- CUDA: same results as the CPU ----

TEST(WeightMatchingCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  Fixture f = load("cifar_resnet20");
  const TensorDict B = permute_state(f.spec, noisy(f.state, 0.3, 600), random_perms(f.spec, 16));
  const Matching c = weight_matching(f.spec, f.state, B, 3, 100, Device::cpu());
  const Matching g = weight_matching(f.spec, f.state, B, 3, 100, Device::cuda());
  EXPECT_EQ(c.perms, g.perms);
  for (size_t k = 0; k < c.similarity.size(); ++k)
    EXPECT_TRUE(test::all_close(g.similarity[k], c.similarity[k], 1e-5, 1e-5)) << f.spec.groups[k].name;
  EXPECT_NEAR(g.objective, c.objective, 1e-5 * std::fabs(c.objective));
}

TEST(ActivationMatchingCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  Fixture f = load("cifar_resnet20");
  const TensorDict Bs = permute_state(f.spec, noisy(f.state, 0.05, 700), random_perms(f.spec, 17));
  auto B = model_from(Bs, *f.model);
  auto loader = random_loader(32);
  const Matching c = activation_matching(f.spec, *f.model, *B, *loader, false);
  auto Ag = model_from(f.state, *f.model, Device::cuda()), Bg = model_from(Bs, *f.model, Device::cuda());
  auto gloader = random_loader(32, Device::cuda());
  const Matching g = activation_matching(f.spec, *Ag, *Bg, *gloader, false);
  EXPECT_EQ(c.perms, g.perms);
  for (size_t k = 0; k < c.similarity.size(); ++k)
    EXPECT_TRUE(test::all_close(g.similarity[k], c.similarity[k], 1e-5, 1e-5)) << f.spec.groups[k].name;
}
