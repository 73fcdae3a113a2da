// Data pipeline: decoding, torchvision-compatible transforms (goldens from PIL/torchvision written
// by tools/make_data_goldens.py), datasets, subsets and the multithreaded loader.
#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include "stb_image_write.h"
#pragma GCC diagnostic pop

#include "data/dataset.h"
#include "data/image.h"
#include "data/loader.h"
#include "data/transforms.h"
#include "test_util.h"

using namespace pleas;
using namespace pleas::data;
namespace fs = std::filesystem;

namespace {

using test::TempDir;

void make_dirs_for(const std::string& file) { fs::create_directories(fs::path(file).parent_path()); }

// Deterministic pixels: a gradient keyed by `seed` (channels interleaved).
std::vector<uint8_t> pattern(int w, int h, int c, int seed) {
  std::vector<uint8_t> px(size_t(w) * h * c);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int k = 0; k < c; ++k)
        px[(size_t(y) * w + x) * c + k] = uint8_t((x * 7 + y * 13 + k * 50 + seed * 31) % 256);
  return px;
}

void write_png(const std::string& path, int w, int h, int c, const std::vector<uint8_t>& px) {
  make_dirs_for(path);
  ASSERT_NE(stbi_write_png(path.c_str(), w, h, c, px.data(), w * c), 0) << path;
}
void write_jpg(const std::string& path, int w, int h, const std::vector<uint8_t>& px, int quality = 95) {
  make_dirs_for(path);
  ASSERT_NE(stbi_write_jpg(path.c_str(), w, h, 3, px.data(), quality), 0) << path;
}
void write_bytes(const std::string& path, const std::string& bytes) {
  make_dirs_for(path);
  std::ofstream(path, std::ios::binary) << bytes;
}
std::vector<uint8_t> read_raw(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

// Runs `f`, expecting a pleas::Error whose message contains every string of `parts`.
template <typename F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one mentioning " << parts.at(0);
  } catch (const Error& e) {
    for (const auto& p : parts) {
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "message '" << e.what() << "' does not mention '" << p << "'";
    }
  }
}

int max_abs_diff(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  EXPECT_EQ(a.size(), b.size());
  int m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) m = std::max(m, std::abs(int(a[i]) - int(b[i])));
  return m;
}

std::string golden_dir() { return std::string(PLEAS_SOURCE_DIR) + "/tests/data/pil/"; }

// An in-memory dataset: sample i is a w x h image filled with i % 256, label labels[i];
// indices in `bad` throw ImageDecodeError, those in `broken` a plain Error.
struct FakeDataset : Dataset {
  std::vector<int64_t> l;
  int64_t nc = 0;
  int w = 4, h = 3;
  std::set<size_t> bad, broken;
  explicit FakeDataset(std::vector<int64_t> labels) : l(std::move(labels)) {
    for (auto x : l) nc = std::max(nc, x + 1);
  }
  size_t size() const override { return l.size(); }
  int64_t label(size_t i) const override { return l.at(i); }
  Image load(size_t i) const override {
    if (bad.count(i)) throw ImageDecodeError("decode_image: " + source(i) + ": corrupt");
    if (broken.count(i)) throw Error("something went wrong");
    Image img(w, h, 3);
    std::fill(img.pixels.begin(), img.pixels.end(), uint8_t(i % 256));
    return img;
  }
  std::string source(size_t i) const override { return "fake[" + std::to_string(i) + "]"; }
  int64_t num_classes() const override { return nc; }
};

}  // namespace

// ------------------------------------------------------------------ decoding

TEST(DataImage, PngRoundTripIsExact) {
  TempDir t;
  auto px = pattern(13, 7, 3, 1);
  write_png(t / "a.png", 13, 7, 3, px);
  Image img = decode_image(t / "a.png");
  EXPECT_EQ(img.width, 13);
  EXPECT_EQ(img.height, 7);
  EXPECT_EQ(img.channels, 3);
  EXPECT_EQ(img.pixels, px);
  // The same bytes decoded from memory.
  auto bytes = read_file_bytes(t / "a.png");
  EXPECT_EQ(decode_image_memory(bytes.data(), bytes.size()).pixels, px);
}

TEST(DataImage, GrayAndRgbaPngBecomeRgb) {
  TempDir t;
  auto g = pattern(9, 5, 1, 2);
  write_png(t / "g.png", 9, 5, 1, g);
  Image img = decode_image(t / "g.png");
  ASSERT_EQ(img.channels, 3);
  for (size_t p = 0; p < g.size(); ++p)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(img.pixels[3 * p + c], g[p]) << "pixel " << p;
  auto rgba = pattern(6, 4, 4, 3);
  write_png(t / "rgba.png", 6, 4, 4, rgba);
  Image im2 = decode_image(t / "rgba.png");
  ASSERT_EQ(im2.channels, 3);
  for (size_t p = 0; p < 24; ++p)
    for (int c = 0; c < 3; ++c) ASSERT_EQ(im2.pixels[3 * p + c], rgba[4 * p + c]);  // alpha dropped
}

TEST(DataImage, JpegDecodesCloseToItsSource) {
  TempDir t;
  // A smooth image survives JPEG quality 100 within a few grey levels.
  std::vector<uint8_t> px(32 * 24 * 3);
  for (int y = 0; y < 24; ++y)
    for (int x = 0; x < 32; ++x)
      for (int c = 0; c < 3; ++c) px[(y * 32 + x) * 3 + c] = uint8_t(60 + 3 * x + 2 * y + 20 * c);
  write_jpg(t / "s.jpg", 32, 24, px, 100);
  Image img = decode_image(t / "s.jpg");
  EXPECT_EQ(img.width, 32);
  EXPECT_EQ(img.height, 24);
  EXPECT_LE(max_abs_diff(img.pixels, px), 6);
}

