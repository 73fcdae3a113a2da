// Linear probes (experiments/linear_probe.h): the ridge solution against the normal equations of
// the design [Z, 1] solved by Gaussian elimination here, the logistic solution against its
// optimality condition computed here, the seeded holdout choice of λ, separable data, the
// penultimate features against the models' own features() and fc, and clear errors.
#include <chrono>
#include <cmath>
#include <random>

#include "data/loader.h"
#include "data/synthetic.h"
#include "experiments/linear_probe.h"
#include "models/cifar_resnet.h"
#include "models/vit.h"
#include "resnet_fixture.h"
#include "test_util.h"
#include "vit_fixture.h"

namespace pleas {
namespace {

using test::all_close;

// n rows of C features with per-feature offsets and scales (so standardisation matters), labels
// in [0, K); `sep` > 0 moves class k's rows by sep along feature k (linearly separable for large sep).
struct Problem {
  Tensor X;
  std::vector<int64_t> y;
};
Problem random_problem(int64_t n, int64_t C, int64_t K, uint64_t seed, double sep = 0.0, double noise = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1, 1);
  std::vector<double> off(static_cast<size_t>(C)), scale(static_cast<size_t>(C));
  for (int64_t j = 0; j < C; ++j) { off[size_t(j)] = 5 * u(rng); scale[size_t(j)] = std::exp(2 * u(rng)); }
  Problem p;
  std::vector<double> v(size_t(n * C));
  for (int64_t i = 0; i < n; ++i) {
    const int64_t t = int64_t(rng() % uint64_t(K));
    p.y.push_back(t);
    for (int64_t j = 0; j < C; ++j)
      v[size_t(i * C + j)] = off[size_t(j)] + scale[size_t(j)] * (noise * u(rng) + (j % K == t ? sep : 0.0));
  }
  p.X = Tensor::from_vector(v, {n, C}).to(DType::f32);
  return p;
}

// Independent reference: standardise (population std), A = [Z, 1], solve
// (AᵀA + λ·diag(1, ..., 1, 0)) θ = AᵀY by Gaussian elimination with partial pivoting.
void reference_ridge(const Tensor& Xt, const std::vector<int64_t>& y, int64_t K, double lambda,
                     std::vector<double>& W, std::vector<double>& b) {
  const std::vector<double> X = Xt.to_double_vector();
  const int64_t n = Xt.size(0), C = Xt.size(1), D = C + 1;
  std::vector<double> A(size_t(n * D), 1.0);
  for (int64_t j = 0; j < C; ++j) {
    double m = 0, s = 0;
    for (int64_t i = 0; i < n; ++i) m += X[size_t(i * C + j)];
    m /= double(n);
    for (int64_t i = 0; i < n; ++i) s += (X[size_t(i * C + j)] - m) * (X[size_t(i * C + j)] - m);
    s = std::sqrt(s / double(n));
    for (int64_t i = 0; i < n; ++i) A[size_t(i * D + j)] = (X[size_t(i * C + j)] - m) / s;
  }
  // Augmented [M | rhs], M = AᵀA + λ diag(1..1, 0), rhs = AᵀY.
  std::vector<double> M(size_t(D * (D + K)), 0.0);
  const int64_t w = D + K;
  for (int64_t r = 0; r < D; ++r) {
    for (int64_t c = 0; c < D; ++c) {
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += A[size_t(i * D + r)] * A[size_t(i * D + c)];
      M[size_t(r * w + c)] = s + (r == c && r < C ? lambda : 0.0);
    }
    for (int64_t i = 0; i < n; ++i) M[size_t(r * w + D + y[size_t(i)])] += A[size_t(i * D + r)];
  }
  for (int64_t c = 0; c < D; ++c) {
    int64_t piv = c;
    for (int64_t r = c + 1; r < D; ++r)
      if (std::fabs(M[size_t(r * w + c)]) > std::fabs(M[size_t(piv * w + c)])) piv = r;
    for (int64_t k = 0; k < w; ++k) std::swap(M[size_t(c * w + k)], M[size_t(piv * w + k)]);
    for (int64_t r = 0; r < D; ++r) {
      if (r == c) continue;
      const double f = M[size_t(r * w + c)] / M[size_t(c * w + c)];
      for (int64_t k = c; k < w; ++k) M[size_t(r * w + k)] -= f * M[size_t(c * w + k)];
    }
  }
  W.assign(size_t(C * K), 0.0);
  b.assign(size_t(K), 0.0);
  for (int64_t r = 0; r < D; ++r)
    for (int64_t k = 0; k < K; ++k) {
      const double v = M[size_t(r * w + D + k)] / M[size_t(r * w + r)];
      if (r < C) W[size_t(r * K + k)] = v;
      else b[size_t(k)] = v;
    }
}

template <typename F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

TEST(LinearProbe, RidgeEqualsNormalEquations) {
  for (auto [n, C, K, lambda] : {std::tuple<int64_t, int64_t, int64_t, double>{80, 6, 4, 3.7}, {40, 25, 3, 0.05},
                                 {200, 12, 7, 200.0}}) {
    const Problem p = random_problem(n, C, K, uint64_t(n + C));
    const LinearClassifier f = fit_ridge(p.X, p.y, K, lambda);
    std::vector<double> W, b;
    reference_ridge(p.X, p.y, K, lambda, W, b);
    EXPECT_TRUE(all_close(f.W, W, 1e-12, 1e-8)) << "n " << n << " C " << C;
    EXPECT_TRUE(all_close(f.b, b, 1e-12, 1e-8)) << "n " << n << " C " << C;
    // Scores on new rows: the reference's standardisation is the training one.
    const std::vector<double> S = f.scores(p.X);
    const std::vector<double> X = p.X.to_double_vector();
    std::vector<double> ref(size_t(n * K));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t k = 0; k < K; ++k) {
        double s = f.b[size_t(k)];
        for (int64_t j = 0; j < C; ++j)
          s += (X[size_t(i * C + j)] - f.mean[size_t(j)]) * f.inv_std[size_t(j)] * f.W[size_t(j * K + k)];
        ref[size_t(i * K + k)] = s;
      }
    EXPECT_TRUE(all_close(S, ref, 1e-12, 1e-10));
  }
}

