// Weight files (engine/weights.h): round trips in both formats, a safetensors file built byte by
// byte from the spec, files written by the Python reference libraries, malformed files (each must
// raise pleas::Error naming the file and the reason, never crash), and atomic saves.
#include <hdf5.h>
#include <signal.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>

#include "engine/weights.h"
#include "test_util.h"

using namespace pleas;
namespace fs = std::filesystem;

namespace {

const DType kAllDtypes[] = {DType::f32, DType::f64, DType::f16, DType::bf16,
                            DType::i32, DType::i64, DType::u8};
const char* const kFormats[] = {".safetensors", ".h5"};

// A fresh directory per test under the system temp dir, removed afterwards.
using test::TempDir;

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  ASSERT_TRUE(f.good()) << path;
}
std::string read_bytes(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}
std::string le64(uint64_t n) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[size_t(i)] = char((n >> (8 * i)) & 0xff);
  return s;
}
// A safetensors file: [u64 LE header length][header][data], the header taken as given.
std::string st_file(const std::string& header, const std::string& data) {
  return le64(header.size()) + header + data;
}

// Random values covering each dtype's range (integers beyond 2^53 for i64, so a trip through
// double would show).
Tensor sample(DType dt, const Shape& shape, uint64_t seed) {
  std::mt19937_64 rng(seed);
  size_t n = size_t(shape_numel(shape));
  switch (dt) {
    case DType::i32: {
      std::vector<int32_t> v(n);
      for (auto& x : v) x = int32_t(uint32_t(rng()));
      return Tensor::from_vector(v, shape);
    }
    case DType::i64: {
      std::vector<int64_t> v(n);
      for (auto& x : v) x = int64_t(rng());
      return Tensor::from_vector(v, shape);
    }
    case DType::u8: {
      std::vector<uint8_t> v(n);
      for (auto& x : v) x = uint8_t(rng());
      return Tensor::from_vector(v, shape);
    }
    default: return test::random_tensor(shape, seed, -10.0, 10.0, dt);
  }
}

// Loaded tensors are CPU, contiguous, with the same dtype, shape and bytes as `want`.
::testing::AssertionResult same(const Tensor& got, const Tensor& want) {
  if (!got.defined()) return ::testing::AssertionFailure() << "undefined";
  if (!got.is_cpu() || !got.is_contiguous())
    return ::testing::AssertionFailure() << got.str() << " is not CPU contiguous";
  if (got.dtype() != want.dtype() || got.shape() != want.shape())
    return ::testing::AssertionFailure() << "got " << got.str() << ", want " << want.str();
  Tensor w = want.contiguous();
  if (got.nbytes() && std::memcmp(got.data_ptr(), w.data_ptr(), got.nbytes()) != 0)
    return ::testing::AssertionFailure() << got.str() << ": bytes differ";
  return ::testing::AssertionSuccess();
}

void expect_same_file(const WeightFile& got, const WeightFile& want) {
  ASSERT_EQ(got.tensors.size(), want.tensors.size());
  for (const auto& [name, t] : want.tensors) {
    auto it = got.tensors.find(name);
    ASSERT_NE(it, got.tensors.end()) << "missing tensor '" << name << "'";
    EXPECT_TRUE(same(it->second, t)) << name;
  }
  EXPECT_EQ(got.metadata, want.metadata);
}

// Saves wf as w<ext> in dir, loads it back and checks it equals wf; returns what was loaded.
WeightFile round_trip(const TempDir& dir, const char* ext, const WeightFile& wf) {
  std::string p = dir / (std::string("w") + ext);
  save_weights(p, wf);
  WeightFile got = load_weights(p);
  expect_same_file(got, wf);
  return got;
}


// `f` must throw pleas::Error whose message names `path` and contains `reason`.
void expect_error(const std::function<void()>& f, const std::string& path, const std::string& reason) {
  try {
    f();
    ADD_FAILURE() << "no error for '" << path << "' (expected: " << reason << ")";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find(path), std::string::npos) << "message does not name the file: " << m;
    EXPECT_NE(m.find(reason), std::string::npos) << "message lacks '" << reason << "': " << m;
  }
}
void expect_load_error(const std::string& path, const std::string& reason) {
  expect_error([&] { load_weights(path); }, path, reason);
}

// Writes `header` + `data` as a .safetensors file in `dir` and expects the load to fail.
void expect_bad_safetensors(const TempDir& dir, const std::string& header, const std::string& data,
                            const std::string& reason) {
  std::string p = dir / "bad.safetensors";
  write_bytes(p, st_file(header, data));
  expect_load_error(p, reason);
}

// element i (row-major): (i % 7) - 3 + 0.25 (i % 2) for floats, (i % 7) - 3 for signed integers,
// i % 251 for u8 (all exact in every dtype; tools/check_safetensors_interop.py checks the same).
Tensor interop_pattern(DType dt, const Shape& shape) {
  std::vector<double> v(size_t(shape_numel(shape)));
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = dt == DType::u8 ? double(i % 251)
                           : double(i % 7) - 3 + (is_floating(dt) ? 0.25 * double(i % 2) : 0.0);
  return Tensor::from_vector(v, shape).to(dt);
}

}  // namespace

// ---------------------------------------------------------------- round trips
TEST(WeightsRoundTrip, EveryDtype) {
  TempDir dir;
  WeightFile wf;
  uint64_t seed = 1;
  for (DType dt : kAllDtypes) wf.tensors[std::string("t_") + dtype_name(dt)] = sample(dt, {3, 5}, seed++);
  for (const char* ext : kFormats) {
    SCOPED_TRACE(ext);
    WeightFile got = round_trip(dir, ext, wf);
    for (DType dt : kAllDtypes) EXPECT_EQ(got.tensors.at(std::string("t_") + dtype_name(dt)).dtype(), dt);
  }
}

