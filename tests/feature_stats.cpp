// Feature statistics of N models: the pooled covariance and both rules' correlations agree with
// plain double loops over the hooked activations (ResNet-20 with N = 1, 2, 3; a ViT with
// channels-last sites, norm inputs and a group appearing twice at one site); batches pool like one
// big batch; per_site differs from pooled where a group has several sites and equals it where it has
// one; errors name the site and the model.
#include <cmath>
#include <map>
#include <random>

#include "data/loader.h"
#include "data/synthetic.h"
#include "kernels/ops.h"
#include "models/model_io.h"
#include "pleas/feature_stats.h"
#include "resnet_fixture.h"
#include "vit_fixture.h"

using namespace pleas;
using test::noisy;
using test::golden_path;
using test::random_perms;

namespace {

using Perms = std::vector<std::vector<int64_t>>;

// The CIFAR ResNet-20 golden and noisy permuted copies of it (different units, correlated).
struct Zoo {
  std::vector<std::unique_ptr<Model>> models;
  PermSpec spec;
  std::vector<Model*> first(int n) const {
    std::vector<Model*> v;
    for (int k = 0; k < n; ++k) v.push_back(models[size_t(k)].get());
    return v;
  }
};

Zoo resnet20_zoo(int n, Device dev = Device::cpu()) {
  Zoo z;
  auto a = load_model(golden_path("cifar_resnet20"));
  canonicalize(*a);
  z.spec = perm_spec(*a);
  const TensorDict sa = a->state_dict();
  z.models.push_back(build_model(sa, a->metadata, dev, "model 0"));
  for (int k = 1; k < n; ++k)
    z.models.push_back(build_model(
        permute_state(z.spec, noisy(sa, 0.2 * k, 100 * uint64_t(k)), random_perms(z.spec, uint64_t(k))), a->metadata,
        dev, "noisy copy"));
  return z;
}

// 20 random images of `size` px in batches of `batch` (8: batches of 8, 8, 4).
std::unique_ptr<data::DataLoader> random_loader(int64_t batch, int size = 16, Device dev = Device::cpu(),
                                                size_t images = 20, bool drop_last = false) {
  return std::make_unique<data::DataLoader>(std::make_shared<data::RandomImageDataset>(images, size, 10, 77),
                                            data::Transform::cifar(), batch, 1, dev, 2, drop_last);
}

// Plain double loops over the hooked activations: per (group, site) n, Σz and Σzzᵀ of the
// concatenated samples z = [f_0; …; f_{N−1}], then the pooled covariance and correlation, and the
// mean of the per-site correlations.
struct RefSums {
  double n = 0;
  std::vector<double> s, S;
};

std::vector<double> ref_cov(const RefSums& a) {
  const size_t M = a.s.size();
  std::vector<double> c(M * M);
  for (size_t i = 0; i < M; ++i)
    for (size_t j = 0; j < M; ++j) c[i * M + j] = a.S[i * M + j] / a.n - (a.s[i] / a.n) * (a.s[j] / a.n);
  return c;
}

std::vector<double> ref_corr(const std::vector<double>& c) {
  const size_t M = size_t(std::llround(std::sqrt(double(c.size()))));
  std::vector<double> r(M * M), sd(M);
  for (size_t i = 0; i < M; ++i) sd[i] = std::sqrt(std::max(c[i * M + i], 0.0));
  for (size_t i = 0; i < M; ++i)
    for (size_t j = 0; j < M; ++j) r[i * M + j] = c[i * M + j] / (sd[i] * sd[j] + 1e-12);
  return r;
}

std::vector<GroupStats> brute_stats(const PermSpec& spec, const std::vector<Model*>& models, data::DataLoader& loader,
                                    SiteRule rule) {
  const size_t N = models.size(), sites = spec.sites.size();
  // Per model and site: the site's values as rows [samples, C] (channels last) and their count.
  std::vector<std::vector<std::vector<double>>> act(N, std::vector<std::vector<double>>(sites));
  std::vector<std::vector<int64_t>> rows(N, std::vector<int64_t>(sites, 0));
  std::vector<Hooks> hooks(N);
  for (size_t k = 0; k < N; ++k)
    for (size_t si = 0; si < sites; ++si)
      hooks[k].add(spec.sites[si].path, [&, k, si](const std::string&, const Tensor& in, const Tensor& out) {
        const ActSite& site = spec.sites[si];
        const Tensor& t = site.input ? in : out;
        const std::vector<double> v = test::host(t);
        const Shape& sh = t.shape();
        const int64_t C = site.channels_last ? sh.back() : sh[1];
        const int64_t R = t.numel() / C, inner = site.channels_last ? 1 : t.numel() / (sh[0] * C);
        std::vector<double> x(v.size());
        for (int64_t r = 0; r < R; ++r)
          for (int64_t c = 0; c < C; ++c) {
            // channels last: row r, channel c at r·C + c; NC…: sample n = r / inner, position p = r % inner.
            const int64_t src = site.channels_last ? r * C + c : ((r / inner) * C + c) * inner + r % inner;
            const double val = v[size_t(src)];
            x[size_t(r * C + c)] = site.relu ? std::max(val, 0.0) : val;
          }
        act[k][si] = std::move(x);
        rows[k][si] = R;
      });
  std::map<std::pair<int, size_t>, RefSums> sums;  // (group, site)
  loader.start_epoch(0);
  data::Batch batch;
  while (loader.next(batch)) {
    for (size_t k = 0; k < N; ++k) {
      ForwardCtx ctx;
      ctx.hooks = &hooks[k];
      models[k]->forward(batch.images.to(models[k]->device()), ctx);
    }
    for (size_t si = 0; si < sites; ++si) {
      const ActSite& site = spec.sites[si];
      const int64_t C = spec.layout_size(site.layout), R = rows[0][si];
      for (size_t k = 1; k < N; ++k) EXPECT_EQ(rows[k][si], R) << site.path;
      std::vector<int> groups(site.layout.begin(), site.layout.end());
      std::sort(groups.begin(), groups.end());
      groups.erase(std::unique(groups.begin(), groups.end()), groups.end());
      for (int g : groups) {
        if (spec.groups[size_t(g)].fixed) continue;
        const size_t d = size_t(spec.groups[size_t(g)].size), M = N * d;
        RefSums& a = sums[{g, si}];
        if (a.s.empty()) {
          a.s.assign(M, 0.0);
          a.S.assign(M * M, 0.0);
        }
        std::vector<double> z(M);
        for (int64_t off : spec.group_offsets(site.layout, g))
          for (int64_t r = 0; r < R; ++r) {
            for (size_t k = 0; k < N; ++k)
              for (size_t i = 0; i < d; ++i) z[k * d + i] = act[k][si][size_t(r * C + off) + i];
            a.n += 1;
            for (size_t i = 0; i < M; ++i) {
              a.s[i] += z[i];
              for (size_t j = i; j < M; ++j) a.S[i * M + j] += z[i] * z[j];
            }
          }
        for (size_t i = 0; i < M; ++i)
          for (size_t j = 0; j < i; ++j) a.S[i * M + j] = a.S[j * M + i];
      }
    }
  }
  std::vector<GroupStats> out(spec.groups.size());
  for (size_t g = 0; g < spec.groups.size(); ++g) {
    if (spec.groups[g].fixed) continue;
    GroupStats& st = out[g];
    st.parents = int(N);
    st.d = spec.groups[g].size;
    RefSums pooled;
    std::vector<double> corr_sum;
    for (auto& [key, a] : sums) {
      if (key.first != int(g)) continue;
      ++st.sites;
      const std::vector<double> c = ref_corr(ref_cov(a));
      if (pooled.s.empty()) {
        pooled = a;
        corr_sum = c;
      } else {
        pooled.n += a.n;
        for (size_t i = 0; i < a.s.size(); ++i) pooled.s[i] += a.s[i];
        for (size_t i = 0; i < a.S.size(); ++i) pooled.S[i] += a.S[i];
        for (size_t i = 0; i < c.size(); ++i) corr_sum[i] += c[i];
      }
    }
    st.n = pooled.n;
    st.cov = ref_cov(pooled);
    if (rule == SiteRule::pooled) {
      st.corr = ref_corr(st.cov);
    } else {
      for (double& v : corr_sum) v /= double(st.sites);
      st.corr = corr_sum;
    }
  }
  return out;
}

void expect_stats_near(const PermSpec& spec, const std::vector<GroupStats>& got, const std::vector<GroupStats>& ref,
                       const std::string& what, double tol = 1e-9) {
  ASSERT_EQ(got.size(), spec.groups.size()) << what;
  for (size_t g = 0; g < spec.groups.size(); ++g) {
    const std::string name = what + " group " + spec.groups[g].name;
    EXPECT_EQ(got[g].parents, ref[g].parents) << name;
    EXPECT_EQ(got[g].d, ref[g].d) << name;
    EXPECT_EQ(got[g].n, ref[g].n) << name;
    EXPECT_EQ(got[g].sites, ref[g].sites) << name;
    EXPECT_TRUE(test::all_close(got[g].cov, ref[g].cov, tol, tol)) << name << " cov";
    EXPECT_TRUE(test::all_close(got[g].corr, ref[g].corr, tol, tol)) << name << " corr";
  }
}

void check_resnet20(int N, SiteRule rule) {
  Zoo z = resnet20_zoo(N);
  auto loader = random_loader(8);  // three batches: 8, 8, 4
  const auto got = feature_stats(z.spec, z.first(N), *loader, rule, false);
  const auto ref = brute_stats(z.spec, z.first(N), *loader, rule);
  expect_stats_near(z.spec, got, ref, "N = " + std::to_string(N) + " " + site_rule_name(rule));
  for (size_t g = 0; g < z.spec.groups.size(); ++g) {
    if (z.spec.groups[g].fixed) continue;
    // Sample counts: 20 images · the sites' pixels; every group has samples and a unit diagonal where
    // its units vary.
    EXPECT_GE(got[g].sites, 1);
    EXPECT_GT(got[g].n, 0);
    const size_t M = size_t(N * got[g].d);
    ASSERT_EQ(got[g].cov.size(), M * M);
    ASSERT_EQ(got[g].corr.size(), M * M);
    for (size_t i = 0; i < M; ++i)
      if (got[g].cov[i * M + i] > 1e-6) {
        EXPECT_NEAR(got[g].corr[i * M + i], 1.0, 1e-9) << z.spec.groups[g].name;
      }
  }
}

}  // namespace

