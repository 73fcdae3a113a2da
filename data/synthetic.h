// Seeded synthetic images, no files:
//   RandomImageDataset     uniform random bytes (merge data for tests and benchmarks)
//   DeadLeavesDataset      the "dead leaves" model (Lee, Mumford & Huang 2001; used as data-free
//                          training/merge data by Baradad et al. 2021): opaque disks of random colour
//                          with power-law radii, painted back to front. Natural-image-like statistics
//                          (occlusion, edges, flat regions, scale invariance) without any real image:
//                          the synthetic data of the paper's Figure 6b.
// Labels are i % classes (the merge pipeline uses them only to draw per-class subsets).
#pragma once
#include <algorithm>
#include <cmath>
#include <random>
#include <string>

#include "data/dataset.h"

namespace pleas::data {

class RandomImageDataset : public Dataset {
 public:
  RandomImageDataset(size_t n, int size = 32, int64_t classes = 10, uint64_t seed = 0)
      : n_(n), size_(size), classes_(classes), seed_(seed) {}
  size_t size() const override { return n_; }
  int64_t label(size_t i) const override { return int64_t(i) % classes_; }
  Image load(size_t i) const override {
    Image img(size_, size_, 3);
    std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ull + i);
    for (auto& px : img.pixels) px = uint8_t(rng() & 0xff);
    return img;
  }
  std::string source(size_t i) const override { return "random[" + std::to_string(i) + "]"; }
  int64_t num_classes() const override { return classes_; }

 private:
  size_t n_;
  int size_;
  int64_t classes_;
  uint64_t seed_;
};

// Image i: background colour, then `disks` disks; radius r from the density ∝ r⁻³ on
// [r_min, r_max] (inverse CDF r = (r_min⁻² − u (r_min⁻² − r_max⁻²))^(−1/2)), centre uniform over the
// image, colour uniform RGB; a pixel (x, y) (centre at x + 0.5, y + 0.5) belongs to a disk when its
// centre is within r. Every draw comes from std::mt19937_64 seeded with (seed, i), so image i is the
// same on every platform and independent of the order images are loaded in.
class DeadLeavesDataset : public Dataset {
 public:
  DeadLeavesDataset(size_t n, int size = 32, int64_t classes = 10, uint64_t seed = 0)
      : n_(n), size_(size), classes_(classes), seed_(seed) {}
  size_t size() const override { return n_; }
  int64_t label(size_t i) const override { return int64_t(i) % classes_; }
  Image load(size_t i) const override {
    Image img(size_, size_, 3);
    std::mt19937_64 rng((seed_ + 1) * 0xD1B54A32D192ED03ull ^ (uint64_t(i) * 0x9E3779B97F4A7C15ull));
    auto unit = [&] { return double(rng() >> 11) * 0x1.0p-53; };
    auto colour = [&](uint8_t* c) { for (int k = 0; k < 3; ++k) c[k] = uint8_t(rng() & 0xff); };
    uint8_t bg[3];
    colour(bg);
    for (size_t p = 0; p < img.pixels.size(); p += 3) std::copy(bg, bg + 3, &img.pixels[p]);
    const double rmin = 1.0, rmax = size_ / 2.0, a = 1.0 / (rmin * rmin), b = 1.0 / (rmax * rmax);
    const int disks = 12 * size_;  // covers the image several times over at every scale
    for (int d = 0; d < disks; ++d) {
      const double r = 1.0 / std::sqrt(a - unit() * (a - b));
      const double cx = unit() * size_, cy = unit() * size_;
      uint8_t c[3];
      colour(c);
      const int y0 = std::max(0, int(std::floor(cy - r))), y1 = std::min(size_ - 1, int(std::ceil(cy + r)));
      const int x0 = std::max(0, int(std::floor(cx - r))), x1 = std::min(size_ - 1, int(std::ceil(cx + r)));
      for (int y = y0; y <= y1; ++y)
        for (int x = x0; x <= x1; ++x) {
          const double dx = x + 0.5 - cx, dy = y + 0.5 - cy;
          if (dx * dx + dy * dy <= r * r) std::copy(c, c + 3, &img.pixels[size_t((y * size_ + x) * 3)]);
        }
    }
    return img;
  }
  std::string source(size_t i) const override { return "dead_leaves[" + std::to_string(i) + "]"; }
  int64_t num_classes() const override { return classes_; }

 private:
  size_t n_;
  int size_;
  int64_t classes_;
  uint64_t seed_;
};

}  // namespace pleas::data
