// Subcommands of the `pleas` CLI: each registers itself on the CLI11 app and runs when chosen.
#pragma once
#include <CLI/CLI.hpp>
#include <functional>

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

}  // namespace pleas::cli
