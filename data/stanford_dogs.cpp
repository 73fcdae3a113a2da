// Stanford Dogs: see data/published.h for the format. Its split files are MATLAB (v5) files,
// read with libmatio: `file_list` a cell array of char arrays, `labels` a numeric column.
#include <matio.h>

#include <cmath>
#include <filesystem>
#include <memory>

#include "data/labelled_files.h"
#include "data/published.h"

namespace fs = std::filesystem;

namespace pleas::data {

namespace {

const char* const kWho = "Stanford Dogs";

struct MatCloser { void operator()(mat_t* m) const { Mat_Close(m); } };
struct VarFreer { void operator()(matvar_t* v) const { Mat_VarFree(v); } };
using MatFile = std::unique_ptr<mat_t, MatCloser>;
using MatVar = std::unique_ptr<matvar_t, VarFreer>;

size_t numel(const matvar_t* v) {
  size_t n = 1;
  for (int d = 0; d < v->rank; ++d) n *= v->dims[d];
  return n;
}

MatVar read_var(mat_t* m, const std::string& path, const char* name) {
  MatVar v(Mat_VarRead(m, name));
  PLEAS_CHECK(v != nullptr, kWho, ": ", path, ": no variable '", name, "'");
  return v;
}

void append_utf8(std::string& s, uint32_t c) {
  if (c < 0x80) {
    s += char(c);
  } else if (c < 0x800) {
    s += char(0xC0 | (c >> 6)), s += char(0x80 | (c & 0x3F));
  } else if (c < 0x10000) {
    s += char(0xE0 | (c >> 12)), s += char(0x80 | ((c >> 6) & 0x3F)), s += char(0x80 | (c & 0x3F));
  } else {
    s += char(0xF0 | (c >> 18)), s += char(0x80 | ((c >> 12) & 0x3F));
    s += char(0x80 | ((c >> 6) & 0x3F)), s += char(0x80 | (c & 0x3F));
  }
}

// A char array (one row) as UTF-8: MATLAB stores UTF-16 code units, matio may give 8-bit ones.
std::string char_array(const matvar_t* c, const std::string& path, size_t index) {
  PLEAS_CHECK(c != nullptr && c->class_type == MAT_C_CHAR && (c->data != nullptr || numel(c) == 0),
              kWho, ": ", path, ": file_list{", index + 1, "} is not a char array");
  const size_t n = numel(c);
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    switch (c->data_type) {
      case MAT_T_UTF8: case MAT_T_UINT8: case MAT_T_INT8: s += static_cast<const char*>(c->data)[i]; break;
      case MAT_T_UTF16: case MAT_T_UINT16: case MAT_T_INT16:
        append_utf8(s, static_cast<const uint16_t*>(c->data)[i]);
        break;
      case MAT_T_UTF32: case MAT_T_UINT32: case MAT_T_INT32:
        append_utf8(s, static_cast<const uint32_t*>(c->data)[i]);
        break;
      default: PLEAS_FAIL(kWho, ": ", path, ": file_list{", index + 1, "} has characters of matio type ", int(c->data_type));
    }
  }
  return s;
}

template <typename T>
double element(const matvar_t* v, size_t i) { return double(static_cast<const T*>(v->data)[i]); }

// Element i of a real numeric array, as a double.
double number(const matvar_t* v, size_t i, const std::string& path) {
  switch (v->class_type) {
    case MAT_C_DOUBLE: return element<double>(v, i);
    case MAT_C_SINGLE: return element<float>(v, i);
    case MAT_C_INT8: return element<int8_t>(v, i);
    case MAT_C_UINT8: return element<uint8_t>(v, i);
    case MAT_C_INT16: return element<int16_t>(v, i);
    case MAT_C_UINT16: return element<uint16_t>(v, i);
    case MAT_C_INT32: return element<int32_t>(v, i);
    case MAT_C_UINT32: return element<uint32_t>(v, i);
    case MAT_C_INT64: return element<int64_t>(v, i);
    case MAT_C_UINT64: return element<uint64_t>(v, i);
    default: PLEAS_FAIL(kWho, ": ", path, ": 'labels' is not a numeric array (matio class ", int(v->class_type), ")");
  }
}

struct DogsList {
  std::vector<std::string> files;  // relative to Images/
  std::vector<int64_t> labels;     // 0-based
};

DogsList read_dogs_list(const std::string& path) {
  std::error_code ec;
  PLEAS_CHECK(fs::is_regular_file(path, ec), kWho, ": cannot open ", path, " (missing)");
  MatFile m(Mat_Open(path.c_str(), MAT_ACC_RDONLY));
  PLEAS_CHECK(m != nullptr, kWho, ": cannot open ", path, " (not a MATLAB file)");
  MatVar files = read_var(m.get(), path, "file_list");
  MatVar labels = read_var(m.get(), path, "labels");
  PLEAS_CHECK(files->class_type == MAT_C_CELL, kWho, ": ", path, ": 'file_list' is not a cell array");
  PLEAS_CHECK(!labels->isComplex && labels->data != nullptr, kWho, ": ", path, ": 'labels' is empty or complex");
  const size_t n = numel(files.get());
  PLEAS_CHECK(n == numel(labels.get()), kWho, ": ", path, ": 'file_list' has ", n, " entries but 'labels' ",
              numel(labels.get()));
  PLEAS_CHECK(n > 0, kWho, ": ", path, ": 'file_list' is empty");
  DogsList d;
  for (size_t i = 0; i < n; ++i) {
    d.files.push_back(char_array(Mat_VarGetCell(files.get(), int(i)), path, i));
    PLEAS_CHECK(!d.files.back().empty(), kWho, ": ", path, ": file_list{", i + 1, "} is empty");
    const double l = number(labels.get(), i, path);
    PLEAS_CHECK(l >= 1 && l == std::floor(l) && l < 1e9, kWho, ": ", path, ": labels(", i + 1, ") = ", l,
                " is not a class number 1, 2, ...");
    d.labels.push_back(int64_t(l) - 1);
  }
  return d;
}

}  // namespace

std::shared_ptr<const Dataset> open_stanford_dogs(const std::string& root, const std::string& split) {
  require_split(kWho, root, split, {"train", "test"});
  const fs::path r(root);
  const fs::path mine = r / (split + "_list.mat"), other = r / (split == "train" ? "test_list.mat" : "train_list.mat");
  const DogsList d = read_dogs_list(mine.string());
  // Class names and count over both lists when the other one is there.
  std::vector<std::string> files = d.files;
  std::vector<int64_t> labels = d.labels;
  std::error_code ec;
  if (fs::is_regular_file(other, ec)) {
    const DogsList o = read_dogs_list(other.string());
    files.insert(files.end(), o.files.begin(), o.files.end());
    labels.insert(labels.end(), o.labels.begin(), o.labels.end());
  }
  int64_t nc = 0;
  for (int64_t l : labels) nc = std::max(nc, l + 1);
  std::vector<std::string> names = folder_class_names(files, labels, nc);

  std::vector<std::string> paths;
  for (size_t i = 0; i < d.files.size(); ++i) {
    paths.push_back((r / "Images" / d.files[i]).string());
    require_image(paths.back(), kWho, mine.string() + " (file_list{" + std::to_string(i + 1) + "})");
  }
  std::vector<int64_t> my_labels = d.labels;
  return std::make_shared<LabelledFilesDataset>(std::move(paths), std::move(my_labels), std::move(names), nc);
}

}  // namespace pleas::data
