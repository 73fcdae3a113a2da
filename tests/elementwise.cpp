// Binary elementwise ops with NumPy broadcasting against double-precision loops.
#include <cmath>
#include <functional>

#include "kernels/ops.h"
#include "test_util.h"

using namespace pleas;
using test::all_close;
using test::host;

namespace {
double apply(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
  }
  return 0;
}

// Reference broadcasting written out independently: for each output multi-index, the operand
// index along each (right-aligned) dim is 0 where the operand's size is 1.
std::vector<double> binary_ref(const Tensor& a, const Tensor& b, const Shape& out, BinaryOp op) {
  const auto av = host(a), bv = host(b);
  const Shape& as = a.shape();
  const Shape& bs = b.shape();
  std::vector<double> r(size_t(shape_numel(out)));
  std::vector<int64_t> idx(out.size(), 0);
  for (size_t i = 0; i < r.size(); ++i) {
    int64_t rem = int64_t(i);
    for (int d = int(out.size()) - 1; d >= 0; --d) { idx[size_t(d)] = rem % out[size_t(d)]; rem /= out[size_t(d)]; }
    auto flat = [&](const Shape& s) {
      int64_t off = 0;
      const size_t lead = out.size() - s.size();
      for (size_t d = 0; d < s.size(); ++d) off = off * s[d] + (s[d] == 1 ? 0 : idx[lead + d]);
      return size_t(off);
    };
    r[i] = apply(op, av[flat(as)], bv[flat(bs)]);
  }
  return r;
}


const BinaryOp kOps[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div};

// Divisors kept away from 0 so that the relative tolerance of div is meaningful.
Tensor operand(const Shape& s, uint64_t seed, bool divisor) {
  return divisor ? test::random_tensor(s, seed, 0.5, 2.0) : test::random_tensor(s, seed, -2, 2);
}
}  // namespace

TEST(BroadcastShapes, NumPyRules) {
  EXPECT_EQ(broadcast_shapes({4, 3, 8, 8}, {3, 1, 1}, "t"), (Shape{4, 3, 8, 8}));
  EXPECT_EQ(broadcast_shapes({3, 1}, {1, 4}, "t"), (Shape{3, 4}));
  EXPECT_EQ(broadcast_shapes({1}, {2, 5}, "t"), (Shape{2, 5}));
  EXPECT_EQ(broadcast_shapes({}, {2, 5}, "t"), (Shape{2, 5}));
  EXPECT_EQ(broadcast_shapes({0, 1}, {1, 3}, "t"), (Shape{0, 3}));
  EXPECT_EQ(broadcast_shapes({5, 1, 7}, {6, 1}, "t"), (Shape{5, 6, 7}));
  const std::string m = test::error_of([] { broadcast_shapes({2, 3}, {4, 3}, "mul"); });
  EXPECT_NE(m.find("mul"), std::string::npos) << m;
  EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
  EXPECT_NE(m.find("[4, 3]"), std::string::npos) << m;
}

TEST(Binary, SameShapeAllOps) {
  for (const Shape& s : {Shape{1}, Shape{7, 13}, Shape{3, 5, 7, 9}, Shape{40009}}) {
    for (BinaryOp op : kOps) {
      const Tensor a = operand(s, 1, false), b = operand(s, 2, op == BinaryOp::div);
      EXPECT_TRUE(all_close(binary(a, b, op), binary_ref(a, b, s, op), 1e-6, 1e-6))
          << shape_str(s) << " op " << int(op);
    }
  }
}

TEST(Binary, Broadcasting) {
  const std::vector<std::pair<Shape, Shape>> cases = {
      {{4, 6, 5, 7}, {6, 1, 1}},  // per-channel, NCHW + [C,1,1]
      {{3, 1}, {1, 4}},           // outer product shape
      {{5, 9}, {1}},              // scalar-shaped
      {{1}, {5, 9}},              // scalar-shaped on the left
      {{2, 1, 7}, {3, 1}},        // both sides broadcast, different ranks
      {{6, 5}, {5}},              // row vector
      {{2, 3, 4, 5}, {2, 3, 4, 5}},
  };
  for (const auto& [sa, sb] : cases) {
    const Shape out = broadcast_shapes(sa, sb, "test");
    for (BinaryOp op : kOps) {
      const Tensor a = operand(sa, 3, false), b = operand(sb, 4, op == BinaryOp::div);
      const Tensor y = binary(a, b, op);
      EXPECT_EQ(y.shape(), out);
      EXPECT_TRUE(all_close(y, binary_ref(a, b, out, op), 1e-6, 1e-6))
          << shape_str(sa) << " op " << int(op) << " " << shape_str(sb);
    }
  }
  // The named wrappers.
  const Tensor a = operand({3, 1}, 5, false), b = operand({1, 4}, 6, true);
  EXPECT_TRUE(all_close(add(a, b), binary_ref(a, b, {3, 4}, BinaryOp::add), 1e-6, 1e-6));
  EXPECT_TRUE(all_close(sub(a, b), binary_ref(a, b, {3, 4}, BinaryOp::sub), 1e-6, 1e-6));
  EXPECT_TRUE(all_close(mul(a, b), binary_ref(a, b, {3, 4}, BinaryOp::mul), 1e-6, 1e-6));
  EXPECT_TRUE(all_close(div(a, b), binary_ref(a, b, {3, 4}, BinaryOp::div), 1e-6, 1e-6));
}

