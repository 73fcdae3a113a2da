#include "engine/tensor.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>

#include "engine/caching_allocator.h"
#include "engine/cuda_backend.h"
#include "kernels/backend_ops.h"

namespace pleas {

std::string shape_str(const Shape& s) {
  std::ostringstream os;
  os << "[";
  for (size_t i = 0; i < s.size(); ++i) os << (i ? ", " : "") << s[i];
  os << "]";
  return os.str();
}

int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Shape contiguous_strides(const Shape& s) {
  Shape st(s.size());
  int64_t acc = 1;
  for (int i = int(s.size()) - 1; i >= 0; --i) { st[i] = acc; acc *= std::max<int64_t>(s[i], 1); }
  return st;
}

// ---- storage ----
namespace {
// Host blocks of 1 MiB and more are cached and reused: a fresh large block from the C library is
// mapped anew each time, and its page faults cost more than the op that fills it (a 155 MB GELU
// output: 30 ms of faults for 16 ms of work). Smaller blocks come from malloc's own free lists.
constexpr size_t kHostCacheMin = size_t(1) << 20;
CachingAllocator& host_cache() {
  // Never destroyed: tensors in static storage may outlive any other static object.
  static CachingAllocator* cache = new CachingAllocator(
      [](size_t n) { return std::aligned_alloc(64, n); }, [](void* p) { std::free(p); });
  return *cache;
}
}  // namespace

size_t host_cached_bytes() { return host_cache().reserved_bytes() - host_cache().current_bytes(); }
void host_empty_cache() { host_cache().empty_cache(); }

Storage::Storage(size_t n, Device d) : bytes(n), device(d) {
  if (d.is_cpu()) {
    if (n >= kHostCacheMin) {
      ptr = host_cache().allocate(n);  // 2 MiB multiples, 64-byte aligned
      host_cached = true;
      return;
    }
    size_t padded = (std::max<size_t>(n, 1) + 63) / 64 * 64;  // 64-byte aligned for SIMD
    ptr = std::aligned_alloc(64, padded);
    PLEAS_CHECK(ptr != nullptr, "tensor: out of host memory allocating ", n, " bytes");
  } else {
    ptr = cudab::alloc(d.index, n);
  }
}

Storage::~Storage() {
  if (host_cached) host_cache().deallocate(ptr);
  else if (device.is_cpu()) std::free(ptr);
  else cudab::release(device.index, ptr);
}

// ---- construction ----
static void check_shape(const Shape& shape) {
  PLEAS_CHECK(int(shape.size()) <= 8, "tensor: at most 8 dims, got shape ", shape_str(shape));
  for (int64_t d : shape) PLEAS_CHECK(d >= 0, "tensor: negative size in shape ", shape_str(shape));
}

Tensor Tensor::empty(const Shape& shape, DType dt, Device dev) {
  check_shape(shape);
  Tensor t;
  t.storage_ = std::make_shared<Storage>(size_t(shape_numel(shape)) * dtype_size(dt), dev);
  t.shape_ = shape;
  t.strides_ = contiguous_strides(shape);
  t.dtype_ = dt;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dt, Device dev) {
  Tensor t = empty(shape, dt, dev);
  t.zero_();
  return t;
}

Tensor Tensor::full(const Shape& shape, double value, DType dt, Device dev) {
  Tensor t = empty(shape, dt, dev);
  t.fill_(value);
  return t;
}

Tensor Tensor::from_data(const void* data, const Shape& shape, DType dt, Device dev) {
  Tensor t = empty(shape, dt, dev);
  if (t.nbytes() == 0) return t;
  if (dev.is_cpu()) std::memcpy(t.data_ptr(), data, t.nbytes());
  else cudab::memcpy_h2d(dev.index, t.data_ptr(), data, t.nbytes());
  return t;
}

Tensor Tensor::arange(int64_t n, DType dt, Device dev) {
  std::vector<int64_t> v(size_t(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = i;
  Tensor t = from_vector(v, {int64_t(v.size())});
  return dt == DType::i64 ? t.to(dev) : t.to(dt).to(dev);
}

// ---- properties ----
Device Tensor::device() const { return storage_ ? storage_->device : Device::cpu(); }

int Tensor::wrap_dim(int d) const {
  int n = dim();
  int w = d < 0 ? d + n : d;
  PLEAS_CHECK(w >= 0 && w < n, "tensor: dim ", d, " out of range for shape ", shape_str(shape_));
  return w;
}

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // no element to misplace (as in PyTorch)
  int64_t expect = 1;
  for (int i = dim() - 1; i >= 0; --i) {
    if (shape_[i] == 1) continue;
    if (strides_[i] != expect) return false;
    expect *= shape_[i];
  }
  return true;
}

std::string Tensor::str() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype_)) + shape_str(shape_) + " " + device().str();
}

