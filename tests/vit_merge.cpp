// PLeaS on ViTs: permutation spec (invariance, broken constraints), matching (recovers a known
// permutation, heads by the two-level rule), partial merging (k = 0 is the ensemble, a self-merge
// at k = d is the model, saved/loaded structure), the LayerNorm design (per-view statistics vs one
// norm over the merged stream), least squares against a float64 dense reference, the budget
// footprint against executed counts, and bad inputs.
#include <random>

#include "data/loader.h"
#include "data/synthetic.h"
#include "models/model_io.h"
#include "models/vit.h"
#include "pleas/budget_spec.h"
#include "pleas/matching.h"
#include "pleas/merge_pipeline.h"
#include "vit_fixture.h"

using namespace pleas;
using test::rel_error;

namespace {

Tensor images(int64_t n, int size, uint64_t seed) { return rand_normal({n, 3, size, size}, seed); }

std::vector<std::vector<double>> flat_sim(const PermSpec& s, double v = 0.5) {
  std::vector<std::vector<double>> sim;
  for (auto& g : s.groups) sim.emplace_back(size_t(g.size), v);
  return sim;
}

struct Merged {
  std::unique_ptr<Model> model;
  MergePlan plan;
};

Merged merge_with(const PermSpec& spec, Model& A, Model& B, const std::vector<std::vector<int64_t>>& perms,
                  const std::vector<int64_t>& k, const std::vector<std::vector<double>>& sim) {
  Merged m;
  m.plan = plan_merge(spec, perms, sim, k, false);
  std::string blocks, views;
  TensorDict st = merge_state(spec, m.plan, A.state_dict(), B.state_dict(), &blocks, &views);
  Metadata meta = A.metadata;
  meta.erase("num_heads");
  meta["head_dim"] = std::to_string(dynamic_cast<VisionTransformer&>(A).head_dim);
  if (!blocks.empty()) meta["pleas_blocks"] = blocks;
  if (!views.empty()) meta["pleas_norm_views"] = views;
  m.model = build_model(st, meta, Device::cpu(), "merged vit");
  return m;
}

// k per group: `stream`, `heads` (merged head pairs per block), `mlp` units.
std::vector<int64_t> vit_k(const PermSpec& spec, int64_t stream, int64_t heads, int64_t mlp) {
  std::vector<int64_t> k;
  for (auto& g : spec.groups) {
    if (g.fixed) k.push_back(g.size);
    else if (g.head_dim > 0) k.push_back(heads * g.head_dim);
    else if (g.name == "stream") k.push_back(stream);
    else k.push_back(mlp);
  }
  return k;
}

// Two random parents, weight-matched, merged with k = (stream, heads, mlp).
struct MatchedMerge {
  std::unique_ptr<Model> A, B;
  PermSpec spec;
  Merged m;
};
MatchedMerge matched_merge(const test::VitShape& s, uint64_t seed, int64_t stream, int64_t heads, int64_t mlp) {
  MatchedMerge r;
  r.A = test::build_random_vit(s, seed);
  r.B = test::build_random_vit(s, seed + 1);
  r.spec = perm_spec(*r.A);
  Matching wm = weight_matching(r.spec, r.A->state_dict(), r.B->state_dict(), 0);
  r.m = merge_with(r.spec, *r.A, *r.B, wm.perms, vit_k(r.spec, stream, heads, mlp), wm.similarity);
  return r;
}

Tensor ensemble_logits(Model& A, Model& B, const Tensor& x) {
  return mul(add(A.forward(x), B.forward(x)), Tensor::full({1}, 0.5));
}

std::vector<int64_t> argmax_rows(const Tensor& t) {
  auto v = test::host(t);
  const int64_t n = t.size(0), c = t.size(1);
  std::vector<int64_t> r;
  for (int64_t i = 0; i < n; ++i)
    r.push_back(std::max_element(v.begin() + i * c, v.begin() + (i + 1) * c) - (v.begin() + i * c));
  return r;
}

}  // namespace

