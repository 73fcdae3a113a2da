// The tensor: a typed, shaped, strided view into shared storage on one device.
// Strides are in elements; any layout (NCHW, channels-last NHWC as a permuted view, transposes,
// slices) is a stride pattern, so kernels take strides and model code never assumes a layout.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/error.h"

namespace pleas {

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);
int64_t shape_numel(const Shape& s);
Shape contiguous_strides(const Shape& s);

// A block of memory on one device; freed (or returned to the CUDA cache) when the last tensor
// viewing it goes away.
struct Storage {
  void* ptr = nullptr;
  size_t bytes = 0;
  Device device;
  bool host_cached = false;  // from the host block cache (large CPU blocks)
  Storage(size_t bytes, Device d);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

// Large host blocks are cached for reuse (see engine/tensor.cpp); bytes held free in that cache,
// and a way to give them back to the system.
size_t host_cached_bytes();
void host_empty_cache();

class Tensor {
 public:
  Tensor() = default;  // undefined tensor (e.g. an absent bias)

  static Tensor empty(const Shape& shape, DType dt = DType::f32, Device dev = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dt = DType::f32, Device dev = Device::cpu());
  static Tensor full(const Shape& shape, double value, DType dt = DType::f32, Device dev = Device::cpu());
  // Copies `data` (host memory, `dt` elements, row-major) into a new tensor on `dev`.
  static Tensor from_data(const void* data, const Shape& shape, DType dt, Device dev = Device::cpu());
  template <typename T>
  static Tensor from_vector(const std::vector<T>& v, const Shape& shape, Device dev = Device::cpu()) {
    PLEAS_CHECK(int64_t(v.size()) == shape_numel(shape), "from_vector: ", v.size(),
                " values for shape ", shape_str(shape));
    return from_data(v.data(), shape, dtype_of<T>::value, dev);
  }
  static Tensor arange(int64_t n, DType dt = DType::i64, Device dev = Device::cpu());

  bool defined() const { return storage_ != nullptr; }
  DType dtype() const { return dtype_; }
  Device device() const;
  const Shape& shape() const { return shape_; }
  const Shape& strides() const { return strides_; }
  int64_t offset() const { return offset_; }
  int dim() const { return int(shape_.size()); }
  int64_t size(int d) const { return shape_[wrap_dim(d)]; }
  int64_t stride(int d) const { return strides_[wrap_dim(d)]; }
  int64_t numel() const { return shape_numel(shape_); }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype_); }
  size_t element_size() const { return dtype_size(dtype_); }
  bool is_contiguous() const;
  bool is_cpu() const { return device().is_cpu(); }
  bool is_cuda() const { return device().is_cuda(); }
  int wrap_dim(int d) const;  // negative dims count from the end; throws when out of range
  std::string str() const;    // "f32[2, 3] cpu"

  // Raw pointer to the first element (host or device memory).
  void* data_ptr();
  const void* data_ptr() const;
  template <typename T> T* data() { check_dtype(dtype_of<T>::value); return static_cast<T*>(data_ptr()); }
  template <typename T> const T* data() const {
    check_dtype(dtype_of<T>::value); return static_cast<const T*>(data_ptr());
  }
  const std::shared_ptr<Storage>& storage() const { return storage_; }
  bool shares_storage(const Tensor& o) const { return storage_ && storage_ == o.storage_; }

  // Views (no copy).
  Tensor slice(int dim, int64_t start, int64_t end, int64_t step = 1) const;
  Tensor narrow(int dim, int64_t start, int64_t length) const;
  Tensor select(int dim, int64_t index) const;
  Tensor permute(const std::vector<int>& dims) const;
  Tensor transpose(int a, int b) const;
  Tensor reshape(const Shape& shape) const;  // contiguous data only; one dim may be -1
  Tensor unsqueeze(int d) const;
  Tensor squeeze(int d) const;
  Tensor expand(const Shape& shape) const;   // broadcast view with stride 0
  Tensor as_strided(const Shape& shape, const Shape& strides, int64_t offset) const;

  // Copies, only when asked for.
  Tensor contiguous() const;        // itself when already contiguous
  Tensor clone() const;             // always a new contiguous copy on the same device
  Tensor to(Device d) const;        // itself when already there
  Tensor to(DType t) const;         // itself when already that type
  Tensor& copy_(const Tensor& src); // same shape; converts dtype; crosses devices
  Tensor& zero_();
  Tensor& fill_(double value);

  // Host copy of the elements in row-major order (any device); T must match dtype.
  template <typename T> std::vector<T> to_vector() const {
    check_dtype(dtype_of<T>::value);
    Tensor h = to(Device::cpu()).contiguous();
    const T* p = h.data<T>();
    return std::vector<T>(p, p + h.numel());
  }
  // All elements converted to double, in row-major order (any device, any dtype).
  std::vector<double> to_double_vector() const;
  double item() const;  // single-element tensors

 private:
  void check_dtype(DType want) const;
  std::shared_ptr<Storage> storage_;
  Shape shape_, strides_;
  int64_t offset_ = 0;
  DType dtype_ = DType::f32;
};

// Checks used by every op: name the op and the offending shapes/dtypes/devices.
void check_same_device(const char* op, const Tensor& a, const Tensor& b);
void check_dtype(const char* op, const Tensor& t, DType want, const char* what);
void check_dim(const char* op, const Tensor& t, int ndim, const char* what);
void check_defined(const char* op, const Tensor& t, const char* what);

}  // namespace pleas
