// Tensor runtime: views, copies, dtype conversion, strided index arithmetic, caching allocator.
#include <map>

#include "engine/caching_allocator.h"
#include "engine/half.h"
#include "kernels/common/strided.h"
#include "test_util.h"

using namespace pleas;
using pleas::test::all_close;
using pleas::test::host;

// Reference: element (idx...) of a row-major vector of shape s.
static double at(const std::vector<double>& v, const Shape& s, std::vector<int64_t> idx) {
  int64_t off = 0;
  for (size_t d = 0; d < s.size(); ++d) off = off * s[d] + idx[d];
  return v[size_t(off)];
}

TEST(Tensor, ContiguousBasics) {
  Tensor t = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.strides(), (Shape{12, 4, 1}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.nbytes(), 96u);
  for (double x : host(t)) EXPECT_EQ(x, 0.0);
  Tensor f = Tensor::full({5}, 2.5);
  for (double x : host(f)) EXPECT_EQ(x, 2.5);
  EXPECT_EQ(Tensor::arange(5).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 2, 3, 4}));
}

TEST(Tensor, PermuteAndContiguousMatchIndexing) {
  Shape s{2, 3, 4, 5};
  Tensor x = test::random_tensor(s, 1);
  auto xv = host(x);
  Tensor nhwc = x.permute({0, 2, 3, 1});  // channels-last view
  EXPECT_FALSE(nhwc.is_contiguous());
  EXPECT_EQ(nhwc.shape(), (Shape{2, 4, 5, 3}));
  Tensor c = nhwc.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(c.shares_storage(x));
  auto cv = host(c);
  for (int64_t n = 0; n < 2; ++n)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t w = 0; w < 5; ++w)
        for (int64_t ch = 0; ch < 3; ++ch)
          EXPECT_EQ(at(cv, {2, 4, 5, 3}, {n, h, w, ch}), at(xv, s, {n, ch, h, w}));
}

TEST(Tensor, SliceNarrowSelectAreViews) {
  Tensor x = Tensor::from_vector(std::vector<float>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, {3, 4});
  Tensor s = x.slice(1, 1, 4, 2);  // columns 1 and 3
  EXPECT_EQ(s.shape(), (Shape{3, 2}));
  EXPECT_TRUE(s.shares_storage(x));
  EXPECT_EQ(s.contiguous().to_vector<float>(), (std::vector<float>{1, 3, 5, 7, 9, 11}));
  Tensor n = x.narrow(0, 1, 2);
  EXPECT_EQ(n.contiguous().to_vector<float>(), (std::vector<float>{4, 5, 6, 7, 8, 9, 10, 11}));
  Tensor r = x.select(1, 2);
  EXPECT_EQ(r.contiguous().to_vector<float>(), (std::vector<float>{2, 6, 10}));
  // Writing through a view changes the base.
  Tensor col = x.select(1, 0);
  col.fill_(-1);
  EXPECT_EQ(x.contiguous().to_vector<float>()[4], -1.f);
  // Negative indices, transpose, copy_ into a strided destination.
  Tensor t = x.transpose(0, -1);
  EXPECT_EQ(t.shape(), (Shape{4, 3}));
  Tensor dst = Tensor::zeros({4, 6}).slice(1, 0, 6, 2);
  dst.copy_(t);
  EXPECT_TRUE(all_close(dst, host(t.contiguous()), 0, 0));
}

TEST(Tensor, ReshapeExpandUnsqueeze) {
  Tensor x = test::random_tensor({2, 6}, 2);
  EXPECT_EQ(x.reshape({3, -1}).shape(), (Shape{3, 4}));
  EXPECT_THROW(x.reshape({5, -1}), Error);
  EXPECT_THROW(x.transpose(0, 1).reshape({12}), Error);  // reshape never copies
  Tensor b = Tensor::from_vector(std::vector<float>{1, 2, 3}, {3}).unsqueeze(0).expand({4, 3});
  EXPECT_EQ(b.strides(), (Shape{0, 1}));
  EXPECT_EQ(b.contiguous().to_vector<float>(), (std::vector<float>{1, 2, 3, 1, 2, 3, 1, 2, 3, 1, 2, 3}));
  EXPECT_THROW(b.expand({4, 4}), Error);
  EXPECT_EQ(x.unsqueeze(-1).shape(), (Shape{2, 6, 1}));
  EXPECT_EQ(x.unsqueeze(-1).squeeze(2).shape(), (Shape{2, 6}));
}

TEST(Tensor, DtypeConversionsRoundTrip) {
  Tensor x = Tensor::from_vector(std::vector<double>{-3.75, 0.5, 1e-3, 250.0, 7.0}, {5});
  EXPECT_EQ(x.to(DType::f32).to(DType::f64).to_vector<double>()[1], 0.5);
  EXPECT_EQ(x.to(DType::i32).to_vector<int32_t>(), (std::vector<int32_t>{-3, 0, 0, 250, 7}));
  EXPECT_EQ(x.to(DType::u8).to_vector<uint8_t>()[3], 250);
  auto h = x.to(DType::f16).to(DType::f64).to_vector<double>();
  EXPECT_EQ(h[0], -3.75);
  EXPECT_NEAR(h[2], 1e-3, 1e-6);
  auto b = x.to(DType::bf16).to(DType::f64).to_vector<double>();
  EXPECT_EQ(b[3], 250.0);
  EXPECT_THROW(x.data<float>(), Error);
}