TEST(DataImage, JpegMatchesPilDecoderClosely) {
  // stb_image's JPEG decoder is not libjpeg: its IDCT, chroma upsampling and colour conversion
  // round differently, so pixels may differ from PIL's by a few levels. Measure it.
  Image img = decode_image(golden_dir() + "photo.jpg");
  auto pil = read_raw(golden_dir() + "photo_jpg_pil.u8");
  int m = max_abs_diff(img.pixels, pil);
  double mean = 0;
  for (size_t i = 0; i < pil.size(); ++i) mean += std::abs(int(img.pixels[i]) - int(pil[i]));
  mean /= double(pil.size());
  std::cout << "[ info ] stb vs PIL JPEG decode: max |diff| " << m << ", mean |diff| " << mean << "\n";
  RecordProperty("jpeg_max_diff", m);
  EXPECT_LE(m, 12);
  EXPECT_LE(mean, 1.5);
}

TEST(DataImage, UnreadableAndCorruptFilesNameTheFile) {
  TempDir t;
  expect_error([&] { decode_image(t / "missing.png"); }, {"missing.png", "cannot open"});
  write_bytes(t / "garbage.jpg", "this is not a JPEG file at all");
  expect_error([&] { decode_image(t / "garbage.jpg"); }, {"garbage.jpg", "corrupt"});
  write_bytes(t / "empty.png", "");
  expect_error([&] { decode_image(t / "empty.png"); }, {"empty.png"});
  // A JPEG cut after its headers.
  write_jpg(t / "full.jpg", 40, 30, pattern(40, 30, 3, 4));
  auto bytes = read_file_bytes(t / "full.jpg");
  write_bytes(t / "cut.jpg", std::string(bytes.begin(), bytes.begin() + 200));
  expect_error([&] { decode_image(t / "cut.jpg"); }, {"cut.jpg"});
  EXPECT_THROW(decode_image(t / "garbage.jpg"), ImageDecodeError);
}

// ------------------------------------------------------------------ transforms

TEST(DataTransforms, ShorterSideSizeAsTorchvision) {
  // (w, h, size) -> (int(size * long / short) on the long side)
  EXPECT_EQ(shorter_side_size(500, 375, 256), std::make_pair(341, 256));
  EXPECT_EQ(shorter_side_size(375, 500, 256), std::make_pair(256, 341));
  EXPECT_EQ(shorter_side_size(32, 32, 32), std::make_pair(32, 32));
  EXPECT_EQ(shorter_side_size(67, 45, 64), std::make_pair(95, 64));   // 95.29 truncated
  EXPECT_EQ(shorter_side_size(300, 200, 100), std::make_pair(150, 100));  // exact
  EXPECT_EQ(shorter_side_size(640, 480, 224), std::make_pair(298, 224));  // 298.67 truncated
  EXPECT_THROW(shorter_side_size(10, 10, 0), Error);
}

TEST(DataTransforms, ResizeAndCropMatchPil) {
  std::ifstream f(golden_dir() + "cases.json");
  ASSERT_TRUE(f.good()) << "missing " << golden_dir() << "cases.json";
  auto meta = nlohmann::json::parse(f);
  int worst = 0, ncases = 0;
  for (const auto& c : meta["cases"]) {
    Image img = decode_image(golden_dir() + c["input"].get<std::string>());
    for (const auto& op : c["ops"]) {
      const std::string kind = op[0];
      if (kind == "resize") img = resize_shorter(img, op[1]);
      else if (kind == "resize_hw") img = resize_bilinear(img, op[2], op[1]);
      else if (kind == "crop") img = center_crop(img, op[1], op[2]);
      else FAIL() << "unknown op " << kind;
    }
    const std::string out = c["output"];
    if (c["ops"].size() == 2 && c["ops"][0][0] == "resize" && c["ops"][1][0] == "crop") {
      // The same through Transform, whose resize computes only the cropped window.
      Transform tf = Transform::imagenet(c["ops"][0][1], 0);
      tf.crop_h = c["ops"][1][1];
      tf.crop_w = c["ops"][1][2];
      EXPECT_EQ(tf.geometry(decode_image(golden_dir() + c["input"].get<std::string>())).pixels, img.pixels);
    }
    ASSERT_EQ(img.height, c["height"].get<int>()) << out;
    ASSERT_EQ(img.width, c["width"].get<int>()) << out;
    auto want = read_raw(golden_dir() + out);
    int m = max_abs_diff(img.pixels, want);
    int64_t off = 0;
    for (size_t i = 0; i < want.size(); ++i) off += img.pixels[i] != want[i];
    EXPECT_LE(m, 1) << out << ": " << off << " of " << want.size() << " values differ";
    worst = std::max(worst, m);
    ++ncases;
  }
  EXPECT_EQ(ncases, 14);
  std::cout << "[ info ] PIL resize/crop goldens: " << ncases << " cases, max |diff| " << worst << "\n";
  RecordProperty("pil_max_diff", worst);
}