TEST(WeightsRoundTrip, ScalarEmptyAndHighRankShapes) {
  TempDir dir;
  WeightFile wf;
  wf.tensors["scalar_f32"] = Tensor::full({}, 3.5);
  wf.tensors["scalar_i64"] = Tensor::from_vector(std::vector<int64_t>{-(int64_t(1) << 60)}, {});
  wf.tensors["empty_1d"] = Tensor::empty({0}, DType::f16);
  wf.tensors["empty_mid"] = Tensor::empty({2, 0, 3}, DType::i32);
  wf.tensors["one"] = sample(DType::bf16, {1}, 7);
  wf.tensors["rank8"] = sample(DType::f64, {2, 1, 2, 1, 3, 1, 2, 2}, 8);
  wf.tensors["odd"] = sample(DType::u8, {7, 13, 3}, 9);  // 273 bytes: misaligns what follows
  for (const char* ext : kFormats) {
    SCOPED_TRACE(ext);
    WeightFile got = round_trip(dir, ext, wf);
    EXPECT_EQ(got.tensors.at("scalar_f32").dim(), 0);
    EXPECT_EQ(got.tensors.at("empty_mid").shape(), (Shape{2, 0, 3}));
  }
}

TEST(WeightsRoundTrip, NamesWithDotsSlashesAndUnicode) {
  TempDir dir;
  WeightFile wf;
  const char* names[] = {"layer1.0.conv1.weight", "layer1.0.bn1.running_mean", "fc.bias", "a.b.c.d.e",
                         ".leading", "trailing.", "enc/w", "enc/sub.block/x", "with space",
                         "r\xc3\xa9sum\xc3\xa9.poids"};
  uint64_t seed = 20;
  for (const char* n : names) wf.tensors[n] = sample(DType::f32, {2, 3}, seed++);
  for (const char* ext : kFormats) {
    SCOPED_TRACE(ext);
    round_trip(dir, ext, wf);
  }
}

TEST(WeightsRoundTrip, Metadata) {
  TempDir dir;
  WeightFile wf;
  wf.tensors["x"] = sample(DType::f32, {4}, 3);
  wf.metadata = {{"format", "pt"},
                 {"model.arch", "resnet50"},
                 {"path/like", "a/b"},
                 {"empty", ""},
                 {"unicode \xe2\x9c\x93", "\xc3\xbcn\xc3\xaf" "code"},
                 {"json", "{\"lr\": 0.1, \"q\": \"x\\n\"}"},
                 {"long", std::string(200000, 'z')}};
  for (const char* ext : kFormats) {
    SCOPED_TRACE(ext);
    round_trip(dir, ext, wf);
  }
}

TEST(WeightsRoundTrip, EmptyFile) {
  TempDir dir;
  for (const char* ext : kFormats) {
    SCOPED_TRACE(ext);
    std::string p = dir / (std::string("w") + ext);
    save_weights(p, WeightFile{});
    WeightFile got = load_weights(p);
    EXPECT_TRUE(got.tensors.empty());
    EXPECT_TRUE(got.metadata.empty());
  }
}

TEST(WeightsRoundTrip, NonContiguousSources) {
  TempDir dir;
  Tensor base = sample(DType::f32, {4, 6, 5}, 11);
  WeightFile wf;
  wf.tensors["permuted"] = base.permute({2, 0, 1});
  wf.tensors["stepped"] = base.slice(1, 1, 6, 2);
  wf.tensors["narrowed"] = base.narrow(0, 1, 2);  // contiguous but at an offset
  wf.tensors["selected"] = base.select(2, 3);
  wf.tensors["expanded"] = sample(DType::i64, {3, 1}, 12).expand({3, 4});
  wf.tensors["half_t"] = sample(DType::f16, {5, 7}, 13).transpose(0, 1);
  wf.tensors["bf16_nhwc"] = sample(DType::bf16, {2, 3, 4, 5}, 14).permute({0, 2, 3, 1});
  for (const auto& [n, t] : wf.tensors) EXPECT_EQ(t.is_contiguous(), n == "narrowed") << n;
  for (const char* ext : kFormats) {
    SCOPED_TRACE(ext);
    WeightFile got = round_trip(dir, ext, wf);  // compares with each source's contiguous() copy
    // And elementwise against an independent gather through the strides.
    const Tensor& src = wf.tensors.at("permuted");
    auto g = test::host(got.tensors.at("permuted"));
    auto b = test::host(base);
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t j = 0; j < 4; ++j)
        for (int64_t k = 0; k < 6; ++k)
          ASSERT_EQ(g[size_t((i * 4 + j) * 6 + k)], b[size_t((j * 6 + k) * 5 + i)]);
    EXPECT_EQ(src.shape(), (Shape{5, 4, 6}));
  }
}

TEST(WeightsRoundTrip, FormatFromExtensionOrContent) {
  TempDir dir;
  WeightFile wf;
  wf.tensors["w"] = sample(DType::f64, {3, 2}, 5);
  wf.metadata["k"] = "v";
  for (const char* name : {"a.safetensors", "b.h5", "c.hdf5", "d.H5", "e.SafeTensors"}) {
    SCOPED_TRACE(name);
    save_weights(dir / name, wf);
    expect_same_file(load_weights(dir / name), wf);
  }
  // A file's name need not tell its format when loading: the content is sniffed.
  fs::copy_file(dir / "a.safetensors", dir / "st.bin");
  fs::copy_file(dir / "b.h5", dir / "h5.bin");
  fs::copy_file(dir / "a.safetensors", dir / "noext");
  for (const char* name : {"st.bin", "h5.bin", "noext"}) {
    SCOPED_TRACE(name);
    expect_same_file(load_weights(dir / name), wf);
  }
  // The explicit loaders ignore the name.
  expect_same_file(load_hdf5(dir / "h5.bin"), wf);
  expect_same_file(load_safetensors(dir / "st.bin"), wf);
  // ...but check the content.
  expect_error([&] { load_safetensors(dir / "b.h5"); }, dir / "b.h5", "header length");
  expect_error([&] { load_hdf5(dir / "a.safetensors"); }, dir / "a.safetensors", "not an HDF5 file");
}

