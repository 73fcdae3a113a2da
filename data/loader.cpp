#include "data/loader.h"

#include <algorithm>
#include <cstring>
#include <limits>

#include "engine/cuda_backend.h"

namespace pleas::data {

// One batch in flight. Position j of the batch is written by exactly one worker; the fields
// below the mutex line are shared and guarded by DataLoader::mu_.
struct DataLoader::Slot {
  int64_t batch = -1;  // batch held now (-1: none)
  int64_t n = 0;       // samples in it
  std::vector<int64_t> labels;
  std::vector<uint8_t> ok;
  // --- guarded by mu_ ---
  int64_t done = 0;   // samples finished (decoded, skipped or failed)
  Shape sample_shape; // [C, H, W] of the batch, set by its first decoded sample
  Tensor cpu;         // CPU device: the batch tensor [n, C, H, W] being filled
  float* pinned = nullptr;  // CUDA device: page-locked staging buffer
  size_t pinned_floats = 0;
  int64_t* pinned_labels = nullptr;
  std::vector<std::string> skipped;  // (position, file) of images left out
  std::vector<int64_t> skipped_pos;
  std::exception_ptr error;
  int64_t error_pos = std::numeric_limits<int64_t>::max();

  ~Slot() {
    cudab::host_free_pinned(pinned);
    cudab::host_free_pinned(pinned_labels);
  }
};

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, Transform transform, LoaderOptions options)
    : ds_(std::move(dataset)), transform_(transform), opt_(options) {
  PLEAS_CHECK(ds_ != nullptr, "DataLoader: null dataset");
  PLEAS_CHECK(opt_.batch_size > 0, "DataLoader: batch_size must be positive, got ", opt_.batch_size);
  PLEAS_CHECK(opt_.num_threads > 0, "DataLoader: num_threads must be positive, got ", opt_.num_threads);
  PLEAS_CHECK(opt_.prefetch > 0, "DataLoader: prefetch must be positive, got ", opt_.prefetch);
  PLEAS_CHECK(!opt_.device.is_cuda() || cuda_available(), "DataLoader: device ", opt_.device.str(),
              " requested but ", built_with_cuda() ? "no CUDA device is present" : "built without CUDA");
  for (int i = 0; i < opt_.prefetch; ++i) slots_.push_back(std::make_unique<Slot>());
  start_epoch(0);
}

DataLoader::DataLoader(std::shared_ptr<const Dataset> dataset, Transform transform, int64_t batch_size,
                       int num_threads, Device device, int prefetch, bool drop_last)
    : DataLoader(std::move(dataset), transform, [&] {
        LoaderOptions o;
        o.batch_size = batch_size;
        o.num_threads = num_threads;
        o.device = device;
        o.prefetch = prefetch;
        o.drop_last = drop_last;
        return o;
      }()) {}

DataLoader::~DataLoader() { stop_workers(); }

void DataLoader::stop_workers() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

// Gives slot `s` to batch `batch` (or to none when past the end). Called with mu_ held or
// before the workers start.
void DataLoader::assign(Slot& s, int64_t batch) {
  s.batch = batch < num_batches_ ? batch : -1;
  s.n = s.batch < 0 ? 0 : std::min(opt_.batch_size, total_ - batch * opt_.batch_size);
  s.labels.assign(size_t(s.n), 0);
  s.ok.assign(size_t(s.n), 0);
  s.done = 0;
  s.sample_shape.clear();
  s.cpu = Tensor();
  s.skipped.clear();
  s.skipped_pos.clear();
  s.error = nullptr;
  s.error_pos = std::numeric_limits<int64_t>::max();
}

void DataLoader::start_epoch(int64_t epoch) {
  stop_workers();
  const size_t n = ds_->size();
  if (opt_.shuffle) {
    order_ = seeded_permutation(n, opt_.seed + uint64_t(epoch));
  } else {
    order_.resize(n);
    for (size_t i = 0; i < n; ++i) order_[i] = i;
  }
  const int64_t B = opt_.batch_size;
  total_ = opt_.drop_last ? int64_t(n) / B * B : int64_t(n);
  num_batches_ = (total_ + B - 1) / B;
  next_batch_ = 0;
  finished_ = false;
  skipped_files_.clear();
  for (int i = 0; i < opt_.prefetch; ++i) assign(*slots_[i], i);
  next_pos_ = 0;
  stop_ = false;
  for (int t = 0; t < opt_.num_threads; ++t) threads_.emplace_back([this] { worker(); });
}

// Where sample j of slot s goes, allocating the batch buffer when the first sample arrives.
float* DataLoader::sample_buffer(Slot& s, const Shape& shape, int64_t j, size_t ds_index) {
  std::lock_guard<std::mutex> lk(mu_);
  const int64_t per = shape_numel(shape);
  if (s.sample_shape.empty()) {
    s.sample_shape = shape;
    const size_t floats = size_t(s.n) * size_t(per);
    if (opt_.device.is_cpu()) {
      s.cpu = Tensor::empty({s.n, shape[0], shape[1], shape[2]});
    } else {
      if (s.pinned_floats < floats) {
        cudab::host_free_pinned(s.pinned);
        s.pinned = nullptr;
        s.pinned = static_cast<float*>(cudab::host_alloc_pinned(floats * sizeof(float)));
        s.pinned_floats = floats;
      }
      if (!s.pinned_labels)
        s.pinned_labels = static_cast<int64_t*>(cudab::host_alloc_pinned(size_t(opt_.batch_size) * sizeof(int64_t)));
    }
  }
  PLEAS_CHECK(shape == s.sample_shape, "DataLoader: sample ", ds_index, " (", ds_->source(ds_index),
              ") has shape ", shape_str(shape), " after transforms but its batch has ",
              shape_str(s.sample_shape), "; configure a Transform with resize and crop");
  float* base = opt_.device.is_cpu() ? s.cpu.data<float>() : s.pinned;
  return base + j * per;
}