TEST(LinearProbe, LogisticSatisfiesOptimality) {
  const int64_t n = 120, C = 5, K = 3;
  const double mu = 1e-2;
  const Problem p = random_problem(n, C, K, 11, 0.5);
  ProbeOptions o;
  o.tol = 1e-10;
  o.max_iter = 5000;
  const LinearClassifier f = fit_logistic(p.X, p.y, K, mu, o);
  EXPECT_LT(f.iterations, o.max_iter);
  // ∇_W = (1/n) Zᵀ(P − Y) + μW, ∇_b = (1/n) Σ (P − Y), with Z standardised here.
  const std::vector<double> X = p.X.to_double_vector();
  std::vector<double> gW(size_t(C * K), 0.0), gb(size_t(K), 0.0), m(size_t(C), 0.0), sd(size_t(C), 0.0);
  for (int64_t j = 0; j < C; ++j) {
    for (int64_t i = 0; i < n; ++i) m[size_t(j)] += X[size_t(i * C + j)] / double(n);
    for (int64_t i = 0; i < n; ++i) sd[size_t(j)] += std::pow(X[size_t(i * C + j)] - m[size_t(j)], 2) / double(n);
    sd[size_t(j)] = std::sqrt(sd[size_t(j)]);
  }
  for (int64_t i = 0; i < n; ++i) {
    std::vector<double> z(static_cast<size_t>(C)), s(static_cast<size_t>(K));
    for (int64_t j = 0; j < C; ++j) z[size_t(j)] = (X[size_t(i * C + j)] - m[size_t(j)]) / sd[size_t(j)];
    double mx = -1e300, e = 0;
    for (int64_t k = 0; k < K; ++k) {
      s[size_t(k)] = f.b[size_t(k)];
      for (int64_t j = 0; j < C; ++j) s[size_t(k)] += z[size_t(j)] * f.W[size_t(j * K + k)];
      mx = std::max(mx, s[size_t(k)]);
    }
    for (int64_t k = 0; k < K; ++k) e += std::exp(s[size_t(k)] - mx);
    for (int64_t k = 0; k < K; ++k) {
      const double r = (std::exp(s[size_t(k)] - mx) / e - (p.y[size_t(i)] == k)) / double(n);
      gb[size_t(k)] += r;
      for (int64_t j = 0; j < C; ++j) gW[size_t(j * K + k)] += z[size_t(j)] * r;
    }
  }
  for (int64_t q = 0; q < C * K; ++q) gW[size_t(q)] += mu * f.W[size_t(q)];
  double worst = 0;
  for (double g : gW) worst = std::max(worst, std::fabs(g));
  for (double g : gb) worst = std::max(worst, std::fabs(g));
  EXPECT_LT(worst, 1e-8);
  // Deterministic: the same fit twice is the same bit for bit.
  const LinearClassifier f2 = fit_logistic(p.X, p.y, K, mu, o);
  EXPECT_EQ(f.W, f2.W);
  EXPECT_EQ(f.b, f2.b);
}

