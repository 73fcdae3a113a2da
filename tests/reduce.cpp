// sum / mean / amax over dim lists against a double-precision loop over every element with its
// explicit coordinates; the reduction plan shared with CUDA; NaN, empty and error cases.
#include <cmath>
#include <limits>

#include "kernels/common/reduce_plan.h"
#include "kernels/ops.h"
#include "test_util.h"

using namespace pleas;
using pleas::test::all_close;
using pleas::test::host;

namespace {

// Reference: for every element of x (row-major host values of shape s) find its output position
// from the coordinates of the kept dims; accumulate sum (f64) or max (NaN-propagating).
std::vector<double> ref_reduce(const std::vector<double>& x, const Shape& s, std::vector<int> dims,
                               ReduceOp op) {
  const int nd = int(s.size());
  std::vector<bool> red(size_t(nd), dims.empty());
  for (int d : dims) red[size_t(d < 0 ? d + nd : d)] = true;
  int64_t kept = 1, count = 1;
  for (int d = 0; d < nd; ++d) (red[size_t(d)] ? count : kept) *= s[size_t(d)];
  const double init = op == ReduceOp::max ? -INFINITY : 0.0;
  std::vector<double> acc(size_t(kept), init);
  std::vector<int64_t> idx(size_t(nd), 0);
  for (size_t e = 0; e < x.size(); ++e) {
    int64_t k = 0;
    for (int d = 0; d < nd; ++d)
      if (!red[size_t(d)]) k = k * s[size_t(d)] + idx[size_t(d)];
    double& a = acc[size_t(k)];
    if (op == ReduceOp::max) a = (std::isnan(a) || std::isnan(x[e])) ? NAN : std::max(a, x[e]);
    else a += x[e];
    for (int d = nd - 1; d >= 0; --d) {  // next coordinates
      if (++idx[size_t(d)] < s[size_t(d)]) break;
      idx[size_t(d)] = 0;
    }
  }
  if (op == ReduceOp::mean)
    for (double& a : acc) a /= double(count);
  return acc;
}

Shape ref_shape(const Shape& s, std::vector<int> dims, bool keepdim) {
  const int nd = int(s.size());
  std::vector<bool> red(size_t(nd), dims.empty());
  for (int d : dims) red[size_t(d < 0 ? d + nd : d)] = true;
  Shape o;
  for (int d = 0; d < nd; ++d) {
    if (!red[size_t(d)]) o.push_back(s[size_t(d)]);
    else if (keepdim) o.push_back(1);
  }
  return o;
}

// f64 accumulation, one rounding to f32: within an f32 ulp of the exact result.
constexpr double kAtol = 1e-6, kRtol = 1.2e-7;

void check_all_ops(const Tensor& x, const std::vector<int>& dims, const std::string& what) {
  const auto xv = host(x);
  for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean, ReduceOp::max})
    for (bool keep : {false, true}) {
      Tensor y = reduce(x, dims, op, keep);
      ASSERT_EQ(y.shape(), ref_shape(x.shape(), dims, keep)) << what;
      const double tol = op == ReduceOp::max ? 0 : 1;
      EXPECT_TRUE(all_close(y, ref_reduce(xv, x.shape(), dims, op), kAtol * tol, kRtol * tol))
          << what << " op " << int(op) << " keepdim " << keep;
    }
}

std::string dims_str(const std::vector<int>& d) {
  std::string s = "dims {";
  for (int v : d) s += std::to_string(v) + " ";
  return s + "}";
}


}  // namespace

TEST(ReducePlan, PermutationSizesAndLayout) {
  ReducePlan p = reduce_plan({2, 3, 4, 5}, {0, 2});
  EXPECT_EQ(p.perm, (std::vector<int>{1, 3, 0, 2}));
  EXPECT_EQ(p.kept, 15);
  EXPECT_EQ(p.count, 8);
  EXPECT_FALSE(p.reduced_leading);
  EXPECT_TRUE(reduce_plan({2, 3, 4}, {0, 1}).reduced_leading);
  EXPECT_TRUE(reduce_plan({4, 3, 1}, {0, 2}).reduced_leading);  // a size-1 reduced dim after a kept one
  EXPECT_FALSE(reduce_plan({2, 1, 4}, {1, 2}).reduced_leading);
  EXPECT_TRUE(reduce_plan({1, 3, 4}, {0}).reduced_leading);
  ReducePlan all = reduce_plan({2, 3}, {});
  EXPECT_EQ(all.perm, (std::vector<int>{0, 1}));
  EXPECT_EQ(all.kept, 1);
  EXPECT_EQ(all.count, 6);
  EXPECT_EQ(reduce_segment_begin(3, 8), 24);
  EXPECT_EQ(reduce_finalize(6.0, ReduceOp::mean, 4), 1.5f);
  EXPECT_EQ(reduce_finalize(6.0, ReduceOp::sum, 4), 6.0f);
  EXPECT_TRUE(std::isnan(nan_max(NAN, 1.f)));
  EXPECT_TRUE(std::isnan(nan_max(1.f, NAN)));
  EXPECT_EQ(nan_max(-2.f, 3.f), 3.f);
}

