// Devices: the CPU and CUDA GPUs ("cpu", "cuda", "cuda:1").
#pragma once
#include <string>

namespace pleas {

enum class DeviceType : uint8_t { cpu, cuda };

struct Device {
  DeviceType type = DeviceType::cpu;
  int index = 0;
  static Device cpu() { return {DeviceType::cpu, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::cuda, i}; }
  static Device parse(const std::string& s);  // throws pleas::Error on bad text
  bool is_cpu() const { return type == DeviceType::cpu; }
  bool is_cuda() const { return type == DeviceType::cuda; }
  std::string str() const;
  bool operator==(const Device& o) const { return type == o.type && (is_cpu() || index == o.index); }
  bool operator!=(const Device& o) const { return !(*this == o); }
};

// Number of usable CUDA devices: 0 when built without CUDA or when no GPU/driver is present.
int cuda_device_count();
bool cuda_available();  // built with CUDA support and at least one device present
bool built_with_cuda();

}  // namespace pleas
