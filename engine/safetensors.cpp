// safetensors reader and writer (format: https://github.com/huggingface/safetensors).
//
//   [u64 little-endian N][N bytes of UTF-8 JSON header][data buffer]
//   header = {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}, ...,
//             "__metadata__": {"key": "value", ...}}          (metadata optional)
//   offsets are byte offsets into the data buffer, which starts at 8 + N.
//
// The reader validates the header completely before allocating anything and throws pleas::Error
// naming the file and the reason. Tensor bytes are read (pread) straight into the new tensors.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>
#include <nlohmann/json.hpp>

#include "engine/atomic_file.h"
#include "engine/weights.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data are little-endian; this reader copies bytes as they are");

namespace pleas {
namespace {

using json = nlohmann::json;
constexpr uint64_t kMaxHeaderBytes = 100'000'000;  // the reference implementation's limit
constexpr const char* kMetadataKey = "__metadata__";

// Errors: "load_safetensors: 'path': reason".
#define ST_CHECK(cond, ...) PLEAS_CHECK(cond, "load_safetensors: '", path, "': ", __VA_ARGS__)
#define ST_FAIL(...) PLEAS_FAIL("load_safetensors: '", path, "': ", __VA_ARGS__)

const char* st_dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::f64: return "F64";
    case DType::f16: return "F16";
    case DType::bf16: return "BF16";
    case DType::i32: return "I32";
    case DType::i64: return "I64";
    case DType::u8: return "U8";
  }
  return "?";
}

bool st_dtype_parse(const std::string& s, DType* out) {
  for (DType t : {DType::f32, DType::f64, DType::f16, DType::bf16, DType::i32, DType::i64, DType::u8})
    if (s == st_dtype_name(t)) { *out = t; return true; }
  return false;
}

struct InFile {
  int fd = -1;
  ~InFile() { if (fd >= 0) ::close(fd); }
};

// Reads exactly n bytes at offset off; false on error or end of file.
bool pread_all(int fd, void* dst, size_t n, uint64_t off) {
  char* p = static_cast<char*>(dst);
  while (n > 0) {
    ssize_t r = ::pread(fd, p, n, off_t(off));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return false;
    p += r; n -= size_t(r); off += uint64_t(r);
  }
  return true;
}

// Parses the header, flagging the first key repeated within one JSON object (nlohmann keeps the
// last value silently, so duplicates are caught with the parser callback: a stack of the keys seen
// in each open object).
json parse_header(const std::string& text, const std::string& path) {
  std::vector<std::set<std::string>> open;
  std::string duplicate;
  auto cb = [&](int, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::object_start) open.emplace_back();
    else if (ev == json::parse_event_t::object_end && !open.empty()) open.pop_back();
    else if (ev == json::parse_event_t::key && !open.empty() && duplicate.empty() &&
             !open.back().insert(parsed.get<std::string>()).second)
      duplicate = parsed.get<std::string>();
    return true;
  };
  json h;
  try {
    h = json::parse(text, cb);
  } catch (const json::exception& e) {
    ST_FAIL("header is not valid JSON: ", e.what());
  }
  ST_CHECK(duplicate.empty(), "duplicate key '", duplicate, "' in the header");
  ST_CHECK(h.is_object(), "header is not a JSON object but a JSON ", h.type_name());
  return h;
}

// A non-negative JSON integer (nlohmann stores those as unsigned).
bool json_u64(const json& v, uint64_t* out) {
  if (!v.is_number_unsigned()) return false;
  *out = v.get<uint64_t>();
  return true;
}

struct Entry {
  std::string name;
  DType dtype;
  Shape shape;
  uint64_t begin, end;
};