TEST(DataTransforms, NormalizeMatchesTorchvision) {
  std::ifstream f(golden_dir() + "cases.json");
  auto meta = nlohmann::json::parse(f)["normalize"];
  Transform tf = Transform::imagenet(meta["resize"], meta["crop"]);
  Tensor t = tf(decode_image(golden_dir() + meta["input"].get<std::string>()));
  ASSERT_EQ(t.shape(), (Shape{3, 40, 40}));
  auto raw = read_raw(golden_dir() + meta["output"].get<std::string>());
  ASSERT_EQ(raw.size(), size_t(t.numel()) * 4);
  std::vector<double> ref(size_t(t.numel()));
  for (size_t i = 0; i < ref.size(); ++i) {
    float v;
    std::memcpy(&v, raw.data() + 4 * i, 4);
    ref[i] = v;
  }
  // Same f32 operations in the same order as ToTensor + Normalize: bit-identical.
  EXPECT_TRUE(test::all_close(t, ref, 0.0, 0.0));
}

TEST(DataTransforms, NormalizeValuesAndLayout) {
  Image img(2, 1, 3);
  img.pixels = {0, 128, 255, 10, 20, 30};  // pixel (0,0) = (0,128,255), (0,1) = (10,20,30)
  std::array<float, 3> mean{0.485f, 0.456f, 0.406f}, sd{0.229f, 0.224f, 0.225f};
  Tensor t = to_tensor(img, mean, sd);
  ASSERT_EQ(t.shape(), (Shape{3, 1, 2}));
  std::vector<double> ref;
  for (int c = 0; c < 3; ++c)
    for (int x = 0; x < 2; ++x) ref.push_back((img.at(0, x, c) / 255.0 - mean[c]) / sd[c]);
  EXPECT_TRUE(test::all_close(t, ref, 1e-6, 1e-6));
  // Grayscale: one plane with mean[0], std[0].
  Image g(2, 1, 1);
  g.pixels = {51, 204};
  Tensor tg = to_tensor(g, mean, sd);
  ASSERT_EQ(tg.shape(), (Shape{1, 1, 2}));
  EXPECT_TRUE(test::all_close(tg, {(0.2 - 0.485) / 0.229, (0.8 - 0.485) / 0.229}, 1e-6, 1e-6));
  // No normalisation: u8 / 255.
  EXPECT_TRUE(test::all_close(Transform::none()(img), {0, 10 / 255.0, 128 / 255.0, 20 / 255.0, 1, 30 / 255.0},
                              1e-7, 0));
}

TEST(DataTransforms, CenterCropOffsetsAndPadding) {
  // 1-channel image whose value is x + 10 y, to read offsets back.
  Image img(7, 6, 1);
  for (int y = 0; y < 6; ++y)
    for (int x = 0; x < 7; ++x) img.row(y)[x] = uint8_t(x + 10 * y);
  // W - w = 4 -> left 2; H - h = 3 -> top round(1.5) = 2 (half to even).
  Image c = center_crop(img, 3, 3);
  EXPECT_EQ(c.at(0, 0, 0), 2 + 10 * 2);
  // W - w = 5 -> round(2.5) = 2; H - h = 1 -> round(0.5) = 0.
  c = center_crop(img, 5, 2);
  EXPECT_EQ(c.at(0, 0, 0), 2);
  // Larger than the image: (9 - 7) // 2 = 1 zero column on the left, (8 - 6) // 2 = 1 zero row.
  c = center_crop(img, 8, 9);
  EXPECT_EQ(c.at(0, 0, 0), 0);
  EXPECT_EQ(c.at(1, 0, 0), 0);
  EXPECT_EQ(c.at(1, 1, 0), 0);   // source (0, 0)
  EXPECT_EQ(c.at(2, 2, 0), 11);  // source (1, 1)
  EXPECT_EQ(c.at(6, 7, 0), 56);  // source (5, 6)
  EXPECT_EQ(c.at(7, 8, 0), 0);
  EXPECT_THROW(center_crop(img, 0, 3), Error);
  EXPECT_THROW(resize_bilinear(img, 0, 3), Error);
}

TEST(DataTransforms, ResizeWindowIsACropOfTheFullResize) {
  Image img(41, 29, 3);
  img.pixels = pattern(41, 29, 3, 5);
  std::mt19937 rng(3);
  for (auto [ow, oh] : {std::pair{17, 12}, {41, 15}, {20, 29}, {90, 64}, {41, 29}}) {
    Image full = resize_bilinear(img, ow, oh);
    for (int trial = 0; trial < 20; ++trial) {
      int w = 1 + int(rng() % ow), h = 1 + int(rng() % oh);
      int x0 = int(rng() % (ow - w + 1)), y0 = int(rng() % (oh - h + 1));
      Image win = resize_bilinear_window(img, ow, oh, x0, y0, w, h);
      ASSERT_EQ(win.width, w);
      ASSERT_EQ(win.height, h);
      for (int y = 0; y < h; ++y)
        ASSERT_EQ(0, std::memcmp(win.row(y), full.row(y0 + y) + size_t(x0) * 3, size_t(w) * 3))
            << ow << "x" << oh << " window " << w << "x" << h << " at " << x0 << "," << y0;
    }
  }
  EXPECT_THROW(resize_bilinear_window(img, 20, 20, 5, 0, 16, 4), Error);
  // Transform: fused when the crop fits, padded crop otherwise.
  Transform tf = Transform::imagenet(30, 20);
  EXPECT_EQ(tf.geometry(img).pixels, center_crop(resize_shorter(img, 30), 20, 20).pixels);
  tf = Transform::imagenet(10, 12);
  EXPECT_EQ(tf.geometry(img).pixels, center_crop(resize_shorter(img, 10), 12, 12).pixels);
}

