#include "engine/atomic_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <vector>

#include "engine/error.h"

namespace pleas {

// The process umask without changing it (umask(2) can only be read by setting it, which races
// with other threads creating files): /proc/self/status has it on Linux >= 4.7; else assume 022.
static mode_t current_umask() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("Umask:", 0) == 0) return mode_t(std::strtoul(line.c_str() + 6, nullptr, 8));
  return 022;
}

static std::string parent_dir(const std::string& path) {
  auto p = path.rfind('/');
  if (p == std::string::npos) return ".";
  return p == 0 ? "/" : path.substr(0, p);
}

AtomicFile::AtomicFile(const std::string& target, const char* what) : target_(target), what_(what) {
  PLEAS_CHECK(!target.empty(), what_, ": empty file name");
  std::vector<char> tmpl(target.begin(), target.end());
  const char suffix[] = ".tmp.XXXXXX";
  tmpl.insert(tmpl.end(), suffix, suffix + sizeof(suffix));  // includes the terminating NUL
  fd_ = ::mkstemp(tmpl.data());
  PLEAS_CHECK(fd_ >= 0, what_, ": cannot create a temporary file next to '", target, "': ",
              std::strerror(errno));
  temp_ = tmpl.data();
  // mkstemp creates 0600; give the result the permissions the target has, or those a new file
  // would get (0666 & ~umask).
  struct stat st;
  mode_t mode = ::stat(target.c_str(), &st) == 0 ? (st.st_mode & 07777) : (0666 & ~current_umask());
  if (::fchmod(fd_, mode) != 0) fail(std::string("fchmod: ") + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

void AtomicFile::fail(const std::string& why) {
  if (fd_ >= 0) { ::close(fd_); fd_ = -1; }
  ::unlink(temp_.c_str());
  temp_.clear();
  PLEAS_FAIL(what_, ": writing '", target_, "' failed: ", why);
}

void AtomicFile::write(const void* data, size_t n) {
  PLEAS_CHECK(fd_ >= 0, what_, ": write to a closed temporary file for '", target_, "'");
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd_, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) fail(std::string("write: ") + (w < 0 ? std::strerror(errno) : "no progress"));
    p += w;
    n -= size_t(w);
  }
}

void AtomicFile::commit() {
  PLEAS_CHECK(!committed_ && !temp_.empty(), what_, ": commit of '", target_, "' twice");
  if (::fsync(fd_) != 0) fail(std::string("fsync: ") + std::strerror(errno));
  if (::close(fd_) != 0) { fd_ = -1; fail(std::string("close: ") + std::strerror(errno)); }
  fd_ = -1;
  if (::rename(temp_.c_str(), target_.c_str()) != 0)
    fail(std::string("rename to the target: ") + std::strerror(errno));
  committed_ = true;
  // Make the rename itself durable. The data are already in place, so a failure here is ignored.
  int dfd = ::open(parent_dir(target_).c_str(), O_RDONLY | O_DIRECTORY);
  if (dfd >= 0) { ::fsync(dfd); ::close(dfd); }
}

void write_text_atomic(const std::string& path, const std::string& text, const char* what) {
  AtomicFile f(path, what);
  f.write(text.data(), text.size());
  f.commit();
}

}  // namespace pleas
