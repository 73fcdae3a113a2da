// `pleas devices`: what this build can run on; `pleas conv-demo`: one convolution, timed and checked.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "engine/cuda_backend.h"
#include "experiments/commands.h"
#include "kernels/ops.h"

namespace pleas::cli {

Command add_devices(CLI::App& app) {
  auto* sub = app.add_subcommand("devices", "List the devices this build can use");
  return {sub, [] {
    std::printf("cpu      available (%s)\n", "OpenBLAS + OpenMP");
    if (!built_with_cuda()) {
      std::printf("cuda     not built (configure with -DPLEAS_CUDA=ON)\n");
      return 0;
    }
    int n = cuda_device_count();
    if (n == 0) std::printf("cuda     built, no CUDA device present\n");
    for (int i = 0; i < n; ++i) std::printf("cuda:%d   available\n", i);
    return 0;
  }};
}

Command add_conv_demo(CLI::App& app) {
  auto* sub = app.add_subcommand("conv-demo", "Run a 3x3 convolution and check it against a direct sum");
  static std::string device = "cpu";
  static int batch = 8, channels = 64, size = 56;
  sub->add_option("--device", device, "cpu or cuda[:N]");
  sub->add_option("--batch", batch, "batch size")->check(CLI::PositiveNumber);
  sub->add_option("--channels", channels, "input and output channels")->check(CLI::PositiveNumber);
  sub->add_option("--size", size, "spatial size")->check(CLI::PositiveNumber);
  return {sub, [] {
    Device dev = Device::parse(device);
    Tensor x = rand_normal({batch, channels, size, size}, 1).to(dev);
    Tensor w = rand_normal({channels, channels, 3, 3}, 2, 0.0, 0.05).to(dev);
    Tensor b = rand_normal({channels}, 3).to(dev);
    Conv2dArgs args = Conv2dArgs::make(1, 1);
    Tensor y = conv2d(x, w, b, args);  // warm-up
    if (dev.is_cuda()) cudab::synchronize(dev.index);
    auto t0 = std::chrono::steady_clock::now();
    const int reps = 3;
    for (int r = 0; r < reps; ++r) y = conv2d(x, w, b, args);
    if (dev.is_cuda()) cudab::synchronize(dev.index);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
    double flops = 2.0 * batch * channels * channels * 9.0 * size * size;
    // Spot-check a few outputs against a direct double sum.
    Tensor xh = x.to(Device::cpu()), wh = w.to(Device::cpu()), bh = b.to(Device::cpu());
    Tensor yh = y.to(Device::cpu());
    const float *xp = xh.data<float>(), *wp = wh.data<float>(), *bp = bh.data<float>(), *yp = yh.data<float>();
    double max_err = 0;
    for (int probe = 0; probe < 64; ++probe) {
      int n = probe % batch, co = (probe * 7) % channels, oh = (probe * 13) % size, ow = (probe * 29) % size;
      double acc = bp[co];
      for (int ci = 0; ci < channels; ++ci)
        for (int kh = 0; kh < 3; ++kh)
          for (int kw = 0; kw < 3; ++kw) {
            int ih = oh + kh - 1, iw = ow + kw - 1;
            if (ih < 0 || iw < 0 || ih >= size || iw >= size) continue;
            acc += double(xp[((size_t(n) * channels + ci) * size + ih) * size + iw]) *
                   wp[((size_t(co) * channels + ci) * 3 + kh) * 3 + kw];
          }
      max_err = std::fmax(max_err, std::fabs(acc - yp[((size_t(n) * channels + co) * size + oh) * size + ow]));
    }
    std::printf("conv2d %dx%dx%dx%d, 3x3, %d->%d channels on %s: %.2f ms, %.1f GFLOP/s, max |err| vs direct sum %.2e\n",
                batch, channels, size, size, channels, channels, dev.str().c_str(), s * 1e3,
                flops / s * 1e-9, max_err);
    return max_err < 1e-3 ? 0 : 2;
  }};
}

}  // namespace pleas::cli