void* Tensor::data_ptr() {
  PLEAS_CHECK(defined(), "tensor: data of an undefined tensor");
  return static_cast<char*>(storage_->ptr) + offset_ * int64_t(dtype_size(dtype_));
}
const void* Tensor::data_ptr() const { return const_cast<Tensor*>(this)->data_ptr(); }

void Tensor::check_dtype(DType want) const {
  PLEAS_CHECK(defined(), "tensor: access to an undefined tensor");
  PLEAS_CHECK(dtype_ == want, "tensor: element type is ", dtype_name(dtype_), ", accessed as ",
              dtype_name(want));
}

// ---- views ----
Tensor Tensor::as_strided(const Shape& shape, const Shape& strides, int64_t offset) const {
  check_shape(shape);
  PLEAS_CHECK(shape.size() == strides.size(), "as_strided: shape ", shape_str(shape), " and strides ",
              shape_str(strides), " differ in rank");
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_ = strides;
  t.offset_ = offset;
  // Bounds: the view must stay inside the storage.
  int64_t lo = offset, hi = offset;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) { hi = lo - 1; break; }
    int64_t ext = (shape[i] - 1) * strides[i];
    if (ext < 0) lo += ext; else hi += ext;
  }
  if (hi >= lo) {
    int64_t cap = int64_t(storage_->bytes / dtype_size(dtype_));
    PLEAS_CHECK(lo >= 0 && hi < cap, "as_strided: view ", shape_str(shape), " strides ",
                shape_str(strides), " offset ", offset, " exceeds storage of ", cap, " elements");
  }
  return t;
}

Tensor Tensor::slice(int d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d);
  int64_t n = shape_[d];
  PLEAS_CHECK(step > 0, "slice: step must be positive, got ", step);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  Tensor t = *this;
  t.offset_ += start * strides_[d];
  t.shape_[d] = (end - start + step - 1) / step;
  t.strides_[d] *= step;
  return t;
}

Tensor Tensor::narrow(int d, int64_t start, int64_t length) const {
  d = wrap_dim(d);
  PLEAS_CHECK(start >= 0 && length >= 0 && start + length <= shape_[d], "narrow: [", start, ", ",
              start + length, ") out of range for dim ", d, " of shape ", shape_str(shape_));
  return slice(d, start, start + length);
}

Tensor Tensor::select(int d, int64_t index) const {
  d = wrap_dim(d);
  if (index < 0) index += shape_[d];
  PLEAS_CHECK(index >= 0 && index < shape_[d], "select: index ", index, " out of range for dim ", d,
              " of shape ", shape_str(shape_));
  Tensor t = *this;
  t.offset_ += index * strides_[d];
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::permute(const std::vector<int>& dims) const {
  PLEAS_CHECK(int(dims.size()) == dim(), "permute: ", dims.size(), " dims given for shape ",
              shape_str(shape_));
  std::vector<bool> seen(dims.size(), false);
  Tensor t = *this;
  for (size_t i = 0; i < dims.size(); ++i) {
    int d = wrap_dim(dims[i]);
    PLEAS_CHECK(!seen[d], "permute: dim ", d, " repeated");
    seen[d] = true;
    t.shape_[i] = shape_[d];
    t.strides_[i] = strides_[d];
  }
  return t;
}

Tensor Tensor::transpose(int a, int b) const {
  std::vector<int> p(dim());
  for (int i = 0; i < dim(); ++i) p[i] = i;
  std::swap(p[wrap_dim(a)], p[wrap_dim(b)]);
  return permute(p);
}

Tensor Tensor::reshape(const Shape& shape) const {
  Shape s = shape;
  int infer = -1;
  int64_t known = 1;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) {
      PLEAS_CHECK(infer < 0, "reshape: more than one -1 in ", shape_str(shape));
      infer = int(i);
    } else {
      known *= s[i];
    }
  }
  if (infer >= 0) {
    PLEAS_CHECK(known > 0 && numel() % known == 0, "reshape: cannot reshape ", shape_str(shape_),
                " to ", shape_str(shape));
    s[infer] = numel() / known;
  }
  PLEAS_CHECK(shape_numel(s) == numel(), "reshape: cannot reshape ", shape_str(shape_), " (",
              numel(), " elements) to ", shape_str(shape));
  PLEAS_CHECK(is_contiguous(), "reshape: tensor ", str(),
              " is not contiguous; call contiguous() first (reshape never copies)");
  Tensor t = *this;
  t.shape_ = s;
  t.strides_ = contiguous_strides(s);
  return t;
}

Tensor Tensor::unsqueeze(int d) const {
  int n = dim();
  int w = d < 0 ? d + n + 1 : d;
  PLEAS_CHECK(w >= 0 && w <= n, "unsqueeze: dim ", d, " out of range for shape ", shape_str(shape_));
  Tensor t = *this;
  int64_t st = w < n ? strides_[w] * shape_[w] : 1;
  t.shape_.insert(t.shape_.begin() + w, 1);
  t.strides_.insert(t.strides_.begin() + w, st);
  return t;
}

