// Weight-file format selection: by extension, else (loading only) by content.
#include "engine/weights.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstring>

namespace pleas {
namespace {

enum class Format { unknown, safetensors, hdf5 };

Format format_from_extension(const std::string& path) {
  auto dot = path.rfind('.');
  auto slash = path.rfind('/');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return Format::unknown;
  std::string ext = path.substr(dot + 1);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char ch) { return std::tolower(ch); });
  if (ext == "safetensors") return Format::safetensors;
  if (ext == "h5" || ext == "hdf5") return Format::hdf5;
  return Format::unknown;
}

// HDF5: the 8-byte signature at offset 0, 512, 1024, 2048, ... (after an optional user block).
// safetensors: a little-endian header length that fits in the file, followed by '{'.
Format sniff(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  PLEAS_CHECK(fd >= 0, "load_weights: '", path, "': cannot open: ", std::strerror(errno));
  struct stat st;
  uint64_t size = ::fstat(fd, &st) == 0 ? uint64_t(st.st_size) : 0;
  static const unsigned char kHdf5Sig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  unsigned char buf[9];
  Format f = Format::unknown;
  for (uint64_t off = 0; off + 8 <= size && f == Format::unknown; off = off ? 2 * off : 512)
    if (::pread(fd, buf, 8, off_t(off)) == 8 && std::memcmp(buf, kHdf5Sig, 8) == 0) f = Format::hdf5;
  if (f == Format::unknown && size >= 9 && ::pread(fd, buf, 9, 0) == 9) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; --i) n = (n << 8) | buf[i];
    if (n >= 2 && n <= size - 8 && buf[8] == '{') f = Format::safetensors;
  }
  ::close(fd);
  return f;
}

}  // namespace

WeightFile load_weights(const std::string& path) {
  Format f = format_from_extension(path);
  if (f == Format::unknown) f = sniff(path);
  if (f == Format::safetensors) return load_safetensors(path);
  if (f == Format::hdf5) return load_hdf5(path);
  PLEAS_FAIL("load_weights: '", path, "': unknown format (the extension is not .safetensors, .h5 or "
             ".hdf5 and the content is neither HDF5 nor safetensors)");
}

void save_weights(const std::string& path, const WeightFile& wf) {
  switch (format_from_extension(path)) {
    case Format::safetensors: return save_safetensors(path, wf);
    case Format::hdf5: return save_hdf5(path, wf);
    case Format::unknown: break;
  }
  PLEAS_FAIL("save_weights: '", path, "': unknown format (use a .safetensors, .h5 or .hdf5 name)");
}

}  // namespace pleas