TEST(WeightsRoundTrip, OverwriteReplacesAndLeavesNoTemporaries) {
  TempDir dir;
  for (const char* ext : kFormats) {
    SCOPED_TRACE(ext);
    std::string p = dir / (std::string("w") + ext);
    WeightFile a, b;
    a.tensors["x"] = sample(DType::f32, {100}, 1);
    a.tensors["only_in_a"] = sample(DType::u8, {3}, 2);
    b.tensors["x"] = sample(DType::i32, {7, 2}, 3);
    save_weights(p, a);
    fs::permissions(p, fs::perms(0640));
    save_weights(p, b);
    expect_same_file(load_weights(p), b);
    EXPECT_EQ(fs::status(p).permissions() & fs::perms::all, fs::perms(0640))
        << "overwriting keeps the file's permissions";
  }
  EXPECT_EQ(dir.listing(), (std::vector<std::string>{"w.h5", "w.safetensors"}));
}

// ---------------------------------------------------------------- safetensors specifics
TEST(WeightsSafetensors, ReadsHandConstructedFile) {
  // Built from the spec by hand: unpadded header, keys in no particular order, whitespace inside
  // the JSON, and the data buffer written as little-endian bytes.
  TempDir dir;
  const std::string header =
      R"({ "b": {"dtype": "I64", "shape": [], "data_offsets": [8, 16]},)"
      R"( "__metadata__": {"format": "pt", "who": "hand"},)"
      R"( "a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},)"
      R"( "c.half": {"dtype": "F16", "shape": [1, 2], "data_offsets": [16, 20]},)"
      R"( "d.bf": {"dtype": "BF16", "shape": [1], "data_offsets": [20, 22]},)"
      R"( "e": {"dtype": "U8", "shape": [2], "data_offsets": [22, 24]},)"
      R"( "f": {"dtype": "I32", "shape": [1], "data_offsets": [24, 28]},)"
      R"( "g": {"dtype": "F64", "shape": [1], "data_offsets": [28, 36]},)"
      R"( "z": {"dtype": "F32", "shape": [0, 5], "data_offsets": [36, 36]} })";
  const unsigned char data[] = {
      0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0xc0,  // a: 1.0f, -2.0f
      0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,  // b: -2
      0x00, 0x3c, 0x00, 0xb8,                          // c.half: 1.0, -0.5 (IEEE half)
      0x40, 0x40,                                      // d.bf: 3.0 (bfloat16)
      0x07, 0xff,                                      // e: 7, 255
      0x39, 0x30, 0x00, 0x00,                          // f: 12345
      0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x40,  // g: 2.5
  };
  std::string p = dir / "hand.safetensors";
  write_bytes(p, st_file(header, std::string(reinterpret_cast<const char*>(data), sizeof(data))));
  WeightFile wf = load_weights(p);
  EXPECT_EQ(wf.metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"who", "hand"}}));
  ASSERT_EQ(wf.tensors.size(), 8u);
  EXPECT_EQ(wf.tensors.at("a").to_vector<float>(), (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(wf.tensors.at("b").dim(), 0);
  EXPECT_EQ(wf.tensors.at("b").to_vector<int64_t>(), (std::vector<int64_t>{-2}));
  EXPECT_EQ(wf.tensors.at("c.half").dtype(), DType::f16);
  EXPECT_EQ(wf.tensors.at("c.half").shape(), (Shape{1, 2}));
  EXPECT_EQ(test::host(wf.tensors.at("c.half")), (std::vector<double>{1.0, -0.5}));
  EXPECT_EQ(wf.tensors.at("d.bf").dtype(), DType::bf16);
  EXPECT_EQ(test::host(wf.tensors.at("d.bf")), (std::vector<double>{3.0}));
  EXPECT_EQ(wf.tensors.at("e").to_vector<uint8_t>(), (std::vector<uint8_t>{7, 255}));
  EXPECT_EQ(wf.tensors.at("f").to_vector<int32_t>(), (std::vector<int32_t>{12345}));
  EXPECT_EQ(wf.tensors.at("g").to_vector<double>(), (std::vector<double>{2.5}));
  EXPECT_EQ(wf.tensors.at("z").shape(), (Shape{0, 5}));
}

TEST(WeightsSafetensors, WriterLayoutFollowsTheSpec) {
  TempDir dir;
  WeightFile wf;
  wf.tensors["b.u8"] = Tensor::from_vector(std::vector<uint8_t>{1, 2, 3}, {3});
  wf.tensors["a.f16"] = sample(DType::f16, {3}, 1);
  wf.tensors["c.f64"] = Tensor::from_vector(std::vector<double>{0.5, -1.25}, {2});
  wf.tensors["d.f32"] = Tensor::from_vector(std::vector<float>{7.0f}, {1, 1});
  wf.metadata["format"] = "pt";
  std::string p = dir / "w.safetensors";
  save_safetensors(p, wf);
  std::string bytes = read_bytes(p);
  ASSERT_GE(bytes.size(), 8u);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | uint8_t(bytes[size_t(i)]);
  EXPECT_EQ((8 + n) % 8, 0u) << "data buffer must start 8-byte aligned";
  std::string header = bytes.substr(8, size_t(n));
  EXPECT_EQ(header.front(), '{');
  EXPECT_EQ(header.find_last_not_of(' '), header.rfind('}')) << "padding is spaces after the JSON";
  // Keys appear in sorted name order; the data are laid out by descending element size then
  // name (f64, f32, f16, u8), each tensor aligned to its element size, with no gaps.
  EXPECT_LT(header.find("\"__metadata__\""), header.find("\"a.f16\""));
  EXPECT_LT(header.find("\"a.f16\""), header.find("\"b.u8\""));
  EXPECT_LT(header.find("\"b.u8\""), header.find("\"c.f64\""));
  EXPECT_NE(header.find(R"("c.f64":{"data_offsets":[0,16],"dtype":"F64","shape":[2]})"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("d.f32":{"data_offsets":[16,20],"dtype":"F32","shape":[1,1]})"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("a.f16":{"data_offsets":[20,26],"dtype":"F16","shape":[3]})"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("b.u8":{"data_offsets":[26,29],"dtype":"U8","shape":[3]})"), std::string::npos) << header;
  EXPECT_NE(header.find(R"("__metadata__":{"format":"pt"})"), std::string::npos) << header;
  ASSERT_EQ(bytes.size(), 8 + n + 29);
  const std::string data = bytes.substr(size_t(8 + n));
  double c0;
  std::memcpy(&c0, data.data() + 8, 8);
  EXPECT_EQ(c0, -1.25);
  EXPECT_EQ(data.substr(26), std::string("\x01\x02\x03", 3));
}

TEST(WeightsSafetensors, ReservedAndInvalidNamesAreRejectedOnSave) {
  TempDir dir;
  std::string p = dir / "w.safetensors";
  WeightFile wf;
  wf.tensors["__metadata__"] = sample(DType::f32, {2}, 1);
  expect_error([&] { save_weights(p, wf); }, p, "reserved");
  WeightFile bad_utf8;
  bad_utf8.tensors["\xff\xfe"] = sample(DType::f32, {2}, 1);
  expect_error([&] { save_weights(p, bad_utf8); }, p, "cannot encode the header");
  EXPECT_TRUE(dir.listing().empty());
}

// ---------------------------------------------------------------- HDF5 specifics
TEST(WeightsHdf5, HalfTypesAreRealIeeeFloatsToHdf5) {
  // HDF5 itself converts our f16/bf16 datasets to native float: the custom types must have the
  // right sign/exponent/mantissa layout and bias, not just the right bytes for our own reader.
  TempDir dir;
  std::string p = dir / "w.h5";
  WeightFile wf;
  wf.tensors["h"] = test::random_tensor({64}, 3, -1000.0, 1000.0, DType::f16);
  wf.tensors["b"] = test::random_tensor({64}, 4, -1e30, 1e30, DType::bf16);
  wf.tensors["grp/tiny"] = Tensor::from_vector(std::vector<double>{6.0e-8, -3.0e-5, 65504.0}, {3}).to(DType::f16);
  save_weights(p, wf);
  hid_t f = H5Fopen(p.c_str(), H5F_ACC_RDONLY, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  for (const auto& [name, t] : wf.tensors) {
    hid_t d = H5Dopen2(f, name.c_str(), H5P_DEFAULT);
    ASSERT_GE(d, 0) << name;
    std::vector<float> got(size_t(t.numel()));
    EXPECT_GE(H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got.data()), 0) << name;
    EXPECT_EQ(got, t.to(DType::f32).to_vector<float>()) << name;
    H5Dclose(d);
  }
  H5Fclose(f);
}

// Writes a file with the raw HDF5 API; `body` adds objects to the open file.
static void write_raw_h5(const std::string& path, const std::function<void(hid_t)>& body) {
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  ASSERT_GE(f, 0);
  body(f);
  H5Fclose(f);
}

TEST(WeightsHdf5, ReadsFixedLengthStringAttributes) {
  TempDir dir;
  std::string p = dir / "fixed.h5";
  write_raw_h5(p, [](hid_t f) {
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, 8);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "arch", type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, type, "resnet\0\0");
    H5Aclose(a);
    H5Tset_strpad(type, H5T_STR_SPACEPAD);
    a = H5Acreate2(f, "padded", type, space, H5P_DEFAULT, H5P_DEFAULT);
    H5Awrite(a, type, "ab      ");
    H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
  });
  WeightFile wf = load_weights(p);
  EXPECT_EQ(wf.metadata, (std::map<std::string, std::string>{{"arch", "resnet"}, {"padded", "ab"}}));
  EXPECT_TRUE(wf.tensors.empty());
}

TEST(WeightsHdf5, NonStringRootAttributeIsAnError) {
  TempDir dir;
  std::string p = dir / "attr.h5";
  write_raw_h5(p, [](hid_t f) {
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(f, "epochs", H5T_STD_I32LE, space, H5P_DEFAULT, H5P_DEFAULT);
    int v = 90;
    H5Awrite(a, H5T_NATIVE_INT, &v);
    H5Aclose(a);
    H5Sclose(space);
  });
  expect_load_error(p, "root attribute 'epochs' is not a string");
}

TEST(WeightsHdf5, UnsupportedDatasetTypeIsAnError) {
  TempDir dir;
  std::string p = dir / "i16.h5";
  write_raw_h5(p, [](hid_t f) {
    hsize_t n = 3;
    hid_t space = H5Screate_simple(1, &n, nullptr);
    hid_t d = H5Dcreate2(f, "layer.short", H5T_STD_I16LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    short v[3] = {1, 2, 3};
    H5Dwrite(d, H5T_NATIVE_SHORT, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
    H5Dclose(d);
    H5Sclose(space);
  });
  expect_load_error(p, "dataset 'layer.short' has an unsupported signed 16-bit integer type");
}

TEST(WeightsHdf5, InvalidOrConflictingNamesAreRejectedOnSave) {
  TempDir dir;
  std::string p = dir / "w.h5";
  for (const char* bad : {"", "/abs", "a//b", "a/", "a/./b", "..", "x/../y"}) {
    SCOPED_TRACE(bad);
    WeightFile wf;
    wf.tensors[bad] = sample(DType::f32, {2}, 1);
    expect_error([&] { save_weights(p, wf); }, p, "not a valid HDF5 path");
  }
  WeightFile conflict;
  conflict.tensors["enc"] = sample(DType::f32, {2}, 1);
  conflict.tensors["enc/w"] = sample(DType::f32, {2}, 2);
  expect_error([&] { save_weights(p, conflict); }, p, "tensor 'enc' is also a group");
  WeightFile nul_meta;
  nul_meta.metadata["k"] = std::string("a\0b", 3);
  expect_error([&] { save_weights(p, nul_meta); }, p, "NUL");
  EXPECT_TRUE(dir.listing().empty());
}

// ---------------------------------------------------------------- interop with Python writers
TEST(WeightsInterop, ReadsPythonWrittenFixtures) {
  // tests/data/weights/python_fixture.* were written by the `safetensors` package and h5py
  // (tools/check_safetensors_interop.py fixture tests/data/weights).
  const std::string dir = std::string(PLEAS_SOURCE_DIR) + "/tests/data/weights/";
  for (const char* name : {"python_fixture.safetensors", "python_fixture.h5"}) {
    SCOPED_TRACE(name);
    WeightFile wf = load_weights(dir + name);
    std::vector<double> conv(24);
    for (int i = 0; i < 24; ++i) conv[size_t(i)] = i * 0.5 - 3;
    const Tensor& c = wf.tensors.at("conv1.weight");
    EXPECT_EQ(c.dtype(), DType::f32);
    EXPECT_EQ(c.shape(), (Shape{2, 3, 2, 2}));
    EXPECT_EQ(test::host(c), conv);
    EXPECT_EQ(wf.tensors.at("bn1.running_var").dtype(), DType::f16);
    EXPECT_EQ(test::host(wf.tensors.at("bn1.running_var")), (std::vector<double>{1.5, -2.0, 0.25}));
    EXPECT_EQ(wf.tensors.at("bn1.num_batches_tracked").dim(), 0);
    EXPECT_EQ(wf.tensors.at("bn1.num_batches_tracked").to_vector<int64_t>(), (std::vector<int64_t>{7}));
    EXPECT_EQ(wf.tensors.at("idx").to_vector<int32_t>(), (std::vector<int32_t>{-1, 2, 3, -4}));
    EXPECT_EQ(wf.tensors.at("mask").to_vector<uint8_t>(), (std::vector<uint8_t>{0, 1, 255}));
    EXPECT_EQ(wf.tensors.at("scale").to_vector<double>(), (std::vector<double>{2.5}));
    EXPECT_EQ(wf.tensors.at("empty").shape(), (Shape{0, 3}));
    EXPECT_EQ(wf.metadata.at("format"), "pt");
    EXPECT_EQ(wf.metadata.at("source"), "python safetensors");
  }
  WeightFile h = load_weights(dir + "python_fixture.h5");
  EXPECT_EQ(h.tensors.at("group/nested").to_vector<float>(), (std::vector<float>{1.0f, 2.0f}));
  EXPECT_EQ(h.tensors.size(), 8u);
}

TEST(WeightsInterop, WritesPatternFiles) {
  // Writes engine.safetensors / engine.h5 with a known pattern to $PLEAS_INTEROP_DIR when set (for
  // tools/check_safetensors_interop.py check ...), else to a temp dir, and reads them back.
  TempDir tmp;
  const char* env = std::getenv("PLEAS_INTEROP_DIR");
  std::string out = env && *env ? std::string(env) : tmp.path.string();
  fs::create_directories(out);
  WeightFile wf;
  wf.tensors["f32.w"] = interop_pattern(DType::f32, {3, 4});
  wf.tensors["f64.s"] = interop_pattern(DType::f64, {});
  wf.tensors["f16.h"] = interop_pattern(DType::f16, {2, 5});
  wf.tensors["bf16.b"] = interop_pattern(DType::bf16, {7});
  wf.tensors["i32.i"] = interop_pattern(DType::i32, {2, 2, 2});
  wf.tensors["i64.l"] = interop_pattern(DType::i64, {5});
  wf.tensors["u8.u"] = interop_pattern(DType::u8, {300});
  wf.tensors["block.0/empty"] = interop_pattern(DType::f32, {0, 4});
  wf.metadata = {{"producer", "pleas"}, {"note", "\xc3\xbcn\xc3\xaf" "code \xe2\x9c\x93"}};
  for (const char* name : {"engine.safetensors", "engine.h5"}) {
    std::string p = out + "/" + name;
    save_weights(p, wf);
    WeightFile got = load_weights(p);
    expect_same_file(got, wf);
    EXPECT_EQ(test::host(got.tensors.at("u8.u"))[299], 299 % 251);
    EXPECT_EQ(test::host(got.tensors.at("f16.h"))[3], 0.25);  // (3 % 7) - 3 + 0.25
  }
}

// ---------------------------------------------------------------- malformed safetensors files
TEST(WeightsMalformed, EmptyFile) {
  TempDir dir;
  std::string p = dir / "empty.safetensors";
  write_bytes(p, "");
  expect_load_error(p, "shorter than the 8-byte header length");
}

TEST(WeightsMalformed, TruncatedBelowEightBytes) {
  TempDir dir;
  std::string p = dir / "short.safetensors";
  write_bytes(p, std::string("\x02\x00\x00\x00\x00", 5));
  expect_load_error(p, "5 bytes, shorter than the 8-byte header length");
}

TEST(WeightsMalformed, HeaderLengthBeyondFile) {
  TempDir dir;
  std::string p = dir / "bad.safetensors";
  write_bytes(p, le64(64) + "{}");
  expect_load_error(p, "header length 64 is beyond the end of the 10-byte file");
}

TEST(WeightsMalformed, HeaderLengthAbsurd) {
  TempDir dir;
  std::string p = dir / "bad.safetensors";
  for (uint64_t n : {uint64_t(200'000'000), ~uint64_t(0), uint64_t(1) << 63}) {
    write_bytes(p, le64(n) + "{}");
    expect_load_error(p, "exceeds the 100 MB limit");
  }
}

TEST(WeightsMalformed, BadJson) {
  TempDir dir;
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F32", "shape": [1], )", "", "not valid JSON");
  expect_bad_safetensors(dir, std::string("{\"a\0\": 1}", 9), "", "not valid JSON");
  expect_bad_safetensors(dir, "        ", "", "not valid JSON");
}

TEST(WeightsMalformed, JsonNotAnObject) {
  TempDir dir;
  expect_bad_safetensors(dir, "[1, 2, 3]", "", "header is not a JSON object but a JSON array");
  expect_bad_safetensors(dir, "\"str\"", "", "header is not a JSON object but a JSON string");
}

TEST(WeightsMalformed, EntryNotAnObject) {
  TempDir dir;
  expect_bad_safetensors(dir, R"({"a": [0, 4]})", "", "entry for tensor 'a' is not a JSON object");
}

TEST(WeightsMalformed, EntryMissingField) {
  TempDir dir;
  expect_bad_safetensors(dir, R"({"a": {"shape": [1], "data_offsets": [0, 4]}})", "abcd",
                         "tensor 'a' has no \"dtype\"");
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F32", "data_offsets": [0, 4]}})", "abcd",
                         "tensor 'a' has no \"shape\"");
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F32", "shape": [1]}})", "abcd",
                         "tensor 'a' has no \"data_offsets\"");
}

