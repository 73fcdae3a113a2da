// HDF5 reader and writer on the libhdf5 C API (layout documented in engine/weights.h):
//   tensor "a.b.c"  -> dataset "/a.b.c" (contiguous layout, no filters; 0-d tensors use a scalar
//                      dataspace, 0-size ones a simple dataspace with a zero extent)
//   tensor "enc/w"  -> dataset "w" in group "/enc" (groups created on demand)
//   metadata k = v  -> variable-length UTF-8 string attribute k on the root group
// HDF5's automatic error printing is switched off; every negative return becomes a pleas::Error
// naming the operation, the file, the object, and the innermost message of HDF5's error stack.
// The iteration callbacks only collect names (no C++ exception crosses the C library); the work
// happens outside them. Saving builds the file image in memory and writes it atomically itself.
#include <hdf5.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <set>
#include <vector>

#include "engine/atomic_file.h"
#include "engine/weights.h"

namespace pleas {
namespace {

// ---- errors ----
struct Ctx {
  const char* op;  // "load_hdf5" / "save_hdf5"
  const std::string& path;
};

// The API-level and the innermost description on HDF5's error stack ("" when empty).
herr_t walk_cb(unsigned n, const H5E_error2_t* e, void* data) {
  auto* v = static_cast<std::vector<std::string>*>(data);
  if (n == 0 || v->size() < 2) v->push_back(e->desc ? e->desc : "");
  else v->back() = e->desc ? e->desc : "";
  return 0;
}
std::string h5_detail() {
  std::vector<std::string> d;  // [api-level, innermost]
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_cb, &d);
  H5Eclear2(H5E_DEFAULT);
  if (d.empty()) return "";
  std::string s = " (HDF5: " + d[0];
  if (d.size() > 1 && d[1] != d[0]) s += ": " + d[1];
  return s + ")";
}

[[noreturn]] void fail(const Ctx& c, const std::string& what) {
  PLEAS_FAIL(c.op, ": '", c.path, "': ", what, h5_detail());
}
// Checks an HDF5 return value (hid_t, herr_t, htri_t, int): negative means failure.
template <typename T>
T ok(T r, const Ctx& c, const std::string& what) {
  if (r < 0) fail(c, what);
  return r;
}

// Owns an HDF5 identifier and closes it with the matching H5?close.
class Handle {
 public:
  Handle() = default;
  Handle(hid_t id, herr_t (*close)(hid_t)) : id_(id), close_(close) {}
  Handle(Handle&& o) noexcept : id_(o.id_), close_(o.close_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept { std::swap(id_, o.id_); std::swap(close_, o.close_); return *this; }
  ~Handle() { if (id_ >= 0) close_(id_); }
  hid_t get() const { return id_; }
  // Closes now and reports failure (the destructor ignores it).
  herr_t close() { herr_t r = id_ >= 0 ? close_(id_) : 0; id_ = H5I_INVALID_HID; return r; }
 private:
  hid_t id_ = H5I_INVALID_HID;
  herr_t (*close_)(hid_t) = nullptr;
};

// ---- element types ----
// 16-bit little-endian IEEE-style float: sign bit 15, `ebits` exponent bits, `mbits` mantissa bits.
// (This is how h5py defines IEEE_F16LE.)
Handle float16_type(size_t ebits, size_t mbits, size_t bias, const Ctx& c) {
  Handle t(ok(H5Tcopy(H5T_IEEE_F32LE), c, "H5Tcopy"), H5Tclose);
  ok(H5Tset_fields(t.get(), 15, mbits, ebits, 0, mbits), c, "H5Tset_fields");
  ok(H5Tset_size(t.get(), 2), c, "H5Tset_size");
  ok(H5Tset_ebias(t.get(), bias), c, "H5Tset_ebias");
  return t;
}

struct Types {
  Handle f16, bf16;
  explicit Types(const Ctx& c) : f16(float16_type(5, 10, 15, c)), bf16(float16_type(8, 7, 127, c)) {}
  // File type (little-endian, fixed) for writing.
  hid_t file(DType t) const {
    switch (t) {
      case DType::f32: return H5T_IEEE_F32LE;
      case DType::f64: return H5T_IEEE_F64LE;
      case DType::f16: return f16.get();
      case DType::bf16: return bf16.get();
      case DType::i32: return H5T_STD_I32LE;
      case DType::i64: return H5T_STD_I64LE;
      case DType::u8: return H5T_STD_U8LE;
    }
    return H5I_INVALID_HID;
  }
  // In-memory type (native order; HDF5 converts from whatever the file holds).
  hid_t memory(DType t) const {
    switch (t) {
      case DType::f32: return H5T_NATIVE_FLOAT;
      case DType::f64: return H5T_NATIVE_DOUBLE;
      case DType::f16: return f16.get();
      case DType::bf16: return bf16.get();
      case DType::i32: return H5T_NATIVE_INT32;
      case DType::i64: return H5T_NATIVE_INT64;
      case DType::u8: return H5T_NATIVE_UINT8;
    }
    return H5I_INVALID_HID;
  }
};

// The tensor dtype of a dataset's HDF5 type; fails for anything the engine has no dtype for.
DType infer_dtype(hid_t type, const Ctx& c, const std::string& name) {
  H5T_class_t cls = H5Tget_class(type);
  size_t size = H5Tget_size(type);
  if (cls == H5T_FLOAT) {
    if (size == 4) return DType::f32;
    if (size == 8) return DType::f64;
    size_t spos, epos, esize, mpos, msize;
    if (size == 2 && H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) >= 0) {
      if (esize == 5 && msize == 10) return DType::f16;
      if (esize == 8 && msize == 7) return DType::bf16;
    }
    fail(c, "dataset '" + name + "' has an unsupported " + std::to_string(8 * size) + "-bit float type");
  }
  if (cls == H5T_INTEGER) {
    bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
    if (size == 4 && is_signed) return DType::i32;
    if (size == 8 && is_signed) return DType::i64;
    if (size == 1 && !is_signed) return DType::u8;
    fail(c, "dataset '" + name + "' has an unsupported " + std::string(is_signed ? "signed" : "unsigned") +
                " " + std::to_string(8 * size) + "-bit integer type (supported: i32, i64, u8)");
  }
  fail(c, "dataset '" + name + "' has an unsupported HDF5 type class " + std::to_string(int(cls)) +
              " (supported: float 16/32/64, i32, i64, u8)");
}

// ---- reading ----
#if H5_VERSION_GE(1, 12, 0)
herr_t link_cb(hid_t, const char* name, const H5L_info2_t* info, void* data) {
#else
herr_t link_cb(hid_t, const char* name, const H5L_info_t* info, void* data) {
#endif
  // Hard links only: soft and external links are not followed.
  if (info->type == H5L_TYPE_HARD) static_cast<std::vector<std::string>*>(data)->push_back(name);
  return 0;
}

herr_t attr_cb(hid_t, const char* name, const H5A_info_t*, void* data) {
  static_cast<std::vector<std::string>*>(data)->push_back(name);
  return 0;
}

std::string read_string_attr(hid_t loc, const std::string& name, const Ctx& c) {
  const std::string what = "root attribute '" + name + "'";
  Handle a(ok(H5Aopen(loc, name.c_str(), H5P_DEFAULT), c, "cannot open " + what), H5Aclose);
  Handle type(ok(H5Aget_type(a.get()), c, "H5Aget_type of " + what), H5Tclose);
  Handle space(ok(H5Aget_space(a.get()), c, "H5Aget_space of " + what), H5Sclose);
  if (H5Tget_class(type.get()) != H5T_STRING)
    fail(c, what + " is not a string (metadata values must be strings)");
  if (ok(H5Sget_simple_extent_npoints(space.get()), c, "H5Sget_simple_extent_npoints") != 1)
    fail(c, what + " is not a single string");
  if (ok(H5Tis_variable_str(type.get()), c, "H5Tis_variable_str of " + what) > 0) {
    Handle mem(ok(H5Tcopy(H5T_C_S1), c, "H5Tcopy"), H5Tclose);
    ok(H5Tset_size(mem.get(), H5T_VARIABLE), c, "H5Tset_size");
    ok(H5Tset_cset(mem.get(), H5Tget_cset(type.get())), c, "H5Tset_cset");
    char* s = nullptr;
    ok(H5Aread(a.get(), mem.get(), &s), c, "cannot read " + what);
    std::string v = s ? s : "";
    H5free_memory(s);
    return v;
  }
  // Fixed-length: read the raw bytes; the value ends at the first NUL (null-terminated or
  // null-padded) or, for space-padded strings, before the trailing spaces.
  size_t size = H5Tget_size(type.get());
  std::vector<char> buf(size + 1, '\0');
  ok(H5Aread(a.get(), type.get(), buf.data()), c, "cannot read " + what);
  std::string v(buf.data());
  if (H5Tget_strpad(type.get()) == H5T_STR_SPACEPAD) v.erase(v.find_last_not_of(' ') + 1);
  return v;
}

Tensor read_dataset(hid_t file, const std::string& name, const Types& types, const Ctx& c) {
  const std::string what = "dataset '" + name + "'";
  Handle d(ok(H5Dopen2(file, name.c_str(), H5P_DEFAULT), c, "cannot open " + what), H5Dclose);
  Handle space(ok(H5Dget_space(d.get()), c, "H5Dget_space of " + what), H5Sclose);
  Handle type(ok(H5Dget_type(d.get()), c, "H5Dget_type of " + what), H5Tclose);
  DType dt = infer_dtype(type.get(), c, name);
  Shape shape;
  H5S_class_t sc = H5Sget_simple_extent_type(space.get());
  if (sc == H5S_SIMPLE) {
    int nd = ok(H5Sget_simple_extent_ndims(space.get()), c, "H5Sget_simple_extent_ndims of " + what);
    if (nd > 8) fail(c, what + " has " + std::to_string(nd) + " dims (at most 8)");
    std::vector<hsize_t> dims(static_cast<size_t>(nd));
    ok(H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr), c, "dims of " + what);
    for (hsize_t x : dims) {
      if (x > hsize_t(INT64_MAX)) fail(c, what + " has an extent too large");
      shape.push_back(int64_t(x));
    }
  } else if (sc != H5S_SCALAR) {
    fail(c, what + " has a null or unknown dataspace");
  }
  Tensor t = Tensor::empty(shape, dt);
  if (t.numel() > 0)
    ok(H5Dread(d.get(), types.memory(dt), H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data_ptr()), c,
       "cannot read " + what);
  return t;
}

// ---- writing ----
// A tensor name must be a relative HDF5 path whose components are neither empty nor "."/".."
// (those would alias other objects).
void check_name(const std::string& name, const Ctx& c) {
  size_t start = 0;
  while (true) {
    size_t end = name.find('/', start);
    std::string part = name.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string::npos)
      fail(c, "tensor name '" + name +
                  "' is not a valid HDF5 path (empty, '.' or '..' component, or a NUL byte)");
    if (end == std::string::npos) break;
    start = end + 1;
  }
}

