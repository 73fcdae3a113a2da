// Footprint model of partially merged models: one model's parameter and multiply-add counts
// (references counted independently with torchvision / akamaster models and forward hooks on
// Conv2d/Linear in PyTorch), the doubling at r = 1, and the block-structured count at integer k.
#include <random>

#include "pleas/budget_footprint.h"
#include "test_util.h"

using namespace pleas;

namespace {
std::vector<double> zeros(const FootprintModel& m) { return std::vector<double>(m.groups.size(), 0.0); }
std::vector<double> ones(const FootprintModel& m) { return std::vector<double>(m.groups.size(), 1.0); }

// Weights of a block-structured merged layer counted unit by unit: of the d units of a group,
// k are merged and (d - k) kept separate per model. A merged output unit reads every input unit;
// a separate output unit of model A reads the merged and A's separate input units.
double block_count(int64_t da, int64_t ka, int64_t db, int64_t kb) {
  const double in_all = double(ka + 2 * (da - ka)), in_one = double(da);
  return double(kb) * in_all + 2.0 * double(db - kb) * in_one;
}
}  // namespace

struct Reference { const char* name; FootprintModel model; double params, macs; size_t groups; double classes; };

static std::vector<Reference> references() {
  return {
      {"resnet20", footprint_cifar_resnet(3), 269722, 40551040, 12, 10},
      {"resnet56", footprint_cifar_resnet(9), 853018, 125485696, 30, 10},
      {"resnet20x4-c100", footprint_cifar_resnet(3, {64, 128, 256}, 100), 4309156, 643523584, 12, 100},
      {"resnet18", footprint_resnet({2, 2, 2, 2}, false), 11689512, 1814073344, 12, 1000},
      {"resnet34", footprint_resnet({3, 4, 6, 3}, false), 21797672, 3663761408, 20, 1000},
      {"resnet50", footprint_resnet({3, 4, 6, 3}, true), 25557032, 4089184256, 37, 1000},
  };
}

TEST(BudgetFootprint, OneModelMatchesIndependentCounts) {
  for (const auto& ref : references()) {
    SCOPED_TRACE(ref.name);
    EXPECT_EQ(ref.model.groups.size(), ref.groups);
    EXPECT_EQ(footprint(ref.model, zeros(ref.model), Metric::params), ref.params);
    EXPECT_EQ(footprint(ref.model, zeros(ref.model), Metric::flops), ref.macs);
  }
  // ResNet-18 at 160 px: the spatial sizes follow the convolution arithmetic.
  EXPECT_EQ(footprint(footprint_resnet({2, 2, 2, 2}, false, 1000, 160), zeros(footprint_resnet18()),
                      Metric::flops), 925798400);
}

TEST(BudgetFootprint, FullySeparateIsTwoModels) {
  for (const auto& ref : references()) {
    SCOPED_TRACE(ref.name);
    // FLOPs double exactly; parameters double except the classifier bias, which the merged
    // model's single head shares (classes × 1, ungrouped).
    EXPECT_EQ(relative_footprint(ref.model, ones(ref.model), Metric::flops), 2.0);
    EXPECT_EQ(footprint(ref.model, ones(ref.model), Metric::params), 2 * ref.params - ref.classes);
  }
}

TEST(BudgetFootprint, GroupStructure) {
  const auto r18 = footprint_resnet18();
  EXPECT_EQ(r18.group_index("stem"), -1);  // conv1 output is stream1 (identity shortcut in layer1.0)
  ASSERT_GE(r18.group_index("layer4.1.inner1"), 0);
  EXPECT_EQ(r18.groups[size_t(r18.group_index("stream4"))].d, 512);
  const auto r50 = footprint_resnet50();
  ASSERT_GE(r50.group_index("stem"), 0);   // 64 -> 256: layer1.0 has a downsample
  EXPECT_EQ(r50.groups[size_t(r50.group_index("stream1"))].d, 256);
  EXPECT_EQ(r50.groups[size_t(r50.group_index("layer3.5.inner2"))].d, 256);
  const auto r20 = footprint_cifar_resnet(3);
  EXPECT_EQ(r20.groups[size_t(r20.group_index("layer2.0.inner"))].d, 32);
  // Terms: conv1 reads the image; the first block of stage 2 reads stream1; the classifier
  // writes ungrouped classes.
  for (const auto& t : r20.terms) {
    if (t.layer == "conv1.weight") { EXPECT_EQ(t.in, -1); EXPECT_EQ(t.out, r20.group_index("stream1")); }
    if (t.layer == "layer2.0.conv1.weight") {
      EXPECT_EQ(t.in, r20.group_index("stream1"));
      EXPECT_EQ(t.out, r20.group_index("layer2.0.inner"));
      EXPECT_EQ(t.params, 9);
      EXPECT_EQ(t.flops, 9 * 16 * 16);
    }
    if (t.layer == "linear.weight") { EXPECT_EQ(t.in, r20.group_index("stream3")); EXPECT_EQ(t.out, -1); EXPECT_EQ(t.params, 10); }
  }
  for (const auto& t : r50.terms)
    if (t.layer == "layer2.0.downsample.0.weight") {
      EXPECT_EQ(t.in, r50.group_index("stream1"));
      EXPECT_EQ(t.out, r50.group_index("stream2"));
      EXPECT_EQ(t.flops, 28 * 28);
    }
}