TEST(VitSpec, GroupsAndHeadStructure) {
  test::VitShape s;
  auto A = test::build_random_vit(s, 1);
  PermSpec spec = perm_spec(*A);
  EXPECT_EQ(spec.find_group("input"), 0);
  const int st = spec.find_group("stream"), qk = spec.find_group("blocks.1.attn.qk"), v = spec.find_group("blocks.1.attn.v");
  ASSERT_GE(st, 0);
  ASSERT_GE(qk, 0);
  ASSERT_GE(v, 0);
  EXPECT_EQ(spec.groups[size_t(st)].size, 24);
  EXPECT_EQ(spec.groups[size_t(qk)].head_dim, 6);
  EXPECT_EQ(spec.groups[size_t(qk)].heads(), 4);
  EXPECT_EQ(spec.groups[size_t(v)].follows, qk);
  EXPECT_EQ(spec.groups[size_t(spec.find_group("blocks.0.mlp"))].size, 48);
  EXPECT_EQ(spec.groups[size_t(spec.classes_group)].size, 5);
  EXPECT_EQ(spec.groups.size(), 3u + 3u * 2u);
  EXPECT_EQ(footprint_group_count(spec), 1 + 2 * 2);
}

// Random permutations that respect every constraint leave the logits unchanged.
TEST(VitSpec, RandomValidPermutationsKeepLogits) {
  for (bool final_norm : {true, false}) {
    test::VitShape s;
    s.final_norm = final_norm;
    auto A = test::build_random_vit(s, 2);
    PermSpec spec = perm_spec(*A);
    const Tensor x = images(6, s.image, 3);
    const Tensor ref = A->forward(x);
    for (uint64_t seed = 0; seed < 3; ++seed) {
      auto P = build_model(permute_state(spec, A->state_dict(), test::random_valid_perms(spec, seed)), A->metadata,
                           Device::cpu(), "permuted");
      EXPECT_LE(rel_error(P->forward(x), ref), 1e-5) << "final_norm " << final_norm << " seed " << seed;
    }
  }
}

// Each constraint matters: a permutation that breaks one changes the function.
TEST(VitSpec, BrokenConstraintsChangeLogits) {
  test::VitShape s;
  auto A = test::build_random_vit(s, 4);
  PermSpec spec = perm_spec(*A);
  const Tensor x = images(6, s.image, 5);
  const Tensor ref = A->forward(x);
  const int qk = spec.find_group("blocks.0.attn.qk"), v = spec.find_group("blocks.0.attn.v");
  const int64_t hd = spec.groups[size_t(qk)].head_dim;
  auto changed = [&](const std::vector<std::vector<int64_t>>& p) {
    auto M = build_model(permute_state(spec, A->state_dict(), p), A->metadata, Device::cpu(), "broken");
    return rel_error(M->forward(x), ref);
  };
  // (1) the values' head order differs from the queries'/keys' (heads 0 and 1 swapped in v only)
  auto p1 = identity_perms(spec);
  for (int64_t j = 0; j < hd; ++j) std::swap(p1[size_t(v)][size_t(j)], p1[size_t(v)][size_t(hd + j)]);
  EXPECT_GT(changed(p1), 1e-3);
  // (2) a query/key unit moved to another head (units 0 and hd swapped in qk)
  auto p2 = identity_perms(spec);
  std::swap(p2[size_t(qk)][0], p2[size_t(qk)][size_t(hd)]);
  EXPECT_GT(changed(p2), 1e-3);
  // (3) q permuted inside a head but k not (their shared permutation broken)
  TensorDict st = A->state_dict();
  Tensor w = st.at("blocks.0.attn.qkv.weight").clone();
  Tensor r0 = w.narrow(0, 0, 1).clone(), r1 = w.narrow(0, 1, 1).clone();
  Tensor d0 = w.narrow(0, 0, 1), d1 = w.narrow(0, 1, 1);
  d0.copy_(r1);
  d1.copy_(r0);
  st["blocks.0.attn.qkv.weight"] = w;
  auto M = build_model(st, A->metadata, Device::cpu(), "q only");
  EXPECT_GT(rel_error(M->forward(x), ref), 1e-3);
  // (4) the stream permuted in one tensor that writes it (pos_embed: units 0 and 1) but not the others
  TensorDict st4 = A->state_dict();
  std::vector<int64_t> order(static_cast<size_t>(s.dim));
  for (size_t i = 0; i < order.size(); ++i) order[i] = int64_t(i);
  std::swap(order[0], order[1]);
  st4["pos_embed"] = index_select(st4.at("pos_embed"), 2, Tensor::from_vector(order, {s.dim}));
  auto M4 = build_model(st4, A->metadata, Device::cpu(), "pos only");
  EXPECT_GT(rel_error(M4->forward(x), ref), 1e-3);
}