void write_dataset(hid_t file, hid_t lcpl, const std::string& name, const Tensor& src,
                   const Types& types, const Ctx& c) {
  const std::string what = "dataset '" + name + "'";
  std::vector<hsize_t> dims(src.shape().begin(), src.shape().end());
  Handle space(ok(src.dim() == 0 ? H5Screate(H5S_SCALAR)
                                 : H5Screate_simple(src.dim(), dims.data(), nullptr),
                  c, "cannot create the dataspace of " + what),
               H5Sclose);
  Handle d(ok(H5Dcreate2(file, name.c_str(), types.file(src.dtype()), space.get(), lcpl,
                         H5P_DEFAULT, H5P_DEFAULT),
              c, "cannot create " + what),
           H5Dclose);
  if (src.numel() > 0) {
    // One host-contiguous copy at a time, only when needed.
    Tensor h = (src.is_cpu() && src.is_contiguous()) ? src : src.to(Device::cpu()).contiguous();
    ok(H5Dwrite(d.get(), types.memory(src.dtype()), H5S_ALL, H5S_ALL, H5P_DEFAULT, h.data_ptr()), c,
       "cannot write " + what);
  }
  ok(d.close(), c, "cannot close " + what);
}

void write_string_attr(hid_t loc, const std::string& key, const std::string& value, const Ctx& c) {
  const std::string what = "metadata attribute '" + key + "'";
  Handle type(ok(H5Tcopy(H5T_C_S1), c, "H5Tcopy"), H5Tclose);
  ok(H5Tset_size(type.get(), H5T_VARIABLE), c, "H5Tset_size");
  ok(H5Tset_cset(type.get(), H5T_CSET_UTF8), c, "H5Tset_cset");
  Handle space(ok(H5Screate(H5S_SCALAR), c, "H5Screate"), H5Sclose);
  Handle a(ok(H5Acreate2(loc, key.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), c,
              "cannot create " + what),
           H5Aclose);
  const char* s = value.c_str();
  ok(H5Awrite(a.get(), type.get(), &s), c, "cannot write " + what);
  ok(a.close(), c, "cannot close " + what);
}

