// The experiment driver (experiments/experiment.h): config parsing and its errors, job expansion,
// the paper's averaging against a hand computation, the data plumbing (capped, concatenated and
// task subsets, the dead-leaves synthetic source), and an end-to-end run on the demo models with
// the cache: a rerun reads every job back, an interrupted run resumes, a corrupt entry is an error
// naming it.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>

#include "data/synthetic.h"
#include "experiments/experiment.h"
#include "experiments/experiment_data.h"
#include "layout_fixtures.h"

using namespace pleas;
using namespace pleas::experiment;
using nlohmann::json;
using test::expect_error_mentioning;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

std::string write_config(const TempDir& t, const std::string& name, const json& j) {
  const std::string p = t / name;
  std::ofstream(p) << j.dump(1);
  return p;
}

json base_config() {
  return json{{"name", "t"},
              {"models", {{{"name", "a"}, {"path", "a.st"}, {"train", "A:train"}, {"test", "A:test"}},
                          {{"name", "b"}, {"path", "b.st"}, {"train", "B:train"}, {"test", "B:test"}},
                          {{"name", "c"}, {"path", "c.st"}, {"train", "C:train"}, {"test", "C:test"}}}},
              {"methods", {{{"label", "Ensemble"}, {"method", "ensemble"}},
                           {{"label", "PLeaS"}, {"method", "pleas"}, {"budgets", {1.0, 1.5}}}}}};
}

// A labelled in-memory dataset: labels as given, optional class names; images 2 x 2 of value i.
class Labelled : public data::Dataset {
 public:
  Labelled(std::vector<int64_t> labels, int64_t classes, std::vector<std::string> names = {}, std::string tag = "x")
      : labels_(std::move(labels)), classes_(classes), names_(std::move(names)), tag_(std::move(tag)) {}
  size_t size() const override { return labels_.size(); }
  int64_t label(size_t i) const override { return labels_[i]; }
  data::Image load(size_t i) const override {
    data::Image im(2, 2, 3);
    for (auto& p : im.pixels) p = uint8_t(i);
    return im;
  }
  std::string source(size_t i) const override { return tag_ + std::to_string(i); }
  int64_t num_classes() const override { return classes_; }
  const std::vector<std::string>& class_names() const override { return names_; }

 private:
  std::vector<int64_t> labels_;
  int64_t classes_;
  std::vector<std::string> names_;
  std::string tag_;
};

std::vector<std::string> sources(const data::Dataset& d) {
  std::vector<std::string> s;
  for (size_t i = 0; i < d.size(); ++i) s.push_back(d.source(i));
  return s;
}

}  // namespace

TEST(ExperimentConfig, ParsesVariablesPairsAndDefaults) {
  TempDir t;
  json j = base_config();
  j["vars"] = {{"ROOT", "/from/config"}, {"OTHER", "/config/other"}};
  j["models"][0]["path"] = "${ROOT}/a.st";
  j["models"][1]["path"] = "${OTHER}/b.st";
  j["models"][2]["path"] = "${PLEAS_TEST_ENV_VAR}/c.st";
  ::setenv("PLEAS_TEST_ENV_VAR", "/from/env", 1);
  const Config c = read_config(write_config(t, "c.json", j), {{"ROOT", "/from/cli"}});
  EXPECT_EQ(c.parents[0].path, "/from/cli/a.st");      // the command line first
  EXPECT_EQ(c.parents[1].path, "/config/other/b.st");  // then the config's vars
  EXPECT_EQ(c.parents[2].path, "/from/env/c.st");      // then the environment
  ASSERT_EQ(c.pairs.size(), 3u);                       // "all" of three models: ab, ac, bc
  EXPECT_EQ(c.pairs[0], std::make_pair(0, 1));
  EXPECT_EQ(c.pairs[1], std::make_pair(0, 2));
  EXPECT_EQ(c.pairs[2], std::make_pair(1, 2));
  EXPECT_EQ(c.protocol, "shared_label");
  EXPECT_EQ(c.title, "t");
  EXPECT_EQ(c.per_class, 50);
  EXPECT_EQ(c.probe, "logistic");
  EXPECT_EQ(c.methods[1].bn, "recompute");
  EXPECT_EQ(c.methods[1].data, "domain");
  EXPECT_EQ(c.methods[1].budgets, (std::vector<double>{1.0, 1.5}));

  j["pairs"] = json::array({json::array({"c", "a"})});
  const Config d = read_config(write_config(t, "d.json", j), {});
  ASSERT_EQ(d.pairs.size(), 1u);
  EXPECT_EQ(d.pairs[0], std::make_pair(2, 0));
}