Entry parse_entry(const std::string& name, const json& e, uint64_t buffer_bytes,
                  const std::string& path) {
  ST_CHECK(e.is_object(), "entry for tensor '", name, "' is not a JSON object");
  for (const char* k : {"dtype", "shape", "data_offsets"})
    ST_CHECK(e.contains(k), "tensor '", name, "' has no \"", k, "\"");
  Entry out;
  out.name = name;
  const json& dt = e["dtype"];
  ST_CHECK(dt.is_string(), "tensor '", name, "': dtype is not a string but ", dt.dump());
  ST_CHECK(st_dtype_parse(dt.get<std::string>(), &out.dtype), "tensor '", name,
           "': unsupported dtype '", dt.get<std::string>(), "' (supported: F32 F64 F16 BF16 I32 I64 U8)");

  const json& sh = e["shape"];
  ST_CHECK(sh.is_array(), "tensor '", name, "': shape is not an array but ", sh.dump());
  ST_CHECK(sh.size() <= 8, "tensor '", name, "': shape ", sh.dump(), " has more than 8 dims");
  // numel and byte size, with overflow checks: numel·size must fit the (int64) tensor runtime.
  int64_t numel = 1;
  for (const json& d : sh) {
    uint64_t v;
    ST_CHECK(json_u64(d, &v) && v <= uint64_t(INT64_MAX), "tensor '", name, "': shape ", sh.dump(),
             " has an entry that is not a non-negative integer");
    out.shape.push_back(int64_t(v));
  }
  for (int64_t d : out.shape)
    ST_CHECK(!__builtin_mul_overflow(numel, d, &numel), "tensor '", name, "': shape ", sh.dump(),
             " has too many elements");
  int64_t nbytes;
  ST_CHECK(!__builtin_mul_overflow(numel, int64_t(dtype_size(out.dtype)), &nbytes), "tensor '",
           name, "': shape ", sh.dump(), " has too many bytes");

  const json& off = e["data_offsets"];
  ST_CHECK(off.is_array() && off.size() == 2 && json_u64(off[0], &out.begin) &&
               json_u64(off[1], &out.end),
           "tensor '", name, "': data_offsets ", off.dump(), " is not [begin, end] of non-negative integers");
  ST_CHECK(out.begin <= out.end, "tensor '", name, "': data_offsets begin ", out.begin,
           " > end ", out.end);
  ST_CHECK(out.end <= buffer_bytes, "tensor '", name, "': data_offsets end ", out.end,
           " is beyond the data buffer of ", buffer_bytes, " bytes (truncated file?)");
  ST_CHECK(out.end - out.begin == uint64_t(nbytes), "tensor '", name, "': data_offsets [",
           out.begin, ", ", out.end, ") hold ", out.end - out.begin, " bytes but ",
           st_dtype_name(out.dtype), sh.dump(), " needs ", nbytes);
  return out;
}

}  // namespace

