// A dataset of seeded random RGB images (uniform bytes) with labels i % classes: merge data for
// tests and benchmarks that must not depend on files.
#pragma once
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

}  // namespace pleas::data
