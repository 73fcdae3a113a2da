#include "engine/error.h"

namespace pleas::detail {
[[noreturn]] void throw_error(const char* file, int line, const std::string& msg) {
  std::string f(file);
  // Keep paths relative to the source tree in messages.
  for (const char* root : {"/engine/", "/kernels/", "/models/", "/pleas/", "/data/", "/tools/", "/experiments/"}) {
    auto p = f.rfind(root);
    if (p != std::string::npos) { f = f.substr(p + 1); break; }
  }
  throw Error(msg + " [" + f + ":" + std::to_string(line) + "]");
}
}  // namespace pleas::detail