TEST(WeightsMalformed, EntryWrongJsonTypes) {
  TempDir dir;
  expect_bad_safetensors(dir, R"({"a": {"dtype": 32, "shape": [1], "data_offsets": [0, 4]}})", "abcd",
                         "dtype is not a string");
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F32", "shape": 1, "data_offsets": [0, 4]}})", "abcd",
                         "shape is not an array");
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0]}})", "abcd",
                         "data_offsets [0] is not [begin, end]");
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}})",
                         "abcd", "is not [begin, end]");
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": ["0", "4"]}})",
                         "abcd", "is not [begin, end]");
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [-4, 4]}})",
                         "abcd", "is not [begin, end]");
}

TEST(WeightsMalformed, UnknownDtype) {
  TempDir dir;
  expect_bad_safetensors(dir, R"({"a": {"dtype": "Q7", "shape": [1], "data_offsets": [0, 4]}})", "abcd",
                         "tensor 'a': unsupported dtype 'Q7'");
  // In the format but not in the engine.
  expect_bad_safetensors(dir, R"({"a": {"dtype": "BOOL", "shape": [4], "data_offsets": [0, 4]}})",
                         "abcd", "unsupported dtype 'BOOL'");
  expect_bad_safetensors(dir, R"({"a": {"dtype": "f32", "shape": [1], "data_offsets": [0, 4]}})", "abcd",
                         "unsupported dtype 'f32'");
}