TEST(LinearProbe, SeparableProblemIsSolved) {
  const int64_t C = 8, K = 4;
  const Problem all = random_problem(400, C, K, 3, 4.0, 1.0);  // class k: feature k ≥ 3, others < 1 (scaled)
  const Tensor tr = all.X.narrow(0, 0, 300), te = all.X.narrow(0, 300, 100);
  const std::vector<int64_t> ytr(all.y.begin(), all.y.begin() + 300), yte(all.y.begin() + 300, all.y.end());
  for (const char* kind : {"ridge", "logistic"}) {
    ProbeOptions o;
    o.kind = kind;
    o.seed = 1;
    const ProbeResult r = probe_features(tr, ytr, te, yte, K, o);
    EXPECT_EQ(r.test_top1, 100.0) << r.kind;
    EXPECT_EQ(r.train_top1, 100.0) << r.kind;
    EXPECT_EQ(r.train_images, 300);
    EXPECT_EQ(r.test_images, 100);
    EXPECT_EQ(r.dim, C);
    EXPECT_EQ(r.grid.size(), std::string(kind) == "ridge" ? o.ridge_grid.size() : o.logistic_grid.size());
  }
}

TEST(LinearProbe, LambdaSelectionIsSeededAndAsDocumented) {
  const int64_t n = 300, C = 20, K = 5;
  const Problem p = random_problem(n, C, K, 21, 0.3);
  const Problem q = random_problem(100, C, K, 22, 0.3);
  ProbeOptions o;
  o.kind = "logistic";
  o.seed = 7;
  {  // logistic: the same seed gives the same classifier, bit for bit
    const ProbeResult a = probe_features(p.X, p.y, q.X, q.y, K, o), b = probe_features(p.X, p.y, q.X, q.y, K, o);
    EXPECT_EQ(a.lambda, b.lambda);
    EXPECT_EQ(a.holdout_top1, b.holdout_top1);
    EXPECT_EQ(a.classifier.W, b.classifier.W);
    EXPECT_EQ(a.classifier.b, b.classifier.b);
    EXPECT_EQ(a.grid, o.logistic_grid);
  }
  o.kind = "ridge";
  const ProbeResult a = probe_features(p.X, p.y, q.X, q.y, K, o), b = probe_features(p.X, p.y, q.X, q.y, K, o);
  EXPECT_EQ(a.lambda, b.lambda);
  EXPECT_EQ(a.holdout_top1, b.holdout_top1);
  EXPECT_EQ(a.classifier.W, b.classifier.W);
  EXPECT_EQ(a.test_top1, b.test_top1);
  EXPECT_EQ(a.lambda_abs, a.lambda * double(n));
  // The split, by hand: the first round(0.2 n) positions of seeded_permutation(n, seed) are held out.
  const std::vector<size_t> perm = data::seeded_permutation(size_t(n), o.seed);
  const int64_t h = 60;
  std::vector<size_t> hold(perm.begin(), perm.begin() + h), fit(perm.begin() + h, perm.end());
  std::sort(hold.begin(), hold.end());
  std::sort(fit.begin(), fit.end());
  auto rows = [&](const std::vector<size_t>& idx, std::vector<int64_t>& y) {
    y.clear();
    for (size_t i : idx) y.push_back(p.y[i]);
    std::vector<int64_t> ii(idx.begin(), idx.end());
    return index_select(p.X, 0, Tensor::from_vector(ii, {int64_t(ii.size())}));
  };
  std::vector<int64_t> yf, yh;
  const Tensor Xf = rows(fit, yf), Xh = rows(hold, yh);
  ASSERT_EQ(a.grid, o.ridge_grid);
  double best = -1;
  for (size_t g = 0; g < a.grid.size(); ++g) {
    const double acc = fit_ridge(Xf, yf, K, a.grid[g] * double(fit.size())).top1(Xh, yh);
    EXPECT_DOUBLE_EQ(acc, a.holdout_top1[g]) << "rho " << a.grid[g];
    best = std::max(best, acc);
  }
  const size_t chosen = size_t(std::find(a.grid.begin(), a.grid.end(), a.lambda) - a.grid.begin());
  ASSERT_LT(chosen, a.grid.size());
  EXPECT_EQ(a.holdout_top1[chosen], best);
  // The final classifier is the refit on all training rows.
  const LinearClassifier full = fit_ridge(p.X, p.y, K, a.lambda_abs);
  EXPECT_EQ(full.W, a.classifier.W);
  EXPECT_DOUBLE_EQ(full.top1(q.X, q.y), a.test_top1);
}

