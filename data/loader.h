// A multithreaded batch loader. Worker threads take the samples of the epoch in order, decode and
// transform each into the buffer of its batch (up to `prefetch` batches ahead of the consumer);
// next() hands the batches out strictly in order, so the result does not depend on the number of
// threads or on timing.
//   CPU device:  the workers write straight into the batch tensor (no copy).
//   CUDA device: the workers write into page-locked host buffers; next() uploads them with
//                cudab::memcpy_h2d_async on the device's stream and synchronises before the
//                buffer is handed back to the workers.
// An exception in a worker reaches the consumer from next() for the batch it belongs to, its
// message naming the sample's file; after it the loader is finished. With skip_corrupt, images
// that cannot be read or decoded (ImageDecodeError) are left out of their batch and counted.
#pragma once
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "engine/tensor.h"

namespace pleas::data {

struct Batch {
  Tensor images;                 // f32 [N, C, H, W] on the loader's device
  Tensor labels;                 // i64 [N] on the loader's device
  int64_t first = 0;             // position of the batch's first sample in the epoch's order
  std::vector<int64_t> indices;  // dataset index of each sample in the batch
};

struct LoaderOptions {
  int64_t batch_size = 128;
  int num_threads = 2;
  Device device = Device::cpu();
  int prefetch = 2;           // batches decoded ahead of the consumer (>= 1)
  bool drop_last = false;     // leave out a last, smaller batch
  bool shuffle = false;       // epoch e visits seeded_permutation(size, seed + e)
  uint64_t seed = 0;
  bool skip_corrupt = false;  // leave out unreadable/corrupt images instead of failing
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<const Dataset> dataset, Transform transform, LoaderOptions options);
  DataLoader(std::shared_ptr<const Dataset> dataset, Transform transform, int64_t batch_size,
             int num_threads, Device device = Device::cpu(), int prefetch = 2, bool drop_last = false);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  // The next batch of the epoch; false at its end (and after an error was thrown).
  bool next(Batch& out);
  // Starts epoch `epoch` over (the constructor starts epoch 0).
  void start_epoch(int64_t epoch);

  int64_t num_batches() const { return num_batches_; }
  const Dataset& dataset() const { return *ds_; }
  const LoaderOptions& options() const { return opt_; }
  // Images left out with skip_corrupt so far in this epoch, in batch order.
  int64_t skipped() const { return int64_t(skipped_files_.size()); }
  const std::vector<std::string>& skipped_files() const { return skipped_files_; }

 private:
  struct Slot;
  void worker();
  void stop_workers();
  void assign(Slot& s, int64_t batch);
  float* sample_buffer(Slot& s, const Shape& sample_shape, int64_t j, size_t ds_index);

  std::shared_ptr<const Dataset> ds_;
  Transform transform_;
  LoaderOptions opt_;
  std::vector<size_t> order_;      // dataset index at each position of the epoch
  int64_t total_ = 0;              // positions loaded in the epoch (drop_last applied)
  int64_t num_batches_ = 0;
  int64_t next_batch_ = 0;         // consumer's next batch
  bool finished_ = false;
  std::vector<std::string> skipped_files_;

  std::vector<std::unique_ptr<Slot>> slots_;  // batch b lives in slot b % prefetch
  std::vector<std::thread> threads_;
  std::atomic<int64_t> next_pos_{0};  // next position a worker takes
  std::mutex mu_;
  std::condition_variable cv_work_, cv_ready_;
  bool stop_ = false;
};

}  // namespace pleas::data