// Weight matching recovers a hidden permutation of a model exactly (heads by the two-level rule);
// activation matching too; and merging the permuted copy with the model at k = d is the model.
TEST(VitMerge, SelfMergeOfPermutedCopyIsTheModel) {
  test::VitShape s;
  auto A = test::build_random_vit(s, 6);
  PermSpec spec = perm_spec(*A);
  const auto P = test::random_valid_perms(spec, 11);
  auto B = build_model(permute_state(spec, A->state_dict(), P), A->metadata, Device::cpu(), "B");
  const auto truth = test::inverse_perms(P);  // B's unit matched to A's unit i

  Matching wm = weight_matching(spec, A->state_dict(), B->state_dict(), 0);
  for (size_t g = 0; g < spec.groups.size(); ++g) EXPECT_EQ(wm.perms[g], truth[g]) << spec.groups[g].name;
  auto ld = data::DataLoader(std::make_shared<data::RandomImageDataset>(24, s.image), data::Transform::cifar(), 8, 1);
  Matching am = activation_matching(spec, *A, *B, ld, false);
  for (size_t g = 0; g < spec.groups.size(); ++g) EXPECT_EQ(am.perms[g], truth[g]) << spec.groups[g].name;
  for (size_t g = 0; g < spec.groups.size(); ++g)
    for (double c : am.similarity[g]) EXPECT_NEAR(c, 1.0, 1e-6) << spec.groups[g].name;

  std::vector<int64_t> full;
  for (auto& g : spec.groups) full.push_back(g.size);
  Merged m = merge_with(spec, *A, *B, wm.perms, full, wm.similarity);
  const Tensor x = images(6, s.image, 7);
  EXPECT_LE(rel_error(m.model->forward(x), A->forward(x)), 1e-5);
  EXPECT_EQ(m.model->num_params(), A->num_params());
  EXPECT_TRUE(m.model->metadata.count("pleas_norm_views") == 0) << "fully merged norms need no views";
}

// k = 0 everywhere: the merged ViT is the ensemble, logits = mean of the parents' (the per-view
// LayerNorms are each parent's own norm; all heads separate: 2H heads per block).
TEST(VitMerge, ZeroKIsTheEnsemble) {
  for (bool final_norm : {true, false}) {
    test::VitShape s;
    s.final_norm = final_norm;
    auto A = test::build_random_vit(s, 8), B = test::build_random_vit(s, 9);
    PermSpec spec = perm_spec(*A);
    Matching wm = weight_matching(spec, A->state_dict(), B->state_dict(), 0);
    Merged m = merge_with(spec, *A, *B, wm.perms, vit_k(spec, 0, 0, 0), wm.similarity);
    auto& mv = dynamic_cast<VisionTransformer&>(*m.model);
    EXPECT_EQ(mv.blocks[0].heads, 2 * s.heads);
    const Tensor x = images(64, s.image, 10);
    const Tensor ens = ensemble_logits(*A, *B, x), got = m.model->forward(x);
    EXPECT_LE(rel_error(got, ens), 1e-4);
    EXPECT_EQ(argmax_rows(got), argmax_rows(ens));
    EXPECT_EQ(m.model->num_params(), 2 * A->num_params() - s.classes);  // one shared head bias
  }
}

