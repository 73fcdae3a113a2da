// One exception type for the whole engine, and the checking macros that raise it.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace pleas {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& msg) : std::runtime_error(msg) {}
};

namespace detail {
inline void append(std::ostringstream&) {}
template <typename T, typename... R>
void append(std::ostringstream& os, const T& v, const R&... r) { os << v; append(os, r...); }
template <typename... A>
std::string cat(const A&... a) { std::ostringstream os; append(os, a...); return os.str(); }
[[noreturn]] void throw_error(const char* file, int line, const std::string& msg);
}  // namespace detail

}  // namespace pleas

// PLEAS_CHECK(cond, "op: message ", value, ...) throws pleas::Error naming file and line.
#define PLEAS_CHECK(cond, ...)                                                   \
  do {                                                                           \
    if (!(cond)) ::pleas::detail::throw_error(__FILE__, __LINE__,                \
                                              ::pleas::detail::cat(__VA_ARGS__)); \
  } while (0)
#define PLEAS_FAIL(...) ::pleas::detail::throw_error(__FILE__, __LINE__, ::pleas::detail::cat(__VA_ARGS__))