// Features through the loader as penultimate_features does, and the model's own features().
template <typename M>
void expect_features_match(M& m, const data::Transform& tf, int size) {
  auto ds = std::make_shared<data::RandomImageDataset>(10, size, 10, 3);
  FeatureOptions fo;
  fo.batch_size = 4;  // 4 + 4 + 2: a last, smaller batch
  const Tensor F = penultimate_features(m, ds, tf, fo);
  Linear& head = *m.linears().back();
  ASSERT_EQ(F.shape(), (Shape{10, head.weight.size(1)}));
  data::DataLoader all(ds, tf, 10, 1);
  data::Batch b;
  ASSERT_TRUE(all.next(b));
  EXPECT_TRUE(all_close(F, m.features(b.images, ForwardCtx{}), 1e-6, 1e-6));
  // logits = F·Wᵀ + b (the executed blocks of the head, when it has them).
  const std::vector<double> f = F.to_double_vector(), W = head.weight.to_double_vector();
  const std::vector<double> bias = head.bias.to_double_vector();
  const int64_t O = head.weight.size(0), C = head.weight.size(1);
  std::vector<RowBlock> blocks = head.blocks;
  if (blocks.empty()) blocks.push_back({0, O, 0, C});
  std::vector<double> ref(size_t(10 * O));
  for (int64_t i = 0; i < 10; ++i)
    for (const RowBlock& bl : blocks)
      for (int64_t o = bl.out0; o < bl.out1; ++o) {
        double s = bias[size_t(o)];
        for (int64_t j = bl.in0; j < bl.in1; ++j) s += f[size_t(i * C + j)] * W[size_t(o * C + j)];
        ref[size_t(i * O + o)] = s;
      }
  EXPECT_TRUE(all_close(static_cast<Model&>(m).forward(b.images), ref, 1e-5, 1e-5));
}

TEST(LinearProbe, FeaturesAreTheClassifierInput) {
  auto m = test::golden_resnet20();
  auto* r = dynamic_cast<CifarResNet*>(m.get());
  ASSERT_NE(r, nullptr);
  expect_features_match(*r, data::Transform::cifar(), 32);
  // A merged model with one head per parent: the head's row blocks read parts of the features;
  // the features are still the whole trunk output.
  const int64_t C = r->linear.weight.size(1);
  set_blocks(r->linear, {{0, 5, 0, C / 2}, {5, 10, C / 2, C}});
  expect_features_match(*r, data::Transform::cifar(), 32);
  // ViT: the class token after the final LayerNorm.
  test::VitShape s;
  auto v = test::build_random_vit(s, 4);
  auto* vit = dynamic_cast<VisionTransformer*>(v.get());
  ASSERT_NE(vit, nullptr);
  expect_features_match(*vit, data::Transform::cifar(), s.image);
}