// The alternative design, one LayerNorm over the whole merged stream: at k = 0 it is not the
// ensemble (each parent's features are normalised with the other's too). This is the measurement
// behind the per-view design (pleas/partial_merge.h).
TEST(VitMerge, FullStreamNormIsNotTheEnsemble) {
  test::VitShape s;
  auto A = test::build_random_vit(s, 12), B = test::build_random_vit(s, 13);
  PermSpec spec = perm_spec(*A);
  Merged m = merge_with(spec, *A, *B, identity_perms(spec), vit_k(spec, 0, 0, 0), flat_sim(spec));
  const Tensor x = images(32, s.image, 14);
  const Tensor ens = ensemble_logits(*A, *B, x);
  const double per_view = rel_error(m.model->forward(x), ens);
  for (LayerNorm* n : dynamic_cast<VisionTransformer&>(*m.model).layer_norms()) n->views.clear();
  const double one_norm = rel_error(m.model->forward(x), ens);
  EXPECT_LE(per_view, 1e-4);
  EXPECT_GT(one_norm, 1e-2);
  std::printf("k = 0: per-view norms %.2e, one norm over the merged stream %.2e (relative logit error)\n", per_view,
              one_norm);
}

// A partial merge: widths 2d − k, 2H − h heads, blocks and norm views that save and load, and
// the parameter count equal to merged_params.
TEST(VitMerge, PartialMergeStructureSavesAndLoads) {
  test::VitShape s;
  MatchedMerge mm = matched_merge(s, 15, 10, 1, 20);
  auto& A = mm.A;
  const PermSpec& spec = mm.spec;
  Merged& m = mm.m;
  auto& mv = dynamic_cast<VisionTransformer&>(*m.model);
  EXPECT_EQ(mv.patch_embed.out_channels(), 2 * 24 - 10);
  EXPECT_EQ(mv.blocks[1].heads, 2 * 4 - 1);
  EXPECT_EQ(mv.blocks[0].fc1.weight.size(0), 2 * 48 - 20);
  ASSERT_EQ(mv.blocks[0].norm1.views.size(), 2u);
  EXPECT_EQ(mv.blocks[0].norm1.views[0].in0, 0);
  EXPECT_EQ(mv.blocks[0].norm1.views[0].in1, 24);       // A-only 14 + merged 10
  EXPECT_EQ(mv.blocks[0].norm1.views[1].in0, 14);
  EXPECT_EQ(mv.blocks[0].norm1.views[1].in1, 38);
  EXPECT_EQ(mv.blocks[0].qkv.blocks.size(), 9u);        // [A | M | B] rows of q, k and v
  EXPECT_EQ(double(m.model->num_params()), merged_params(spec, m.plan, A->state_dict()));
  test::TempDir dir;
  save_model(dir / "m.safetensors", *m.model);
  auto L = load_model(dir / "m.safetensors");
  const Tensor x = images(8, s.image, 17);
  EXPECT_LE(rel_error(L->forward(x), m.model->forward(x)), 1e-6);
  EXPECT_EQ(L->num_params(), m.model->num_params());
}

// Bad inputs: a ViT merged with a ResNet, a ViT whose head widths differ.
TEST(VitMerge, IncompatibleModelsAreClearErrors) {
  test::VitShape s;
  auto V = test::build_random_vit(s, 18);
  auto R = load_model(std::string(PLEAS_SOURCE_DIR) + "/tests/goldens/cifar_resnet20.weights.safetensors");
  auto ds = std::make_shared<data::RandomImageDataset>(4, s.image);
  MergeOptions o;
  o.progress = false;
  EXPECT_NE(test::error_of([&] { merge_models(*V, *R, ds, data::Transform::cifar(), o); }).find("architectures differ"),
            std::string::npos);
  test::VitShape s2 = s;
  s2.heads = 3;  // same widths, heads of 8 instead of 6
  auto V2 = test::build_random_vit(s2, 19);
  const std::string e = test::error_of([&] { merge_models(*V, *V2, ds, data::Transform::cifar(), o); });
  EXPECT_NE(e.find("heads of"), std::string::npos) << e;
}