TEST(WeightsMalformed, NegativeShapeEntry) {
  TempDir dir;
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}})",
                         "abcd", "not a non-negative integer");
}

TEST(WeightsMalformed, NonIntegerShapeEntry) {
  TempDir dir;
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}})",
                         "abcd", "not a non-negative integer");
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F32", "shape": ["1"], "data_offsets": [0, 4]}})",
                         "abcd", "not a non-negative integer");
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F32", "shape": [1e30], "data_offsets": [0, 4]}})",
                         "abcd", "not a non-negative integer");
}

TEST(WeightsMalformed, ShapeTooLargeOrTooManyDims) {
  TempDir dir;
  expect_bad_safetensors(
      dir, R"({"a": {"dtype": "F32", "shape": [4294967296, 4294967296], "data_offsets": [0, 4]}})",
      "abcd", "too many elements");
  expect_bad_safetensors(
      dir, R"({"a": {"dtype": "F64", "shape": [2305843009213693952], "data_offsets": [0, 4]}})",
      "abcd", "too many bytes");
  expect_bad_safetensors(
      dir, R"({"a": {"dtype": "U8", "shape": [1,1,1,1,1,1,1,1,1], "data_offsets": [0, 1]}})", "a",
      "more than 8 dims");
}

TEST(WeightsMalformed, DataOffsetsEndBeyondBuffer) {
  TempDir dir;
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}})",
                         "abcd", "data_offsets end 8 is beyond the data buffer of 4 bytes");
}