TEST(FeatureStats, PooledMatchesBruteForceTwoModels) { check_resnet20(2, SiteRule::pooled); }
TEST(FeatureStats, PooledMatchesBruteForceThreeModels) { check_resnet20(3, SiteRule::pooled); }
TEST(FeatureStats, PerSiteMatchesBruteForceTwoModels) { check_resnet20(2, SiteRule::per_site); }
TEST(FeatureStats, PerSiteMatchesBruteForceThreeModels) { check_resnet20(3, SiteRule::per_site); }
TEST(FeatureStats, OneModel) { check_resnet20(1, SiteRule::pooled); }

// ViT: channels-last token sites, norm inputs (site.input), and the qk group twice at the qkv
// output (q and k both feed its statistics, at one site).
TEST(FeatureStats, MatchesBruteForceVit) {
  test::VitShape s;
  auto A = test::build_random_vit(s, 8), B = test::build_random_vit(s, 9);
  const PermSpec spec = perm_spec(*A);
  data::DataLoader ld(std::make_shared<data::RandomImageDataset>(12, s.image), data::Transform::cifar(), 5, 1);
  const std::vector<Model*> models = {A.get(), B.get()};
  for (SiteRule rule : {SiteRule::pooled, SiteRule::per_site})
    expect_stats_near(spec, feature_stats(spec, models, ld, rule, false), brute_stats(spec, models, ld, rule),
                      std::string("vit ") + site_rule_name(rule));
  const auto st = feature_stats(spec, models, ld, SiteRule::pooled, false);
  const int qk = spec.find_group("blocks.0.attn.qk"), stream = spec.find_group("stream");
  ASSERT_GE(qk, 0);
  EXPECT_EQ(st[size_t(qk)].sites, 1);
  const double tokens = 12.0 * ((s.image / s.patch) * (s.image / s.patch) + 1);
  EXPECT_EQ(st[size_t(qk)].n, 2 * tokens);  // q and k
  EXPECT_GT(st[size_t(stream)].sites, 1);
}

