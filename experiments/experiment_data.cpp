#include "experiments/experiment_data.h"

#include <set>

#include "engine/error.h"
#include "experiments/evaluate.h"

namespace pleas::experiment {

std::shared_ptr<data::SubsetDataset> capped_per_class(std::shared_ptr<const data::Dataset> ds, size_t k) {
  PLEAS_CHECK(ds && ds->size() > 0, "merge data: empty dataset");
  std::vector<size_t> taken(size_t(ds->num_classes()), 0);
  std::vector<std::vector<size_t>> by_class(size_t(ds->num_classes()));
  for (size_t i = 0; i < ds->size(); ++i) {
    const int64_t l = ds->label(i);
    if (taken[size_t(l)] < k) { by_class[size_t(l)].push_back(i); ++taken[size_t(l)]; }
  }
  std::vector<size_t> idx;
  for (const auto& v : by_class) idx.insert(idx.end(), v.begin(), v.end());
  PLEAS_CHECK(!idx.empty(), "merge data: no image selected (", ds->source(0), " ...)");
  return std::make_shared<data::SubsetDataset>(ds, idx);
}

namespace {
class ConcatDataset : public data::Dataset {
 public:
  explicit ConcatDataset(std::vector<std::shared_ptr<const data::Dataset>> parts) : parts_(std::move(parts)) {
    for (auto& p : parts_) {
      start_.push_back(n_);
      n_ += p->size();
      classes_ = std::max(classes_, p->num_classes());
      if (names_.empty()) names_ = p->class_names();
    }
  }
  size_t size() const override { return n_; }
  int64_t label(size_t i) const override { auto [p, j] = at(i); return parts_[p]->label(j); }
  data::Image load(size_t i) const override { auto [p, j] = at(i); return parts_[p]->load(j); }
  std::string source(size_t i) const override { auto [p, j] = at(i); return parts_[p]->source(j); }
  int64_t num_classes() const override { return classes_; }
  const std::vector<std::string>& class_names() const override { return names_; }

 private:
  std::pair<size_t, size_t> at(size_t i) const {
    PLEAS_CHECK(i < n_, "concat dataset: index ", i, " out of range (", n_, ")");
    size_t p = parts_.size() - 1;
    while (start_[p] > i) --p;
    return {p, i - start_[p]};
  }
  std::vector<std::shared_ptr<const data::Dataset>> parts_;
  std::vector<size_t> start_;
  std::vector<std::string> names_;
  size_t n_ = 0;
  int64_t classes_ = 0;
};
}  // namespace

std::shared_ptr<const data::Dataset> concat(std::vector<std::shared_ptr<const data::Dataset>> parts) {
  PLEAS_CHECK(!parts.empty(), "concat: no datasets");
  if (parts.size() == 1) return parts[0];
  return std::make_shared<ConcatDataset>(std::move(parts));
}

std::shared_ptr<data::SubsetDataset> task_subset(std::shared_ptr<const data::Dataset> ds,
                                                 const std::vector<std::string>& classes, size_t per_class) {
  const auto& names = ds->class_names();
  std::vector<bool> keep(size_t(ds->num_classes()), classes.empty() || names.empty());
  if (!classes.empty() && !names.empty()) {
    std::set<std::string> want(classes.begin(), classes.end());
    for (size_t l = 0; l < names.size(); ++l) keep[l] = want.count(names[l]) > 0;
  }
  std::vector<size_t> taken(keep.size(), 0), idx;
  for (size_t i = 0; i < ds->size(); ++i) {
    const size_t l = size_t(ds->label(i));
    if (!keep[l] || (per_class > 0 && taken[l] >= per_class)) continue;
    ++taken[l];
    idx.push_back(i);
  }
  PLEAS_CHECK(!idx.empty(), "task data ", ds->size() ? ds->source(0) : std::string("(empty)"),
              ": none of the task's classes (", classes.empty() ? "" : classes[0], ", ...) is in it");
  return std::make_shared<data::SubsetDataset>(ds, idx);
}

int image_size(Model& m) {
  return m.metadata.count("image_size") ? std::stoi(m.metadata.at("image_size")) : m.image_size();
}

data::Transform foreign_transform(Model& m) {
  data::Transform t = model_transform(m);
  if (t.resize <= 0) {
    t.resize = image_size(m);
    if (t.crop_h <= 0) t.crop_h = t.crop_w = t.resize;  // non-square images: the centre square
  }
  return t;
}

}  // namespace pleas::experiment