TEST(Tensor, HalfConversionIsExactOnAllHalfValues) {
  // Every finite half converts to float and back to itself; rounding matches round-to-nearest-even.
  for (uint32_t h = 0; h < 0x10000; ++h) {
    uint16_t v = uint16_t(h);
    float f = f16_to_float(v);
    if (std::isnan(f)) continue;
    ASSERT_EQ(float_to_f16(f), v) << "half bits " << h;
  }
  EXPECT_EQ(float_to_f16(65520.f), 0x7c00);  // rounds to inf
  EXPECT_EQ(float_to_f16(1.0f + 1.0f / 2048), 0x3c00);  // tie to even
  EXPECT_EQ(float_to_f16(1.0f + 3.0f / 2048), 0x3c02);
  EXPECT_EQ(f16_to_float(0x0001), std::ldexp(1.0f, -24));
  for (uint32_t h = 0; h < 0x10000; h += 7) {
    float f = bf16_to_float(uint16_t(h));
    if (!std::isnan(f)) { ASSERT_EQ(float_to_bf16(f), h); }
  }
}

TEST(Tensor, StridedOffsetMatchesNestedLoops) {
  StridedMeta m;
  m.ndim = 3;
  int64_t shape[3] = {3, 4, 5}, stride[3] = {1, 60, 7};
  for (int i = 0; i < 3; ++i) { m.shape[i] = shape[i]; m.stride[i] = stride[i]; }
  int64_t lin = 0;
  for (int64_t a = 0; a < 3; ++a)
    for (int64_t b = 0; b < 4; ++b)
      for (int64_t c = 0; c < 5; ++c) EXPECT_EQ(strided_offset(m, lin++), a * 1 + b * 60 + c * 7);
}

TEST(Tensor, ErrorsNameTheProblem) {
  Tensor x = Tensor::zeros({2, 3});
  try {
    x.narrow(1, 2, 5);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("narrow"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[2, 3]"), std::string::npos) << e.what();
  }
  EXPECT_THROW(x.select(2, 0), Error);
  EXPECT_THROW(x.permute({0, 0}), Error);
  EXPECT_THROW(Tensor::zeros({2}).copy_(x), Error);
  EXPECT_THROW(Device::parse("tpu"), Error);
  EXPECT_EQ(Device::parse("cuda:3").index, 3);
}

TEST(CachingAllocator, ReusesBlocksAndTracksPeak) {
  std::map<void*, size_t> live;
  int raw = 0;
  char arena[1];
  uintptr_t next = 4096;
  CachingAllocator a(
      [&](size_t n) -> void* { ++raw; void* p = reinterpret_cast<void*>(next); next += n; live[p] = n; return p; },
      [&](void* p) { live.erase(p); });
  (void)arena;
  void* p1 = a.allocate(1000);
  EXPECT_EQ(a.current_bytes(), 1024u);
  void* p2 = a.allocate(3 << 20);
  EXPECT_EQ(a.current_bytes(), 1024u + (4u << 20));
  a.deallocate(p1);
  void* p3 = a.allocate(900);  // same rounded class: reused
  EXPECT_EQ(p3, p1);
  EXPECT_EQ(raw, 2);
  a.deallocate(p2);
  EXPECT_EQ(a.peak_bytes(), 1024u + (4u << 20));
  void* p4 = a.allocate(100 << 20);  // too big for the cached block
  EXPECT_EQ(raw, 3);
  a.deallocate(p3);
  a.deallocate(p4);
  EXPECT_EQ(a.current_bytes(), 0u);
  a.empty_cache();
  EXPECT_EQ(a.reserved_bytes(), 0u);
  EXPECT_TRUE(live.empty());
  EXPECT_THROW(a.deallocate(reinterpret_cast<void*>(8)), Error);
}

TEST(TensorCuda, TransfersRoundTrip) {
  PLEAS_SKIP_WITHOUT_CUDA();
  Tensor x = test::random_tensor({3, 5, 7}, 3);
  Tensor g = x.to(Device::cuda());
  EXPECT_TRUE(g.is_cuda());
  EXPECT_TRUE(all_close(g.permute({2, 0, 1}).contiguous().to(Device::cpu()),
                        host(x.permute({2, 0, 1}).contiguous()), 0, 0));
  EXPECT_TRUE(all_close(g.to(DType::f16).to(DType::f32), host(x.to(DType::f16).to(DType::f32)), 0, 0));
  Tensor s = Tensor::zeros({5, 7}, DType::f32, Device::cuda());
  s.copy_(x.select(0, 1));
  EXPECT_TRUE(all_close(s, host(x.select(0, 1)), 0, 0));
}

TEST(TensorCuda, WithoutDeviceErrorsAreClear) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present";
  try {
    Tensor::zeros({2}, DType::f32, Device::cuda());
    FAIL() << "no error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_TRUE(m.find("CUDA") != std::string::npos || m.find("cuda") != std::string::npos) << m;
  }
}

TEST(Tensor, LargeHostBlocksAreCachedAndReused) {
  host_empty_cache();
  const void* first = nullptr;
  {
    Tensor a = Tensor::zeros({1 << 19});  // 2 MiB
    first = a.data_ptr();
    EXPECT_EQ(host_cached_bytes(), 0u);
  }
  EXPECT_GE(host_cached_bytes(), size_t(2) << 20);
  Tensor b = Tensor::full({(1 << 19) - 5}, 3.0);  // same size class: the block comes back
  EXPECT_EQ(b.data_ptr(), first);
  for (double v : test::host(b.slice(0, 0, 7))) EXPECT_EQ(v, 3.0);
  host_empty_cache();
  EXPECT_EQ(host_cached_bytes(), 0u);
}
