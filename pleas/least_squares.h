// PLeaS step 2, permuted least squares (Section 4.2, Eq. 1), in closed form. For every conv and
// linear layer of the merged model, the inputs are the two parents' input activations arranged
// in the merged layout (merged units: ½(A + B)), the targets their outputs likewise (pre-BatchNorm
// conv outputs; logits for the head). The normal equations G = XᵀX, C = XᵀY are accumulated over
// the merge data (im2col rows for convolutions: unfold2d, then gram/cross accumulation; float32
// per batch, summed in float64 across batches), and each block of output rows is solved over the
// inputs it may read, (G_ss + λI) W_sᵀ = C_s, by Cholesky (spd_solve), λ = ridge · mean(diag G_ss).
//
// ViTs: every token of every image is a sample of qkv, proj, fc1 and fc2 (their inputs/outputs
// [N, L, C] are mixed along C); the patch embedding is a convolution over the image; the head sees
// the class token. Inputs are the parents' own (mixed into the merged layout) as for ResNets —
// except after a LayerNorm (qkv, fc1, and the head when there is a final norm). There the merged
// model does not see the mix of the parents' normalised features ½(LN_A(x_A) + LN_B(x_B)) but its
// own norm of the mixed stream, LN_m(½(x_A + x_B)), which has a different scale wherever the two
// parents' merged units are not perfectly correlated (for nearly independent units the mix has
// ~1/√2 the norm and LN_m scales it back up). So, with `norm_inputs = merged` (the default), these
// layers are fitted on X = LN_m(mixed parents' stream): the stream stays teacher-forced (one pass,
// all layers at once) and the normalisation is the one the merged model applies. k = 0 and the
// self-merge are exact either way (LN_m is then each parent's own norm). Measured on the zoo ViT
// pair in experiments/results/2026-12-03/README.md.
#pragma once
#include <memory>

#include "data/loader.h"
#include "pleas/partial_merge.h"

namespace pleas {

// The objectives of the paper's Table 3 (X̃, Ỹ: the merged-layout ensemble; X_A, Y_A: A's version
// of the merged layout — A's value on A-only and merged units, B's on B-only units — and X_B, Y_B
// likewise) and RegMean (Jin et al. 2023) as the same normal equations.
enum class LsqObjective {
  ensemble,         // ‖X̃W − Ỹ‖²                          (Eq. 1, the default)
  separate_inputs,  // ‖X_A W − Ỹ‖² + ‖X_B W − Ỹ‖²         (Table 3, row 1)
  separate,         // ‖X_A W − Y_A‖² + ‖X_B W − Y_B‖²     (Table 3, row 2)
  ensemble_inputs,  // ‖X̃W − Y_A‖² + ‖X̃W − Y_B‖²          (Table 3, row 3)
  regmean,          // separate, with off-diagonal Gram entries scaled by alpha (RegMean)
};
LsqObjective parse_objective(const std::string& s);

struct LsqOptions {
  LsqObjective objective = LsqObjective::ensemble;
  double ridge = 1e-5;            // relative to the mean diagonal of each block's Gram matrix
  double regmean_alpha = 0.9;
  int64_t max_positions = 0;      // per image and conv layer, random subset of output positions (0 = all)
  // Activations held at once (both parents' hooked layers plus one layer's features): a loader
  // batch is processed in chunks of images that fit (the normal equations come on top).
  int64_t memory_bytes = int64_t(2) << 30;
  uint64_t seed = 0;
  bool progress = true;
  bool norm_inputs_merged = true;  // fit layers after a LayerNorm on the merged model's norm (see above)
  // Stride-1 convolutions' XᵀX from the shift structure (conv_gram_accumulate) rather than a SYRK
  // over the im2col rows: the same sums regrouped (equal up to f32 rounding), fewer multiply-adds.
  bool structured_gram = true;
};

// Where the least-squares stage spends its time (seconds) and the work of its Gram products.
struct LsqStats {
  double forward_s = 0;   // the parents' forwards with their hooked activations (and loading)
  double features_s = 0;  // mixing into the merged layout, im2col, target layout
  double gram_s = 0;      // Z ᵀZ products and their f64 accumulation
  double solve_s = 0;     // the row-block solves and writing the weights
  // Work of the direct form, M·W·(W + 1) per chunk and layer (one triangle of the SYRK of Z = [X Y],
  // M samples of width W): gram_flops / gram_s is the direct-form rate (the structured form does
  // fewer multiply-adds for the same result, so its "effective" rate can exceed the SGEMM peak).
  double gram_flops = 0;
  int64_t peak_batch_bytes = 0;  // largest per-chunk set of hooked activations held at once
  int64_t images_per_chunk = 0;
};

// Refits every conv/linear weight (and the head's bias) of `merged`, whose layout is `plan`'s.
LsqStats least_squares_refit(const PermSpec& spec, const MergePlan& plan, Model& A, Model& B, Model& merged,
                             data::DataLoader& loader, const LsqOptions& opt);
// Any alignment and any number of parents (plan.parents): inputs and targets are the parents'
// activations merged by the layout maps, X̃ = Σ_x M_in,x X_x and Ỹ = Σ_x M_out,x Y_x — Eq. 1 with the
// N-model ensemble as the target in the aligned coordinates (objective `ensemble` only).
LsqStats least_squares_refit(const PermSpec& spec, const MergePlan& plan, const std::vector<Model*>& parents,
                             Model& merged, data::DataLoader& loader, const LsqOptions& opt);

// BatchNorm recomputation: running statistics reset and recomputed as the exact cumulative average
// over all batches of the loader (PyTorch's momentum=None).
void recompute_batch_norm(Model& m, data::DataLoader& loader, bool progress = true);

}  // namespace pleas
