// Running an experiment's jobs: merge data, one merge per job, the protocol's scores, the cache.
#include <chrono>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>

#include "data/synthetic.h"
#include "engine/atomic_file.h"
#include "engine/error.h"
#include "experiments/evaluate.h"
#include "experiments/experiment.h"
#include "experiments/experiment_data.h"
#include "experiments/linear_probe.h"
#include "models/model_io.h"
#include "pleas/merge_pipeline.h"

namespace pleas::experiment {

namespace {

using nlohmann::json;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// Bumped when a change of the engine changes results, so that old cache entries are not reused.
constexpr const char* kCacheVersion = "1";

// FNV-1a (64 bit) of a file's bytes: identifies a parent in the cache key.
std::string file_hash(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  PLEAS_CHECK(f.good(), "experiment: cannot read model ", path);
  uint64_t h = 1469598103934665603ull;
  std::vector<char> buf(1 << 16);
  while (f) {
    f.read(buf.data(), std::streamsize(buf.size()));
    for (std::streamsize i = 0; i < f.gcount(); ++i) h = (h ^ uint8_t(buf[size_t(i)])) * 1099511628211ull;
  }
  char s[17];
  std::snprintf(s, sizeof s, "%016llx", (unsigned long long)h);
  return s;
}

std::string text_hash(const std::string& text) {
  uint64_t h = 1469598103934665603ull;
  for (char c : text) h = (h ^ uint8_t(c)) * 1099511628211ull;
  char s[17];
  std::snprintf(s, sizeof s, "%016llx", (unsigned long long)h);
  return s;
}

void write_json(const std::string& path, const json& j) {
  write_text_atomic(path, j.dump(2) + "\n", "experiment");
}

struct Runner {
  const Config& c;
  const RunOptions& o;
  Device dev;
  std::map<std::string, std::string> hashes;
  std::map<std::string, std::shared_ptr<const data::Dataset>> datasets;

  std::shared_ptr<const data::Dataset> open(const std::string& spec) {
    auto it = datasets.find(spec);
    if (it != datasets.end()) return it->second;
    return datasets[spec] = open_dataset(spec);
  }
  std::shared_ptr<const data::Dataset> open_test(const std::string& spec) {
    if (c.test_per_class <= 0) return open(spec);
    return capped_per_class(open(spec), size_t(c.test_per_class));
  }
  const std::string& hash(const std::string& path) {
    auto it = hashes.find(path);
    if (it != hashes.end()) return it->second;
    return hashes[path] = file_hash(path);
  }

  // Everything that determines a job's result, as JSON: its hash is the cache key.
  json job_key(const Job& j) {
    const Parent &a = c.parents[size_t(c.pairs[size_t(j.pair)].first)], &b = c.parents[size_t(c.pairs[size_t(j.pair)].second)];
    const Method& m = c.methods[size_t(j.method)];
    json k = {{"version", kCacheVersion}, {"protocol", c.protocol}, {"seed", c.seed},
              {"a", {{"hash", hash(a.path)}, {"train", a.train}, {"test", a.test}}},
              {"b", {{"hash", hash(b.path)}, {"train", b.train}, {"test", b.test}}},
              {"method", m.method}, {"match", m.match}, {"partial", m.partial}, {"objective", m.objective},
              {"data", m.data}, {"bn_data", m.bn_data}, {"budget", j.budget}};
    if (m.bn != "recompute") k["bn"] = m.bn;  // (absent for the default: older cache entries stay valid)
    if (m.data == "domain" || m.bn_data == "domain") k["merge_data"] = {{"per_class", c.per_class}, {"spec", c.merge_spec}};
    if (m.data == "public" || m.bn_data == "public") k["public_data"] = {{"spec", c.public_spec}, {"per_class", c.public_per_class}};
    if (m.data == "synthetic") k["synthetic_images"] = c.synthetic_images;
    if (c.test_per_class > 0) k["test_per_class"] = c.test_per_class;
    if (c.protocol == "linear_probe") k["probe"] = {{"kind", c.probe}, {"train_per_class", c.probe_train_per_class}};
    return k;
  }

  // The members' own data: the first `per_class` images of each class of each member's train data
  // (or the config's one merge set).
  std::shared_ptr<const data::Dataset> domain_data(const Parent& a, const Parent& b) {
    if (!c.merge_spec.empty()) return capped_per_class(open(c.merge_spec), size_t(c.per_class));
    return concat({capped_per_class(open(a.train), size_t(c.per_class)), capped_per_class(open(b.train), size_t(c.per_class))});
  }

