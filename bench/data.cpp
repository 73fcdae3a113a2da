// Data pipeline throughput, images/s: the ImageNet-style pipeline (JPEG decode 500x375 +
// Resize(256) + CenterCrop(224) + Normalize) through the loader on 2 threads, its single-thread
// parts, and CIFAR-10 32x32 JPEGs from ../shared when present. Arg(0) = CPU, Arg(1) = CUDA.
#include <benchmark/benchmark.h>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <random>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include "stb_image_write.h"
#pragma GCC diagnostic pop

#include "bench_util.h"
#include "data/dataset.h"
#include "data/loader.h"
#include "data/transforms.h"

using namespace pleas;
using namespace pleas::data;
namespace fs = std::filesystem;

namespace {

// 64 photo-like JPEGs of 500x375 (two classes of 32) in a temp dir, made once, removed at exit.
struct JpegFolder {
  std::string root;
  JpegFolder() {
    std::string tmpl = (fs::temp_directory_path() / "pleas_bench_data_XXXXXX").string();
    PLEAS_CHECK(mkdtemp(tmpl.data()) != nullptr, "mkdtemp failed");
    root = tmpl;
    std::mt19937 rng(1);
    std::normal_distribution<float> noise(0.f, 12.f);
    const int w = 500, h = 375;
    std::vector<uint8_t> px(size_t(w) * h * 3);
    for (int i = 0; i < 64; ++i) {
      for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x)
          for (int c = 0; c < 3; ++c) {
            float v = 128 + 70 * std::sin(0.02f * x * (c + 1) + 0.03f * y + i) +
                      40 * std::cos(0.011f * (x + y) * (i % 5 + 1)) + noise(rng);
            px[(size_t(y) * w + x) * 3 + c] = uint8_t(std::fmin(255.f, std::fmax(0.f, v)));
          }
      fs::path dir = fs::path(root) / (i < 32 ? "a" : "b");
      fs::create_directories(dir);
      char name[32];
      std::snprintf(name, sizeof(name), "%03d.jpg", i);
      stbi_write_jpg((dir / name).string().c_str(), w, h, 3, px.data(), 90);
    }
  }
  ~JpegFolder() { std::error_code ec; fs::remove_all(root, ec); }
};

// ../shared beside the source tree (this file is <root>/bench/data.cpp), or $PLEAS_SHARED_DIR.
std::string shared_dir() {
  if (const char* e = std::getenv("PLEAS_SHARED_DIR")) return e;
  return (fs::path(__FILE__).parent_path().parent_path() / ".." / "shared").lexically_normal().string();
}

const JpegFolder& jpegs() {
  static JpegFolder f;
  return f;
}

// One epoch of `ds` per iteration.
void run_loader(benchmark::State& st, std::shared_ptr<const Dataset> ds, Transform tf, int64_t batch) {
  Device dev = bench::device_arg(st);
  if (!bench::device_ok(st, dev)) return;
  LoaderOptions o;
  o.batch_size = batch;
  o.num_threads = 2;
  o.device = dev;
  o.prefetch = 2;
  DataLoader dl(ds, tf, o);
  int64_t epoch = 0;
  for (auto _ : st) {
    dl.start_epoch(epoch++);
    Batch b;
    while (dl.next(b)) benchmark::DoNotOptimize(b.images.data_ptr());
    bench::sync(dev);
  }
  st.counters["images/s"] = benchmark::Counter(double(ds->size()) * double(st.iterations()),
                                               benchmark::Counter::kIsRate);
}

}  // namespace

static void BM_LoaderImageNet224(benchmark::State& st) {
  auto ds = std::make_shared<ImageFolderDataset>(jpegs().root);
  run_loader(st, ds, Transform::imagenet(256, 224), 32);
}
BENCHMARK(BM_LoaderImageNet224)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

static void BM_LoaderCifar32(benchmark::State& st) {
  const std::string dir = shared_dir() + "/data/cifar10/test";
  if (!fs::is_directory(dir)) {
    st.SkipWithError("../shared/data/cifar10 not present");
    return;
  }
  auto ds = per_class_subset(std::make_shared<ImageFolderDataset>(dir), 200);  // 2000 images
  run_loader(st, ds, Transform::cifar(), 128);
}
BENCHMARK(BM_LoaderCifar32)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->UseRealTime();

// Single-thread parts of the 224 px pipeline, images/s.
static void BM_DecodeJpeg500x375(benchmark::State& st) {
  ImageFolderDataset ds(jpegs().root);
  size_t i = 0;
  for (auto _ : st) benchmark::DoNotOptimize(ds.load(i++ % ds.size()).pixels.data());
  st.counters["images/s"] = benchmark::Counter(double(st.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_DecodeJpeg500x375)->Unit(benchmark::kMillisecond);

static void BM_Resize256Crop224Normalize(benchmark::State& st) {
  ImageFolderDataset ds(jpegs().root);
  Image img = ds.load(0);
  Transform tf = Transform::imagenet(256, 224);
  std::vector<float> out(3 * 224 * 224);
  for (auto _ : st) {
    Image g = tf.geometry(img);
    tf.normalize_into(g, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  st.counters["images/s"] = benchmark::Counter(double(st.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Resize256Crop224Normalize)->Unit(benchmark::kMillisecond);
