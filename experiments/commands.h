// Subcommands of the `pleas` CLI: each registers itself on the CLI11 app and runs when chosen.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

#include "pleas/budget_spec.h"

namespace pleas::cli {

// Each add_* adds a subcommand and returns it with the function to run when it was parsed.
using Runner = std::function<int()>;
using Command = std::pair<CLI::App*, Runner>;
Command add_devices(CLI::App& app);
Command add_conv_demo(CLI::App& app);
Command add_info(CLI::App& app);
Command add_eval(CLI::App& app);
Command add_merge(CLI::App& app);
Command add_table(CLI::App& app);
Command add_loo(CLI::App& app);
Command add_budget(CLI::App& app);
Command add_probe(CLI::App& app);
Command add_experiment(CLI::App& app);

// Budget helpers shared by `pleas budget` and `pleas merge --loo`.
struct BudgetChoice {
  SolveResult result;
  RoundedBudget rounded;
  double predicted = 0;
};
LooTable read_loo(const std::string& path);
BudgetChoice choose_k(const LooTable& t, double budget, Metric metric, int64_t multiple_of);

}  // namespace pleas::cli
