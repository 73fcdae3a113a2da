// Reading an experiment config (schema: experiments/configs/README.md) and expanding it into jobs.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "engine/error.h"
#include "experiments/experiment.h"

namespace pleas::experiment {

namespace {

using nlohmann::json;

// ${VAR} → value; the command line's vars first, then the config's "vars", then the environment.
std::string substitute(const std::string& s, const std::map<std::string, std::string>& vars,
                       const std::string& where) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    size_t p = s.find("${", i);
    if (p == std::string::npos) { out += s.substr(i); break; }
    size_t e = s.find('}', p);
    PLEAS_CHECK(e != std::string::npos, where, ": unterminated ${ in '", s, "'");
    out += s.substr(i, p - i);
    const std::string name = s.substr(p + 2, e - p - 2);
    auto it = vars.find(name);
    if (it != vars.end()) {
      out += it->second;
    } else if (const char* env = std::getenv(name.c_str())) {
      out += env;
    } else {
      PLEAS_FAIL(where, ": variable ${", name, "} is not set (give --set ", name, "=PATH)");
    }
    i = e + 1;
  }
  return out;
}

void substitute_all(json& j, const std::map<std::string, std::string>& vars, const std::string& where) {
  if (j.is_string()) {
    j = substitute(j.get<std::string>(), vars, where);
  } else if (j.is_array() || j.is_object()) {
    for (auto& v : j) substitute_all(v, vars, where);
  }
}

template <class T>
T get_or(const json& j, const char* key, T def) {
  return j.contains(key) ? j.at(key).get<T>() : def;
}

}  // namespace

