// `pleas probe --model M --train-data D --test-data D`: a linear probe on the model's penultimate
// features (experiments/linear_probe.h); labels come from the datasets, not the model's classes.
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "engine/atomic_file.h"
#include "experiments/commands.h"
#include "experiments/evaluate.h"
#include "experiments/linear_probe.h"
#include "models/model_io.h"

namespace pleas::cli {

Command add_probe(CLI::App& app) {
  auto* sub = app.add_subcommand("probe", "Linear probe (ridge or logistic) on a model's penultimate features");
  struct Args {
    std::string model, train, test, json, device = "cpu";
    bool quiet = false;
    ProbeOptions o;  // bound to the options directly
  };
  static Args a;
  ProbeOptions& o = a.o;
  sub->add_option("--model", a.model, "weight file")->required();
  sub->add_option("--train-data", a.train, "training images (a dataset spec, as pleas eval --data)")->required();
  sub->add_option("--test-data", a.test, "test images (the same classes)")->required();
  sub->add_option("--probe", o.kind, "logistic (softmax regression by L-BFGS, default) or ridge (closed form)")
      ->check(CLI::IsMember({"ridge", "logistic"}));
  sub->add_option("--seed", o.seed, "seed of the holdout split that chooses the regularisation");
  sub->add_option("--holdout", o.holdout, "fraction of the training images held out to choose it (default 0.2)");
  sub->add_option("--train-per-class", o.train_per_class, "the first N training images of each class (0 = all)");
  sub->add_option("--test-per-class", o.test_per_class, "the first N test images of each class (0 = all)");
  sub->add_option("--max-iter", o.max_iter, "logistic: L-BFGS iterations (default 500)");
  sub->add_option("--batch", o.batch_size, "batch size")->check(CLI::PositiveNumber);
  sub->add_option("--threads", o.threads, "decoding threads")->check(CLI::PositiveNumber);
  sub->add_option("--device", a.device, "cpu or cuda[:N]");
  sub->add_option("--json", a.json, "write the result as JSON to FILE ('-' = stdout)");
  sub->add_flag("--quiet", a.quiet, "no progress lines");
  return {sub, [] {
    ProbeOptions& o = a.o;
    const Device dev = Device::parse(a.device);
    std::unique_ptr<Model> m = load_model(a.model, dev);
    o.device = dev;
    o.progress = !a.quiet;
    const ProbeResult r = linear_probe(*m, open_dataset(a.train), open_dataset(a.test), model_transform(*m), o);
    nlohmann::json holdout = nlohmann::json::array();
    for (size_t i = 0; i < r.grid.size(); ++i) holdout.push_back({{"value", r.grid[i]}, {"top1", r.holdout_top1[i]}});
    const nlohmann::json j = {
        {"model", a.model}, {"train_data", a.train}, {"test_data", a.test}, {"probe", r.kind},
        {"seed", o.seed}, {"holdout_fraction", o.holdout}, {"train_top1", r.train_top1}, {"test_top1", r.test_top1},
        {"lambda", r.lambda}, {"lambda_abs", r.lambda_abs}, {"holdout", holdout},
        {"train_images", r.train_images}, {"test_images", r.test_images}, {"features", r.dim},
        {"classes", r.classes}, {"iterations", r.iterations}, {"seconds", r.seconds},
        {"feature_seconds", r.feature_seconds}, {"fit_seconds", r.fit_seconds}, {"device", dev.str()}};
    if (a.json == "-") {
      std::cout << j.dump() << "\n";
      return 0;
    }
    if (!a.json.empty()) write_text_atomic(a.json, j.dump(2) + "\n", "probe --json");
    std::printf("%s probe on %s (%lld features, %lld classes): train top-1 %.2f%% (%lld images), test top-1 %.2f%% "
                "(%lld images); %s %.3g; features %.1f s, fit %.2f s\n",
                r.kind.c_str(), a.model.c_str(), (long long)r.dim, (long long)r.classes, r.train_top1,
                (long long)r.train_images, r.test_top1, (long long)r.test_images,
                r.kind == "ridge" ? "lambda/n" : "weight decay", r.lambda, r.feature_seconds, r.fit_seconds);
    return 0;
  }};
}

}  // namespace pleas::cli
