// Weight files: a dictionary of named tensors plus string metadata, read from and written to
// safetensors (engine/safetensors.cpp) and HDF5 (engine/hdf5_io.cpp).
//
// - `tensors` is a std::map, so iteration is in sorted name order whatever order the file had
//   (both formats carry no meaningful order: safetensors' JSON object is unordered and HDF5 groups
//   are indexed by name).
// - Loading returns contiguous CPU tensors with the file's dtype (f32, f64, f16, bf16, i32, i64,
//   u8). Saving accepts tensors on any device with any strides (each one is copied to a contiguous
//   host buffer, one at a time, if it is not already).
// - Every malformed file, unsupported dtype or I/O failure raises pleas::Error naming the file and
//   the reason; a malformed file never crashes the reader.
// - Writes are atomic: the data go to `<path>.tmp.XXXXXX` in the target's directory, are fsync'ed
//   and then renamed over `path`. On any failure the temporary file is removed, and a file that
//   already existed at `path` is left untouched.
//
// Format specifics:
// - safetensors: https://github.com/huggingface/safetensors format (8-byte little-endian header
//   length N, N bytes of JSON, then the data buffer). Header keys are written in sorted name order;
//   the data are laid out like the reference writer does (descending element size, then name), so
//   every tensor starts at a multiple of its element size with no gaps (the reference reader
//   rejects gaps). The reader enforces what the reference reader enforces (tensor ranges tile the
//   buffer exactly, header <= 100 MB) plus duplicate-key detection; unknown fields inside a tensor
//   entry are ignored, as the reference does.
// - HDF5: each tensor is a dataset whose path is the tensor name as-is relative to the root group:
//   dots are ordinary characters ("layer1.0.conv1.weight" is one dataset at the root), a '/'
//   creates intermediate groups ("enc/w" is dataset w in group enc), and the reader walks all groups
//   so the names come back exactly. Metadata are variable-length UTF-8 string attributes of the
//   root group (the reader also accepts fixed-length strings; any non-string root attribute is an
//   error). f16 and bf16 use custom 16-bit IEEE-style float types (sign 15, exponent 5 bits/bias 15
//   with a 10-bit mantissa for f16 — what h5py writes for numpy float16 — and exponent 8 bits/bias
//   127 with a 7-bit mantissa for bf16); the reader infers every dtype from the dataset's HDF5 type
//   alone, so files from h5py/Keras with these types load too. Saving builds the HDF5 file image
//   in memory (core driver) and writes it with the same atomic writer, so libhdf5 never meets an
//   I/O error (libhdf5 1.10 crashes at exit after a failed write); peak memory is about twice the
//   file size. libhdf5 is the serial (not thread-safe) build: load/save HDF5 from one thread at a
//   time. A truncated or garbage HDF5 file raises an error, but libhdf5 itself does not validate
//   all of its internal structures, so some corrupted metadata crashes it: load_hdf5 therefore parses
//   in a child process and a crash there is reported as an error (see load_hdf5 below).
#pragma once
#include <map>
#include <string>

#include "engine/tensor.h"

namespace pleas {

struct WeightFile {
  std::map<std::string, Tensor> tensors;            // sorted by name
  std::map<std::string, std::string> metadata;      // free-form string key/values
};

// Format from the extension (.safetensors, .h5, .hdf5; case-insensitive), else by sniffing the
// content (HDF5 signature, or a plausible safetensors header); throws otherwise.
WeightFile load_weights(const std::string& path);
// Format from the extension only (.safetensors, .h5, .hdf5); throws for any other name.
void save_weights(const std::string& path, const WeightFile& wf);

WeightFile load_safetensors(const std::string& path);
void save_safetensors(const std::string& path, const WeightFile& wf);
// Reads an HDF5 file in a forked child process (engine/hdf5_isolated.cpp): libhdf5 does not
// validate all of its metadata and crashes (SIGSEGV) on some corrupted files, so the child parses
// it and hands the tensors back as a safetensors file in $TMPDIR; a child that crashes or runs
// longer than $PLEAS_HDF5_TIMEOUT_S (default 300 s) becomes a pleas::Error naming the file.
WeightFile load_hdf5(const std::string& path);
// The same parse in this process (what the child runs): for trusted files only.
WeightFile load_hdf5_in_process(const std::string& path);
void save_hdf5(const std::string& path, const WeightFile& wf);

}  // namespace pleas