TEST(ExperimentConfig, ErrorsNameTheFileAndTheProblem) {
  TempDir t;
  expect_error_mentioning([&] { read_config(t / "none.json", {}); }, {"none.json", "cannot open"});
  {
    std::ofstream(t / "bad.json") << "{\"name\": ";
    expect_error_mentioning([&] { read_config(t / "bad.json", {}); }, {"bad.json", "not valid JSON"});
  }
  auto fails = [&](json j, std::vector<std::string> words) {
    const std::string p = write_config(t, "e.json", j);
    words.push_back(p);
    expect_error_mentioning([&] { read_config(p, {}); }, words);
  };
  json j = base_config();
  j["models"][0]["path"] = "${PLEAS_SURELY_UNSET_VAR}/a";
  fails(j, {"${PLEAS_SURELY_UNSET_VAR}", "not set", "--set"});
  j = base_config();
  j["protocol"] = "vibes";
  fails(j, {"protocol 'vibes'"});
  j = base_config();
  j["models"] = {j["models"][0]};
  fails(j, {"at least two models"});
  j = base_config();
  j["pairs"] = json::array({json::array({"a", "zz"})});
  fails(j, {"model 'zz'", "not in \"models\""});
  j = base_config();
  j["pairs"] = "some";
  fails(j, {"\"pairs\" must be"});
  j = base_config();
  j["methods"][1]["data"] = "dreams";
  fails(j, {"method PLeaS", "data 'dreams'"});
  j = base_config();
  j["methods"][1]["budgets"] = {0.5};
  fails(j, {"method PLeaS", "budget 0.5 is below 1"});
  j = base_config();
  j["methods"][1]["data"] = "public";
  fails(j, {"method PLeaS", "no \"public_data\""});
  j = base_config();
  j["methods"][1]["bn"] = "ignore";
  fails(j, {"bn 'ignore'"});
  j = base_config();
  j["methods"] = json::array();
  fails(j, {"no methods"});
  j = base_config();
  j.erase("name");
  fails(j, {"name"});
  j = base_config();
  j["models"][1].erase("train");
  fails(j, {"model b has no \"train\" data"});
  j = base_config();
  j["test_per_class"] = -1;
  fails(j, {"test_per_class must be >= 0"});
}

TEST(ExperimentConfig, JobsArePairsTimesMethodsTimesBudgets) {
  TempDir t;
  const Config c = read_config(write_config(t, "c.json", base_config()), {});
  const std::vector<Job> jobs = expand_jobs(c);
  // Ensemble: one job per pair; PLeaS: one per pair and budget.
  ASSERT_EQ(jobs.size(), 3u + 3u * 2u);
  std::set<std::tuple<int, int, double>> seen;
  for (const Job& j : jobs) seen.insert({j.pair, j.method, j.budget});
  EXPECT_EQ(seen.size(), jobs.size());
  for (int p = 0; p < 3; ++p) {
    EXPECT_TRUE(seen.count({p, 0, -1.0}));
    EXPECT_TRUE(seen.count({p, 1, 1.0}));
    EXPECT_TRUE(seen.count({p, 1, 1.5}));
  }
}

TEST(ExperimentReport, SummaryIsThePapersAveraging) {
  TempDir t;
  const Config c = read_config(write_config(t, "c.json", base_config()), {});
  // Three pairs of PLeaS @1.0; accuracies by hand.
  auto run = [](std::string x, double ax, std::string y, double ay, double params) {
    return json{{"pair", {x, y}}, {"label", "PLeaS"}, {"budget", 1.0}, {"params_rel", params},
                {"flops_rel", params + 0.01}, {"accuracy", {{x, ax}, {y, ay}}}, {"seconds", 1.0}};
  };
  json runs = json::array({run("a", 40, "b", 60, 1.0), run("a", 50, "c", 20, 1.02), run("b", 70, "c", 30, 0.98)});
  runs.push_back(json{{"pair", {"a", "b"}}, {"label", "Ensemble"}, {"budget", nullptr}, {"params_rel", 2.0},
                      {"flops_rel", 2.0}, {"accuracy", {{"a", 80.0}, {"b", 90.0}}}, {"seconds", 2.0}});
  const json s = summarize(c, runs);
  const json* pleas = nullptr;
  const json* ens = nullptr;
  for (const json& r : s) {
    if (r["label"] == "PLeaS") pleas = &r;
    if (r["label"] == "Ensemble") ens = &r;
  }
  ASSERT_TRUE(pleas && ens);
  // a: pairs ab, ac → (40 + 50) / 2; b: ab, bc → (60 + 70) / 2; c: ac, bc → (20 + 30) / 2.
  EXPECT_DOUBLE_EQ((*pleas)["per_column"]["a"].get<double>(), 45.0);
  EXPECT_DOUBLE_EQ((*pleas)["per_column"]["b"].get<double>(), 65.0);
  EXPECT_DOUBLE_EQ((*pleas)["per_column"]["c"].get<double>(), 25.0);
  EXPECT_DOUBLE_EQ((*pleas)["average"].get<double>(), (45.0 + 65.0 + 25.0) / 3);
  EXPECT_NEAR((*pleas)["params_rel"].get<double>(), 1.0, 1e-12);
  EXPECT_NEAR((*pleas)["flops_rel"].get<double>(), 1.01, 1e-12);
  EXPECT_EQ((*pleas)["pairs"].get<int>(), 3);
  EXPECT_DOUBLE_EQ((*pleas)["budget"].get<double>(), 1.0);
  EXPECT_TRUE((*ens)["budget"].is_null());
  EXPECT_DOUBLE_EQ((*ens)["average"].get<double>(), 85.0);
  const std::string md = table_markdown(c, s);
  EXPECT_NE(md.find("| PLeaS | 1.01x | 1.00x | 45.00 | 65.00 | 25.00 | 45.00 |"), std::string::npos) << md;
}

