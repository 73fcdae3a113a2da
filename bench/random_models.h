// Seeded random state dicts at the architectures' real sizes for the benchmarks: the CIFAR
// ResNet-20 (akamaster's names) and torchvision's ResNet-18/34/50. Convolutions kaiming-normal,
// the head N(0, 0.01²); BatchNorm either neutral (γ = 1, β = 0, μ = 0, σ² = 1) or random
// (γ ~ U(0.5, 1.5), β ~ N(0, 0.2²), μ ~ N(0, 0.5²), σ² ~ U(0.5, 2)), so two seeds give two
// unrelated networks as a merge needs.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "kernels/ops.h"
#include "models/model.h"

namespace pleas::bench {

struct RandomWeights {
  uint64_t seed = 1;
  bool random_bn = false;
  TensorDict d;

  void conv(const std::string& p, int64_t o, int64_t i, int64_t k) {
    d[p + ".weight"] = rand_normal({o, i, k, k}, seed++, 0.0, std::sqrt(2.0 / double(i * k * k)));
  }
  void bn(const std::string& p, int64_t c) {
    d[p + ".weight"] = random_bn ? rand_uniform({c}, seed++, 0.5, 1.5) : Tensor::full({c}, 1.0);
    d[p + ".bias"] = random_bn ? rand_normal({c}, seed++, 0.0, 0.2) : Tensor::zeros({c});
    d[p + ".running_mean"] = random_bn ? rand_normal({c}, seed++, 0.0, 0.5) : Tensor::zeros({c});
    d[p + ".running_var"] = random_bn ? rand_uniform({c}, seed++, 0.5, 2.0) : Tensor::full({c}, 1.0);
  }
  void head(const std::string& p, int64_t classes, int64_t in) {
    d[p + ".weight"] = rand_normal({classes, in}, seed++, 0.0, 0.01);
    d[p + ".bias"] = random_bn ? rand_normal({classes}, seed++, 0.0, 0.1) : Tensor::zeros({classes});
  }
};

// CIFAR ResNet-20 (widths 16/32/64, 3 blocks per stage, 10 classes).
inline TensorDict random_cifar_resnet20(uint64_t seed = 1, bool random_bn = false) {
  RandomWeights w{seed, random_bn, {}};
  w.conv("conv1", 16, 3, 3);
  w.bn("bn1", 16);
  int64_t in = 16;
  for (int st = 1; st <= 3; ++st) {
    const int64_t c = 16 << (st - 1);
    for (int b = 0; b < 3; ++b) {
      const std::string p = "layer" + std::to_string(st) + "." + std::to_string(b);
      w.conv(p + ".conv1", c, in, 3), w.bn(p + ".bn1", c);
      w.conv(p + ".conv2", c, c, 3), w.bn(p + ".bn2", c);
      in = c;
    }
  }
  w.head("linear", 10, 64);
  return std::move(w.d);
}

// torchvision ResNet (basic blocks for 18/34, bottlenecks for 50), 1000 classes.
inline TensorDict random_resnet(bool bottleneck, const std::vector<int>& layers, uint64_t seed = 1,
                                bool random_bn = false) {
  RandomWeights w{seed, random_bn, {}};
  w.conv("conv1", 64, 3, 7);
  w.bn("bn1", 64);
  int64_t in = 64;
  const int64_t exp = bottleneck ? 4 : 1;
  for (int st = 0; st < 4; ++st) {
    const int64_t planes = 64 << st;
    for (int b = 0; b < layers[size_t(st)]; ++b) {
      const std::string p = "layer" + std::to_string(st + 1) + "." + std::to_string(b);
      if (bottleneck) {
        w.conv(p + ".conv1", planes, in, 1), w.bn(p + ".bn1", planes);
        w.conv(p + ".conv2", planes, planes, 3), w.bn(p + ".bn2", planes);
        w.conv(p + ".conv3", planes * 4, planes, 1), w.bn(p + ".bn3", planes * 4);
      } else {
        w.conv(p + ".conv1", planes, in, 3), w.bn(p + ".bn1", planes);
        w.conv(p + ".conv2", planes, planes, 3), w.bn(p + ".bn2", planes);
      }
      if (b == 0 && (st > 0 || in != planes * exp)) {
        w.conv(p + ".downsample.0", planes * exp, in, 1);
        w.bn(p + ".downsample.1", planes * exp);
      }
      in = planes * exp;
    }
  }
  w.head("fc", 1000, in);
  return std::move(w.d);
}
inline TensorDict random_resnet18(uint64_t seed = 1, bool random_bn = false) {
  return random_resnet(false, {2, 2, 2, 2}, seed, random_bn);
}
inline TensorDict random_resnet50(uint64_t seed = 1, bool random_bn = false) {
  return random_resnet(true, {3, 4, 6, 3}, seed, random_bn);
}

}  // namespace pleas::bench