// The whole pipeline on a ViT: PLeaS at budget 1.0 is one parent's size, the ensemble row (k = 0)
// predicts exactly what the mean of the parents' logits predicts.
TEST(VitMerge, PipelineRunsAndEnsembleIsExact) {
  test::VitShape s;
  auto A = test::build_random_vit(s, 20), B = test::build_random_vit(s, 21);
  auto ds = std::make_shared<data::RandomImageDataset>(40, s.image, 5);
  MergeOptions o;
  o.progress = false;
  o.batch = 10;
  o.budget = 1.0;
  MergeOutcome r = merge_models(*A, *B, ds, data::Transform::cifar(), o);
  EXPECT_NEAR(r.params_rel, 1.0, 1e-9);
  std::vector<std::string> stages;
  for (auto& st : r.stages) stages.push_back(st.first);
  EXPECT_EQ(stages, (std::vector<std::string>{"match", "merge", "least_squares"}));
  o.method = "ensemble";
  o.budget = -1;
  MergeOutcome e = merge_models(*A, *B, ds, data::Transform::cifar(), o);
  const Tensor x = images(64, s.image, 22);
  EXPECT_EQ(argmax_rows(e.model->forward(x)), argmax_rows(ensemble_logits(*A, *B, x)));
  EXPECT_NEAR(e.flops_rel, 2.0, 1e-9);
}