TEST(LinearProbe, ProbeOnAModel) {
  auto m = test::golden_resnet20();
  auto tr = std::make_shared<data::RandomImageDataset>(40, 32, 4, 1);
  auto te = std::make_shared<data::RandomImageDataset>(12, 32, 4, 2);
  ProbeOptions o;
  o.train_per_class = 8;  // 32 of the 40
  const ProbeResult r = linear_probe(*m, tr, te, data::Transform::cifar(), o);
  EXPECT_EQ(r.train_images, 32);
  EXPECT_EQ(r.test_images, 12);
  EXPECT_EQ(r.classes, 4);
  EXPECT_EQ(r.dim, 64);
  EXPECT_GE(r.test_top1, 0.0);
  EXPECT_LE(r.test_top1, 100.0);
  EXPECT_GT(r.feature_seconds, 0.0);
  EXPECT_GE(r.seconds, r.feature_seconds);
}

class NoHead : public Model {
 public:
  std::string arch() const override { return "no_head"; }
  Tensor forward(const Tensor& x, const ForwardCtx&) override { return x; }
  TensorDict state_dict() const override { return {}; }
  int image_size() const override { return 32; }
};

TEST(LinearProbe, ClearErrors) {
  auto m = test::golden_resnet20();
  const auto tf = data::Transform::cifar();
  auto empty = std::make_shared<data::RandomImageDataset>(0, 32, 10, 0);
  auto ten = std::make_shared<data::RandomImageDataset>(20, 32, 10, 0);
  auto five = std::make_shared<data::RandomImageDataset>(20, 32, 5, 0);
  expect_error([&] { penultimate_features(*m, empty, tf); }, "dataset is empty");
  expect_error([&] { linear_probe(*m, empty, ten, tf); }, "training dataset is empty");
  expect_error([&] { linear_probe(*m, ten, empty, tf); }, "test dataset is empty");
  expect_error([&] { linear_probe(*m, ten, five, tf); }, "the training set has 10 classes, the test set 5");
  NoHead nh;
  expect_error([&] { penultimate_features(nh, ten, tf); }, "has no Linear layer");
  const Problem p = random_problem(30, 4, 3, 5);
  expect_error([&] { fit_ridge(p.X, p.y, 2, 1.0); }, "is not a class in [0, 2)");
  expect_error([&] { fit_ridge(p.X, p.y, 3, 0.0); }, "ridge needs λ > 0");
  expect_error([&] { fit_ridge(p.X, std::vector<int64_t>(29, 0), 3, 1.0); }, "30 training feature rows but 29 labels");
  expect_error([&] { probe_features(p.X, p.y, p.X.narrow(1, 0, 3), p.y, 3, {}); }, "test features of width 3");
  std::vector<double> nan(12, 0.0);
  nan[5] = std::nan("");
  expect_error([&] { fit_ridge(Tensor::from_vector(nan, {3, 4}), {0, 1, 2}, 3, 1.0); }, "NaN");
  ProbeOptions svm;
  svm.kind = "svm";
  expect_error([&] { probe_features(p.X, p.y, p.X, p.y, 3, svm); }, "unknown probe 'svm'");
}

// Timing at the size of a ResNet-18 probe on 5,000 images (ridge) and of a ResNet-20 probe
// (logistic), printed; loose bounds only catch gross regressions on a loaded machine.
TEST(LinearProbe, ProbesAreFast) {
  auto timed = [](int64_t C, const char* kind) {
    const Problem tr = random_problem(5000, C, 10, 31, 0.2), te = random_problem(1000, C, 10, 32, 0.2);
    ProbeOptions o;
    o.kind = kind;
    const auto t0 = std::chrono::steady_clock::now();
    const ProbeResult r = probe_features(tr.X, tr.y, te.X, te.y, 10, o);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("%s probe 5000 x %lld, 10 classes, %zu grid values: %.3f s (test top-1 %.1f%%, %d iterations)\n", kind,
                (long long)C, r.grid.size(), s, r.test_top1, r.iterations);
    return s;
  };
  EXPECT_LT(timed(512, "ridge"), 30.0);
  EXPECT_LT(timed(64, "logistic"), 120.0);
}

}  // namespace
}  // namespace pleas