Tensor Tensor::squeeze(int d) const {
  d = wrap_dim(d);
  PLEAS_CHECK(shape_[d] == 1, "squeeze: dim ", d, " of shape ", shape_str(shape_), " is not 1");
  Tensor t = *this;
  t.shape_.erase(t.shape_.begin() + d);
  t.strides_.erase(t.strides_.begin() + d);
  return t;
}

Tensor Tensor::expand(const Shape& shape) const {
  PLEAS_CHECK(shape.size() >= shape_.size(), "expand: cannot expand ", shape_str(shape_), " to ",
              shape_str(shape));
  size_t lead = shape.size() - shape_.size();
  Tensor t = *this;
  t.shape_ = shape;
  t.strides_.assign(shape.size(), 0);
  for (size_t i = 0; i < shape_.size(); ++i) {
    int64_t have = shape_[i], want = shape[lead + i];
    PLEAS_CHECK(have == want || have == 1, "expand: cannot expand ", shape_str(shape_), " to ",
                shape_str(shape));
    t.strides_[lead + i] = (have == want) ? strides_[i] : 0;
  }
  return t;
}

// ---- copies ----
Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor t = empty(shape_, dtype_, device());
  t.copy_(*this);
  return t;
}

Tensor Tensor::to(Device d) const {
  if (device() == d) return *this;
  Tensor t = empty(shape_, dtype_, d);
  t.copy_(*this);
  return t;
}

Tensor Tensor::to(DType dt) const {
  if (dtype_ == dt) return *this;
  Tensor t = empty(shape_, dt, device());
  t.copy_(*this);
  return t;
}

Tensor& Tensor::copy_(const Tensor& src) {
  PLEAS_CHECK(defined() && src.defined(), "copy_: undefined tensor");
  PLEAS_CHECK(shape_ == src.shape_, "copy_: shape mismatch, destination ", str(), ", source ", src.str());
  if (numel() == 0) return *this;
  Device dd = device(), sd = src.device();
  if (dd == sd) {
    if (dd.is_cpu()) cpu::copy_strided(*this, src);
    else cuda::copy_strided(*this, src);
    return *this;
  }
  // Across devices: bring the source to a contiguous buffer of the destination's dtype on its own
  // device, transfer the bytes, then scatter into the destination's strides if needed.
  Tensor s = src.to(dtype_).contiguous();
  Tensor d = is_contiguous() ? *this : empty(shape_, dtype_, dd);
  if (dd.is_cpu() && sd.is_cuda()) cudab::memcpy_d2h(sd.index, d.data_ptr(), s.data_ptr(), nbytes());
  else if (dd.is_cuda() && sd.is_cpu()) cudab::memcpy_h2d(dd.index, d.data_ptr(), s.data_ptr(), nbytes());
  else cudab::memcpy_d2d(dd.index, d.data_ptr(), s.data_ptr(), nbytes());  // peer copy
  if (!d.shares_storage(*this)) copy_(d);
  return *this;
}

Tensor& Tensor::zero_() {
  if (numel() == 0) return *this;
  if (is_contiguous() && is_cuda()) cudab::memset_zero(device().index, data_ptr(), nbytes());
  else if (is_contiguous()) std::memset(data_ptr(), 0, nbytes());
  else fill_(0.0);
  return *this;
}

Tensor& Tensor::fill_(double value) {
  if (numel() == 0) return *this;
  if (is_cpu()) cpu::fill(*this, value);
  else cuda::fill(*this, value);
  return *this;
}

std::vector<double> Tensor::to_double_vector() const {
  return to(DType::f64).to_vector<double>();
}

double Tensor::item() const {
  PLEAS_CHECK(numel() == 1, "item: tensor ", str(), " has ", numel(), " elements, not 1");
  return to_double_vector()[0];
}

// ---- checks shared by ops ----
void check_defined(const char* op, const Tensor& t, const char* what) {
  PLEAS_CHECK(t.defined(), op, ": ", what, " is undefined");
}
void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  PLEAS_CHECK(a.device() == b.device(), op, ": tensors on different devices: ", a.str(), " and ", b.str());
}
void check_dtype(const char* op, const Tensor& t, DType want, const char* what) {
  PLEAS_CHECK(t.dtype() == want, op, ": ", what, " must be ", dtype_name(want), ", got ", t.str());
}
void check_dim(const char* op, const Tensor& t, int ndim, const char* what) {
  PLEAS_CHECK(t.dim() == ndim, op, ": ", what, " must have ", ndim, " dims, got shape ",
              shape_str(t.shape()));
}

}  // namespace pleas