namespace {

// The dense float64 fit of one row block of a merged linear/conv layer (Eq. 1): X̃, Ỹ built by
// plain loops from the parents' hooked inputs and outputs, G = X̃ᵀX̃ + λI over the block's inputs
// (and the bias), solved by Gaussian elimination. Returns [rows, inputs (+1 bias)] row-major.
// Layers after a LayerNorm (ls.input_norm) are fitted on the merged model's norm of the mixed
// parents' stream: here that norm in double (per-view standardisation, views averaged, affine).
std::vector<double> dense_block_fit(const PermSpec& spec, const MergePlan& plan, const LayerSpec& ls, Model& A,
                                    Model& B, data::DataLoader& ld, const RowBlock& blk, bool conv, int patch,
                                    double ridge, const LayerNorm* merged_norm) {
  const auto ipos = merged_layout(spec, plan, ls.in), opos = merged_layout(spec, plan, ls.out, ls.out_split);
  const int64_t kk = conv ? int64_t(patch) * patch : 1;
  const int64_t nin = (blk.in1 - blk.in0) * kk, n = nin + (ls.has_bias ? 1 : 0), m = blk.out1 - blk.out0;
  std::vector<double> G(size_t(n * n), 0.0), C(size_t(n * m), 0.0);
  auto mixv = [](const MergedPos& p, double va, double vb) {
    return p.kind == 'A' ? va : p.kind == 'B' ? vb : 0.5 * (va + vb);
  };
  ld.start_epoch(0);
  data::Batch b;
  while (ld.next(b)) {
    const test::HookedIO ha = test::hooked_io(A, ls.path, b.images), hb = test::hooked_io(B, ls.path, b.images);
    const std::vector<double> &xa = ha.in, &ya = ha.out, &xb = hb.in, &yb = hb.out;
    const Shape &xs = ha.in_shape, &ys = ha.out_shape;
    std::vector<double> sa, sb;  // the parents' norm inputs (the stream), [N, L, D]
    int64_t Ls = 1;
    if (merged_norm) {
      const test::HookedIO na = test::hooked_io(A, ls.input_norm, b.images), nb = test::hooked_io(B, ls.input_norm, b.images);
      sa = na.in;
      sb = nb.in;
      Ls = na.in_shape[1];
    }
    std::vector<std::vector<double>> rows, targets;
    if (!conv) {  // [..., Q] rows: every token of every image
      const int64_t Qp = xs.back(), Pp = ys.back(), R = int64_t(xa.size()) / Qp;
      const auto nw = merged_norm ? test::host(merged_norm->weight) : std::vector<double>();
      const auto nb = merged_norm ? test::host(merged_norm->bias) : std::vector<double>();
      for (int64_t r = 0; r < R; ++r) {
        std::vector<double> row, t;
        if (merged_norm) {
          // row r of the layer is token (r / Ls, r % Ls) of the stream (the head: the class token)
          const int64_t tok = ls.path == "head" ? r * Ls : r;
          const int64_t Q = int64_t(ipos.size());
          std::vector<double> x(static_cast<size_t>(Q)), z(static_cast<size_t>(Q), 0.0), cnt(static_cast<size_t>(Q), 0.0);
          for (int64_t q = 0; q < Q; ++q) {
            const MergedPos& p = ipos[size_t(q)];
            x[size_t(q)] = mixv(p, p.a >= 0 ? sa[size_t(tok * Qp + p.a)] : 0, p.b >= 0 ? sb[size_t(tok * Qp + p.b)] : 0);
          }
          std::vector<NormView> views = merged_norm->views;
          if (views.empty()) views = {{0, Q}};
          for (const NormView& v : views) {
            double mu = 0, var = 0;
            for (int64_t q = v.in0; q < v.in1; ++q) mu += x[size_t(q)];
            mu /= double(v.in1 - v.in0);
            for (int64_t q = v.in0; q < v.in1; ++q) var += (x[size_t(q)] - mu) * (x[size_t(q)] - mu);
            var /= double(v.in1 - v.in0);
            for (int64_t q = v.in0; q < v.in1; ++q) {
              z[size_t(q)] += (x[size_t(q)] - mu) / std::sqrt(var + merged_norm->eps);
              cnt[size_t(q)] += 1;
            }
          }
          for (int64_t q = blk.in0; q < blk.in1; ++q)
            row.push_back(nw[size_t(q)] * z[size_t(q)] / cnt[size_t(q)] + nb[size_t(q)]);
        }
        for (int64_t q = blk.in0; q < blk.in1 && !merged_norm; ++q) {
          const MergedPos& p = ipos[size_t(q)];
          row.push_back(mixv(p, p.a >= 0 ? xa[size_t(r * Qp + p.a)] : 0, p.b >= 0 ? xb[size_t(r * Qp + p.b)] : 0));
        }
        for (int64_t o = blk.out0; o < blk.out1; ++o) {
          const MergedPos& p = opos[size_t(o)];
          t.push_back(mixv(p, p.a >= 0 ? ya[size_t(r * Pp + p.a)] : 0, p.b >= 0 ? yb[size_t(r * Pp + p.b)] : 0));
        }
        rows.push_back(row);
        targets.push_back(t);
      }
    } else {  // patch embedding: non-overlapping patches, row order (c·KH + kh)·KW + kw
      const int64_t N = xs[0], Ci = xs[1], H = xs[2], W = xs[3], Co = ys[1], OH = ys[2], OW = ys[3];
      for (int64_t nn = 0; nn < N; ++nn)
        for (int64_t oh = 0; oh < OH; ++oh)
          for (int64_t ow = 0; ow < OW; ++ow) {
            std::vector<double> row, t;
            for (int64_t c = 0; c < Ci; ++c)
              for (int64_t kh = 0; kh < patch; ++kh)
                for (int64_t kw = 0; kw < patch; ++kw)
                  row.push_back(xa[size_t(((nn * Ci + c) * H + oh * patch + kh) * W + ow * patch + kw)]);
            for (int64_t o = blk.out0; o < blk.out1; ++o) {
              const MergedPos& p = opos[size_t(o)];
              auto at = [&](const std::vector<double>& y, int64_t ch) { return y[size_t(((nn * Co + ch) * OH + oh) * OW + ow)]; };
              t.push_back(mixv(p, p.a >= 0 ? at(ya, p.a) : 0, p.b >= 0 ? at(yb, p.b) : 0));
            }
            rows.push_back(row);
            targets.push_back(t);
          }
    }
    for (size_t r = 0; r < rows.size(); ++r) {
      if (ls.has_bias) rows[r].push_back(1.0);
      for (int64_t i = 0; i < n; ++i) {
        for (int64_t j = 0; j < n; ++j) G[size_t(i * n + j)] += rows[r][size_t(i)] * rows[r][size_t(j)];
        for (int64_t o = 0; o < m; ++o) C[size_t(i * m + o)] += rows[r][size_t(i)] * targets[r][size_t(o)];
      }
    }
  }
  double tr = 0;
  for (int64_t i = 0; i < n; ++i) tr += G[size_t(i * n + i)];
  for (int64_t i = 0; i < n; ++i) G[size_t(i * n + i)] += ridge * tr / double(n) + 1e-12;
  const std::vector<double> x = test::gauss_solve(G, C, n, m);  // [n, m]
  std::vector<double> w(size_t(m * n));
  for (int64_t o = 0; o < m; ++o)
    for (int64_t i = 0; i < n; ++i) w[size_t(o * n + i)] = x[size_t(i * m + o)];
  return w;
}

}  // namespace