TEST(DataTransforms, ResizeOfConstantImageIsConstant) {
  // Normalised coefficients: any resize of a flat image is the same flat image.
  Image img(37, 23, 3);
  std::fill(img.pixels.begin(), img.pixels.end(), uint8_t(173));
  for (auto [w, h] : {std::pair{11, 7}, {80, 50}, {37, 5}, {3, 23}}) {
    Image r = resize_bilinear(img, w, h);
    ASSERT_EQ(r.width, w);
    ASSERT_EQ(r.height, h);
    for (uint8_t v : r.pixels) ASSERT_EQ(v, 173) << w << "x" << h;
  }
}

// ------------------------------------------------------------------ datasets

TEST(DataDataset, ImageFolderOrderAsTorchvision) {
  TempDir t;
  // The expected order was checked with torchvision.datasets.folder.make_dataset on this tree.
  for (const char* f : {"b/10.png", "b/2.png", "b/1.jpg", "a/z.PNG", "a/sub/0.png", "a/sub-x/0.png",
                        "a/sub/deep/0.png", "a/sub.png", "C/img.jpeg"})
    write_png(t / f, 2, 2, 3, pattern(2, 2, 3, 0));
  write_bytes(t / "b/x.txt", "not an image");  // ignored: extension
  write_png(t / "root.png", 2, 2, 3, pattern(2, 2, 3, 0));  // ignored: not in a class folder
  ImageFolderDataset ds(t.path.string());
  EXPECT_EQ(ds.class_names(), (std::vector<std::string>{"C", "a", "b"}));
  EXPECT_EQ(ds.num_classes(), 3);
  std::vector<std::string> want{"C/img.jpeg", "a/sub.png", "a/z.PNG", "a/sub/0.png", "a/sub-x/0.png",
                                "a/sub/deep/0.png", "b/1.jpg", "b/10.png", "b/2.png"};
  std::vector<int64_t> labels{0, 1, 1, 1, 1, 1, 2, 2, 2};
  ASSERT_EQ(ds.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(ds.source(i), t / want[i]) << i;
    EXPECT_EQ(ds.label(i), labels[i]) << i;
  }
  EXPECT_EQ(ds.labels(), labels);
  EXPECT_EQ(ds.load(0).width, 2);
  // Restricting the extensions: class C then has no image, which torchvision also refuses.
  expect_error([&] { ImageFolderDataset(t.path.string(), {".png"}); }, {t / "C", "no image files"});
  fs::remove(t / "C/img.jpeg");
  write_png(t / "C/img.png", 2, 2, 3, pattern(2, 2, 3, 0));
  EXPECT_EQ(ImageFolderDataset(t.path.string(), {".png"}).size(), 8u);  // a/z.PNG: case-insensitive
}

TEST(DataDataset, ImageFolderErrorsNameThePath) {
  TempDir t;
  expect_error([&] { ImageFolderDataset(t / "nope"); }, {t / "nope", "no such directory"});
  expect_error([&] { ImageFolderDataset(t.path.string()); }, {t.path.string(), "no class folders"});
  write_bytes(t / "cat/readme.txt", "hello");
  expect_error([&] { ImageFolderDataset(t.path.string()); }, {t / "cat", "no image files"});
  write_bytes(t / "cat/broken.jpg", "\xff\xd8\xff garbage");  // valid extension, corrupt bytes
  ImageFolderDataset ds(t.path.string());
  ASSERT_EQ(ds.size(), 1u);
  expect_error([&] { ds.load(0); }, {t / "cat/broken.jpg"});
}

TEST(DataDataset, ListFile) {
  TempDir t;
  write_png(t / "imgs/clipart/a b/1.png", 3, 2, 3, pattern(3, 2, 3, 1));
  write_png(t / "imgs/clipart/c/2.png", 3, 2, 3, pattern(3, 2, 3, 2));
  write_bytes(t / "list.txt", "clipart/a b/1.png 4\r\n\nclipart/c/2.png\t0\n  \n");
  ListFileDataset ds(t / "imgs", t / "list.txt");
  ASSERT_EQ(ds.size(), 2u);
  EXPECT_EQ(ds.source(0), t / "imgs/clipart/a b/1.png");
  EXPECT_EQ(ds.label(0), 4);
  EXPECT_EQ(ds.source(1), t / "imgs/clipart/c/2.png");
  EXPECT_EQ(ds.label(1), 0);
  EXPECT_EQ(ds.num_classes(), 5);
  EXPECT_EQ(ds.load(1).pixels, pattern(3, 2, 3, 2));

  expect_error([&] { ListFileDataset(t / "imgs", t / "missing.txt"); }, {"missing.txt"});
  expect_error([&] { ListFileDataset(t / "nodir", t / "list.txt"); }, {"nodir", "no such directory"});
  write_bytes(t / "nolabel.txt", "clipart/c/2.png 1\nclipart/c/2.png\n");
  expect_error([&] { ListFileDataset(t / "imgs", t / "nolabel.txt"); }, {"nolabel.txt:2", "relative/path label"});
  write_bytes(t / "badlabel.txt", "clipart/c/2.png x1\n");
  expect_error([&] { ListFileDataset(t / "imgs", t / "badlabel.txt"); }, {"badlabel.txt:1", "x1"});
  write_bytes(t / "neg.txt", "clipart/c/2.png -3\n");
  expect_error([&] { ListFileDataset(t / "imgs", t / "neg.txt"); }, {"neg.txt:1", "-3"});
  write_bytes(t / "empty.txt", "\n\n");
  expect_error([&] { ListFileDataset(t / "imgs", t / "empty.txt"); }, {"empty.txt", "no samples"});
  // A listed file that is missing fails when loaded, naming it.
  write_bytes(t / "gone.txt", "clipart/c/gone.png 1\n");
  ListFileDataset gone(t / "imgs", t / "gone.txt");
  expect_error([&] { gone.load(0); }, {"clipart/c/gone.png"});
}

