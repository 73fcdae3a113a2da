// stb_image is compiled here and nowhere else (STB_IMAGE_IMPLEMENTATION). Its failure reason is
// thread-local (STBI_THREAD_LOCAL, on by default for C++11), so loader threads may decode at once.
#include "data/image.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#define STB_IMAGE_IMPLEMENTATION
#define STBI_NO_HDR  // 8-bit inputs only: no Radiance .hdr, no float paths
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#endif
#include "stb_image.h"
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

namespace pleas::data {

std::vector<uint8_t> read_file_bytes(const std::string& path) {
  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  if (!f) throw ImageDecodeError("decode_image: " + path + ": cannot open (" + std::strerror(errno) + ")");
  std::vector<uint8_t> bytes;
  uint8_t buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f.get())) > 0) bytes.insert(bytes.end(), buf, buf + n);
  if (std::ferror(f.get()))
    throw ImageDecodeError("decode_image: " + path + ": read error (" + std::strerror(errno) + ")");
  return bytes;
}

Image decode_image_memory(const void* data, size_t size, const std::string& name) {
  if (size == 0) throw ImageDecodeError("decode_image: " + name + ": empty file");
  if (size > size_t(INT32_MAX)) throw ImageDecodeError("decode_image: " + name + ": file too large");
  int w = 0, h = 0, n = 0;
  // Force 3 channels: stb converts grey, grey+alpha, palette and RGBA to RGB.
  std::unique_ptr<stbi_uc, void (*)(void*)> px(
      stbi_load_from_memory(static_cast<const stbi_uc*>(data), int(size), &w, &h, &n, 3), &stbi_image_free);
  if (!px) {
    const char* why = stbi_failure_reason();
    throw ImageDecodeError("decode_image: " + name + ": " + (why ? why : "cannot decode") +
                           " (corrupt or unsupported image)");
  }
  Image img(w, h, 3);
  std::memcpy(img.pixels.data(), px.get(), img.pixels.size());
  return img;
}

Image decode_image(const std::string& path) {
  std::vector<uint8_t> bytes = read_file_bytes(path);
  return decode_image_memory(bytes.data(), bytes.size(), path);
}

}  // namespace pleas::data