  json run_job(const Job& j) {
    const auto& pr = c.pairs[size_t(j.pair)];
    const Parent &pa = c.parents[size_t(pr.first)], &pb = c.parents[size_t(pr.second)];
    const Method& m = c.methods[size_t(j.method)];
    auto A = load_model(pa.path, dev), B = load_model(pb.path, dev);
    const data::Transform tf_domain = model_transform(*A), tf_foreign = foreign_transform(*A);
    MergeOptions mo;
    mo.method = m.method;
    mo.match = m.match;
    mo.partial = m.partial;
    mo.budget = j.budget;
    mo.seed = c.seed;
    mo.device = dev;
    mo.threads = o.threads;
    mo.progress = false;
    mo.lsq.objective = parse_objective(m.objective);
    std::shared_ptr<const data::Dataset> merge_ds;
    data::Transform tf = tf_domain;
    if (m.data == "domain") {
      merge_ds = domain_data(pa, pb);
    } else if (m.data == "public") {
      merge_ds = capped_per_class(open(c.public_spec), size_t(c.public_per_class));
      tf = tf_foreign;
    } else {
      merge_ds = std::make_shared<data::DeadLeavesDataset>(size_t(c.synthetic_images), image_size(*A), 10, c.seed);
      tf = tf_foreign;
    }
    mo.bn = m.bn;
    if (m.bn_data == "domain" && m.data != "domain") {
      mo.bn_data = domain_data(pa, pb);
      mo.bn_transform = std::make_shared<data::Transform>(tf_domain);
    } else if (m.bn_data == "public" && m.data != "public") {
      mo.bn_data = capped_per_class(open(c.public_spec), size_t(c.public_per_class));
      mo.bn_transform = std::make_shared<data::Transform>(tf_foreign);
    }
    const auto t0 = Clock::now();
    MergeOutcome r = merge_models(*A, *B, merge_ds, tf, mo);
    const double merge_s = std::chrono::duration<double>(Clock::now() - t0).count();
    json acc = json::object();
    EvalOptions eo;
    eo.device = dev;
    eo.threads = o.threads;
    eo.progress = false;
    Model& M = *r.model;
    const data::Transform tm = model_transform(M);
    for (int side = 0; side < 2; ++side) {
      const Parent& p = side == 0 ? pa : pb;
      if (c.protocol == "shared_label") {
        acc[p.name] = evaluate(M, open_test(p.test), tm, eo).top1;
      } else if (c.protocol == "task_heads") {
        PLEAS_CHECK(r.separate_heads, "experiment: protocol task_heads needs parents with different label spaces (",
                    pa.name, ", ", pb.name, " name the same classes)");
        EvalOptions h = eo;
        const int64_t na = r.outputs_a, total = M.num_classes();
        for (int64_t k = side == 0 ? 0 : na; k < (side == 0 ? na : total); ++k) h.outputs.push_back(k);
        acc[p.name] = evaluate(M, open_test(p.test), tm, h).top1;
      } else {
        Model& parent = side == 0 ? *A : *B;  // the task's classes: those its parent names
        auto train = task_subset(open(p.train), parent.classes, size_t(c.probe_train_per_class));
        auto test = task_subset(open(p.test), parent.classes, size_t(c.test_per_class));
        ProbeOptions po;
        po.kind = c.probe;
        po.seed = c.seed;
        po.device = dev;
        po.threads = o.threads;
        acc[p.name] = linear_probe(M, train, test, tm, po).test_top1;
      }
    }
    json out = {{"pair", {pa.name, pb.name}}, {"label", m.label}, {"method", m.method}, {"match", m.match},
                {"partial", m.partial}, {"objective", m.objective}, {"data", m.data}, {"bn_data", m.bn_data},
                {"bn", m.bn}, {"params_rel", r.params_rel}, {"flops_rel", r.flops_rel}, {"accuracy", acc},
                {"merge_images", merge_ds->size()}, {"merge_seconds", merge_s},
                {"seconds", std::chrono::duration<double>(Clock::now() - t0).count()}};
    out["budget"] = j.budget > 0 ? json(j.budget) : json(nullptr);
    return out;
  }
};

// Draws the PNGs with tools/plot_results.py (looked up from the working directory, then the source
// tree this binary was built from) under $PLEAS_PYTHON, else Debian's /usr/bin/python3 (the one
// with python3-matplotlib), else python3 from PATH. The figure points go to a temporary file
// renamed on success, so a failed plot leaves no partial figure_points.txt.
void plot_results(const RunOptions& o) {
  fs::path plot = fs::path("tools") / "plot_results.py";
  if (!fs::exists(plot)) plot = fs::path(PLEAS_SOURCE_DIR) / "tools" / "plot_results.py";
  if (!fs::exists(plot)) {
    std::fprintf(stderr, "experiment: tools/plot_results.py not found (nor under %s); no plot\n", PLEAS_SOURCE_DIR);
    return;
  }
  const char* env = std::getenv("PLEAS_PYTHON");
  const std::string py = env && *env ? env : fs::exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
  const fs::path points = fs::path(o.out) / "figure_points.txt", tmp = fs::path(o.out) / ".figure_points.txt.tmp";
  const std::string cmd = "'" + py + "' '" + plot.string() + "' '" + (fs::path(o.out) / "results.json").string() +
                          "' > '" + tmp.string() + "'";
  std::error_code ec;
  if (std::system(cmd.c_str()) != 0) {
    fs::remove(tmp, ec);
    std::fprintf(stderr, "experiment: the plot failed (%s)\n", cmd.c_str());
    return;
  }
  fs::rename(tmp, points, ec);
  if (ec) std::fprintf(stderr, "experiment: cannot write %s: %s\n", points.string().c_str(), ec.message().c_str());
}

}  // namespace

json run_experiment(const Config& c, const RunOptions& o) {
  PLEAS_CHECK(!o.out.empty(), "experiment: no output folder");
  fs::create_directories(fs::path(o.out) / "cache");
  Runner R{c, o, Device::parse(o.device), {}, {}};
  const std::vector<Job> jobs = expand_jobs(c);
  json runs = json::array();
  double spent = 0;
  int64_t computed = 0, todo = 0;
  std::vector<std::string> keys;
  for (const Job& j : jobs) {
    keys.push_back(text_hash(R.job_key(j).dump()));
    todo += !fs::exists(fs::path(o.out) / "cache" / (keys.back() + ".json"));
  }
  if (o.progress)
    std::fprintf(stderr, "experiment %s: %zu jobs (%lld cached, %lld to run)\n", c.name.c_str(), jobs.size(),
                 (long long)(int64_t(jobs.size()) - todo), (long long)todo);
  for (size_t i = 0; i < jobs.size(); ++i) {
    const Job& j = jobs[i];
    const fs::path cache = fs::path(o.out) / "cache" / (keys[i] + ".json");
    const Method& m = c.methods[size_t(j.method)];
    const auto& pr = c.pairs[size_t(j.pair)];
    const std::string what = c.parents[size_t(pr.first)].name + " + " + c.parents[size_t(pr.second)].name + ", " + m.label +
                             (j.budget > 0 ? " @" + std::to_string(j.budget).substr(0, 4) : "");
    json r;
    if (fs::exists(cache)) {
      std::ifstream f(cache);
      try {
        r = json::parse(f);
      } catch (const std::exception& e) {
        PLEAS_FAIL("experiment: cache entry ", cache.string(), " is corrupt (", e.what(), "); delete it to rerun");
      }
      r["cached"] = true;
    } else {
      if (o.limit >= 0 && computed >= o.limit) continue;
      if (o.progress) std::fprintf(stderr, "[%zu/%zu] %s ...\n", i + 1, jobs.size(), what.c_str());
      const auto t0 = Clock::now();
      r = R.run_job(j);
      r["key"] = keys[i];
      write_json(cache.string(), r);
      r["cached"] = false;
      spent += std::chrono::duration<double>(Clock::now() - t0).count();
      ++computed;
      if (o.progress) {
        std::string accs;
        for (auto& [k, v] : r["accuracy"].items()) accs += " " + k + " " + std::to_string(v.get<double>()).substr(0, 5);
        const double eta = spent / double(computed) * double(todo - computed);
        std::fprintf(stderr, "[%zu/%zu] %s: %.0f s, params %.3f,%s | ETA %.0f min\n", i + 1, jobs.size(), what.c_str(),
                     r["seconds"].get<double>(), r["params_rel"].get<double>(), accs.c_str(), eta / 60.0);
      }
    }
    runs.push_back(r);
  }
  json res = {{"experiment", c.name}, {"title", c.title}, {"protocol", c.protocol}, {"config", c.raw}};
  json cols = json::array();
  std::set<std::string> seen;
  for (const auto& p : c.pairs)
    for (int x : {p.first, p.second})
      if (seen.insert(c.parents[size_t(x)].name).second) cols.push_back(c.parents[size_t(x)].name);
  res["columns"] = cols;
  res["runs"] = runs;
  res["complete"] = runs.size() == jobs.size();
  res["summary"] = summarize(c, runs);
  write_json((fs::path(o.out) / "results.json").string(), res);
  write_text_atomic((fs::path(o.out) / "table.md").string(), table_markdown(c, res["summary"]), "experiment");
  if (o.plot) plot_results(o);
  return res;
}

}  // namespace pleas::experiment
