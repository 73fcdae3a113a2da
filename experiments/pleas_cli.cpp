// pleas: the engine's command line.
#include <iostream>
#include <vector>

#include "engine/error.h"
#include "experiments/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"pleas: merge models by Permutations and Least Squares"};
  app.require_subcommand(1);
  std::vector<pleas::cli::Command> cmds = {
      pleas::cli::add_devices(app),
      pleas::cli::add_conv_demo(app),
      pleas::cli::add_info(app),
      pleas::cli::add_eval(app),
      pleas::cli::add_merge(app),
      pleas::cli::add_table(app),
      pleas::cli::add_loo(app),
      pleas::cli::add_budget(app),
      pleas::cli::add_probe(app),
      pleas::cli::add_experiment(app),
  };
  CLI11_PARSE(app, argc, argv);
  try {
    for (auto& [sub, run] : cmds)
      if (sub->parsed()) return run();
  } catch (const pleas::Error& e) {
    std::cerr << "pleas: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "pleas: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