// Sums over batches: three batches (8, 8, 4) give the statistics of one batch of 20.
TEST(FeatureStats, BatchesPoolLikeOneBatch) {
  Zoo z = resnet20_zoo(3);
  auto small = random_loader(8), big = random_loader(20);
  ASSERT_EQ(small->num_batches(), 3);
  ASSERT_EQ(big->num_batches(), 1);
  for (SiteRule rule : {SiteRule::pooled, SiteRule::per_site}) {
    const auto a = feature_stats(z.spec, z.first(3), *small, rule, false);
    const auto b = feature_stats(z.spec, z.first(3), *big, rule, false);
    expect_stats_near(z.spec, a, b, std::string("batches vs one batch, ") + site_rule_name(rule), 1e-10);
  }
}

// per_site averages per-site correlations: different from the pooled correlation for a group at
// several sites (the residual streams), the same for a group at one site (a block's inner
// channels); the covariance is the pooled one under both rules.
TEST(FeatureStats, PerSiteDiffersFromPooledUnlessOneSite) {
  Zoo z = resnet20_zoo(2);
  auto loader = random_loader(8);
  const auto pooled = feature_stats(z.spec, z.first(2), *loader, SiteRule::pooled, false);
  const auto per_site = feature_stats(z.spec, z.first(2), *loader, SiteRule::per_site, false);
  int multi = 0, single = 0;
  for (size_t g = 0; g < z.spec.groups.size(); ++g) {
    if (z.spec.groups[g].fixed) continue;
    const std::string& name = z.spec.groups[g].name;
    EXPECT_EQ(pooled[g].sites, per_site[g].sites) << name;
    EXPECT_EQ(pooled[g].n, per_site[g].n) << name;
    EXPECT_TRUE(test::all_close(per_site[g].cov, pooled[g].cov, 1e-12, 1e-12)) << name;
    if (pooled[g].sites == 1) {
      ++single;
      EXPECT_EQ(per_site[g].corr, pooled[g].corr) << name;  // bit for bit
      EXPECT_EQ(per_site[g].cov, pooled[g].cov) << name;
    } else {
      ++multi;
      double diff = 0;
      for (size_t i = 0; i < pooled[g].corr.size(); ++i)
        diff = std::max(diff, std::fabs(per_site[g].corr[i] - pooled[g].corr[i]));
      EXPECT_GT(diff, 1e-3) << name;
    }
  }
  EXPECT_GT(multi, 0);
  EXPECT_GT(single, 0);
  const int stream1 = z.spec.find_group("stream1"), inner = z.spec.find_group("layer2.1.inner");
  ASSERT_GE(stream1, 0);
  ASSERT_GE(inner, 0);
  EXPECT_GT(pooled[size_t(stream1)].sites, 1);
  EXPECT_EQ(pooled[size_t(inner)].sites, 1);
}