// Least squares on a partially merged ViT equals the float64 dense reference, block by block, for
// the patch embedding (a convolution with bias), a fused qkv (9 row blocks, after a partly merged
// norm), fc2 and the head (after the final norm); both choices of the norm layers' inputs.
class VitLeastSquares : public ::testing::TestWithParam<bool> {};
INSTANTIATE_TEST_SUITE_P(NormInputs, VitLeastSquares, ::testing::Values(true, false),
                         [](const auto& i) { return i.param ? "MergedNorm" : "ParentsNorm"; });

TEST_P(VitLeastSquares, MatchesDenseReference) {
  test::VitShape s;
  MatchedMerge mm = matched_merge(s, 30, 10, 2, 20);
  auto &A = mm.A, &B = mm.B;
  const PermSpec& spec = mm.spec;
  Merged& m = mm.m;
  // More samples than unknowns in every block (patch embedding: 193 per row; head: 1 row per image).
  data::DataLoader ld(std::make_shared<data::RandomImageDataset>(96, s.image), data::Transform::cifar(), 16, 1);
  LsqOptions opt;
  // A LayerNorm's outputs satisfy an exact linear relation (each view's standardised values sum to
  // zero), so with the bias column the Gram matrix of a layer reading the whole normalised stream
  // is singular: the ridge picks the solution, and it must dominate float32 rounding of the Gram
  // for float32 and float64 to pick the same one.
  opt.ridge = 1e-3;
  opt.progress = false;
  opt.norm_inputs_merged = GetParam();
  least_squares_refit(spec, m.plan, *A, *B, *m.model, ld, opt);
  auto& mv = dynamic_cast<VisionTransformer&>(*m.model);
  std::map<std::string, const LayerNorm*> norms;
  for (LayerNorm* n : mv.layer_norms()) norms[n->path] = n;
  std::map<std::string, Linear*> lin;
  for (Linear* l : mv.linears()) lin[l->path] = l;
  int checked = 0;
  for (const LayerSpec& ls : spec.layers) {
    const bool conv = ls.kind == LayerKind::conv;
    if (!conv && ls.path != "blocks.1.attn.qkv" && ls.path != "blocks.0.mlp.fc2" && ls.path != "head") continue;
    const Tensor& W = conv ? mv.patch_embed.weight : lin.at(ls.path)->weight;
    const Tensor& bias = conv ? mv.patch_embed.bias : lin.at(ls.path)->bias;
    std::vector<RowBlock> blocks = conv ? mv.patch_embed.blocks : lin.at(ls.path)->blocks;
    const int64_t kk = conv ? int64_t(s.patch) * s.patch : 1;
    if (blocks.empty()) blocks = {{0, W.size(0), 0, W.size(1)}};
    if (ls.path == "blocks.1.attn.qkv") {
      EXPECT_EQ(blocks.size(), 9u);
    }
    const auto wv = test::host(W.reshape({W.size(0), -1})), bv = test::host(bias);
    const int64_t cols = W.size(1) * kk;
    for (const RowBlock& blk : blocks) {
      const LayerNorm* nrm = GetParam() && !ls.input_norm.empty() ? norms.at(ls.input_norm) : nullptr;
      const std::vector<double> ref = dense_block_fit(spec, m.plan, ls, *A, *B, ld, blk, conv, s.patch, opt.ridge, nrm);
      const int64_t n = (blk.in1 - blk.in0) * kk + 1;
      std::vector<double> got;
      for (int64_t o = blk.out0; o < blk.out1; ++o) {
        for (int64_t c = blk.in0 * kk; c < blk.in1 * kk; ++c) got.push_back(wv[size_t(o * cols + c)]);
        got.push_back(bv[size_t(o)]);
      }
      ASSERT_EQ(got.size(), size_t((blk.out1 - blk.out0) * n));
      EXPECT_TRUE(test::all_close(got, ref, 2e-4, 2e-3)) << ls.path << " rows [" << blk.out0 << ", " << blk.out1 << ")";
      ++checked;
    }
  }
  EXPECT_EQ(checked, 1 + 9 + 3 + 1);
}