TEST(Reduce, DimCombinationsVsLoops) {
  const Shape s{3, 4, 5, 6};
  Tensor x = test::random_tensor(s, 1);
  const std::vector<std::vector<int>> combos{{},     {0},    {1},       {3},      {-1},
                                             {0, 2}, {1, 3}, {0, 1},    {2, 3},   {1, 2},
                                             {0, 3}, {3, 0}, {0, 2, 3}, {0, 1, 2}, {0, 1, 2, 3}};
  for (const auto& dims : combos) check_all_ops(x, dims, dims_str(dims));
}

TEST(Reduce, NonContiguousInputs) {
  Tensor base = test::random_tensor({4, 6, 5, 7}, 2);
  Tensor nhwc = base.permute({0, 2, 3, 1});
  Tensor sliced = base.slice(3, 1, 7, 2).slice(1, 0, 6, 3);
  Tensor bcast = test::random_tensor({5, 1}, 3).expand({5, 9});  // stride 0
  for (const auto& dims : std::vector<std::vector<int>>{{}, {0}, {3}, {1, 2}, {0, 3}, {0, 1, 2}}) {
    check_all_ops(nhwc, dims, "nhwc " + dims_str(dims));
    check_all_ops(sliced, dims, "sliced " + dims_str(dims));
  }
  check_all_ops(bcast, {0}, "expanded {0}");
  check_all_ops(bcast, {1}, "expanded {1}");
}

TEST(Reduce, LargeShapesEveryCpuPath) {
  // rows path, many rows / few long rows (chunked, parallel); columns path with tiles / chunks.
  check_all_ops(test::random_tensor({300, 257}, 4), {1}, "rows");
  check_all_ops(test::random_tensor({3, 70001}, 5), {1}, "few long rows");
  check_all_ops(test::random_tensor({1 << 18}, 6), {}, "all");
  check_all_ops(test::random_tensor({100, 3000}, 7), {0}, "columns");
  check_all_ops(test::random_tensor({20001, 3}, 8), {0}, "narrow columns");
  check_all_ops(test::random_tensor({8, 16, 20, 20}, 9), {0, 2, 3}, "per channel");
}

TEST(Reduce, SumsAreAccumulatedInDouble) {
  // 1 + 2^-24 * n: an f32 running sum would stay at 1; the f64 sum keeps every small term.
  const int64_t n = 1 << 16;
  std::vector<float> v(size_t(n + 1), 1.0f / 16777216.0f);
  v[0] = 1.0f;
  Tensor x = Tensor::from_vector(v, {n + 1});
  EXPECT_EQ(sum(x).item(), double(1.0f + float(n) / 16777216.0f));
  Tensor cols = x.narrow(0, 1, n).reshape({n, 1}).expand({n, 3});
  for (double s : host(sum(cols, {0}))) EXPECT_EQ(s, double(float(n) / 16777216.0f));
}

TEST(Reduce, AmaxPropagatesNaNAndHandlesInf) {
  for (const Shape& s : {Shape{4, 9}, Shape{40000, 2}}) {  // rows path and columns path
    Tensor x = test::random_tensor(s, 10);
    auto v = x.to_vector<float>();
    v[5] = NAN;         // row 0 (rows) / column 1 (columns)
    Tensor y = Tensor::from_vector(v, s);
    auto r1 = host(amax(y, {1})), r0 = host(amax(y, {0}));
    EXPECT_TRUE(std::isnan(r1[size_t(5 / s[1])]));
    EXPECT_TRUE(std::isnan(r0[size_t(5 % s[1])]));
    EXPECT_FALSE(std::isnan(r0[size_t(1 - 5 % s[1])]));
    EXPECT_TRUE(std::isnan(amax(y).item()));
    EXPECT_TRUE(std::isnan(sum(y).item()));
  }
  Tensor ninf = Tensor::full({3, 2}, -INFINITY);
  for (double m : host(amax(ninf, {0}))) EXPECT_EQ(m, -INFINITY);
  EXPECT_EQ(amax(Tensor::from_vector(std::vector<float>{-INFINITY, -3.f}, {2})).item(), -3.0);
}