TEST(FeatureStats, FixedGroupsAreEmpty) {
  Zoo z = resnet20_zoo(2);
  auto loader = random_loader(8);
  const auto st = feature_stats(z.spec, z.first(2), *loader, SiteRule::pooled, false);
  for (size_t g = 0; g < z.spec.groups.size(); ++g) {
    if (!z.spec.groups[g].fixed) continue;
    EXPECT_EQ(st[g].parents, 0) << z.spec.groups[g].name;
    EXPECT_EQ(st[g].sites, 0);
    EXPECT_EQ(st[g].n, 0);
    EXPECT_TRUE(st[g].cov.empty());
    EXPECT_TRUE(st[g].corr.empty());
  }
}

TEST(FeatureStats, ParseSiteRule) {
  EXPECT_EQ(parse_site_rule("pooled"), SiteRule::pooled);
  EXPECT_EQ(parse_site_rule("per_site"), SiteRule::per_site);
  EXPECT_STREQ(site_rule_name(SiteRule::per_site), "per_site");
  EXPECT_STREQ(site_rule_name(SiteRule::pooled), "pooled");
  test::expect_error_naming([] { parse_site_rule("persite"); }, "site rule", "'persite'");
  test::expect_error_naming([] { parse_site_rule(""); }, "site rule", "pooled or per_site");
}