WeightFile load_safetensors(const std::string& path) {
  InFile f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ST_CHECK(f.fd >= 0, "cannot open: ", std::strerror(errno));
  struct stat st;
  ST_CHECK(::fstat(f.fd, &st) == 0, "cannot stat: ", std::strerror(errno));
  ST_CHECK(S_ISREG(st.st_mode), "not a regular file");
  const uint64_t size = uint64_t(st.st_size);
  ST_CHECK(size >= 8, "file is ", size, " bytes, shorter than the 8-byte header length");

  unsigned char len_bytes[8];
  ST_CHECK(pread_all(f.fd, len_bytes, 8, 0), "cannot read the header length");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | len_bytes[i];  // little-endian u64
  ST_CHECK(n <= kMaxHeaderBytes, "header length ", n, " exceeds the 100 MB limit");
  ST_CHECK(n <= size - 8, "header length ", n, " is beyond the end of the ", size, "-byte file");
  std::string text(size_t(n), '\0');
  ST_CHECK(pread_all(f.fd, text.data(), size_t(n), 8), "cannot read the ", n, "-byte header");
  json h = parse_header(text, path);

  const uint64_t data_start = 8 + n, buffer_bytes = size - data_start;
  WeightFile wf;
  std::vector<Entry> entries;
  for (auto it = h.begin(); it != h.end(); ++it) {
    if (it.key() == kMetadataKey) {
      ST_CHECK(it->is_object(), "__metadata__ is not a JSON object but ", it->type_name());
      for (auto m = it->begin(); m != it->end(); ++m) {
        ST_CHECK(m->is_string(), "metadata value for '", m.key(), "' is not a string but ", m->dump());
        wf.metadata[m.key()] = m->get<std::string>();
      }
      continue;
    }
    entries.push_back(parse_entry(it.key(), *it, buffer_bytes, path));
  }

  // The byte ranges must tile [0, buffer_bytes) exactly, as the reference reader requires: sorted by
  // (begin, end), each starts where the previous one ended.
  std::vector<const Entry*> order;
  for (const Entry& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  uint64_t pos = 0;
  const Entry* prev = nullptr;
  for (const Entry* e : order) {
    ST_CHECK(e->begin >= pos, "tensors '", prev ? prev->name : "", "' and '", e->name,
             "' overlap: [", prev ? prev->begin : 0, ", ", pos, ") and [", e->begin, ", ", e->end, ")");
    ST_CHECK(e->begin == pos, "gap of ", e->begin - pos, " bytes before tensor '", e->name,
             "' at offset ", pos, " of the data buffer");
    pos = e->end;
    prev = e;
  }
  ST_CHECK(pos == buffer_bytes, buffer_bytes - pos, " bytes after the last tensor at offset ", pos,
           " of the ", buffer_bytes, "-byte data buffer");

  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype);
    if (t.nbytes() > 0)
      ST_CHECK(pread_all(f.fd, t.data_ptr(), t.nbytes(), data_start + e.begin),
               "cannot read the data of tensor '", e.name, "': ", std::strerror(errno));
    wf.tensors.emplace(e.name, std::move(t));
  }
  return wf;
}

void save_safetensors(const std::string& path, const WeightFile& wf) {
  // Validate before creating anything.
  std::vector<std::pair<const std::string*, const Tensor*>> order;
  for (const auto& [name, t] : wf.tensors) {
    PLEAS_CHECK(name != kMetadataKey, "save_safetensors: '", path, "': '", kMetadataKey,
                "' is reserved and cannot name a tensor");
    PLEAS_CHECK(t.defined(), "save_safetensors: '", path, "': tensor '", name, "' is undefined");
    order.emplace_back(&name, &t);
  }
  // Layout like the reference writer: larger elements first, then by name, no padding between
  // tensors, so every tensor starts at a multiple of its element size (the buffer starts at a
  // multiple of 8).
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second->element_size() > b.second->element_size();
  });

  std::string header;
  try {
    json h = json::object();
    uint64_t pos = 0;
    for (const auto& [name, t] : order) {
      uint64_t nbytes = t->nbytes();
      h[*name] = {{"dtype", st_dtype_name(t->dtype())},
                  {"shape", t->shape()},
                  {"data_offsets", {pos, pos + nbytes}}};
      pos += nbytes;
    }
    if (!wf.metadata.empty()) h[kMetadataKey] = wf.metadata;
    header = h.dump();  // keys in sorted order (nlohmann::json objects are std::maps)
  } catch (const json::exception& e) {  // e.g. a name that is not valid UTF-8
    PLEAS_FAIL("save_safetensors: '", path, "': cannot encode the header: ", e.what());
  }
  header.append((8 - (8 + header.size()) % 8) % 8, ' ');  // data buffer starts 8-byte aligned

  AtomicFile out(path, "save_safetensors");
  unsigned char len_bytes[8];
  for (int i = 0; i < 8; ++i) len_bytes[i] = uint8_t(uint64_t(header.size()) >> (8 * i));
  out.write(len_bytes, 8);
  out.write(header.data(), header.size());
  for (const auto& [name, t] : order) {
    if (t->numel() == 0) continue;
    // One host-contiguous copy at a time, only when needed.
    Tensor h = (t->is_cpu() && t->is_contiguous()) ? *t : t->to(Device::cpu()).contiguous();
    out.write(h.data_ptr(), h.nbytes());
  }
  out.commit();
}

}  // namespace pleas