namespace {
std::string be32(uint32_t v) {
  return std::string{char(v >> 24), char((v >> 16) & 255), char((v >> 8) & 255), char(v & 255)};
}
// idx3 of n images rows x cols with pixel value 10 * i + p, and idx1 labels.
std::string idx_images(uint32_t n, uint32_t rows, uint32_t cols) {
  std::string s = be32(0x803) + be32(n) + be32(rows) + be32(cols);
  for (uint32_t i = 0; i < n; ++i)
    for (uint32_t p = 0; p < rows * cols; ++p) s += char(10 * i + p);
  return s;
}
std::string idx_labels(const std::vector<uint8_t>& l) {
  std::string s = be32(0x801) + be32(uint32_t(l.size()));
  for (auto x : l) s += char(x);
  return s;
}
void write_gz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), unsigned(bytes.size())), int(bytes.size()));
  gzclose(f);
}
}  // namespace

TEST(DataDataset, IdxFilesPlainAndGzipped) {
  TempDir t;
  write_bytes(t / "img.idx3-ubyte", idx_images(3, 2, 3));
  write_bytes(t / "lab.idx1-ubyte", idx_labels({7, 0, 2}));
  IdxDataset ds(t / "img.idx3-ubyte", t / "lab.idx1-ubyte", 1);
  ASSERT_EQ(ds.size(), 3u);
  EXPECT_EQ(ds.height(), 2);
  EXPECT_EQ(ds.width(), 3);
  EXPECT_EQ(ds.labels(), (std::vector<int64_t>{7, 0, 2}));
  EXPECT_EQ(ds.num_classes(), 8);
  Image im = ds.load(2);
  EXPECT_EQ(im.channels, 1);
  EXPECT_EQ(im.pixels, (std::vector<uint8_t>{20, 21, 22, 23, 24, 25}));
  EXPECT_NE(ds.source(2).find("img.idx3-ubyte[2]"), std::string::npos);

  write_gz(t / "img.gz", idx_images(3, 2, 3));
  write_gz(t / "lab.gz", idx_labels({7, 0, 2}));
  IdxDataset gz(t / "img.gz", t / "lab.gz");  // RGB by default
  Image rgb = gz.load(1);
  ASSERT_EQ(rgb.channels, 3);
  for (int p = 0; p < 6; ++p)
    for (int c = 0; c < 3; ++c) EXPECT_EQ(rgb.pixels[3 * p + c], 10 + p);
  EXPECT_EQ(gz.labels(), ds.labels());

  // Errors name the file.
  expect_error([&] { IdxDataset(t / "none", t / "lab.gz"); }, {"none"});
  write_bytes(t / "lab20.idx1", idx_labels(std::vector<uint8_t>(20, 1)));
  expect_error([&] { IdxDataset(t / "lab20.idx1", t / "lab.gz"); }, {"lab20.idx1", "magic"});
  expect_error([&] { IdxDataset(t / "img.gz", t / "img.gz"); }, {"img.gz", "magic"});
  expect_error([&] { IdxDataset(t / "lab.idx1-ubyte", t / "lab.gz"); }, {"lab.idx1-ubyte", "too short"});
  write_bytes(t / "short.idx3", idx_images(3, 2, 3).substr(0, 30));
  expect_error([&] { IdxDataset(t / "short.idx3", t / "lab.gz"); }, {"short.idx3", "bytes"});
  write_bytes(t / "two.idx1", idx_labels({1, 2}));
  expect_error([&] { IdxDataset(t / "img.gz", t / "two.idx1"); }, {"3 images", "2 labels"});
  EXPECT_THROW(IdxDataset(t / "img.gz", t / "lab.gz", 2), Error);
}