namespace {
// A model whose forward sees the input at half resolution: the same channels at every site, other
// spatial shapes.
class HalfResolution : public Model {
 public:
  explicit HalfResolution(Model& m) : m_(m) {}
  std::string arch() const override { return m_.arch(); }
  Tensor forward(const Tensor& x, const ForwardCtx& ctx) override {
    Pool2dArgs a;
    a.kernel_h = a.kernel_w = a.stride_h = a.stride_w = 2;
    return m_.forward(avg_pool2d(x, a), ctx);
  }
  TensorDict state_dict() const override { return m_.state_dict(); }
  int image_size() const override { return m_.image_size(); }

 private:
  Model& m_;
};
}  // namespace

TEST(FeatureStats, Errors) {
  Zoo z = resnet20_zoo(2);
  auto loader = random_loader(8);
  const char* op = "feature_stats";
  test::expect_error_naming([&] { feature_stats(z.spec, {}, *loader, SiteRule::pooled, false); }, op, "no models");
  test::expect_error_naming(
      [&] { feature_stats(z.spec, {z.models[0].get(), nullptr}, *loader, SiteRule::pooled, false); }, op,
      "model 1 is null");
  // No batches: 5 images, batches of 8, the last one dropped.
  auto empty = random_loader(8, 16, Device::cpu(), 5, /*drop_last=*/true);
  ASSERT_EQ(empty->num_batches(), 0);
  test::expect_error_naming([&] { feature_stats(z.spec, z.first(2), *empty, SiteRule::pooled, false); }, op,
                            "no batches");
  // A group at no site.
  PermSpec cut = z.spec;
  const int inner = cut.find_group("layer1.0.inner");
  cut.sites.erase(std::remove_if(cut.sites.begin(), cut.sites.end(),
                                 [&](const ActSite& s) {
                                   return std::find(s.layout.begin(), s.layout.end(), inner) != s.layout.end();
                                 }),
                  cut.sites.end());
  test::expect_error_naming([&] { feature_stats(cut, z.first(2), *loader, SiteRule::per_site, false); }, op,
                            "group layer1.0.inner appears at no activation site");
  // Another architecture as model 1: its first site has other channels.
  auto r18 = load_model(golden_path("resnet18_w12"));
  test::expect_error_naming(
      [&] { feature_stats(z.spec, {z.models[0].get(), r18.get()}, *loader, SiteRule::pooled, false); }, op,
      "of model 1 has output");
  // The spec of another architecture: its sites are not reported.
  test::expect_error_naming([&] { feature_stats(perm_spec(*r18), z.first(2), *loader, SiteRule::pooled, false); }, op,
                            "site ");
  // Same channels, other shapes: the site and both shapes are named.
  HalfResolution half(*z.models[1]);
  const std::string msg = test::error_of(
      [&] { feature_stats(z.spec, {z.models[0].get(), &half}, *loader, SiteRule::pooled, false); });
  EXPECT_NE(msg.find("feature_stats: site bn1 is [8, 16, 16, 16] in model 0 but [8, 16, 8, 8] in model 1"),
            std::string::npos)
      << msg;
  // The same model twice is fine (and its two copies correlate perfectly).
  const auto st = feature_stats(z.spec, {z.models[0].get(), z.models[0].get()}, *loader, SiteRule::pooled, false);
  const int s1 = z.spec.find_group("stream1");
  const size_t d = size_t(st[size_t(s1)].d);
  for (size_t i = 0; i < d; ++i) EXPECT_NEAR(st[size_t(s1)].corr[i * 2 * d + d + i], 1.0, 1e-9);
}

// ---- CUDA: the same statistics as the CPU ----

TEST(FeatureStatsCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  Zoo c = resnet20_zoo(3), g = resnet20_zoo(3, Device::cuda());
  auto lc = random_loader(8), lg = random_loader(8, 16, Device::cuda());
  for (SiteRule rule : {SiteRule::pooled, SiteRule::per_site})
    expect_stats_near(c.spec, feature_stats(g.spec, g.first(3), *lg, rule, false),
                      feature_stats(c.spec, c.first(3), *lc, rule, false), std::string("cuda ") + site_rule_name(rule),
                      1e-7);
}
