// load_hdf5 isolated in a child process. libhdf5 does not validate all of its internal metadata:
// flipping a few bytes of a valid file makes it dereference garbage (SIGSEGV in `pleas info`, found
// by random byte flips of tests/data/weights/python_fixture.h5). So the file is parsed by a forked
// child, which writes what it read as a safetensors file (every engine dtype and the metadata
// survive) and exits with _exit (libhdf5's atexit handlers never run in it); the parent waits with a
// deadline, then reads that file. A child killed by a signal or past the deadline becomes a
// pleas::Error naming the file; an ordinary error in the child (truncated file, unsupported type)
// comes back through a pipe with its own message. Cost: one fork and one safetensors round trip
// through $TMPDIR (measured in the issue #16 note).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "engine/weights.h"

namespace pleas {

namespace {

std::string temp_template() {
  const char* dir = std::getenv("TMPDIR");
  return std::string(dir && *dir ? dir : "/tmp") + "/pleas-hdf5-XXXXXX";
}

double timeout_s() {
  const char* t = std::getenv("PLEAS_HDF5_TIMEOUT_S");
  const double v = t ? std::atof(t) : 0.0;
  return v > 0 ? v : 300.0;
}

// The child: parse, write the safetensors file, report an error message through the pipe.
[[noreturn]] void child(const std::string& path, const std::string& out, int err_fd) {
  int code = 0;
  try {
    // Test hook (tests/weights.cpp): a child that crashes or hangs like libhdf5 on a hostile file.
    if (const char* f = std::getenv("PLEAS_HDF5_CHILD_FAULT")) {
      if (std::strcmp(f, "segv") == 0) ::raise(SIGSEGV);
      if (std::strcmp(f, "hang") == 0) ::pause();
    }
    save_safetensors(out, load_hdf5_in_process(path));
  } catch (const std::exception& e) {
    const std::string msg = e.what();
    ssize_t w = ::write(err_fd, msg.data(), msg.size());
    (void)w;
    code = 3;
  }
  ::_exit(code);
}

}  // namespace

WeightFile load_hdf5(const std::string& path) {
  // The child's output file and the pipe's read end, released however this function leaves.
  struct Scratch {
    std::string file;
    int fd = -1;
    ~Scratch() {
      if (!file.empty()) ::unlink(file.c_str());
      if (fd >= 0) ::close(fd);
    }
  } scratch;
  std::string out = temp_template();
  const int tfd = ::mkstemp(out.data());
  PLEAS_CHECK(tfd >= 0, "load_hdf5: '", path, "': cannot create a temporary file in ", out, ": ", std::strerror(errno));
  ::close(tfd);
  scratch.file = out;
  int fds[2];
  PLEAS_CHECK(::pipe(fds) == 0, "load_hdf5: '", path, "': pipe: ", std::strerror(errno));
  scratch.fd = fds[0];
  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[1]);
    PLEAS_FAIL("load_hdf5: '", path, "': fork: ", std::strerror(errno));
  }
  if (pid == 0) {
    ::close(fds[0]);
    child(path, out, fds[1]);
  }
  ::close(fds[1]);
  // Wait for the child with a deadline (polling: the parse of a model file takes milliseconds to seconds).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s());
  int status = 0;
  bool done = false;
  for (int sleep_us = 200; !done;) {
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      done = true;
    } else if (r < 0 && errno != EINTR) {
      break;
    } else if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      PLEAS_FAIL("load_hdf5: '", path, "': reading it took longer than ", timeout_s(),
                 " s (libhdf5 hung on its metadata: a corrupt or hostile file; PLEAS_HDF5_TIMEOUT_S sets the limit)");
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(sleep_us));
      sleep_us = std::min(sleep_us * 2, 20000);
    }
  }
  PLEAS_CHECK(done, "load_hdf5: '", path, "': waiting for the reader process failed: ", std::strerror(errno));
  std::string msg;
  char buf[4096];
  for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) msg.append(buf, size_t(n));
  if (WIFSIGNALED(status))
    PLEAS_FAIL("load_hdf5: '", path, "': libhdf5 crashed reading it (", strsignal(WTERMSIG(status)),
               "): the file is corrupt or hostile (its HDF5 metadata is inconsistent)");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    if (!msg.empty()) throw Error(msg);  // the child's own error, e.g. "load_hdf5: 'x.h5': truncated ..."
    PLEAS_FAIL("load_hdf5: '", path, "': the reader process failed (exit status ", WEXITSTATUS(status), ")");
  }
  return load_safetensors(out);
}

}  // namespace pleas
