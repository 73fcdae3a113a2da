// Progress lines on stderr for long work: rewritten in place (at most 4 per second) on a terminal;
// elsewhere (logs, CI) one line every 15 s and the final one, so logs stay readable.
#pragma once
#include <unistd.h>

#include <chrono>
#include <cstdarg>
#include <cstdio>

namespace pleas {

class Progress {
 public:
  explicit Progress(bool enabled = true)
      : enabled_(enabled), tty_(isatty(2) != 0), last_(std::chrono::steady_clock::now() - std::chrono::hours(1)) {}
  // printf-style; `final` forces the line out and ends it.
  __attribute__((format(printf, 3, 4))) void update(bool final, const char* fmt, ...) {
    if (!enabled_) return;
    auto now = std::chrono::steady_clock::now();
    const double since = std::chrono::duration<double>(now - last_).count();
    if (!final && since < (tty_ ? 0.25 : 15.0)) return;
    last_ = now;
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (tty_) std::fprintf(stderr, "\r%s\033[K%s", buf, final ? "\n" : "");
    else std::fprintf(stderr, "%s\n", buf);
    std::fflush(stderr);
  }

 private:
  bool enabled_, tty_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace pleas
