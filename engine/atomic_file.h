// Atomic file replacement: write everything to `<target>.tmp.XXXXXX` (mkstemp, same directory, so
// the final rename stays on one filesystem), fsync it, then rename it over the target and fsync
// the directory. Until commit() succeeds the target is untouched; the destructor of an uncommitted
// AtomicFile removes the temporary file, so an exception anywhere leaves no partial output.
#pragma once
#include <cstddef>
#include <string>

namespace pleas {

class AtomicFile {
 public:
  // `what` prefixes error messages (e.g. "save_safetensors").
  AtomicFile(const std::string& target, const char* what);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  const std::string& temp_path() const { return temp_; }
  // Appends bytes through the descriptor (retries short writes and EINTR).
  void write(const void* data, size_t n);
  // fsync, rename over the target, fsync the directory. Throws on failure (temp removed).
  void commit();

 private:
  [[noreturn]] void fail(const std::string& why);
  std::string target_, temp_;
  const char* what_;
  int fd_ = -1;
  bool committed_ = false;
};

// Writes `text` to `path` atomically (AtomicFile); `what` prefixes error messages.
void write_text_atomic(const std::string& path, const std::string& text, const char* what);

}  // namespace pleas