TEST(WeightsMalformed, DataOffsetsBeginAfterEnd) {
  TempDir dir;
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}})",
                         "abcd", "data_offsets begin 4 > end 0");
}

TEST(WeightsMalformed, SizeInconsistentWithShape) {
  TempDir dir;
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}})",
                         "abcdefgh", "hold 8 bytes but F32[3] needs 12");
  expect_bad_safetensors(dir, R"({"a": {"dtype": "F16", "shape": [], "data_offsets": [0, 4]}})",
                         "abcd", "hold 4 bytes but F16[] needs 2");
}

TEST(WeightsMalformed, OverlappingRanges) {
  TempDir dir;
  expect_bad_safetensors(dir,
                         R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                             "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                         "abcdefgh", "tensors 'a' and 'b' overlap");
  // The same range twice.
  expect_bad_safetensors(dir,
                         R"({"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
                             "b": {"dtype": "I32", "shape": [1], "data_offsets": [0, 4]}})",
                         "abcd", "overlap");
  // An empty tensor inside another one's range.
  expect_bad_safetensors(dir,
                         R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                             "e": {"dtype": "F32", "shape": [0], "data_offsets": [4, 4]}})",
                         "abcdefgh", "overlap");
}

TEST(WeightsMalformed, GapBetweenRanges) {
  TempDir dir;
  expect_bad_safetensors(dir,
                         R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
                             "b": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}})",
                         "abcdefgh", "gap of 2 bytes before tensor 'b'");
}