Config read_config(const std::string& path, const std::map<std::string, std::string>& cli_vars) {
  std::ifstream f(path);
  PLEAS_CHECK(f.good(), "experiment config ", path, ": cannot open the file");
  json j;
  try {
    j = json::parse(f);
  } catch (const std::exception& e) {
    PLEAS_FAIL("experiment config ", path, ": not valid JSON (", e.what(), ")");
  }
  PLEAS_CHECK(j.is_object(), "experiment config ", path, ": expected a JSON object");
  std::map<std::string, std::string> vars = cli_vars;
  if (j.contains("vars"))
    for (auto& [k, v] : j["vars"].items())
      if (!vars.count(k)) vars[k] = v.get<std::string>();
  json body = j;
  body.erase("vars");
  substitute_all(body, vars, path);
  Config c;
  c.raw = body;
  c.dir = std::filesystem::path(path).parent_path().string();
  try {
    c.name = body.at("name").get<std::string>();
    c.title = get_or<std::string>(body, "title", c.name);
    c.protocol = get_or<std::string>(body, "protocol", "shared_label");
    PLEAS_CHECK(c.protocol == "shared_label" || c.protocol == "task_heads" || c.protocol == "linear_probe",
                path, ": protocol '", c.protocol, "' is not shared_label, task_heads or linear_probe");
    for (const json& p : body.at("models")) {
      Parent q{p.at("name").get<std::string>(), p.at("path").get<std::string>(), get_or<std::string>(p, "train", ""),
               p.at("test").get<std::string>()};
      c.parents.push_back(q);
    }
    PLEAS_CHECK(c.parents.size() >= 2, path, ": need at least two models");
    auto index = [&](const std::string& n) {
      for (size_t i = 0; i < c.parents.size(); ++i)
        if (c.parents[i].name == n) return int(i);
      PLEAS_FAIL(path, ": pair names model '", n, "', which is not in \"models\"");
    };
    const json pairs = get_or<json>(body, "pairs", json("all"));
    if (pairs.is_string()) {
      PLEAS_CHECK(pairs.get<std::string>() == "all", path, ": \"pairs\" must be \"all\" or a list of [a, b]");
      for (size_t a = 0; a < c.parents.size(); ++a)
        for (size_t b = a + 1; b < c.parents.size(); ++b) c.pairs.emplace_back(int(a), int(b));
    } else {
      for (const json& p : pairs) {
        PLEAS_CHECK(p.is_array() && p.size() == 2, path, ": a pair must be [a, b]");
        c.pairs.emplace_back(index(p[0].get<std::string>()), index(p[1].get<std::string>()));
      }
    }
    const json md = get_or<json>(body, "merge_data", json::object());
    c.per_class = get_or<int64_t>(md, "per_class", c.per_class);
    c.merge_spec = get_or<std::string>(md, "spec", "");
    const json pd = get_or<json>(body, "public_data", json::object());
    c.public_spec = get_or<std::string>(pd, "spec", "");
    c.public_per_class = get_or<int64_t>(pd, "per_class", c.public_per_class);
    const json sd = get_or<json>(body, "synthetic_data", json::object());
    c.synthetic_images = get_or<int64_t>(sd, "images", c.synthetic_images);
    const json pr = get_or<json>(body, "probe", json::object());
    c.probe = get_or<std::string>(pr, "kind", c.probe);
    c.probe_train_per_class = get_or<int64_t>(pr, "train_per_class", 0);
    c.seed = get_or<uint64_t>(body, "seed", 0);
    c.test_per_class = get_or<int64_t>(body, "test_per_class", 0);
    PLEAS_CHECK(c.test_per_class >= 0, path, ": test_per_class must be >= 0");
    for (const json& m : body.at("methods")) {
      Method x;
      x.label = m.at("label").get<std::string>();
      x.method = get_or<std::string>(m, "method", x.method);
      x.match = get_or<std::string>(m, "match", x.match);
      x.partial = get_or<std::string>(m, "partial", x.partial);
      x.objective = get_or<std::string>(m, "objective", x.objective);
      x.data = get_or<std::string>(m, "data", x.data);
      x.bn_data = get_or<std::string>(m, "bn_data", x.bn_data);
      x.budgets = get_or<std::vector<double>>(m, "budgets", {});
      PLEAS_CHECK(x.data == "domain" || x.data == "public" || x.data == "synthetic", path, ": method ", x.label,
                  ": data '", x.data, "' is not domain, public or synthetic");
      PLEAS_CHECK(x.bn_data == "same" || x.bn_data == "domain" || x.bn_data == "public", path, ": method ",
                  x.label, ": bn_data '", x.bn_data, "' is not same, domain or public");
      x.bn = get_or<std::string>(m, "bn", x.bn);
      PLEAS_CHECK(x.bn == "recompute" || x.bn == "keep" || x.bn == "merged_units", path, ": method ", x.label,
                  ": bn '", x.bn, "' is not recompute, keep or merged_units");
      PLEAS_CHECK(!(x.data == "public" || x.bn_data == "public") || !c.public_spec.empty(), path, ": method ",
                  x.label, " uses public data but the config has no \"public_data\": {\"spec\": ...}");
      for (double b : x.budgets) PLEAS_CHECK(b >= 1.0, path, ": method ", x.label, ": budget ", b, " is below 1");
      c.methods.push_back(x);
    }
    PLEAS_CHECK(!c.methods.empty(), path, ": no methods");
  } catch (const json::exception& e) {
    PLEAS_FAIL("experiment config ", path, ": ", e.what());
  }
  if (c.protocol != "shared_label" || c.merge_spec.empty())
    for (const Parent& p : c.parents)
      PLEAS_CHECK(!p.train.empty() || !c.merge_spec.empty(), path, ": model ", p.name,
                  " has no \"train\" data (needed for its merge data", c.protocol == "linear_probe" ? " and probe" : "",
                  ")");
  return c;
}

std::vector<Job> expand_jobs(const Config& c) {
  std::vector<Job> jobs;
  for (size_t m = 0; m < c.methods.size(); ++m)
    for (size_t p = 0; p < c.pairs.size(); ++p) {
      if (c.methods[m].budgets.empty()) {
        jobs.push_back({int(p), int(m), -1});
      } else {
        for (double b : c.methods[m].budgets) jobs.push_back({int(p), int(m), b});
      }
    }
  return jobs;
}

}  // namespace pleas::experiment
