// Linear probes (issue #14, evaluation when label spaces differ): how well a model's penultimate
// features — the input of its final classifier — separate the classes of a task, whatever the
// model's own head predicts. A probe is a linear classifier trained on the features of the task's
// training images and scored (top-1) on the features of its test images; labels come from the
// datasets, the model's class names are ignored.
//
// Features. penultimate_features() runs the model over a dataset (data::DataLoader, no shuffle,
// dataset order) and records, through a named hook (models/hooks.h), the input of the model's final
// Linear, the last of Model::linears(): `linear` of a CIFAR ResNet, `fc` of a torchvision ResNet,
// `head` of a ViT. That input is what CifarResNet/ResNet/VisionTransformer::features() return (the
// globally pooled map; the ViT's class token after its final LayerNorm). The hook covers merged
// models as well: a head with row blocks (a merged model with one head per parent, the blocks side
// by side) reads the whole merged trunk output, which is then the feature vector.
//
// Probe. Training features x_i ∈ R^C (i = 1..n), labels y_i ∈ {0..K−1}, Y the one-hot [n, K].
//   Standardisation: z_i = (x_i − m) ⊘ s with m, s the mean and population standard deviation of
//   the training features (s_j = 1 where feature j is constant). Test features use the same m, s.
//   Scores: Wᵀz + b; the prediction is the first argmax (as torch.argmax).
//
//   ridge: closed-form least squares to the one-hot targets,
//       min_{W,b} ‖Y − Z W − 1 bᵀ‖²_F + λ ‖W‖²_F        (the bias b unpenalised).
//     ∂/∂b = 0 gives b = ȳ − Wᵀz̄; the z are centred on the rows m was taken from (z̄ = 0), so
//       b = ȳ (the class frequencies),  W = (ZᵀZ + λI)⁻¹ ZᵀY,
//     the same as solving the normal equations of the design [Z, 1] with the bias's penalty 0.
//     ZᵀZ + λI is symmetric positive definite for λ > 0: solved in float64 by Cholesky (LAPACKE
//     dposv), ZᵀZ by cblas_dsyrk. λ = ρ·n with ρ from `ridge_grid` ({1e-3, 1e-2, ..., 1e3}; ZᵀZ has
//     diagonal n, so ρ is relative to the features' own scale).
//
//   logistic (the default): multinomial logistic regression (softmax cross-entropy) with L2
//   weight decay,
//       min_{W,b} f = (1/n) Σ_i [ log Σ_k exp(s_ik) − s_{i,y_i} ] + (μ/2) ‖W‖²_F,  s_i = Wᵀz_i + b,
//       ∇_W f = (1/n) Zᵀ(P − Y) + μ W,   ∇_b f = (1/n) (P − Y)ᵀ 1,   P = row-wise softmax(S),
//     minimised in float64 by full-batch L-BFGS (history `lbfgs_history`, two-loop recursion,
//     Armijo backtracking from step 1) until ‖∇f‖_∞ ≤ `tol` or `max_iter` iterations. No sampling:
//     the result is the same on every run (for a given OpenBLAS thread count). μ from
//     `logistic_grid`; the holdout fits run the path from the largest μ down, each started from the
//     previous solution (the first from W = 0, b = 0), and the refit starts from the chosen μ's
//     holdout solution.
//
//   Choice of λ / μ: the training rows are split by data::seeded_permutation(n, seed): the first
//   round(holdout·n) positions are held out, the rest fit the probe (standardised by their own
//   m, s); the grid value with the best holdout top-1 wins (ties: the smaller holdout loss — mean
//   squared error to the one-hot targets for ridge, mean cross-entropy for logistic — then the
//   earlier grid value). The probe is then refit on all training rows (λ = ρ·n with the full n).
//   A one-value grid skips the split.
//
// Default: logistic, the more accurate of the two on real features. CIFAR-10 (10 classes; the
// 5,000 training images of ../shared/data/cifar10/train, the 10,000 test images), 64 features,
// test top-1 ridge / logistic: r20c5a_lrh2000 (trained on classes 0-4) 64.30 / 66.33,
// r20c5b_lrh2000 (classes 5-9) 65.68 / 68.32, r20_akamaster (all 10; its own head: 81.08)
// 82.53 / 83.22, and the PLeaS merge of r20c5a and r20c5b with one head per parent (weight
// matching, budget 1.0, 200 merge images per class) 49.62 / 51.92. Ridge is exact and ~100 times
// faster (0.02 s against ~2 s for these 5,000 × 64 features): `kind = "ridge"`,
// `pleas probe --probe ridge`.
//
// Cost: features are extracted once per dataset; ridge forms ZᵀZ twice (holdout fit and refit,
// O(nC²)) and solves one C × C system per grid value (O(C³), C ≤ 2048); logistic costs
// O(nCK) per iteration.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "models/model.h"