TEST(Binary, NonContiguousOperands) {
  const Tensor a = test::random_tensor({5, 4, 6}, 7).permute({2, 0, 1});  // [6, 5, 4]
  const Tensor b = test::random_tensor({6, 10}, 8).slice(1, 0, 10, 2).unsqueeze(2);  // [6, 5, 1]
  const Tensor c = test::random_tensor({4, 5}, 9).transpose(0, 1);  // [5, 4]
  ASSERT_FALSE(a.is_contiguous());
  ASSERT_FALSE(b.is_contiguous());
  for (BinaryOp op : {BinaryOp::add, BinaryOp::mul, BinaryOp::sub}) {
    EXPECT_TRUE(all_close(binary(a, b, op), binary_ref(a, b, {6, 5, 4}, op), 1e-6, 1e-6));
    EXPECT_TRUE(all_close(binary(c, a, op), binary_ref(c, a, {6, 5, 4}, op), 1e-6, 1e-6));
  }
  // Empty result.
  EXPECT_EQ(add(Tensor::zeros({0, 3}), Tensor::zeros({3})).shape(), (Shape{0, 3}));
}

TEST(Binary, AddInPlace) {
  // Broadcast into a contiguous tensor.
  Tensor a = test::random_tensor({4, 3, 5, 5}, 10);
  const Tensor b = test::random_tensor({3, 1, 1}, 11);
  const auto ref = binary_ref(a, b, a.shape(), BinaryOp::add);
  add_(a, b);
  EXPECT_TRUE(all_close(a, ref, 1e-6, 1e-6));
  // Into a strided view: only the view changes.
  Tensor base = test::random_tensor({6, 8}, 12);
  const auto before = host(base);
  Tensor view = base.slice(1, 0, 8, 2);  // [6, 4]
  const Tensor row = test::random_tensor({4}, 13);
  const auto rv = host(row);
  add_(view, row);
  const auto after = host(base);
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t c = 0; c < 8; ++c) {
      const size_t i = size_t(r * 8 + c);
      const double want = c % 2 == 0 ? double(float(before[i] + rv[size_t(c / 2)])) : before[i];
      EXPECT_NEAR(after[i], want, 1e-6) << r << "," << c;
    }
  // Self-overlapping operand: x += xᵀ must read the original xᵀ.
  Tensor x = test::random_tensor({5, 5}, 14);
  const Tensor xt = x.transpose(0, 1);
  const auto want = binary_ref(x, xt, {5, 5}, BinaryOp::add);
  add_(x, xt);
  EXPECT_TRUE(all_close(x, want, 1e-6, 1e-6));
  // x += x.
  Tensor y = test::random_tensor({7}, 15);
  const auto want2 = binary_ref(y, y, {7}, BinaryOp::add);
  add_(y, y);
  EXPECT_TRUE(all_close(y, want2, 0, 0));
}

TEST(Binary, Errors) {
  const Tensor a = test::random_tensor({2, 3}, 16);
  std::string m = test::error_of([&] { add(a, test::random_tensor({4, 3}, 17)); });
  EXPECT_NE(m.find("add"), std::string::npos) << m;
  EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
  EXPECT_NE(m.find("[4, 3]"), std::string::npos) << m;
  m = test::error_of([&] { div(a, test::random_tensor({3, 2}, 18)); });
  EXPECT_NE(m.find("div"), std::string::npos) << m;
  m = test::error_of([&] { mul(a, a.to(DType::f64)); });
  EXPECT_NE(m.find("mul"), std::string::npos) << m;
  EXPECT_NE(m.find("f32"), std::string::npos) << m;
  m = test::error_of([&] { sub(Tensor(), a); });
  EXPECT_NE(m.find("sub"), std::string::npos) << m;
  // add_ cannot grow its destination.
  Tensor small = test::random_tensor({1, 3}, 19);
  m = test::error_of([&] { add_(small, a); });
  EXPECT_NE(m.find("add_"), std::string::npos) << m;
  EXPECT_NE(m.find("[1, 3]"), std::string::npos) << m;
  EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
}

// ---- CUDA: compared with the CPU backend on the same inputs ----

TEST(BinaryCuda, MatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  const std::vector<std::pair<Tensor, Tensor>> cases = {
      {test::random_tensor({32, 64, 14, 14}, 20), test::random_tensor({64, 1, 1}, 21, 0.5, 2)},
      {test::random_tensor({3, 1}, 22), test::random_tensor({1, 4}, 23, 0.5, 2)},
      {test::random_tensor({5, 9}, 24), test::random_tensor({1}, 25, 0.5, 2)},
      {test::random_tensor({1000003}, 26), test::random_tensor({1000003}, 27, 0.5, 2)},
      {test::random_tensor({5, 4, 6}, 28).permute({2, 0, 1}), test::random_tensor({6, 5, 1}, 29, 0.5, 2)},
  };
  for (const auto& [a, b] : cases)
    for (BinaryOp op : kOps)
      EXPECT_TRUE(all_close(binary(a.to(g), b.to(g), op), binary(a, b, op), 1e-6, 1e-6))
          << a.str() << " op " << int(op) << " " << b.str();
}

TEST(BinaryCuda, AddInPlace) {
  PLEAS_SKIP_WITHOUT_CUDA();
  const Device g = Device::cuda();
  Tensor cpu = test::random_tensor({6, 8}, 30);
  Tensor gpu = cpu.to(g);
  const Tensor row = test::random_tensor({4}, 31);
  Tensor vc = cpu.slice(1, 0, 8, 2), vg = gpu.slice(1, 0, 8, 2);
  add_(vc, row);
  add_(vg, row.to(g));
  EXPECT_TRUE(all_close(gpu, cpu, 0, 0));
  Tensor x = test::random_tensor({5, 5}, 32), xg = x.to(g);
  add_(x, x.transpose(0, 1));
  add_(xg, xg.transpose(0, 1));
  EXPECT_TRUE(all_close(xg, x, 0, 0));
}
