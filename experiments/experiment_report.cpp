// The paper's averages and tables from an experiment's runs.
#include <cstdio>
#include <map>
#include <set>

#include "experiments/experiment.h"

namespace pleas::experiment {

using nlohmann::json;

namespace {
std::string fmt(double v, const char* f = "%.2f") {
  char s[32];
  std::snprintf(s, sizeof s, f, v);
  return s;
}
double budget_of(const json& r) { return r.contains("budget") && r["budget"].is_number() ? r["budget"].get<double>() : -1; }
}  // namespace

json summarize(const Config& c, const json& runs) {
  // (label, budget) in the config's order of methods and budgets.
  json out = json::array();
  for (const Method& m : c.methods) {
    std::vector<double> budgets = m.budgets.empty() ? std::vector<double>{-1} : m.budgets;
    for (double b : budgets) {
      std::map<std::string, std::pair<double, int>> col;
      double params = 0, flops = 0, secs = 0;
      int n = 0;
      for (const json& r : runs) {
        if (r["label"] != m.label || std::abs(budget_of(r) - b) > 1e-9) continue;
        for (auto& [k, v] : r["accuracy"].items()) { col[k].first += v.get<double>(); ++col[k].second; }
        params += r["params_rel"].get<double>();
        flops += r["flops_rel"].get<double>();
        secs += r.value("seconds", 0.0);
        ++n;
      }
      if (n == 0) continue;
      json per = json::object();
      double avg = 0;
      for (auto& [k, v] : col) { per[k] = v.first / v.second; avg += v.first / v.second; }
      json s = {{"label", m.label}, {"params_rel", params / n}, {"flops_rel", flops / n}, {"per_column", per},
                {"average", avg / double(col.size())}, {"pairs", n}, {"mean_seconds", secs / n}};
      s["budget"] = b > 0 ? json(b) : json(nullptr);
      out.push_back(s);
    }
  }
  return out;
}

std::string table_markdown(const Config& c, const json& summary) {
  std::vector<std::string> cols;
  std::set<std::string> seen;
  for (const auto& p : c.pairs)
    for (int x : {p.first, p.second})
      if (seen.insert(c.parents[size_t(x)].name).second) cols.push_back(c.parents[size_t(x)].name);
  const char* what = c.protocol == "linear_probe" ? "linear-probe accuracy" :
                     c.protocol == "task_heads" ? "task-head accuracy" : "accuracy";
  std::string s = "# " + c.title + "\n\n";
  s += std::string("Top-1 ") + what + " (%) per column, averaged over the pairs that contain it; Average = mean of the columns (the paper's Table 1 averaging). " +
       std::to_string(c.pairs.size()) + " pairs.\n\n## At 1x (and the methods' own size)\n\n| Method | FLOPs | Size |";
  for (auto& k : cols) s += " " + k + " |";
  s += " Average |\n|---|---|---|";
  for (size_t i = 0; i <= cols.size(); ++i) s += "---|";
  s += "\n";
  std::set<std::string> sweep;
  for (const json& r : summary) {
    const double b = r["budget"].is_number() ? r["budget"].get<double>() : -1;
    if (b > 0) sweep.insert(r["label"].get<std::string>());
    if (b > 0 && std::abs(b - 1.0) > 1e-9) continue;
    s += "| " + r["label"].get<std::string>() + " | " + fmt(r["flops_rel"].get<double>(), "%.2fx") + " | " +
         fmt(r["params_rel"].get<double>(), "%.2fx") + " |";
    for (auto& k : cols) s += " " + (r["per_column"].contains(k) ? fmt(r["per_column"][k].get<double>()) : "–") + " |";
    s += " " + fmt(r["average"].get<double>()) + " |\n";
  }
  if (!sweep.empty()) {
    std::set<double> budgets;
    for (const json& r : summary)
      if (r["budget"].is_number()) budgets.insert(r["budget"].get<double>());
    s += "\n## Size sweep: average " + std::string(what) + " (%) at each budget (relative size in parentheses)\n\n| Method |";
    for (double b : budgets) s += " " + fmt(b, "%.1f") + " |";
    s += "\n|---|";
    for (size_t i = 0; i < budgets.size(); ++i) s += "---|";
    s += "\n";
    std::vector<std::string> order;
    for (const Method& m : c.methods)
      if (sweep.count(m.label) && std::find(order.begin(), order.end(), m.label) == order.end()) order.push_back(m.label);
    for (const std::string& l : order) {
      s += "| " + l + " |";
      for (double b : budgets) {
        std::string cell = " – |";
        for (const json& r : summary)
          if (r["label"] == l && r["budget"].is_number() && std::abs(r["budget"].get<double>() - b) < 1e-9)
            cell = " " + fmt(r["average"].get<double>()) + " (" + fmt(r["params_rel"].get<double>()) + ") |";
        s += cell;
      }
      s += "\n";
    }
  }
  return s;
}

}  // namespace pleas::experiment