namespace pleas {

enum class ProbeKind { ridge, logistic };
ProbeKind parse_probe_kind(const std::string& s);  // "ridge" | "logistic", else an error

struct FeatureOptions {
  int64_t batch_size = 200;
  int threads = 2;                // decoding threads of the loader
  std::optional<Device> device;   // where batches are loaded: the model's device (unset = that one)
  bool progress = false;          // a progress line on stderr
};

struct ProbeOptions : FeatureOptions {
  std::string kind = "logistic";  // "logistic" | "ridge"
  uint64_t seed = 0;           // holdout split
  double holdout = 0.2;        // fraction of the training rows held out to choose λ / μ
  std::vector<double> ridge_grid = {1e-3, 1e-2, 1e-1, 1, 1e1, 1e2, 1e3};     // ρ: λ = ρ·n
  std::vector<double> logistic_grid = {1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1};  // μ
  int max_iter = 500;          // logistic: L-BFGS iterations
  double tol = 1e-6;           // logistic: stop at ‖∇f‖_∞ ≤ tol
  int lbfgs_history = 10;
  // linear_probe() only: the first N images of each class in dataset order (0 = all).
  int64_t train_per_class = 0, test_per_class = 0;
};

// A linear classifier on standardised features: scores = ((x − mean) ⊙ inv_std) W + b.
struct LinearClassifier {
  int64_t dim = 0, classes = 0;
  std::vector<double> mean, inv_std;  // [dim]
  std::vector<double> W;              // [dim, classes], row-major
  std::vector<double> b;              // [classes]
  int iterations = 0;                 // logistic: L-BFGS iterations of the fit
  std::vector<double> scores(const Tensor& X) const;  // X [N, dim] -> [N, classes] row-major
  std::vector<int64_t> predict(const Tensor& X) const;
  double top1(const Tensor& X, const std::vector<int64_t>& y) const;  // percent
};

// Fits with a fixed regularisation on all rows of X [n, C] (any float dtype, any device):
// ridge with the absolute λ (> 0), logistic with μ (≥ 0) and o's L-BFGS settings.
LinearClassifier fit_ridge(const Tensor& X, const std::vector<int64_t>& y, int64_t classes, double lambda);
LinearClassifier fit_logistic(const Tensor& X, const std::vector<int64_t>& y, int64_t classes, double mu,
                              const ProbeOptions& o = {});

struct ProbeResult {
  std::string kind;                  // "ridge" | "logistic"
  double train_top1 = 0, test_top1 = 0;  // percent
  double lambda = 0;                 // the chosen grid value: ρ (ridge) or μ (logistic)
  double lambda_abs = 0;             // the regularisation of the final fit: ρ·n (ridge), μ (logistic)
  std::vector<double> grid, holdout_top1;  // every grid value and its holdout top-1 (empty: no split)
  int64_t train_images = 0, test_images = 0, dim = 0, classes = 0;
  int iterations = 0;                // logistic: L-BFGS iterations of the final fit
  double seconds = 0;                // everything (features + fit + scoring)
  double feature_seconds = 0, fit_seconds = 0;
  LinearClassifier classifier;
};

// The probe on given features: chooses λ / μ on the seeded holdout, refits on all training rows
// and scores both sets. Labels must lie in [0, classes), classes ≥ 2.
ProbeResult probe_features(const Tensor& train_x, const std::vector<int64_t>& train_y, const Tensor& test_x,
                           const std::vector<int64_t>& test_y, int64_t classes, const ProbeOptions& o);

// [N, C] f32 (CPU): the input of the model's final Linear for every image of ds, in dataset order.
Tensor penultimate_features(Model& m, std::shared_ptr<const data::Dataset> ds, const data::Transform& tf,
                            const FeatureOptions& o = {});

// Features of both sets (o.train_per_class / o.test_per_class applied; o's FeatureOptions for the
// loader), then probe_features with
// the datasets' labels. The two sets must have the same number of classes (and the same class
// names when both have names).
ProbeResult linear_probe(Model& m, std::shared_ptr<const data::Dataset> train_ds,
                         std::shared_ptr<const data::Dataset> test_ds, const data::Transform& tf,
                         const ProbeOptions& o = {});

}  // namespace pleas
