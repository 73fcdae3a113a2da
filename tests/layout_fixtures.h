// Helpers for the tests of the published dataset layouts (tests/data_layouts.cpp,
// tests/data_published.cpp): tiny images and text files written into a temp dir at test time,
// and the check that an error names what it should. Include from one file per test executable.
#pragma once
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#define STB_IMAGE_WRITE_STATIC
#define STB_IMAGE_WRITE_IMPLEMENTATION
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wunused-function"
#include "stb_image_write.h"
#pragma GCC diagnostic pop

#include "engine/error.h"
#include "test_util.h"

namespace pleas::test {

inline void make_parent_dirs(const std::string& file) {
  std::filesystem::create_directories(std::filesystem::path(file).parent_path());
}

// A 4 x 3 JPEG (or PNG, by the extension) whose pixels are keyed by `seed`.
inline void write_image(const std::string& path, int seed = 0) {
  const int w = 4, h = 3;
  std::vector<uint8_t> px(size_t(w) * h * 3);
  for (size_t i = 0; i < px.size(); ++i) px[i] = uint8_t((i * 17 + size_t(seed) * 40) % 256);
  make_parent_dirs(path);
  const bool png = path.size() > 4 && path.compare(path.size() - 4, 4, ".png") == 0;
  const int ok = png ? stbi_write_png(path.c_str(), w, h, 3, px.data(), w * 3)
                     : stbi_write_jpg(path.c_str(), w, h, 3, px.data(), 95);
  ASSERT_NE(ok, 0) << path;
}

inline void write_text(const std::string& path, const std::string& text) {
  make_parent_dirs(path);
  std::ofstream(path, std::ios::binary) << text;
}

// Runs `f`, expecting a pleas::Error whose message contains every string of `parts`.
template <typename F>
void expect_error_mentioning(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "no exception; expected one mentioning " << parts.at(0);
  } catch (const Error& e) {
    for (const auto& p : parts)
      EXPECT_NE(std::string(e.what()).find(p), std::string::npos)
          << "message '" << e.what() << "' does not mention '" << p << "'";
  }
}

}  // namespace pleas::test