TEST(WeightsMalformed, TrailingBytesAfterLastTensor) {
  TempDir dir;
  expect_bad_safetensors(dir, R"({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}})",
                         "abcd", "2 bytes after the last tensor");
}

TEST(WeightsMalformed, MetadataValueNotString) {
  TempDir dir;
  expect_bad_safetensors(dir, R"({"__metadata__": {"epochs": 90}})", "",
                         "metadata value for 'epochs' is not a string");
  expect_bad_safetensors(dir, R"({"__metadata__": {"nested": {"a": "b"}}})", "",
                         "metadata value for 'nested' is not a string");
}

TEST(WeightsMalformed, MetadataNotAnObject) {
  TempDir dir;
  expect_bad_safetensors(dir, R"({"__metadata__": ["a", "b"]})", "", "__metadata__ is not a JSON object");
}

TEST(WeightsMalformed, DuplicateKeys) {
  TempDir dir;
  expect_bad_safetensors(dir,
                         R"({"a": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]},
                             "a": {"dtype": "U8", "shape": [1], "data_offsets": [1, 2]}})",
                         "ab", "duplicate key 'a'");
  expect_bad_safetensors(dir, R"({"a": {"dtype": "U8", "dtype": "F32", "shape": [1], "data_offsets": [0, 1]}})",
                         "a", "duplicate key 'dtype'");
  expect_bad_safetensors(dir, R"({"__metadata__": {"k": "1", "k": "2"}})", "", "duplicate key 'k'");
}

TEST(WeightsMalformed, TruncatedDataSection) {
  TempDir dir;
  WeightFile wf;
  wf.tensors["a"] = sample(DType::f32, {16}, 1);
  wf.tensors["b"] = sample(DType::f32, {16}, 2);
  std::string good = dir / "good.safetensors";
  save_weights(good, wf);
  std::string bytes = read_bytes(good);
  std::string p = dir / "cut.safetensors";
  write_bytes(p, bytes.substr(0, bytes.size() - 10));
  expect_load_error(p, "(truncated file?)");
  // Cut inside the header.
  write_bytes(p, bytes.substr(0, 20));
  expect_load_error(p, "is beyond the end of the 20-byte file");
}