TEST(DataDataset, FashionMnistFromDebianPackage) {
  const std::string dir = "/usr/share/datasets/fashion-mnist/";
  if (!fs::exists(dir + "t10k-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "dataset-fashion-mnist not installed (apt-get install dataset-fashion-mnist)";
  IdxDataset ds(dir + "t10k-images-idx3-ubyte.gz", dir + "t10k-labels-idx1-ubyte.gz", 1);
  ASSERT_EQ(ds.size(), 10000u);
  EXPECT_EQ(ds.height(), 28);
  EXPECT_EQ(ds.width(), 28);
  EXPECT_EQ(ds.num_classes(), 10);
  // Values read with Python's gzip + numpy from the same files.
  std::vector<int64_t> first{9, 2, 1, 1, 6, 1, 4, 6, 5, 7};
  for (size_t i = 0; i < first.size(); ++i) EXPECT_EQ(ds.label(i), first[i]);
  Image im = ds.load(0);
  int64_t sum = 0;
  for (auto v : im.pixels) sum += v;
  EXPECT_EQ(sum, 33456);
  EXPECT_EQ(im.at(14, 12, 0), 98);
  auto per = per_class_subset(std::make_shared<IdxDataset>(ds), 5);
  EXPECT_EQ(per->size(), 50u);
}

// ------------------------------------------------------------------ subsets

TEST(DataSubset, PerClassTakesRanksAfterSkip) {
  // Labels interleaved so that class order differs from dataset order.
  std::vector<int64_t> l;
  for (int i = 0; i < 30; ++i) l.push_back(i % 3);
  auto ds = std::make_shared<FakeDataset>(l);
  auto s = per_class_subset(ds, 2, 3);
  // class 0 at 0,3,6,9,... ranks 3,4 -> 9,12; class 1 -> 10,13; class 2 -> 11,14
  EXPECT_EQ(s->indices(), (std::vector<size_t>{9, 12, 10, 13, 11, 14}));
  EXPECT_EQ(s->size(), 6u);
  EXPECT_EQ(s->label(2), 1);
  EXPECT_EQ(s->source(0), "fake[9]");
  EXPECT_EQ(s->load(5).pixels[0], 14);
  EXPECT_EQ(s->num_classes(), 3);
  EXPECT_EQ(per_class_subset(ds, 10, 0)->size(), 30u);
  expect_error([&] { per_class_subset(ds, 8, 3); }, {"class 0", "fewer than skip + k = 11"});
  // Subsets of subsets.
  auto ss = per_class_subset(s, 1, 1);
  EXPECT_EQ(ss->indices(), (std::vector<size_t>{1, 3, 5}));
  EXPECT_EQ(ss->source(0), "fake[12]");
}

TEST(DataSubset, RandomPerClassIsSeededAndDeterministic) {
  std::vector<int64_t> l;
  for (int i = 0; i < 200; ++i) l.push_back((i * 7) % 4);
  auto ds = std::make_shared<FakeDataset>(l);
  auto a = random_per_class_subset(ds, 5, 123);
  auto b = random_per_class_subset(ds, 5, 123);
  auto c = random_per_class_subset(ds, 5, 124);
  EXPECT_EQ(a->indices(), b->indices());
  EXPECT_NE(a->indices(), c->indices());
  ASSERT_EQ(a->size(), 20u);
  std::set<size_t> uniq(a->indices().begin(), a->indices().end());
  EXPECT_EQ(uniq.size(), 20u);
  for (size_t i = 0; i < 20; ++i) {
    EXPECT_EQ(a->label(i), int64_t(i / 5)) << "class blocks in label order";
    if (i % 5) {
      EXPECT_LT(a->indices()[i - 1], a->indices()[i]) << "dataset order within a class";
    }
  }
  // k = class size takes the whole class.
  EXPECT_EQ(random_per_class_subset(ds, 50, 1)->size(), 200u);
  EXPECT_THROW(random_per_class_subset(ds, 51, 1), Error);
  // The shuffle uses only std::mt19937_64 (fully specified) and integer arithmetic: these values
  // are the same on every platform. (Pinned from this implementation.)
  std::mt19937_64 ref;
  ref.discard(9999);
  EXPECT_EQ(ref(), 9981545732273789042ull);  // the C++ standard's check value of mt19937_64
  EXPECT_EQ(seeded_permutation(8, 42), (std::vector<size_t>{7, 0, 5, 1, 2, 4, 3, 6}));
  auto p = seeded_permutation(1000, 7);
  std::sort(p.begin(), p.end());
  for (size_t i = 0; i < p.size(); ++i) ASSERT_EQ(p[i], i);
}

// ------------------------------------------------------------------ loader

namespace {

// An image folder of `per_class[c]` images of varied sizes per class.
std::shared_ptr<ImageFolderDataset> make_folder(const TempDir& t, const std::vector<int>& per_class) {
  int k = 0;
  for (size_t c = 0; c < per_class.size(); ++c)
    for (int i = 0; i < per_class[c]; ++i, ++k) {
      int w = 20 + (k * 7) % 23, h = 18 + (k * 5) % 19;
      char name[64];
      std::snprintf(name, sizeof(name), "class%zu/%04d.%s", c, i, k % 3 == 0 ? "jpg" : "png");
      if (k % 3 == 0) write_jpg(t / name, w, h, pattern(w, h, 3, k));
      else write_png(t / name, w, h, 3, pattern(w, h, 3, k));
    }
  return std::make_shared<ImageFolderDataset>(t.path.string());
}

// What the loader must return: each sample transformed on its own, in the given order.
void expect_batches_match(DataLoader& dl, const Dataset& ds, const Transform& tf,
                          const std::vector<size_t>& order, int64_t B, bool drop_last) {
  const int64_t n = drop_last ? int64_t(order.size()) / B * B : int64_t(order.size());
  EXPECT_EQ(dl.num_batches(), (n + B - 1) / B);
  Batch b;
  int64_t pos = 0, nb = 0;
  while (dl.next(b)) {
    const int64_t m = b.images.size(0);
    EXPECT_EQ(b.first, pos);
    EXPECT_EQ(m, std::min(B, n - pos));
    ASSERT_EQ(b.labels.shape(), (Shape{m}));
    ASSERT_EQ(b.labels.dtype(), DType::i64);
    ASSERT_EQ(int64_t(b.indices.size()), m);
    auto labels = b.labels.to_vector<int64_t>();
    for (int64_t j = 0; j < m; ++j) {
      const size_t idx = order[size_t(pos + j)];
      EXPECT_EQ(b.indices[size_t(j)], int64_t(idx));
      EXPECT_EQ(labels[size_t(j)], ds.label(idx));
      Tensor want = tf(ds.load(idx));
      ASSERT_EQ(b.images.select(0, j).shape(), want.shape());
      EXPECT_EQ(b.images.select(0, j).contiguous().to_vector<float>(), want.to_vector<float>())
          << "sample " << idx;
    }
    pos += m;
    ++nb;
  }
  EXPECT_EQ(pos, n);
  EXPECT_EQ(nb, dl.num_batches());
  EXPECT_FALSE(dl.next(b));
}

std::vector<size_t> iota_order(size_t n) {
  std::vector<size_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = i;
  return v;
}

}  // namespace

TEST(DataLoader, MatchesSequentialDecoding) {
  TempDir t;
  auto ds = make_folder(t, {9, 6, 8});  // 23 images, sizes vary
  Transform tf = Transform::imagenet(20, 16);
  for (int threads : {2, 3})
    for (int64_t B : {5, 7})
      for (int prefetch : {1, 3})
        for (bool drop : {false, true}) {
          SCOPED_TRACE("threads " + std::to_string(threads) + " batch " + std::to_string(B) + " prefetch " +
                       std::to_string(prefetch) + (drop ? " drop_last" : ""));
          DataLoader dl(ds, tf, B, threads, Device::cpu(), prefetch, drop);
          expect_batches_match(dl, *ds, tf, iota_order(ds->size()), B, drop);
          EXPECT_EQ(dl.skipped(), 0);
        }
}

TEST(DataLoader, ShuffleIsSeededPerEpoch) {
  TempDir t;
  auto ds = make_folder(t, {5, 6});
  Transform tf = Transform::imagenet(20, 16);
  LoaderOptions o;
  o.batch_size = 4;
  o.num_threads = 3;
  o.shuffle = true;
  o.seed = 9;
  DataLoader dl(ds, tf, o);
  expect_batches_match(dl, *ds, tf, seeded_permutation(ds->size(), 9), 4, false);
  dl.start_epoch(1);
  expect_batches_match(dl, *ds, tf, seeded_permutation(ds->size(), 10), 4, false);
  EXPECT_NE(seeded_permutation(ds->size(), 9), seeded_permutation(ds->size(), 10));
  // Restarting an epoch midway.
  dl.start_epoch(0);
  Batch b;
  ASSERT_TRUE(dl.next(b));
  dl.start_epoch(0);
  expect_batches_match(dl, *ds, tf, seeded_permutation(ds->size(), 9), 4, false);
}

TEST(DataLoader, IdxAndSubsetWithoutResize) {
  TempDir t;
  write_bytes(t / "img", idx_images(11, 4, 5));
  write_bytes(t / "lab", idx_labels({0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1}));
  auto ds = std::make_shared<IdxDataset>(t / "img", t / "lab", 1);
  Transform tf = Transform::none();
  tf.mean = {0.5f, 0.f, 0.f};
  tf.std = {0.25f, 1.f, 1.f};
  DataLoader dl(ds, tf, 4, 2);
  expect_batches_match(dl, *ds, tf, iota_order(11), 4, false);
  auto sub = per_class_subset(ds, 2, 1);  // 3, 6 | 4, 7 | 5, 8
  DataLoader ds2(sub, tf, 4, 2);
  Batch b;
  ASSERT_TRUE(ds2.next(b));
  EXPECT_EQ(b.images.shape(), (Shape{4, 1, 4, 5}));
  EXPECT_EQ(b.labels.to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 1, 1}));
  EXPECT_EQ(b.indices, (std::vector<int64_t>{0, 1, 2, 3}));  // positions in the subset
  EXPECT_FLOAT_EQ(b.images.to_vector<float>()[0], (30 / 255.f - 0.5f) / 0.25f);  // image 3, pixel 0
}

