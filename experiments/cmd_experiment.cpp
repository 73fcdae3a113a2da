// `pleas experiment CONFIG`: one of the paper's tables or figures (experiments/experiment.h).
#include <cstdio>

#include "experiments/commands.h"
#include "experiments/experiment.h"

namespace pleas::cli {

Command add_experiment(CLI::App& app) {
  auto* sub = app.add_subcommand("experiment", "Run a table or figure of the paper from a JSON config (cached, resumable)");
  static std::string config, out, device = "cpu";
  static std::vector<std::string> sets;
  static int threads = 2;
  static int64_t limit = -1;
  static bool quiet = false, no_plot = false, list = false;
  sub->add_option("config", config, "experiment config (experiments/configs/*.json)")->required();
  sub->add_option("--out", out, "output folder: results.json, table.md, the plot, cache/ (default: experiments/results/<name>)");
  sub->add_option("--set", sets, "VAR=VALUE for ${VAR} in the config (data and model paths)");
  sub->add_option("--device", device, "cpu or cuda[:N]");
  sub->add_option("--threads", threads, "data loading threads")->check(CLI::PositiveNumber);
  sub->add_option("--limit", limit, "run at most N jobs that are not cached yet, then write the partial results");
  sub->add_flag("--list", list, "print the jobs and whether each is cached, run nothing");
  sub->add_flag("--no-plot", no_plot, "do not call tools/plot_results.py");
  sub->add_flag("--quiet", quiet, "no progress on stderr");
  return {sub, [] {
    std::map<std::string, std::string> vars;
    for (const std::string& s : sets) {
      const size_t eq = s.find('=');
      PLEAS_CHECK(eq != std::string::npos && eq > 0, "--set ", s, ": expected VAR=VALUE");
      vars[s.substr(0, eq)] = s.substr(eq + 1);
    }
    experiment::Config c = experiment::read_config(config, vars);
    experiment::RunOptions o;
    o.out = out.empty() ? "experiments/results/" + c.name : out;
    o.device = device;
    o.threads = threads;
    o.progress = !quiet;
    o.plot = !no_plot;
    o.limit = list ? 0 : limit;
    nlohmann::json r = experiment::run_experiment(c, o);
    if (list) {
      std::printf("%zu jobs, %zu cached\n", experiment::expand_jobs(c).size(), r["runs"].size());
      return 0;
    }
    std::printf("%s", experiment::table_markdown(c, r["summary"]).c_str());
    return 0;
  }};
}

}  // namespace pleas::cli
