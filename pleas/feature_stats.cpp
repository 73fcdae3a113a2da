#include "pleas/feature_stats.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "engine/progress.h"
#include "kernels/ops.h"

namespace pleas {

SiteRule parse_site_rule(const std::string& name) {
  if (name == "pooled") return SiteRule::pooled;
  if (name == "per_site") return SiteRule::per_site;
  PLEAS_FAIL("site rule: unknown rule '", name, "' (expected pooled or per_site)");
}

const char* site_rule_name(SiteRule rule) { return rule == SiteRule::pooled ? "pooled" : "per_site"; }

namespace {

// The float64 sums of one group's concatenated samples x = [f_0; …; f_{N−1}] ∈ R^{N·d} (over all
// of its sites for the pooled rule, over one site for per_site): Σ x xᵀ as blocks on the models'
// device (block (k, l), k <= l: Σ f_k f_lᵀ, [d, d]; diagonal blocks by gram_accumulate, the others
// by cross_accumulate), and per unit Σx and Σx² on the host from each site's channel statistics.
// (Blocks (0, 1) and the per-unit sums are the very sums, in the same order, of the former
// two-model activation matching, so that its permutations and similarities are unchanged bit for
// bit.)
struct Accumulator {
  int64_t d = 0;
  double n = 0;
  std::vector<Tensor> blocks;  // (k, l) at index l·(l+1)/2 + k
  std::vector<double> s, ss;   // [N·d]
};

size_t block_index(int k, int l) { return size_t(l) * size_t(l + 1) / 2 + size_t(k); }

// Where a site's channels feed an accumulator: the group's channels offset..offset+d.
struct Feed {
  int group = -1;
  int64_t offset = 0;
  int acc = -1;
};

// Per-channel Σx and Σx² of a site's tensor (every channel, over all other dims), from the f64
// channel statistics: Σx = n·mean, Σx² = n·(var + mean²).
struct SiteSums {
  double n = 0;
  std::vector<double> s, ss;
};

SiteSums site_sums(const Tensor& x) {
  const ChannelStats st = batch_channel_stats(x);
  SiteSums r;
  r.n = double(st.count);
  r.s = st.mean.to_double_vector();
  r.ss = st.var.to_double_vector();
  for (size_t c = 0; c < r.s.size(); ++c) {
    r.ss[c] = r.n * (r.ss[c] + r.s[c] * r.s[c]);
    r.s[c] *= r.n;
  }
  return r;
}

// Channels off..off+d of x [N, C, ...] as samples [N·Π(rest), d] (channels last, contiguous; a
// copy, never a view of x).
Tensor unit_samples(const Tensor& x, int64_t off, int64_t d) {
  std::vector<int> dims = {0};
  for (int k = 2; k < x.dim(); ++k) dims.push_back(k);
  dims.push_back(1);
  Tensor s = x.narrow(1, off, d).permute(dims).contiguous().reshape({-1, d});
  return s.shares_storage(x) ? s.clone() : s;
}

// Host sums of an accumulator: Σ x xᵀ [(N·d)²] row-major, its diagonal Σx² from the channel
// statistics (the same sums as `ss`).
std::vector<double> second_moments(const Accumulator& a, int N) {
  const size_t d = size_t(a.d), M = size_t(N) * d;
  std::vector<double> S(M * M);
  for (int l = 0; l < N; ++l)
    for (int k = 0; k <= l; ++k) {
      const std::vector<double> b = a.blocks[block_index(k, l)].to_double_vector();
      for (size_t i = 0; i < d; ++i)
        for (size_t j = 0; j < d; ++j) {
          const double v = b[i * d + j];
          S[(size_t(k) * d + i) * M + size_t(l) * d + j] = v;
          S[(size_t(l) * d + j) * M + size_t(k) * d + i] = v;
        }
    }
  for (size_t i = 0; i < M; ++i) S[i * M + i] = a.ss[i];
  return S;
}

// Population covariance E[xxᵀ] − μμᵀ from n, Σx and Σ x xᵀ.
std::vector<double> covariance(double n, const std::vector<double>& s, const std::vector<double>& S) {
  const size_t M = s.size();
  std::vector<double> mean(M), cov(M * M);
  for (size_t i = 0; i < M; ++i) mean[i] = s[i] / n;
  for (size_t i = 0; i < M; ++i)
    for (size_t j = 0; j < M; ++j) cov[i * M + j] = S[i * M + j] / n - mean[i] * mean[j];
  return cov;
}

// corr_ij = cov_ij / (σ_i σ_j + 1e-12), σ_i = sqrt(max(cov_ii, 0)).
std::vector<double> correlation(const std::vector<double>& cov) {
  const size_t M = size_t(std::llround(std::sqrt(double(cov.size()))));
  std::vector<double> sd(M), corr(M * M);
  for (size_t i = 0; i < M; ++i) sd[i] = std::sqrt(std::max(cov[i * M + i], 0.0));
  for (size_t i = 0; i < M; ++i)
    for (size_t j = 0; j < M; ++j) corr[i * M + j] = cov[i * M + j] / (sd[i] * sd[j] + 1e-12);
  return corr;
}

}  // namespace

std::vector<GroupStats> feature_stats(const PermSpec& spec, const std::vector<Model*>& models,
                                      data::DataLoader& loader, SiteRule rule, bool progress) {
  const char* op = "feature_stats";
  PLEAS_CHECK(!models.empty(), op, ": no models");
  for (size_t k = 0; k < models.size(); ++k) PLEAS_CHECK(models[k] != nullptr, op, ": model ", k, " is null");
  const int N = int(models.size());
  const Device dev = models[0]->device();
  for (int k = 1; k < N; ++k)
    PLEAS_CHECK(models[size_t(k)]->device() == dev, op, ": models on different devices (model 0 on ", dev.str(),
                ", model ", k, " on ", models[size_t(k)]->device().str(), ")");

  // Accumulators (pooled: one per group; per_site: one per group and site) and each site's feeds.
  std::vector<GroupStats> stats(spec.groups.size());
  std::vector<Accumulator> accs;
  std::vector<std::vector<int>> group_accs(spec.groups.size());
  std::vector<std::vector<Feed>> feeds(spec.sites.size());
  auto new_acc = [&](int g) {
    Accumulator a;
    a.d = spec.groups[size_t(g)].size;
    for (size_t b = 0; b < block_index(0, N); ++b) a.blocks.push_back(Tensor::zeros({a.d, a.d}, DType::f64, dev));
    a.s.assign(size_t(N * a.d), 0.0);
    a.ss.assign(size_t(N * a.d), 0.0);
    accs.push_back(std::move(a));
    group_accs[size_t(g)].push_back(int(accs.size()) - 1);
    return int(accs.size()) - 1;
  };
  for (size_t si = 0; si < spec.sites.size(); ++si) {
    std::map<int, int> here;  // group -> its accumulator at this site
    int64_t off = 0;
    for (int g : spec.sites[si].layout) {
      PLEAS_CHECK(g >= 0 && size_t(g) < spec.groups.size(), op, ": site ", spec.sites[si].path, " names group ", g,
                  ", the spec has ", spec.groups.size());
      const PermGroup& pg = spec.groups[size_t(g)];
      if (!pg.fixed) {
        auto it = here.find(g);
        if (it == here.end()) {
          ++stats[size_t(g)].sites;
          const int a = rule == SiteRule::per_site || group_accs[size_t(g)].empty() ? new_acc(g)
                                                                                     : group_accs[size_t(g)][0];
          it = here.emplace(g, a).first;
        }
        feeds[si].push_back({g, off, it->second});
      }
      off += pg.size;
    }
  }
  for (size_t g = 0; g < spec.groups.size(); ++g)
    PLEAS_CHECK(spec.groups[g].fixed || !group_accs[g].empty(), op, ": group ", spec.groups[g].name,
                " appears at no activation site of the spec");

  // Per batch, site and feed: each model's samples [rows, d] (held until the last model's forward
  // reports the site). Model l's report accumulates its blocks (k, l) for k <= l, so that the last
  // model's report completes the site and releases the samples.
  std::vector<std::vector<std::vector<Tensor>>> held(spec.sites.size());  // [site][feed][model]
  std::vector<Shape> first_shape(spec.sites.size());
  std::vector<int> seen(spec.sites.size(), 0);
  auto on_site = [&](int l, size_t si, const Tensor& in, const Tensor& out) {
    const ActSite& site = spec.sites[si];
    PLEAS_CHECK(seen[si] <= l, op, ": site ", site.path, " was reported more than once by model ", l,
                " in one forward");
    PLEAS_CHECK(seen[si] == l, op, ": site ", site.path, " was reported by model ", l, " but not by model ", seen[si]);
    Tensor x = site.input ? in : out;
    PLEAS_CHECK(x.defined(), op, ": site ", site.path, " of model ", l, " reported no ",
                site.input ? "input" : "output");
    if (site.channels_last && x.dim() >= 2) x = x.contiguous().reshape({-1, x.size(-1)});  // [samples, C]
    const int64_t C = spec.layout_size(site.layout);
    PLEAS_CHECK(x.dim() >= 2 && x.size(1) == C, op, ": site ", site.path, " of model ", l, " has ",
                site.input ? "input " : "output ", shape_str(x.shape()), ", the spec expects ", C, " channels on dim ",
                site.channels_last ? "-1" : "1");
    if (l == 0) first_shape[si] = x.shape();
    PLEAS_CHECK(x.shape() == first_shape[si], op, ": site ", site.path, " is ", shape_str(first_shape[si]),
                " in model 0 but ", shape_str(x.shape()), " in model ", l);
    if (site.relu) x = relu(x);
    const SiteSums u = site_sums(x);
    std::vector<std::vector<Tensor>>& mats = held[si];
    if (l == 0) mats.assign(feeds[si].size(), std::vector<Tensor>(static_cast<size_t>(N)));
    for (size_t fi = 0; fi < feeds[si].size(); ++fi) {
      const Feed& f = feeds[si][fi];
      Accumulator& a = accs[size_t(f.acc)];
      const size_t d = size_t(a.d);
      for (size_t i = 0; i < d; ++i) {
        const size_t c = size_t(f.offset) + i;
        a.s[size_t(l) * d + i] += u.s[c];
        a.ss[size_t(l) * d + i] += u.ss[c];
      }
      if (l == 0) a.n += u.n;
      std::vector<Tensor>& xs = mats[fi];
      xs[size_t(l)] = unit_samples(x, f.offset, a.d);
      for (int k = 0; k < l; ++k) cross_accumulate(a.blocks[block_index(k, l)], xs[size_t(k)], xs[size_t(l)]);
      gram_accumulate(a.blocks[block_index(l, l)], xs[size_t(l)]);
    }
    if (l == N - 1) mats.clear();
    ++seen[si];
  };
  std::vector<Hooks> hooks(static_cast<size_t>(N));
  for (int k = 0; k < N; ++k)
    for (size_t si = 0; si < spec.sites.size(); ++si)
      if (!feeds[si].empty())
        hooks[size_t(k)].add(spec.sites[si].path, [&on_site, k, si](const std::string&, const Tensor& in,
                                                                  const Tensor& out) { on_site(k, si, in, out); });
  std::vector<ForwardCtx> ctx(static_cast<size_t>(N));
  for (int k = 0; k < N; ++k) ctx[size_t(k)].hooks = &hooks[size_t(k)];

  Progress bar(progress);
  loader.start_epoch(0);
  data::Batch batch;
  int64_t batches = 0;
  while (loader.next(batch)) {
    const Tensor x = batch.images.to(dev);
    std::fill(seen.begin(), seen.end(), 0);
    for (int k = 0; k < N; ++k) models[size_t(k)]->forward(x, ctx[size_t(k)]);
    for (size_t si = 0; si < spec.sites.size(); ++si) {
      if (feeds[si].empty()) continue;
      PLEAS_CHECK(seen[si] == N, op, ": site ", spec.sites[si].path, " was not reported by model ", seen[si],
                  " (a forward of ", N, " models reported it ", seen[si], " times)");
    }
    ++batches;
    bar.update(batches == loader.num_batches(), "  feature statistics (%d models, %s): batch %lld/%lld", N,
               site_rule_name(rule), static_cast<long long>(batches), static_cast<long long>(loader.num_batches()));
  }
  PLEAS_CHECK(batches > 0, op, ": the loader produced no batches");

  for (size_t g = 0; g < spec.groups.size(); ++g) {
    if (spec.groups[g].fixed) continue;
    GroupStats& st = stats[g];
    st.parents = N;
    st.d = spec.groups[g].size;
    // Pooled: the sums of the group's accumulators (one per site for per_site, else one).
    std::vector<double> s, S, corr_sum;
    double n = 0;
    for (int ai : group_accs[g]) {
      const Accumulator& a = accs[size_t(ai)];
      std::vector<double> Sa = second_moments(a, N);
      if (rule == SiteRule::per_site) {
        const std::vector<double> c = correlation(covariance(a.n, a.s, Sa));
        if (corr_sum.empty()) corr_sum.assign(c.size(), 0.0);
        for (size_t i = 0; i < c.size(); ++i) corr_sum[i] += c[i];
      }
      if (S.empty()) {
        n = a.n;
        s = a.s;
        S = std::move(Sa);
      } else {
        n += a.n;
        for (size_t i = 0; i < s.size(); ++i) s[i] += a.s[i];
        for (size_t i = 0; i < S.size(); ++i) S[i] += Sa[i];
      }
    }
    st.n = n;
    st.cov = covariance(n, s, S);
    if (rule == SiteRule::pooled) {
      st.corr = correlation(st.cov);
    } else {
      const double sites = double(group_accs[g].size());
      for (double& v : corr_sum) v /= sites;
      st.corr = std::move(corr_sum);
    }
  }
  return stats;
}

}  // namespace pleas
