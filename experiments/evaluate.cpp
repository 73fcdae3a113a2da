#include "experiments/evaluate.h"

#include <chrono>
#include <cstdio>
#include <map>

#include "data/layouts.h"
#include "data/loader.h"
#include "engine/progress.h"

namespace pleas {

std::vector<int64_t> label_map(const std::vector<std::string>& model_classes, int64_t num_outputs,
                               const data::Dataset& ds) {
  const auto& names = ds.class_names();
  std::vector<int64_t> map(size_t(num_outputs), -1);
  if (model_classes.empty() || names.empty()) {
    // No names on one side (e.g. idx files carry only numeric labels): outputs are labels.
    PLEAS_CHECK(num_outputs == ds.num_classes(), "evaluate: the model has ", num_outputs,
                " outputs and no class names, but the dataset has ", ds.num_classes(),
                " classes; give the model class names (metadata 'classes')");
    for (int64_t i = 0; i < num_outputs; ++i) map[size_t(i)] = i;
    return map;
  }
  PLEAS_CHECK(int64_t(model_classes.size()) == num_outputs, "evaluate: the model names ",
              model_classes.size(), " classes but has ", num_outputs, " outputs");
  std::map<std::string, int64_t> by_name;
  for (size_t i = 0; i < names.size(); ++i) by_name[names[i]] = int64_t(i);
  int64_t found = 0;
  for (int64_t i = 0; i < num_outputs; ++i) {
    auto it = by_name.find(model_classes[size_t(i)]);
    if (it != by_name.end()) { map[size_t(i)] = it->second; ++found; }
  }
  PLEAS_CHECK(found > 0, "evaluate: none of the model's classes (", model_classes[0],
              ", ...) is a class of the dataset (", names.empty() ? "" : names[0], ", ...)");
  return map;
}

EvalResult evaluate(Model& m, std::shared_ptr<const data::Dataset> ds, const data::Transform& tf,
                    const EvalOptions& opt) {
  const int64_t outputs = m.num_classes();
  std::vector<int64_t> map = label_map(m.classes, outputs, *ds);
  std::vector<int64_t> cand = opt.outputs;
  if (cand.empty())
    for (int64_t j = 0; j < outputs; ++j) cand.push_back(j);
  for (int64_t j : cand) PLEAS_CHECK(j >= 0 && j < outputs, "evaluate: output ", j, " out of range");
  if (!opt.outputs.empty()) {  // only the classes of the selected outputs count
    std::vector<int64_t> keep(map.size(), -1);
    for (int64_t j : cand) keep[size_t(j)] = map[size_t(j)];
    map = keep;
  }
  // Images of the classes the model knows, the first `limit_per_class` of each.
  std::vector<bool> known(size_t(ds->num_classes()), false);
  for (int64_t l : map)
    if (l >= 0) known[size_t(l)] = true;
  std::vector<int64_t> taken(size_t(ds->num_classes()), 0);
  std::vector<size_t> idx;
  for (size_t i = 0; i < ds->size(); ++i) {
    int64_t l = ds->label(i);
    if (!known[size_t(l)]) continue;
    if (opt.limit_per_class > 0 && taken[size_t(l)] >= opt.limit_per_class) continue;
    ++taken[size_t(l)];
    idx.push_back(i);
  }
  PLEAS_CHECK(!idx.empty(), "evaluate: no image to evaluate");
  auto subset = std::make_shared<data::SubsetDataset>(ds, idx);
  data::LoaderOptions lo;
  lo.batch_size = opt.batch_size;
  lo.num_threads = opt.threads;
  lo.device = opt.device;
  data::DataLoader loader(subset, tf, lo);

  EvalResult r;
  auto t0 = std::chrono::steady_clock::now();
  data::Batch b;
  Progress bar(opt.progress);
  while (loader.next(b)) {
    Tensor logits = m.forward(b.images).to(Device::cpu()).contiguous();
    std::vector<int64_t> labels = b.labels.to(Device::cpu()).to_vector<int64_t>();
    const float* p = logits.data<float>();
    for (size_t i = 0; i < labels.size(); ++i) {
      const float* row = p + int64_t(i) * outputs;
      int64_t best = cand[0];
      for (int64_t j : cand)
        if (row[j] > row[best]) best = j;  // first index on ties, as torch.argmax
      r.correct += map[size_t(best)] == labels[i];
      ++r.images;
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    bar.update(r.images == int64_t(idx.size()), "  eval %lld/%zu images, top-1 %.2f%%, %.0f images/s",
               (long long)r.images, idx.size(), 100.0 * r.correct / r.images, r.images / s);
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.top1 = r.images ? 100.0 * double(r.correct) / double(r.images) : 0.0;
  r.images_per_s = r.seconds > 0 ? r.images / r.seconds : 0.0;
  return r;
}

std::shared_ptr<const data::Dataset> open_dataset(const std::string& spec, const std::string& default_split) {
  return data::open_dataset_spec(spec, default_split);
}

static std::array<float, 3> parse3(const std::string& s, const char* what) {
  auto v = split_csv(s);
  PLEAS_CHECK(v.size() == 3, "model metadata ", what, " must hold 3 comma-separated numbers, got '", s, "'");
  return {std::stof(v[0]), std::stof(v[1]), std::stof(v[2])};
}

data::Transform model_transform(Model& m) {
  data::Transform t = m.image_size() >= 160 ? data::Transform::imagenet() : data::Transform::cifar();
  auto get = [&](const char* k) -> const std::string* {
    auto it = m.metadata.find(k);
    return it == m.metadata.end() ? nullptr : &it->second;
  };
  if (auto s = get("input_resize")) t.resize = std::stoi(*s);
  if (auto s = get("input_crop")) t.crop_h = t.crop_w = std::stoi(*s);
  if (auto s = get("input_mean")) t.mean = parse3(*s, "input_mean");
  if (auto s = get("input_std")) t.std = parse3(*s, "input_std");
  return t;
}

}  // namespace pleas
