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

// A partial merge: widths 2d − k, 2H − h heads, blocks and norm views that save and load, the
// parameter count equal to merged_params, and logits between the parents' and the ensemble's.
TEST(VitMerge, PartialMergeStructureSavesAndLoads) {
  test::VitShape s;
  auto A = test::build_random_vit(s, 15), B = test::build_random_vit(s, 16);
  PermSpec spec = perm_spec(*A);
  Matching wm = weight_matching(spec, A->state_dict(), B->state_dict(), 0);
  Merged m = merge_with(spec, *A, *B, wm.perms, vit_k(spec, 10, 1, 20), wm.similarity);
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