Handle file_access(const Ctx& c) {
  Handle fapl(ok(H5Pcreate(H5P_FILE_ACCESS), c, "H5Pcreate"), H5Pclose);
  ok(H5Pset_fclose_degree(fapl.get(), H5F_CLOSE_STRONG), c, "H5Pset_fclose_degree");
  return fapl;
}

}  // namespace

WeightFile load_hdf5_in_process(const std::string& path) {
  Ctx c{"load_hdf5", path};
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  struct stat st;
  PLEAS_CHECK(::stat(path.c_str(), &st) == 0, "load_hdf5: '", path, "': cannot open: ",
              std::strerror(errno));
  PLEAS_CHECK(S_ISREG(st.st_mode), "load_hdf5: '", path, "': not a regular file");
  if (ok(H5Fis_hdf5(path.c_str()), c, "cannot read the file") == 0)
    fail(c, "not an HDF5 file (no HDF5 signature)");
  Handle fapl = file_access(c);
  Handle f(ok(H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.get()), c, "cannot open as HDF5"), H5Fclose);
  Handle root(ok(H5Gopen2(f.get(), "/", H5P_DEFAULT), c, "cannot open the root group"), H5Gclose);
  Types types(c);

  WeightFile wf;
  std::vector<std::string> attrs;
  ok(H5Aiterate2(root.get(), H5_INDEX_NAME, H5_ITER_INC, nullptr, attr_cb, &attrs), c,
     "cannot list the root attributes");
  for (const std::string& k : attrs) wf.metadata[k] = read_string_attr(root.get(), k, c);

  std::vector<std::string> links;