// The budget footprint of a ViT (parameters; FLOPs with attention's 2·L²·hd per head) equals what
// the block-structured merged model executes, for several k.
TEST(VitFootprint, EqualsExecutedCounts) {
  test::VitShape s;
  auto A = test::build_random_vit(s, 40), B = test::build_random_vit(s, 41);
  PermSpec spec = perm_spec(*A);
  FootprintModel fp = footprint_from_spec(spec, *A, s.image);
  ASSERT_EQ(fp.num_groups(), 5);
  EXPECT_EQ(fp.groups[1].d, 4);  // heads
  EXPECT_EQ(fp.groups[1].unit, 6);
  const std::vector<std::array<int64_t, 3>> ks = {{24, 4, 48}, {0, 0, 0}, {10, 1, 20}, {17, 3, 5}, {24, 0, 48}};
  for (auto [ks_stream, ks_heads, ks_mlp] : ks) {
    const auto k = vit_k(spec, ks_stream, ks_heads, ks_mlp);
    Merged m = merge_with(spec, *A, *B, identity_perms(spec), k, flat_sim(spec));
    std::vector<int64_t> kfp;
    for (size_t g = 0; g < spec.groups.size(); ++g)
      if (!spec.groups[g].fixed && spec.groups[g].follows < 0) kfp.push_back(k[g] / std::max<int64_t>(1, spec.groups[g].head_dim));
    EXPECT_EQ(spec_k_from_footprint(spec, kfp), k);
    const auto r = r_from_k(fp, kfp);
    EXPECT_NEAR(footprint(fp, r, Metric::params), double(m.model->num_params()), 1e-6)
        << ks_stream << " " << ks_heads << " " << ks_mlp;
    EXPECT_NEAR(footprint(fp, r, Metric::flops), m.model->macs(s.image, s.image), 1e-3)
        << ks_stream << " " << ks_heads << " " << ks_mlp;
  }
  EXPECT_NEAR(footprint(fp, std::vector<double>(5, 0.0), Metric::params), double(A->num_params()), 1e-6);
}