TEST(ExperimentData, CappedConcatAndTaskSubsets) {
  auto ds = std::make_shared<Labelled>(std::vector<int64_t>{2, 0, 1, 0, 2, 0, 1, 2}, 3,
                                       std::vector<std::string>{"cat", "dog", "owl"}, "p");
  // Per class in label order, the first k of that class in dataset order; class 1 has only 2.
  auto capped = capped_per_class(ds, 3);
  EXPECT_EQ(sources(*capped), (std::vector<std::string>{"p1", "p3", "p5", "p2", "p6", "p0", "p4", "p7"}));
  auto capped2 = capped_per_class(ds, 1);
  EXPECT_EQ(sources(*capped2), (std::vector<std::string>{"p1", "p2", "p0"}));
  auto other = std::make_shared<Labelled>(std::vector<int64_t>{1, 1}, 3, std::vector<std::string>{}, "q");
  auto both = concat({capped2, other});
  ASSERT_EQ(both->size(), 5u);
  EXPECT_EQ(sources(*both), (std::vector<std::string>{"p1", "p2", "p0", "q0", "q1"}));
  EXPECT_EQ(both->label(3), 1);
  EXPECT_EQ(both->label(2), 2);
  EXPECT_EQ(both->class_names(), (std::vector<std::string>{"cat", "dog", "owl"}));
  EXPECT_EQ(both->load(4).pixels[0], 1);  // the second part's image 1
  // The task's classes by name, at most 2 each, in dataset order.
  auto task = task_subset(ds, {"owl", "cat"}, 2);
  EXPECT_EQ(sources(*task), (std::vector<std::string>{"p0", "p1", "p3", "p4"}));
  auto all = task_subset(ds, {"owl", "cat"}, 0);
  EXPECT_EQ(all->size(), 6u);
  auto unnamed = task_subset(other, {"owl"}, 0);  // no class names: every image
  EXPECT_EQ(unnamed->size(), 2u);
}

TEST(ExperimentData, DeadLeavesIsSeededAndLooksLikeLeaves) {
  data::DeadLeavesDataset a(4, 32, 10, 7), b(4, 32, 10, 7), c(4, 32, 10, 8);
  EXPECT_EQ(a.size(), 4u);
  EXPECT_EQ(a.label(3), 3);
  for (size_t i = 0; i < 4; ++i) {
    const data::Image x = a.load(i);
    ASSERT_EQ(x.width, 32);
    ASSERT_EQ(x.height, 32);
    EXPECT_EQ(x.pixels, b.load(i).pixels) << "same seed, same image " << i;
    EXPECT_NE(x.pixels, c.load(i).pixels) << "another seed, another image " << i;
    if (i > 0) {
      EXPECT_NE(x.pixels, a.load(i - 1).pixels);
    }
    // Opaque flat disks: most horizontal neighbours share their colour exactly, yet the image
    // holds many colours (disks of every scale), which uniform noise (no equal neighbours) and a
    // flat image (one colour) both fail.
    size_t equal = 0, pairs = 0;
    std::set<std::array<uint8_t, 3>> colours;
    for (int y = 0; y < 32; ++y)
      for (int xx = 0; xx < 32; ++xx) {
        const uint8_t* p = &x.pixels[size_t((y * 32 + xx) * 3)];
        colours.insert({p[0], p[1], p[2]});
        if (xx + 1 < 32) {
          ++pairs;
          equal += std::equal(p, p + 3, p + 3);
        }
      }
    EXPECT_GT(double(equal) / double(pairs), 0.4) << i;
    EXPECT_GT(colours.size(), 20u) << i;
  }
}