#if H5_VERSION_GE(1, 12, 0)
  ok(H5Lvisit2(root.get(), H5_INDEX_NAME, H5_ITER_INC, link_cb, &links), c, "cannot list the datasets");
#else
  ok(H5Lvisit(root.get(), H5_INDEX_NAME, H5_ITER_INC, link_cb, &links), c, "cannot list the datasets");
#endif
  for (const std::string& name : links) {
    Handle obj(ok(H5Oopen(root.get(), name.c_str(), H5P_DEFAULT), c, "cannot open object '" + name + "'"),
               H5Oclose);
    if (H5Iget_type(obj.get()) != H5I_DATASET) continue;  // groups (walked into) and named types
    wf.tensors.emplace(name, read_dataset(root.get(), name, types, c));
  }
  ok(root.close(), c, "cannot close the root group");
  ok(f.close(), c, "cannot close");
  return wf;
}

void save_hdf5(const std::string& path, const WeightFile& wf) {
  Ctx c{"save_hdf5", path};
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  // Validate before creating anything.
  for (const auto& [name, t] : wf.tensors) {
    check_name(name, c);
    if (!t.defined()) fail(c, "tensor '" + name + "' is undefined");
    // A name used as a group on the way to another tensor cannot also be a dataset.
    for (size_t p = name.find('/'); p != std::string::npos; p = name.find('/', p + 1))
      if (wf.tensors.count(name.substr(0, p)))
        fail(c, "tensor '" + name.substr(0, p) + "' is also a group in tensor name '" + name + "'");
  }
  for (const auto& [k, v] : wf.metadata)
    if (k.empty() || k.find('\0') != std::string::npos || v.find('\0') != std::string::npos)
      fail(c, "metadata key '" + k + "' is empty or contains a NUL byte (key or value)");

  AtomicFile out(path, "save_hdf5");  // fails early when the directory is missing
  // The file is built in memory (core driver, no backing store) and written by us: libhdf5 then
  // never sees an I/O error (after a failed write, libhdf5 1.10 cannot close the file cleanly
  // and crashes at exit). Peak memory is about twice the file size.
  size_t estimate = 1 << 20;
  for (const auto& [name, t] : wf.tensors) estimate += t.nbytes() + 2048 + name.size();
  for (const auto& [k, v] : wf.metadata) estimate += k.size() + v.size() + 256;
  std::vector<char> image;
  {
    Types types(c);
    Handle fapl = file_access(c);
    ok(H5Pset_fapl_core(fapl.get(), estimate, 0), c, "H5Pset_fapl_core");
    // (Named after the temporary file: a unique name that no other open HDF5 file has.)
    Handle f(ok(H5Fcreate(out.temp_path().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), c,
                "cannot create the in-memory file"),
             H5Fclose);
    Handle lcpl(ok(H5Pcreate(H5P_LINK_CREATE), c, "H5Pcreate"), H5Pclose);
    ok(H5Pset_create_intermediate_group(lcpl.get(), 1), c, "H5Pset_create_intermediate_group");
    ok(H5Pset_char_encoding(lcpl.get(), H5T_CSET_UTF8), c, "H5Pset_char_encoding");
    for (const auto& [name, t] : wf.tensors) write_dataset(f.get(), lcpl.get(), name, t, types, c);
    if (!wf.metadata.empty()) {
      Handle root(ok(H5Gopen2(f.get(), "/", H5P_DEFAULT), c, "cannot open the root group"), H5Gclose);
      for (const auto& [k, v] : wf.metadata) write_string_attr(root.get(), k, v, c);
      ok(root.close(), c, "cannot close the root group");
    }
    ok(H5Fflush(f.get(), H5F_SCOPE_GLOBAL), c, "cannot flush the in-memory file");
    ssize_t n = ok(H5Fget_file_image(f.get(), nullptr, 0), c, "cannot get the file image size");
    image.resize(size_t(n));
    ok(H5Fget_file_image(f.get(), image.data(), size_t(n)), c, "cannot get the file image");
    ok(f.close(), c, "cannot close the in-memory file");
  }
  out.write(image.data(), image.size());
  out.commit();
}

}  // namespace pleas