void DataLoader::worker() {
  const int64_t B = opt_.batch_size;
  for (;;) {
    const int64_t p = next_pos_.fetch_add(1);
    if (p >= total_) return;
    const int64_t b = p / B, j = p % B;
    Slot& s = *slots_[size_t(b % opt_.prefetch)];
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_work_.wait(lk, [&] { return stop_ || s.batch == b; });
      if (stop_) return;
    }
    const size_t idx = order_[size_t(p)];
    std::exception_ptr err;
    bool skipped = false;
    try {
      Image img = transform_.geometry(ds_->load(idx));
      float* dst = sample_buffer(s, Shape{img.channels, img.height, img.width}, j, idx);
      transform_.normalize_into(img, dst);
      s.labels[size_t(j)] = ds_->label(idx);
      s.ok[size_t(j)] = 1;
    } catch (const ImageDecodeError&) {
      if (opt_.skip_corrupt) skipped = true;  // its message already names the file
      else err = std::current_exception();
    } catch (const std::exception& e) {
      // Name the sample unless the message already does.
      const std::string src = ds_->source(idx);
      err = std::string(e.what()).find(src) != std::string::npos
                ? std::current_exception()
                : std::make_exception_ptr(Error("DataLoader: sample " + std::to_string(idx) + " (" + src +
                                                "): " + e.what()));
    }
    std::lock_guard<std::mutex> lk(mu_);
    if (skipped) {
      s.skipped.push_back(ds_->source(idx));
      s.skipped_pos.push_back(j);
    }
    if (err && j < s.error_pos) {
      s.error = err;
      s.error_pos = j;
    }
    if (++s.done == s.n) cv_ready_.notify_all();
  }
}

bool DataLoader::next(Batch& out) {
  while (!finished_ && next_batch_ < num_batches_) {
    const int64_t b = next_batch_;
    Slot& s = *slots_[size_t(b % opt_.prefetch)];
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_ready_.wait(lk, [&] { return s.done == s.n; });
    }
    // The batch is complete: no worker touches this slot until it is assigned again.
    if (s.error) {
      finished_ = true;
      stop_workers();
      std::rethrow_exception(s.error);
    }
    // Skipped samples, in position order, for a deterministic report.
    std::vector<std::pair<int64_t, std::string>> sk;
    for (size_t i = 0; i < s.skipped.size(); ++i) sk.emplace_back(s.skipped_pos[i], s.skipped[i]);
    std::sort(sk.begin(), sk.end());
    for (auto& e : sk) skipped_files_.push_back(e.second);

    // Compact the delivered samples to the front of the buffer when some were skipped.
    const int64_t per = s.sample_shape.empty() ? 0 : shape_numel(s.sample_shape);
    float* base = s.sample_shape.empty() ? nullptr : (opt_.device.is_cpu() ? s.cpu.data<float>() : s.pinned);
    std::vector<int64_t> labels, indices;
    for (int64_t j = 0; j < s.n; ++j) {
      if (!s.ok[size_t(j)]) continue;
      const int64_t k = int64_t(labels.size());
      if (k != j) std::memmove(base + k * per, base + j * per, size_t(per) * sizeof(float));
      labels.push_back(s.labels[size_t(j)]);
      indices.push_back(int64_t(order_[size_t(b * opt_.batch_size + j)]));
    }
    const int64_t m = int64_t(labels.size());
    if (m > 0) {
      const Shape& cs = s.sample_shape;
      if (opt_.device.is_cpu()) {
        out.images = m == s.n ? s.cpu : s.cpu.narrow(0, 0, m);
        out.labels = Tensor::from_vector(labels, {m});
      } else {
        const int d = opt_.device.index;
        out.images = Tensor::empty({m, cs[0], cs[1], cs[2]}, DType::f32, opt_.device);
        out.labels = Tensor::empty({m}, DType::i64, opt_.device);
        std::memcpy(s.pinned_labels, labels.data(), size_t(m) * sizeof(int64_t));
        cudab::memcpy_h2d_async(d, out.images.data_ptr(), s.pinned, size_t(m * per) * sizeof(float));
        cudab::memcpy_h2d_async(d, out.labels.data_ptr(), s.pinned_labels, size_t(m) * sizeof(int64_t));
        cudab::synchronize(d);  // the staging buffers go back to the workers below
      }
      out.first = b * opt_.batch_size;
      out.indices = std::move(indices);
    }
    {
      std::lock_guard<std::mutex> lk(mu_);
      assign(s, b + opt_.prefetch);
    }
    cv_work_.notify_all();
    ++next_batch_;
    if (m > 0) return true;  // a batch whose images were all skipped is left out
  }
  return false;
}

}  // namespace pleas::data
