// `pleas experiment CONFIG`: one of the paper's tables or figures from a JSON config.
//
// A config names the parent models (each with its task's train and test data), the pairs to
// merge, the merge data, the methods (each a label and merge options, optionally at several
// budgets) and the protocol that scores a merged model:
//   shared_label  the merged model on each member's test data (Table 1 left, Figure 3a; Table 2)
//   task_heads    each parent's own head of the merged model on its task (Table 7)
//   linear_probe  a linear probe on the merged model's penultimate features, trained on each
//                 task's train data and scored on its test data (Table 1 right, Figure 3b)
// Every job (pair × method × budget) is cached in OUT/cache/<hash>.json, the hash covering the
// parents' bytes and everything that determines the result, so that a rerun resumes. Outputs:
// OUT/results.json (every run and the paper's averages), OUT/table.md and the plots drawn by
// tools/plot_results.py. The schema: experiments/configs/README.md.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace pleas::experiment {

struct Parent {
  std::string name, path, train, test;  // data specs as open_dataset() takes them
};

struct Method {
  std::string label, method = "pleas", match = "weight", partial = "units", objective = "ensemble";
  std::string data = "domain";   // merge data: domain (the members' train data), public, synthetic
  std::string bn_data = "same";  // BatchNorm data: same (as the merge data), domain, public
  std::string bn = "recompute";  // BatchNorm statistics: recompute, keep, merged_units (MergeOptions::bn)
  std::vector<double> budgets;   // empty: the method's own size (ensemble, average, regmean)
};

struct Config {
  std::string name, title, protocol = "shared_label", dir;  // dir: the config's folder
  std::vector<Parent> parents;
  std::vector<std::pair<int, int>> pairs;
  int64_t per_class = 50;        // merge images per class from each member's train data (at most)
  std::string merge_spec;        // instead: one merge data set for every pair (e.g. CIFAR-10 train)
  std::string public_spec;       // public data (PLeaS-free), e.g. Tiny ImageNet's validation images
  int64_t public_per_class = 10;
  int64_t synthetic_images = 2000;
  int64_t test_per_class = 0;    // test images per class (the first in the list's order; 0 = all)
  int64_t probe_train_per_class = 0;  // linear probe: training images per class (0 = all)
  std::string probe = "logistic";  // linear probe: logistic (default) or ridge
  std::vector<Method> methods;
  uint64_t seed = 0;
  nlohmann::json raw;            // the config as read (after variable substitution)
};

// Reads CONFIG; ${VAR} in strings is replaced from `vars` (command line, first), then the
// config's own "vars", then the environment; an unset variable is an error naming it.
Config read_config(const std::string& path, const std::map<std::string, std::string>& vars);

struct Job {
  int pair = 0, method = 0;
  double budget = -1;
};
std::vector<Job> expand_jobs(const Config& c);

struct RunOptions {
  std::string out, device = "cpu";
  int threads = 2;
  bool progress = true, plot = true;
  int64_t limit = -1;  // run at most this many uncached jobs (testing); < 0: all
};

// Runs every job (cached ones are read back), writes results.json and table.md; returns the
// results JSON.
nlohmann::json run_experiment(const Config& c, const RunOptions& o);

// The paper's averaging (Table 1): per label and budget, each column's accuracy averaged over
// the pairs that contain it, and the mean of those; sizes averaged over the pairs.
nlohmann::json summarize(const Config& c, const nlohmann::json& runs);
std::string table_markdown(const Config& c, const nlohmann::json& summary);

}  // namespace pleas::experiment