// ------------------------------------------------------------------ end to end on the demo models

namespace {

const std::string kFm = "/usr/share/datasets/fashion-mnist";

json demo_config() {
  const std::string demo = std::string(PLEAS_SOURCE_DIR) + "/models/demo";
  return json{{"name", "demo"},
              {"models", {{{"name", "a"}, {"path", demo + "/fmnist_a.safetensors"},
                           {"train", kFm + "/train-images-idx3-ubyte.gz"}, {"test", kFm + "/t10k-images-idx3-ubyte.gz"}},
                          {{"name", "b"}, {"path", demo + "/fmnist_b.safetensors"},
                           {"train", kFm + "/train-images-idx3-ubyte.gz"}, {"test", kFm + "/t10k-images-idx3-ubyte.gz"}}}},
              {"merge_data", {{"per_class", 3}}},
              {"test_per_class", 4},
              {"methods", {{{"label", "Ensemble"}, {"method", "ensemble"}},
                           {{"label", "PLeaS"}, {"method", "pleas"}, {"budgets", {1.0, 2.0}}}}}};
}

}  // namespace

TEST(ExperimentRun, RunsCachesResumesAndRejectsACorruptEntry) {
  if (!fs::exists(kFm + "/t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "no " << kFm;
  TempDir t;
  const Config c = read_config(write_config(t, "demo.json", demo_config()), {});
  RunOptions o;
  o.out = t / "out";
  o.progress = false;
  o.plot = false;
  o.threads = 2;
  o.limit = 1;  // an interrupted run: one job done
  json first = run_experiment(c, o);
  EXPECT_FALSE(first["complete"].get<bool>());
  ASSERT_EQ(first["runs"].size(), 1u);
  o.limit = -1;
  json full = run_experiment(c, o);
  EXPECT_TRUE(full["complete"].get<bool>());
  ASSERT_EQ(full["runs"].size(), 3u);
  EXPECT_TRUE(full["runs"][0]["cached"].get<bool>());  // resumed: the first job read back
  EXPECT_FALSE(full["runs"][1]["cached"].get<bool>());
  EXPECT_EQ(full["runs"][0]["accuracy"], first["runs"][0]["accuracy"]);
  // 40 test images per model (4 per class), so every accuracy is a multiple of 2.5 %.
  for (const json& r : full["runs"])
    for (auto& [k, v] : r["accuracy"].items()) {
      const double q = v.get<double>() / 2.5;
      EXPECT_NEAR(q, std::round(q), 1e-9) << k << " " << v;
    }
  // PLeaS at 2x keeps every unit of both: with BatchNorm recomputed it is not the ensemble
  // exactly, but its size is: 2.0 parameters and FLOPs.
  EXPECT_NEAR(full["runs"][2]["params_rel"].get<double>(), 2.0, 0.01);
  EXPECT_NEAR(full["runs"][1]["params_rel"].get<double>(), 1.0, 0.02);
  EXPECT_EQ(full["runs"][1]["merge_images"].get<int>(), 60);  // 3 per class from each member's data
  // The files on disk: results.json as returned, table.md with both methods.
  std::ifstream rf(o.out + "/results.json");
  const json on_disk = json::parse(rf);
  EXPECT_EQ(on_disk["summary"], full["summary"]);
  std::ifstream tf(o.out + "/table.md");
  const std::string md((std::istreambuf_iterator<char>(tf)), std::istreambuf_iterator<char>());
  EXPECT_NE(md.find("| Ensemble |"), std::string::npos) << md;
  EXPECT_NE(md.find("| PLeaS |"), std::string::npos) << md;

  // A rerun computes nothing.
  json again = run_experiment(c, o);
  for (const json& r : again["runs"]) EXPECT_TRUE(r["cached"].get<bool>());
  EXPECT_EQ(again["summary"], full["summary"]);

  // Another test cap is another key: nothing is reused.
  json j = demo_config();
  j["test_per_class"] = 2;
  o.limit = 0;
  json other = run_experiment(read_config(write_config(t, "demo2.json", j), {}), o);
  EXPECT_EQ(other["runs"].size(), 0u);

  // A corrupt cache entry is an error naming it.
  std::string entry;
  for (const auto& e : fs::directory_iterator(o.out + "/cache")) entry = e.path().string();
  ASSERT_FALSE(entry.empty());
  std::ofstream(entry, std::ios::trunc) << "{ half";
  o.limit = -1;
  expect_error_mentioning([&] { run_experiment(c, o); }, {"cache entry", entry, "corrupt", "delete it"});
}
