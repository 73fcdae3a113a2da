// Image decoding: JPEG, PNG, BMP, PPM/PGM, TGA, GIF (first frame) through stb_image, always to
// 8-bit RGB (grayscale and palette images are expanded, alpha is dropped), stored HWC.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "engine/error.h"

namespace pleas::data {

// An 8-bit image, row-major HWC: pixel (y, x) channel c is pixels[(y * width + x) * channels + c].
struct Image {
  int width = 0, height = 0, channels = 3;
  std::vector<uint8_t> pixels;

  Image() = default;
  Image(int w, int h, int c) : width(w), height(h), channels(c), pixels(size_t(w) * h * c) {}
  uint8_t* row(int y) { return pixels.data() + size_t(y) * width * channels; }
  const uint8_t* row(int y) const { return pixels.data() + size_t(y) * width * channels; }
  uint8_t at(int y, int x, int c) const { return row(y)[size_t(x) * channels + c]; }
};

// An unreadable or undecodable image. Its message names the file; the loader can skip these
// (LoaderOptions::skip_corrupt) while every other error still propagates.
class ImageDecodeError : public Error {
 public:
  explicit ImageDecodeError(const std::string& msg) : Error(msg) {}
};

// Reads and decodes a file to RGB; throws ImageDecodeError "decode_image: <path>: <reason>".
Image decode_image(const std::string& path);
// Decodes an encoded image held in memory; `name` is used in error messages.
Image decode_image_memory(const void* data, size_t size, const std::string& name = "<memory>");
// Whole file as bytes; throws ImageDecodeError naming the file when it cannot be read.
std::vector<uint8_t> read_file_bytes(const std::string& path);

}  // namespace pleas::data
