#include "engine/device.h"

#include <cstdlib>

#include "engine/cuda_backend.h"
#include "engine/error.h"

namespace pleas {

Device Device::parse(const std::string& s) {
  if (s == "cpu") return cpu();
  if (s == "cuda" || s == "gpu") return cuda(0);
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5) {
    char* end = nullptr;
    long i = std::strtol(s.c_str() + 5, &end, 10);
    if (end && *end == '\0' && i >= 0 && i < 1024) return cuda(int(i));
  }
  PLEAS_FAIL("device: cannot parse '", s, "' (expected cpu, cuda or cuda:N)");
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

int cuda_device_count() { return cudab::device_count(); }
bool cuda_available() { return cuda_device_count() > 0; }
bool built_with_cuda() { return cudab::built_with_cuda(); }

}  // namespace pleas