TEST(BudgetFootprint, IntegerKMatchesBlockStructuredCount) {
  // Every grouped conv/linear term against the unit-by-unit count at random integer k.
  const auto m = footprint_resnet50();
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 5; ++trial) {
    std::vector<int64_t> k(m.groups.size());
    for (size_t g = 0; g < k.size(); ++g)
      k[g] = std::uniform_int_distribution<int64_t>(0, m.groups[g].d)(rng);
    const auto r = r_from_k(m, k);
    double ref = 0;
    for (const auto& t : m.terms) {
      if (t.in >= 0 && t.out >= 0)
        ref += t.params * block_count(m.groups[size_t(t.in)].d, k[size_t(t.in)], m.groups[size_t(t.out)].d,
                                      k[size_t(t.out)]);
      else if (t.in >= 0 || t.out >= 0) {
        const int g = t.in >= 0 ? t.in : t.out;
        ref += t.params * double(2 * m.groups[size_t(g)].d - k[size_t(g)]);  // merged width
      } else {
        ref += t.params;
      }
    }
    EXPECT_NEAR(footprint(m, r, Metric::params), ref, 1e-9 * ref);
  }
  // Same group on both axes: d²(1 + 2r - r²) equals the block count with k_a = k_b.
  FootprintModel sq = footprint_from_layers({{"h", 10}}, {{"mix", TermKind::linear, "h", "h", 10, 10}});
  for (int64_t k = 0; k <= 10; ++k)
    EXPECT_NEAR(footprint(sq, r_from_k(sq, {k}), Metric::params), block_count(10, k, 10, k), 1e-9);
}

TEST(BudgetFootprint, MonotoneAndBilinear) {
  const auto m = footprint_resnet18();
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> u(0, 1);
  for (int trial = 0; trial < 20; ++trial) {
    std::vector<double> r(m.groups.size());
    for (auto& x : r) x = u(rng);
    const double f = relative_footprint(m, r, Metric::flops);
    EXPECT_GE(f, 1.0);
    EXPECT_LE(f, 2.0);
    // Increasing any r_g increases the footprint; along one coordinate it is affine.
    const size_t g = size_t(trial) % r.size();
    auto r1 = r, r2 = r;
    r1[g] = 0.25;
    r2[g] = 0.75;
    auto rm = r;
    rm[g] = 0.5;
    const double f1 = relative_footprint(m, r1, Metric::flops), f2 = relative_footprint(m, r2, Metric::flops);
    EXPECT_LT(f1, f2);
    EXPECT_NEAR(relative_footprint(m, rm, Metric::flops), 0.5 * (f1 + f2), 1e-12);
  }
}

TEST(BudgetFootprint, FromLayersAndErrors) {
  const std::vector<FootprintGroup> groups = {{"a", 4}, {"b", 6}};
  const std::vector<FootprintLayer> layers = {
      {"c1", TermKind::conv, "", "a", 3, 4, 3, 3, 100, true},
      {"n1", TermKind::norm, "", "a", 0, 4},
      {"c2", TermKind::conv, "a", "b", 4, 6, 1, 1, 25, false},
      {"fc", TermKind::linear, "b", "", 6, 5, 1, 1, 1, true},
  };
  const auto m = footprint_from_layers(groups, layers);
  // params: 3·9·4 + 4 (bias) + 8 + 24 + 30 + 5 = 179; MACs: 108·100 + 24·25 + 30.
  EXPECT_EQ(footprint(m, {0, 0}, Metric::params), 179);
  EXPECT_EQ(footprint(m, {0, 0}, Metric::flops), 10800 + 600 + 30);
  // r = (1, 0): a doubles (c1, bias, norm) and c2 is 4·6·(1 + 1) = 48.
  EXPECT_EQ(footprint(m, {1, 0}, Metric::params), 2 * 108 + 8 + 16 + 48 + 30 + 5);
  auto bad = layers;
  bad[2].in_group = "z";
  try {
    footprint_from_layers(groups, bad);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("unknown group 'z'"), std::string::npos) << e.what();
  }
  bad = layers;
  bad[2].in_ch = 5;
  EXPECT_THROW(footprint_from_layers(groups, bad), Error);
  EXPECT_THROW(footprint(m, {0.5}, Metric::params), Error);
  EXPECT_THROW(r_from_k(m, {5, 0}), Error);
  FootprintModel dup;
  dup.add_group("x", 3);
  EXPECT_THROW(dup.add_group("x", 3), Error);
}