TEST(DataLoader, WorkerErrorsReachTheConsumerInOrder) {
  TempDir t;
  auto ds = make_folder(t, {4, 4});
  // Corrupt the 6th image (class1/0001.png): batches 0 (0-2) and 1 (3-5) ... with B = 3, its
  // batch is the second one.
  const std::string bad = ds->source(5);
  write_bytes(bad, "\x89PNG\r\n\x1a\n truncated");
  Transform tf = Transform::imagenet(20, 16);
  for (int threads : {2, 3}) {
    DataLoader dl(ds, tf, 3, threads);
    Batch b;
    ASSERT_TRUE(dl.next(b));
    EXPECT_EQ(b.first, 0);
    expect_error([&] { dl.next(b); }, {bad});
    EXPECT_FALSE(dl.next(b));  // finished after an error
  }
  // skip_corrupt: left out and counted; the other samples keep their order.
  LoaderOptions o;
  o.batch_size = 3;
  o.skip_corrupt = true;
  DataLoader dl(ds, tf, o);
  Batch b;
  std::vector<int64_t> seen;
  while (dl.next(b)) {
    EXPECT_EQ(b.images.size(0), int64_t(b.indices.size()));
    EXPECT_EQ(b.labels.size(0), int64_t(b.indices.size()));
    for (int64_t j = 0; j < int64_t(b.indices.size()); ++j) {
      seen.push_back(b.indices[size_t(j)]);
      EXPECT_EQ(b.images.select(0, j).contiguous().to_vector<float>(),
                tf(ds->load(size_t(b.indices[size_t(j)]))).to_vector<float>());
    }
  }
  EXPECT_EQ(seen, (std::vector<int64_t>{0, 1, 2, 3, 4, 6, 7}));
  EXPECT_EQ(dl.skipped(), 1);
  EXPECT_EQ(dl.skipped_files(), (std::vector<std::string>{bad}));
}