TEST(Reduce, EmptyAndScalarTensors) {
  Tensor e = Tensor::empty({3, 0, 2});
  Tensor s = sum(e, {1});
  EXPECT_EQ(s.shape(), (Shape{3, 2}));
  for (double v : host(s)) EXPECT_EQ(v, 0.0);
  for (double v : host(mean(e, {1}))) EXPECT_TRUE(std::isnan(v));
  EXPECT_THROW(amax(e, {1}), Error);
  EXPECT_EQ(sum(e, {0}, true).shape(), (Shape{1, 0, 2}));  // nothing kept: empty result
  Tensor sc = Tensor::full({}, 2.5);
  EXPECT_EQ(sum(sc).shape(), Shape{});
  EXPECT_EQ(sum(sc).item(), 2.5);
  EXPECT_EQ(mean(Tensor::full({2, 3}, 4.0), {}, true).shape(), (Shape{1, 1}));
}

TEST(Reduce, Errors) {
  Tensor x = test::random_tensor({2, 3}, 11);
  std::string m = test::error_of([&] { sum(x, {2}); });
  EXPECT_NE(m.find("sum"), std::string::npos) << m;
  EXPECT_NE(m.find("dim 2"), std::string::npos) << m;
  m = test::error_of([&] { mean(x, {1, -1}); });
  EXPECT_NE(m.find("mean"), std::string::npos) << m;
  EXPECT_NE(m.find("more than once"), std::string::npos) << m;
  m = test::error_of([&] { amax(x.to(DType::f64)); });
  EXPECT_NE(m.find("amax"), std::string::npos) << m;
  EXPECT_NE(m.find("f32"), std::string::npos) << m;
  EXPECT_THROW(sum(Tensor()), Error);
  m = test::error_of([&] { amax(Tensor::empty({0})); });
  EXPECT_NE(m.find("amax"), std::string::npos) << m;
}

// ---- CUDA: CUB against the CPU backend on the same inputs ----

TEST(ReduceCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  Tensor x = test::random_tensor({6, 7, 9, 11}, 20);
  Tensor xg = x.to(g);
  const std::vector<std::vector<int>> combos{{}, {0}, {3}, {1, 2}, {0, 2, 3}, {0, 3}, {0, 1, 2, 3}};
  for (const auto& dims : combos)
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean, ReduceOp::max})
      for (bool keep : {false, true}) {
        Tensor c = reduce(x, dims, op, keep), gg = reduce(xg, dims, op, keep);
        EXPECT_TRUE(gg.is_cuda());
        // Both accumulate in f64 (in different orders) and round once to f32.
        const double tol = op == ReduceOp::max ? 0 : 1;
        EXPECT_TRUE(all_close(gg, c, 1e-6 * tol, 1.2e-7 * tol)) << dims_str(dims) << " op " << int(op);
      }
  // Non-contiguous input, a large full reduction, NaN propagation.
  Tensor nhwc = x.permute({0, 2, 3, 1});
  EXPECT_TRUE(all_close(sum(xg.permute({0, 2, 3, 1}), {1, 2}), sum(nhwc, {1, 2}), 1e-6, 1.2e-7));
  Tensor big = test::random_tensor({1 << 20}, 21);
  EXPECT_TRUE(all_close(mean(big.to(g)), mean(big), 1e-9, 1.2e-7));
  auto v = x.to_vector<float>();
  v[100] = NAN;
  Tensor xn = Tensor::from_vector(v, x.shape());
  // NaN never compares equal in all_close: compare the NaN positions, then the other values.
  auto hg = host(amax(xn.to(g), {1, 3})), hc = host(amax(xn, {1, 3}));
  ASSERT_EQ(hg.size(), hc.size());
  for (size_t i = 0; i < hc.size(); ++i) {
    EXPECT_EQ(std::isnan(hg[i]), std::isnan(hc[i])) << i;
    if (!std::isnan(hc[i])) {
      EXPECT_EQ(hg[i], hc[i]) << i;
    }
  }
  EXPECT_TRUE(std::isnan(amax(xn.to(g)).item()));
  Tensor e = Tensor::empty({3, 0}, DType::f32, g);
  for (double s : host(sum(e, {1}))) EXPECT_EQ(s, 0.0);
}