TEST(WeightsMalformed, RandomMutationsNeverCrash) {
  // Random byte changes, insertions and truncations of a valid file: each load either succeeds
  // (the change hit tensor data, or left the JSON meaning intact) or raises pleas::Error.
  TempDir dir;
  WeightFile wf;
  wf.tensors["layer.0.w"] = sample(DType::f32, {3, 4}, 1);
  wf.tensors["layer.0.b"] = sample(DType::bf16, {4}, 2);
  wf.tensors["idx"] = sample(DType::i64, {2}, 3);
  wf.tensors["s"] = sample(DType::u8, {}, 4);
  wf.metadata["k"] = "v";
  std::string good = dir / "good.safetensors";
  save_weights(good, wf);
  const std::string base = read_bytes(good);
  const size_t header_end = 8 + size_t(uint8_t(base[0])) + 256 * size_t(uint8_t(base[1]));
  std::mt19937_64 rng(2024);
  std::string p = dir / "m.safetensors";
  int errors = 0, loads = 0;
  for (int it = 0; it < 400; ++it) {
    std::string b = base;
    int edits = 1 + int(rng() % 3);
    for (int e = 0; e < edits; ++e) {
      size_t pos = size_t(rng() % std::min(header_end, b.size()));  // the length and the JSON
      switch (rng() % 4) {
        case 0: b[pos] = char(rng()); break;
        case 1: b[pos] = "{}[]\",:-0123456789e. "[rng() % 21]; break;
        case 2: b.insert(pos, 1, char(rng())); break;
        case 3: b.resize(size_t(rng() % b.size())); break;
      }
      if (b.empty()) break;
    }
    write_bytes(p, b);
    try {
      WeightFile got = load_weights(p);
      ++loads;
      for (const auto& [n, t] : got.tensors) ASSERT_TRUE(t.is_contiguous() && t.is_cpu()) << n;
    } catch (const Error& e) {
      ++errors;
      ASSERT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
  }
  EXPECT_GT(errors, 200);
  EXPECT_EQ(errors + loads, 400);
}

// ---------------------------------------------------------------- malformed or missing files
TEST(WeightsMalformed, CorruptHdf5RandomBytes) {
  TempDir dir;
  std::string p = dir / "random.h5";
  std::mt19937_64 rng(5);
  std::string junk(4096, '\0');
  for (auto& ch : junk) ch = char(rng());
  write_bytes(p, junk);
  expect_load_error(p, "not an HDF5 file");
  // The signature followed by junk.
  write_bytes(p, std::string("\x89HDF\r\n\x1a\n", 8) + junk);
  expect_load_error(p, "load_hdf5");
}

TEST(WeightsMalformed, Hdf5TruncatedInHalf) {
  TempDir dir;
  WeightFile wf;
  wf.tensors["conv.weight"] = sample(DType::f32, {64, 64}, 1);
  wf.tensors["conv.bias"] = sample(DType::f32, {64}, 2);
  wf.metadata["k"] = "v";
  std::string good = dir / "good.h5";
  save_weights(good, wf);
  std::string bytes = read_bytes(good);
  std::string p = dir / "half.h5";
  write_bytes(p, bytes.substr(0, bytes.size() / 2));
  expect_load_error(p, "load_hdf5");
}

TEST(WeightsMalformed, MissingFile) {
  TempDir dir;
  for (const char* name : {"nope.safetensors", "nope.h5", "nope.bin"}) {
    std::string p = dir / name;
    expect_load_error(p, "No such file or directory");
  }
  expect_error([&] { load_safetensors(dir / "x"); }, dir / "x", "cannot open");
  expect_error([&] { load_hdf5(dir / "x"); }, dir / "x", "cannot open");
}

TEST(WeightsMalformed, UnknownFormat) {
  TempDir dir;
  std::string p = dir / "weights.pt";
  write_bytes(p, "PK\x03\x04 definitely not a weight file of ours");
  expect_load_error(p, "unknown format");
  std::string tiny = dir / "tiny.bin";
  write_bytes(tiny, "ab");
  expect_load_error(tiny, "unknown format");
  // A directory is not a weight file.
  fs::create_directories(dir.path / "d.safetensors");
  expect_load_error(dir / "d.safetensors", "not a regular file");
  fs::create_directories(dir.path / "d.h5");
  expect_load_error(dir / "d.h5", "not a regular file");
}

// ---------------------------------------------------------------- failed saves leave no trace
TEST(WeightsSaveFailure, DirectoryDoesNotExist) {
  TempDir dir;
  WeightFile wf;
  wf.tensors["x"] = sample(DType::f32, {4}, 1);
  for (const char* ext : kFormats) {
    std::string p = dir / (std::string("missing/sub/w") + ext);
    expect_error([&] { save_weights(p, wf); }, p, "cannot create a temporary file");
  }
  EXPECT_TRUE(dir.listing().empty());
}

TEST(WeightsSaveFailure, UnknownExtension) {
  TempDir dir;
  std::string p = dir / "w.pt";
  expect_error([&] { save_weights(p, WeightFile{}); }, p, "unknown format");
  EXPECT_TRUE(dir.listing().empty());
}

TEST(WeightsSaveFailure, UndefinedTensorLeavesExistingFileIntact) {
  TempDir dir;
  WeightFile good;
  good.tensors["x"] = sample(DType::f32, {8}, 1);
  WeightFile bad = good;
  bad.tensors["y"] = Tensor();  // undefined
  for (const char* ext : kFormats) {
    SCOPED_TRACE(ext);
    std::string fresh = dir / (std::string("fresh") + ext);
    expect_error([&] { save_weights(fresh, bad); }, fresh, "tensor 'y' is undefined");
    EXPECT_FALSE(fs::exists(fresh));
    std::string p = dir / (std::string("w") + ext);
    save_weights(p, good);
    const std::string before = read_bytes(p);
    expect_error([&] { save_weights(p, bad); }, p, "tensor 'y' is undefined");
    EXPECT_EQ(read_bytes(p), before);
  }
  EXPECT_EQ(dir.listing(), (std::vector<std::string>{"w.h5", "w.safetensors"}));
}

TEST(WeightsSaveFailure, WriteErrorMidFileLeavesExistingFileIntact) {
  // A failure after the temporary file has been partly written (a file-size limit makes write(2)
  // fail with EFBIG, like a full disk): the temporary is removed and the old target survives.
  TempDir dir;
  WeightFile small, big;
  small.tensors["x"] = sample(DType::f32, {8}, 1);
  big.tensors["x"] = sample(DType::f32, {1 << 18}, 2);  // 1 MiB
  big.metadata["k"] = "v";
  for (const char* ext : kFormats) {
    SCOPED_TRACE(ext);
    std::string p = dir / (std::string("w") + ext);
    save_weights(p, small);
    const std::string before = read_bytes(p);
    struct rlimit old;
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old), 0);
    auto old_handler = signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = old;
    lim.rlim_cur = 64 * 1024;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &lim), 0);
    bool threw = false;
    try {
      save_weights(p, big);
    } catch (const Error& e) {
      threw = true;
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos) << e.what();
    }
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, old_handler);
    EXPECT_TRUE(threw);
    EXPECT_EQ(read_bytes(p), before);
    expect_same_file(load_weights(p), small);
  }
  EXPECT_EQ(dir.listing(), (std::vector<std::string>{"w.h5", "w.safetensors"}));
}

// libhdf5 crashes (SIGSEGV) on some corrupted metadata: tests/data/weights/corrupt_libhdf5_segv.h5
// is python_fixture.h5 with a few bytes flipped, the first such file random flips found (it made
// `pleas info` die with a segmentation fault). The isolated reader turns that into an error naming
// the file, and so it does for a reader that hangs (past PLEAS_HDF5_TIMEOUT_S) or crashes by itself.
TEST(WeightsMalformed, Hdf5LibraryCrashOrHangIsAnError) {
  const std::string dir = std::string(PLEAS_SOURCE_DIR) + "/tests/data/weights/";
  expect_load_error(dir + "corrupt_libhdf5_segv.h5", "libhdf5 crashed reading it");
  const std::string good = dir + "python_fixture.h5";
  ::setenv("PLEAS_HDF5_CHILD_FAULT", "segv", 1);
  expect_load_error(good, "libhdf5 crashed reading it");
  ::setenv("PLEAS_HDF5_CHILD_FAULT", "hang", 1);
  ::setenv("PLEAS_HDF5_TIMEOUT_S", "0.5", 1);
  expect_load_error(good, "took longer than 0.5 s");
  ::unsetenv("PLEAS_HDF5_CHILD_FAULT");
  ::unsetenv("PLEAS_HDF5_TIMEOUT_S");
  // The isolated reader returns exactly what the in-process parse reads.
  expect_same_file(load_hdf5(good), load_hdf5_in_process(good));
}