TEST(DataLoader, OtherErrorsAndEmptyBatches) {
  auto fake = std::make_shared<FakeDataset>(std::vector<int64_t>{0, 1, 0, 1, 0, 1, 0});
  fake->broken = {4};
  DataLoader dl(fake, Transform::none(), 2, 2);
  Batch b;
  ASSERT_TRUE(dl.next(b));
  ASSERT_TRUE(dl.next(b));
  expect_error([&] { dl.next(b); }, {"DataLoader: sample 4 (fake[4])", "something went wrong"});
  // skip_corrupt does not hide other errors.
  LoaderOptions o;
  o.batch_size = 2;
  o.skip_corrupt = true;
  DataLoader dl2(fake, Transform::none(), o);
  while (true) {
    try { if (!dl2.next(b)) break; } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("fake[4]"), std::string::npos);
      break;
    }
  }
  // A batch whose images are all corrupt is left out.
  auto f2 = std::make_shared<FakeDataset>(std::vector<int64_t>{0, 1, 0, 1, 0});
  f2->bad = {2, 3};
  DataLoader dl3(f2, Transform::none(), o);
  std::vector<int64_t> firsts;
  while (dl3.next(b)) firsts.push_back(b.first);
  EXPECT_EQ(firsts, (std::vector<int64_t>{0, 4}));
  EXPECT_EQ(dl3.skipped(), 2);
  // Mixed image sizes in a batch without resize/crop.
  TempDir t;
  auto ds = make_folder(t, {3});
  DataLoader dl4(ds, Transform::none(), 3, 2);
  expect_error([&] { dl4.next(b); }, {"after transforms", "class0/"});
  // Bad options.
  EXPECT_THROW(DataLoader(fake, Transform::none(), 0, 2), Error);
  EXPECT_THROW(DataLoader(fake, Transform::none(), 2, 0), Error);
  EXPECT_THROW(DataLoader(fake, Transform::none(), 2, 2, Device::cpu(), 0), Error);
}

TEST(DataLoader, DestroyedWhileWorkersAreBlocked) {
  TempDir t;
  auto ds = make_folder(t, {6, 6});
  for (int i = 0; i < 3; ++i) {
    DataLoader dl(ds, Transform::imagenet(20, 16), 2, 3, Device::cpu(), 1);
    Batch b;
    if (i > 0) {
      ASSERT_TRUE(dl.next(b));
    }
  }  // must join without hanging
  SUCCEED();
}

// ------------------------------------------------------------------ ../shared CIFAR-10

TEST(DataShared, Cifar10TestFolder) {
  const std::string sh = test::shared_dir();
  if (sh.empty() || !fs::is_directory(sh + "/data/cifar10/test")) GTEST_SKIP() << "../shared not present";
  auto ds = std::make_shared<ImageFolderDataset>(sh + "/data/cifar10/test");
  ASSERT_EQ(ds->num_classes(), 10);
  EXPECT_EQ(ds->class_names().front(), "airplane");
  EXPECT_EQ(ds->class_names().back(), "truck");
  ASSERT_EQ(ds->size(), 10000u);
  for (int c = 0; c < 10; ++c) EXPECT_EQ(ds->label(size_t(c) * 1000), c);
  EXPECT_NE(ds->source(1).find("airplane/0001.jpg"), std::string::npos);
  Image img = ds->load(1234);
  EXPECT_EQ(img.width, 32);
  EXPECT_EQ(img.height, 32);
  EXPECT_EQ(img.channels, 3);
  auto sub = per_class_subset(ds, 3, 200);
  DataLoader dl(sub, Transform::cifar(), 16, 2);
  Batch b;
  ASSERT_TRUE(dl.next(b));
  EXPECT_EQ(b.images.shape(), (Shape{16, 3, 32, 32}));
  EXPECT_EQ(b.labels.to_vector<int64_t>()[15], 5);
  EXPECT_EQ(ds->source(sub->indices()[0]).substr(ds->source(sub->indices()[0]).size() - 17), "airplane/0200.jpg");
}

// ------------------------------------------------------------------ CUDA upload

TEST(DataLoaderCuda, UploadMatchesCpu) {
  PLEAS_SKIP_WITHOUT_CUDA();
  TempDir t;
  auto ds = make_folder(t, {7, 6});
  Transform tf = Transform::imagenet(20, 16);
  DataLoader cpu(ds, tf, 5, 2);
  DataLoader gpu(ds, tf, 5, 3, Device::cuda(0), 2);
  Batch a, g;
  int n = 0;
  while (cpu.next(a)) {
    ASSERT_TRUE(gpu.next(g));
    EXPECT_TRUE(g.images.is_cuda());
    EXPECT_TRUE(g.labels.is_cuda());
    EXPECT_EQ(g.first, a.first);
    EXPECT_EQ(g.images.to_vector<float>(), a.images.to_vector<float>());
    EXPECT_EQ(g.labels.to_vector<int64_t>(), a.labels.to_vector<int64_t>());
    ++n;
  }
  EXPECT_FALSE(gpu.next(g));
  EXPECT_EQ(n, 3);
}
