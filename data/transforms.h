// Transforms of 8-bit images, matching torchvision on PIL images:
//   Resize(size)      -> resize_shorter: PIL Image.resize(BILINEAR), antialiased when shrinking
//   CenterCrop(h, w)  -> center_crop (zero padding when the crop is larger, as torchvision)
//   ToTensor + Normalize(mean, std) -> to_tensor: f32 [C, H, W] = (u8 / 255 - mean) / std
#pragma once
#include <array>
#include <utility>

#include "data/image.h"
#include "engine/tensor.h"

namespace pleas::data {

// Output (width, height) of torchvision Resize(size) for a w x h image: the short side becomes
// `size`, the long side int(size * long / short) (truncated, as Python's int()).
std::pair<int, int> shorter_side_size(int w, int h, int size);

// PIL Image.resize((out_w, out_h), BILINEAR) bit for bit: separable triangle filter whose support
// grows with the downscale factor (antialiasing), 22-bit fixed-point coefficients, horizontal pass
// then vertical pass, each rounded to 8 bits.
Image resize_bilinear(const Image& img, int out_w, int out_h);
// The window [x0, x0 + w) x [y0, y0 + h) of resize_bilinear(img, out_w, out_h), computing only
// those pixels (each output pixel depends only on its own row and column coefficients).
Image resize_bilinear_window(const Image& img, int out_w, int out_h, int x0, int y0, int w, int h);
Image resize_shorter(const Image& img, int size);

// torchvision CenterCrop: top = round((H - h) / 2), left = round((W - w) / 2) with Python's
// round (half to even); a crop larger than the image is zero-padded first as torchvision does.
Image center_crop(const Image& img, int h, int w);

// (u8 / 255 - mean[c]) / std[c] in f32, the order of operations of ToTensor then Normalize,
// written as [C, H, W] into `out` (C * H * W floats). Grayscale images use mean[0], std[0].
void normalize_into(const Image& img, const std::array<float, 3>& mean, const std::array<float, 3>& std,
                    float* out);
Tensor to_tensor(const Image& img, const std::array<float, 3>& mean, const std::array<float, 3>& std);

// A preprocessing pipeline: optional Resize(resize), optional CenterCrop(crop_h, crop_w), then
// ToTensor + Normalize(mean, std).
struct Transform {
  int resize = 0;              // shorter side after resizing; 0 = no resize
  int crop_h = 0, crop_w = 0;  // center crop; 0 = no crop
  std::array<float, 3> mean{0.f, 0.f, 0.f};
  std::array<float, 3> std{1.f, 1.f, 1.f};

  static constexpr std::array<float, 3> kImageNetMean{0.485f, 0.456f, 0.406f};
  static constexpr std::array<float, 3> kImageNetStd{0.229f, 0.224f, 0.225f};
  // CIFAR models of the zoo: no resize, no crop, ImageNet statistics.
  static Transform cifar() { return {0, 0, 0, kImageNetMean, kImageNetStd}; }
  // ImageNet evaluation: Resize(256), CenterCrop(224), ImageNet statistics.
  static Transform imagenet(int resize = 256, int crop = 224) {
    return {resize, crop, crop, kImageNetMean, kImageNetStd};
  }
  static Transform none() { return {}; }  // only /255

  // Resize, then crop (each when configured); a crop inside the resized image is fused with the
  // resize, which then computes only the kept pixels.
  Image geometry(Image img) const;
  void normalize_into(const Image& img, float* out) const {  // out: C * H * W floats
    data::normalize_into(img, mean, std, out);
  }
  Tensor operator()(const Image& img) const;  // f32 [C, H, W] on the CPU
};

}  // namespace pleas::data
