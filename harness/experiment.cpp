#include "harness/experiment.h"
#include "harness/plugin.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "core/common.h"
#include "core/optimizer.h"
#include "core/problem.h"
#include "core/regularizer.h"
#include "harness/io.h"
#include "proxbench_build_config.h"
#include "reports/claims.h"

namespace fs = std::filesystem;

namespace proxbench::harness {
namespace {

using json = nlohmann::json;

json scalar_to_json(const YAML::Node& n) {
  const std::string& s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted
  static const std::regex int_re(R"([-+]?[0-9]+)");
  static const std::regex float_re(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  if (s == "null" || s == "Null" || s == "NULL" || s == "~" || s.empty()) return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  if (std::regex_match(s, int_re)) {
    try {
      return static_cast<int64_t>(std::stoll(s));
    } catch (...) {
    }
  }
  if (std::regex_match(s, float_re)) return std::strtod(s.c_str(), nullptr);
  if (s == ".inf" || s == "+.inf") return std::numeric_limits<double>::infinity();
  if (s == "-.inf") return -std::numeric_limits<double>::infinity();
  return s;
}

/// State of one YAML → JSON conversion: the bounds on what a document may expand to.
struct Walk {
  const std::string& file;
  std::map<std::string, int>* lines;
  size_t nodes = 0;
  [[noreturn]] void fail(const YAML::Node& n, const std::string& msg) const {
    throw Error(file + ":" + std::to_string(n.Mark().line + 1) + ": " + msg);
  }
};
constexpr int kMaxYamlDepth = 128;

json node_to_json(const YAML::Node& n, const std::string& path, Walk& w, int depth = 0) {
  // Counted as it is walked: aliases share nodes in yaml-cpp's graph, so an alias bomb is small
  // to parse and explodes only here.
  if (++w.nodes > kMaxYamlNodes)
    w.fail(n, "the document expands to more than " + std::to_string(kMaxYamlNodes) +
                  " nodes (nested aliases '*name' of anchors '&name'?); refused");
  if (depth > kMaxYamlDepth)
    w.fail(n, "nesting deeper than " + std::to_string(kMaxYamlDepth) + " levels (a recursive alias?); refused");
  std::map<std::string, int>* lines = w.lines;
  if (lines) (*lines)[path] = n.Mark().line + 1;
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Scalar: return scalar_to_json(n);
    case YAML::NodeType::Sequence: {
      json a = json::array();
      for (size_t i = 0; i < n.size(); ++i)
        a.push_back(node_to_json(n[i], path + "[" + std::to_string(i) + "]", w, depth + 1));
      return a;
    }
    case YAML::NodeType::Map: {
      json o = json::object();
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (!it->first.IsScalar())
          w.fail(it->first, std::string("'") + (path.empty() ? "<top level>" : path) + "': a key must be a plain string, not a " +
                                (it->first.IsSequence() ? "list" : it->first.IsMap() ? "map" : "null"));
        std::string key = it->first.Scalar();
        std::string sub = path.empty() ? key : path + "." + key;
        if (o.contains(key)) {
          std::string first;
          if (lines && lines->count(sub)) first = " (first at line " + std::to_string((*lines)[sub]) + ")";
          w.fail(it->first, "duplicate key '" + sub + "'" + first + "; a key may appear once in a map");
        }
        if (lines) (*lines)[sub] = it->first.Mark().line + 1;
        o[key] = node_to_json(it->second, sub, w, depth + 1);
      }
      return o;
    }
  }
  return nullptr;
}

/// Error context: file, key path, line.
struct Ctx {
  std::string file;
  const std::map<std::string, int>* lines;
  size_t max_runs = kDefaultMaxRuns;
  [[noreturn]] void fail(const std::string& path, const std::string& msg) const {
    std::string where = file;
    if (lines) {
      // the line of the longest known prefix of `path`
      std::string p = path;
      while (!p.empty()) {
        auto it = lines->find(p);
        if (it != lines->end()) {
          where += ":" + std::to_string(it->second);
          break;
        }
        auto cut = p.find_last_of(".[");
        p = cut == std::string::npos ? "" : p.substr(0, cut);
      }
    }
    throw Error(where + ": " + (path.empty() ? "" : "'" + path + "': ") + msg);
  }
  void keys(const json& o, const std::string& path, const std::set<std::string>& known) const {
    for (auto it = o.begin(); it != o.end(); ++it) {
      if (known.count(it.key())) continue;
      std::string k;
      for (const auto& s : known) k += (k.empty() ? "" : ", ") + s;
      fail(path.empty() ? it.key() : path + "." + it.key(), "unknown key '" + it.key() + "' (known: " + k + ")");
    }
  }
};

std::string type_name(const json& v) { return v.type_name(); }

/// a × b saturated at SIZE_MAX (plan sizes are compared with the limit, never allocated first).
size_t plan_mul(size_t a, size_t b) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a) return std::numeric_limits<size_t>::max();
  return a * b;
}

/// A map entry of a "one map or a list of maps" key.
std::vector<std::pair<std::string, json>> as_list_of_maps(const Ctx& c, const json& doc, const std::string& key) {
  std::vector<std::pair<std::string, json>> out;
  const json& v = doc.at(key);
  if (v.is_object()) {
    out.emplace_back(key, v);
  } else if (v.is_array() && !v.empty()) {
    for (size_t i = 0; i < v.size(); ++i) {
      std::string p = key + "[" + std::to_string(i) + "]";
      if (!v[i].is_object()) c.fail(p, "must be a map with a 'name', got " + type_name(v[i]));
      out.emplace_back(p, v[i]);
    }
  } else {
    c.fail(key, "must be a map or a non-empty list of maps, got " + v.dump());
  }
  for (auto& [p, m] : out)
    if (!m.contains("name") || !m["name"].is_string()) c.fail(p, "needs a 'name' (string)");
  return out;
}

/// Cartesian product of a `grid:` map over `base` options.
std::vector<json> expand_grid(const Ctx& c, const json& base, const json* grid, const std::string& path) {
  std::vector<json> out{base};
  if (!grid || grid->is_null()) return out;
  if (!grid->is_object()) c.fail(path, "must be a map of option: [values], got " + grid->dump());
  size_t product = 1;  // checked before anything is allocated
  for (auto it = grid->begin(); it != grid->end(); ++it) {
    product = plan_mul(product, it.value().is_array() ? it.value().size() : 1);
    if (product > c.max_runs)
      c.fail(path, "the grid has more than " + std::to_string(c.max_runs) +
                       " combinations, above the plan limit (raise it with --max-runs N)");
  }
  for (auto it = grid->begin(); it != grid->end(); ++it) {
    json vals = it.value().is_array() ? it.value() : json::array({it.value()});
    if (vals.empty()) c.fail(path + "." + it.key(), "grid values must be a non-empty list");
    std::vector<json> next;
    for (const auto& o : out)
      for (const auto& v : vals) {
        json n = o;
        n[it.key()] = v;
        next.push_back(n);
      }
    out.swap(next);
  }
  return out;
}

/// Options of a registry item: its map minus the structural keys.
json options_of(const json& m, const std::set<std::string>& structural) {
  json o = json::object();
  for (auto it = m.begin(); it != m.end(); ++it)
    if (!structural.count(it.key())) o[it.key()] = it.value();
  return o;
}

void check_schedule(const Ctx& c, const json& s, const std::string& path) {
  if (!s.is_object()) c.fail(path, "must be a map {type: constant | step, milestones: [...], factor: x}");
  c.keys(s, path, {"type", "milestones", "factor"});
  if (s.contains("type") && !s["type"].is_string()) c.fail(path + ".type", "must be constant or step");
  std::string type = s.value("type", "constant");
  if (type != "constant" && type != "step") c.fail(path + ".type", "'" + type + "' must be constant or step");
  if (type == "step") {
    if (!s.contains("milestones") || !s["milestones"].is_array())
      c.fail(path + ".milestones", "a step schedule needs milestones: [epochs...]");
    for (const auto& m : s["milestones"])
      if (!m.is_number_integer() || m.get<int64_t>() < 1) c.fail(path + ".milestones", "epochs must be integers >= 1");
    if (!s.contains("factor") || !s["factor"].is_number() || s["factor"].get<double>() <= 0)
      c.fail(path + ".factor", "a step schedule needs factor: x > 0");
  }
}

/// Tries the optimizer factory on a dummy parameter so that option errors surface before running.
void dry_build_optimizer(const Ctx& c, const std::string& path, const std::string& name, const json& options,
                         const core::RegularizerPtr& reg, double lambda) {
  std::vector<core::ParamGroupSpec> groups(1);
  groups[0].params = {torch::zeros({4}, torch::kDouble).requires_grad_(true)};
  groups[0].regularizer = reg;
  groups[0].lambda = lambda;
  try {
    core::make_optimizer(name, groups, core::OptionMap(options, "optimizer '" + name + "'"));
  } catch (const Error& e) {
    c.fail(path, e.what());
  } catch (const c10::Error& e) {
    c.fail(path, "optimizer '" + name + "': " + e.what_without_backtrace());
  }
}

bool valid_name(const std::string& s) { return !s.empty() && std::regex_match(s, std::regex(R"([A-Za-z0-9._-]+)")); }

}  // namespace

/// 1-based line of the first byte that is not part of valid UTF-8 (0: all valid). JSON (and so the
/// run ids, spec.json) needs UTF-8 strings.
static int first_invalid_utf8_line(const std::string& s) {
  int line = 1;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n == 0 || i + n > s.size()) return line;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) return line;
    if (c == '\n') ++line;
    i += n;
  }
  return 0;
}

json yaml_to_json(const std::string& text, const std::string& file, std::map<std::string, int>* line_of) {
  if (int bad = first_invalid_utf8_line(text))
    throw Error(file + ":" + std::to_string(bad) + ": not valid UTF-8 text (a binary file?)");
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    throw Error(file + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
  std::map<std::string, int> local_lines;  // duplicate keys name the line of the first one
  Walk w{file, line_of ? line_of : &local_lines};
  try {
    return node_to_json(root, "", w);
  } catch (const YAML::Exception& e) {
    throw Error(file + ":" + std::to_string(e.mark.line + 1) + ": invalid YAML: " + e.msg);
  }
}

void apply_override(json& doc, const std::string& assignment) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0) throw Error("--set: expected KEY.PATH=VALUE, got '" + assignment + "'");
  std::string path = assignment.substr(0, eq);
  json value = yaml_to_json(assignment.substr(eq + 1), "--set " + path);
  json* cur = &doc;
  std::stringstream ss(path);
  std::string part, walked;
  std::vector<std::string> parts;
  while (std::getline(ss, part, '.')) parts.push_back(part);
  for (size_t i = 0; i < parts.size(); ++i) {
    const auto& k = parts[i];
    walked += (walked.empty() ? "" : ".") + k;
    bool last = i + 1 == parts.size();
    if (cur->is_array()) {
      char* end = nullptr;
      long idx = std::strtol(k.c_str(), &end, 10);
      if (*end || idx < 0 || static_cast<size_t>(idx) >= cur->size())
        throw Error("--set " + path + ": '" + walked + "' is not an index of a list of " + std::to_string(cur->size()));
      cur = &(*cur)[idx];
    } else {
      if (cur->is_null()) *cur = json::object();
      if (!cur->is_object()) throw Error("--set " + path + ": '" + walked + "' is inside a " + cur->type_name());
      cur = &(*cur)[k];
    }
    if (last) *cur = value;
  }
}

std::string run_id(const json& spec) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char ch : spec.dump()) {
    h ^= ch;
    h *= 1099511628211ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

Experiment make_experiment(json doc, const std::string& file, const std::map<std::string, int>& line_of,
                           size_t max_runs) {
  Ctx c{file, line_of.empty() ? nullptr : &line_of, max_runs};
  if (!doc.is_object()) c.fail("", "an experiment must be a YAML map (name:, problem:, optimizers:, ...)");
  c.keys(doc, "",
         {"name", "description", "problem", "init", "regularizer", "lambda", "optimizers", "seeds", "budget",
          "log_every", "eval_every", "checkpoint_every", "probes", "schedule", "report", "plugins", "claims",
          "divergence_factor"});
  Experiment ex;
  ex.file = file;
  if (!doc.contains("name") || !doc["name"].is_string() || !valid_name(doc["name"]))
    c.fail("name", "required: a name made of letters, digits, '.', '_', '-'");
  ex.name = doc["name"];
  if (doc.contains("description") && !doc["description"].is_string()) c.fail("description", "must be a string");
  ex.description = doc.value("description", "");
  if (!doc.contains("problem")) c.fail("problem", "required: problem: {name: ..., options...}");
  if (!doc.contains("optimizers")) c.fail("optimizers", "required: a list of {name:, options:}");
  if (!doc.contains("regularizer")) doc["regularizer"] = {{"name", "none"}};

  // λ
  std::vector<double> lambdas{0.0};
  if (doc.contains("lambda")) {
    json l = doc["lambda"].is_array() ? doc["lambda"] : json::array({doc["lambda"]});
    lambdas.clear();
    for (const auto& v : l) {
      if (!v.is_number() || v.get<double>() < 0) c.fail("lambda", "must be a number >= 0 or a list of them, got " + v.dump());
      lambdas.push_back(v.get<double>());
    }
    if (lambdas.empty()) c.fail("lambda", "empty list");
  }
  // seeds
  std::vector<int64_t> seeds{1};
  if (doc.contains("seeds")) {
    const json& s = doc["seeds"];
    seeds.clear();
    if (s.is_number_integer()) {
      if (s.get<int64_t>() < 1) c.fail("seeds", "a count must be >= 1");
      if (static_cast<uint64_t>(s.get<int64_t>()) > max_runs)
        c.fail("seeds", std::to_string(s.get<int64_t>()) + " seeds is above the plan limit of " + std::to_string(max_runs) +
                            " runs (raise it with --max-runs N)");
      for (int64_t i = 1; i <= s.get<int64_t>(); ++i) seeds.push_back(i);
    } else if (s.is_array() && !s.empty()) {
      for (const auto& v : s) {
        if (!v.is_number_integer() || v.get<int64_t>() < 0) c.fail("seeds", "seeds must be integers >= 0, got " + v.dump());
        seeds.push_back(v.get<int64_t>());
      }
    } else {
      c.fail("seeds", "must be a count or a non-empty list of integers, got " + s.dump());
    }
  }
  // budget
  json budget = doc.value("budget", json{{"epochs", 1}});
  if (!budget.is_object()) c.fail("budget", "must be a map {epochs: N} | {steps: N} (+ seconds: S)");
  c.keys(budget, "budget", {"epochs", "steps", "seconds"});
  if (budget.contains("epochs") && budget.contains("steps")) c.fail("budget", "give epochs or steps, not both");
  if (!budget.contains("epochs") && !budget.contains("steps") && !budget.contains("seconds"))
    c.fail("budget", "needs epochs, steps or seconds");
  for (const char* k : {"epochs", "steps"})
    if (budget.contains(k) && (!budget[k].is_number_integer() || budget[k].get<int64_t>() < 1))
      c.fail(std::string("budget.") + k, "must be an integer >= 1, got " + budget[k].dump());
  if (budget.contains("seconds") && (!budget["seconds"].is_number() || budget["seconds"].get<double>() <= 0))
    c.fail("budget.seconds", "must be a number > 0, got " + budget["seconds"].dump());
  auto int_key = [&](const char* k, int64_t def, int64_t lo) {
    if (!doc.contains(k)) return def;
    if (!doc[k].is_number_integer() || doc[k].get<int64_t>() < lo)
      c.fail(k, "must be an integer >= " + std::to_string(lo) + ", got " + doc[k].dump());
    return doc[k].get<int64_t>();
  };
  int64_t log_every = int_key("log_every", 0, 0);
  int64_t checkpoint_every = int_key("checkpoint_every", 0, 0);
  json divergence;  // into the spec only when given, so that the ids of other experiments stay
  if (doc.contains("divergence_factor")) {
    const json& d = doc["divergence_factor"];
    if (!d.is_number() || !(d.get<double>() >= 0))
      c.fail("divergence_factor", "must be a number >= 0 (0: no bound), got " + d.dump());
    divergence = d;
  }
  // eval_every: steps between the full-data evaluations of logged rows (rows in between carry the
  // probes only); "epoch" = once per epoch; absent/0 = every logged row. Kept out of the spec when
  // absent, so the run ids of experiments without it do not change.
  json eval_every;
  if (doc.contains("eval_every")) {
    const json& e = doc["eval_every"];
    if (!(e.is_string() && e == "epoch") && !(e.is_number_integer() && e.get<int64_t>() >= 0))
      c.fail("eval_every", "must be an integer >= 0 (steps) or 'epoch', got " + e.dump());
    eval_every = e;
  }
  bool probes = true;
  if (doc.contains("probes")) {
    if (!doc["probes"].is_boolean()) c.fail("probes", "must be true or false");
    probes = doc["probes"];
  }
  json default_schedule = doc.value("schedule", json{{"type", "constant"}});
  check_schedule(c, default_schedule, "schedule");
  if (doc.contains("report")) {
    if (!doc["report"].is_object()) c.fail("report", "must be a map {recipes: [...], title: ...}");
    c.keys(doc["report"], "report", {"recipes", "title", "notes"});
  }

  if (doc.contains("claims")) {
    try {
      reports::validate_claims(doc["claims"], file);
    } catch (const Error& e) {
      std::string msg = e.what();  // "file: 'claims[i]...': ..." → with the line of that key
      auto q = msg.find("'claims");
      std::string path = q == std::string::npos ? "claims" : msg.substr(q + 1, msg.find('\'', q + 1) - q - 1);
      c.fail(path,
             msg.substr(std::min(msg.size(), msg.find("': ", q) == std::string::npos ? 0 : msg.find("': ", q) + 3)));
    }
  }

  // problems (× grid × init)
  std::vector<json> problems;
  for (auto& [path, m] : as_list_of_maps(c, doc, "problem")) {
    std::string name = m["name"];
    if (!core::problem_registry().contains(name))
      c.fail(path + ".name", "unknown problem '" + name + "' (known: " + core::problem_registry().known() + ")");
    const auto& entry = core::problem_registry().get(name);
    json opts = options_of(m, {"name", "grid"});
    if (!entry.params.empty()) {  // the registry documents the options: reject unknown keys now
      std::set<std::string> known;
      for (const auto& p : entry.params) known.insert(p.name);
      c.keys(opts, path, known);
      if (m.contains("grid") && m["grid"].is_object()) c.keys(m["grid"], path + ".grid", known);
      if (doc.contains("init") && !known.count("init")) c.fail("init", "problem '" + name + "' has no option 'init'");
    }
    // every option set is validated now (sizes, names, data files), not when its runs start
    const std::string ppath = path;  // (a structured binding cannot be captured in C++17)
    auto validated = [&, ppath](const json& o) {
      if (core::problem_validator_registry().contains(name)) {
        try {
          core::problem_validator_registry().get(name).make(core::OptionMap(o, "problem '" + name + "'"));
        } catch (const Error& e) {
          c.fail(ppath, e.what());
        } catch (const c10::Error& e) {
          c.fail(ppath, "problem '" + name + "': " + e.what_without_backtrace());
        }
      }
      return json{{"name", name}, {"options", o}};
    };
    for (auto& o : expand_grid(c, opts, m.contains("grid") ? &m["grid"] : nullptr, path + ".grid")) {
      if (doc.contains("init")) {
        json inits = doc["init"].is_array() ? doc["init"] : json::array({doc["init"]});
        if (plan_mul(problems.size() + 1, inits.size()) > max_runs) c.fail("init", "above the plan limit (--max-runs)");
        for (const auto& i : inits) {
          json oi = o;
          oi["init"] = i;
          problems.push_back(validated(oi));
        }
      } else {
        problems.push_back(validated(o));
      }
      if (problems.size() > max_runs) c.fail(path, "above the plan limit of " + std::to_string(max_runs) + " runs (--max-runs)");
    }
  }
  // regularizers (× grid), each built once to check its parameters
  std::vector<json> regs;
  std::vector<core::RegularizerPtr> reg_objs;
  for (auto& [path, m] : as_list_of_maps(c, doc, "regularizer")) {
    std::string name = m["name"];
    if (!core::regularizer_registry().contains(name))
      c.fail(path + ".name", "unknown regularizer '" + name + "' (known: " + core::regularizer_registry().known() + ")");
    for (auto& o : expand_grid(c, options_of(m, {"name", "grid"}), m.contains("grid") ? &m["grid"] : nullptr,
                               path + ".grid")) {
      try {
        reg_objs.push_back(core::make_regularizer(name, core::OptionMap(o, "regularizer '" + name + "'")));
      } catch (const Error& e) {
        c.fail(path, e.what());
      }
      regs.push_back({{"name", name}, {"options", o}});
      if (regs.size() > max_runs) c.fail(path, "above the plan limit of " + std::to_string(max_runs) + " runs (--max-runs)");
    }
  }
  // optimizers (× grid); an entry may override the regularizer (`regularizer:` one map or a list,
  // replacing the top-level one for its runs) and add problem options (`problem: {key: value}`,
  // merged into every problem's options for its runs) — a baseline that is a different model or
  // penalty (e.g. hard-concrete L0 gates trained with Adam beside ProxGen l0)
  std::vector<json> opts;
  std::vector<std::vector<json>> opt_regs;  // per entry of opts: its own regularizers (empty: the global ones)
  std::vector<json> opt_problem;            // per entry: problem options to merge
  const json& ol = doc["optimizers"];
  if (!ol.is_array() || ol.empty()) c.fail("optimizers", "must be a non-empty list of {name:, options:}");
  for (size_t i = 0; i < ol.size(); ++i) {
    std::string path = "optimizers[" + std::to_string(i) + "]";
    const json& m = ol[i];
    if (!m.is_object() || !m.contains("name") || !m["name"].is_string()) c.fail(path, "must be a map with a 'name'");
    c.keys(m, path, {"name", "label", "options", "grid", "schedule", "regularizer", "problem"});
    std::string name = m["name"];
    if (!core::optimizer_registry().contains(name))
      c.fail(path + ".name", "unknown optimizer '" + name + "' (known: " + core::optimizer_registry().known() + ")");
    json base = m.value("options", json::object());
    if (!base.is_object()) c.fail(path + ".options", "must be a map of option: value");
    json sched = m.value("schedule", default_schedule);
    check_schedule(c, sched, path + ".schedule");
    if (m.contains("label") && !m["label"].is_string()) c.fail(path + ".label", "must be a string");
    std::string label = m.value("label", name);
    std::vector<json> own_regs;
    std::vector<core::RegularizerPtr> own_objs;
    if (m.contains("regularizer")) {
      json sub = {{"regularizer", m["regularizer"]}};
      for (auto& [rp, rm] : as_list_of_maps(c, sub, "regularizer")) {
        std::string rname = rm["name"];
        const std::string full = path + "." + rp;
        if (!core::regularizer_registry().contains(rname))
          c.fail(full + ".name",
                 "unknown regularizer '" + rname + "' (known: " + core::regularizer_registry().known() + ")");
        if (rm.contains("grid")) c.fail(full + ".grid", "an optimizer's own regularizer takes no grid (list the maps)");
        json ro = options_of(rm, {"name"});
        try {
          own_objs.push_back(core::make_regularizer(rname, core::OptionMap(ro, "regularizer '" + rname + "'")));
        } catch (const Error& e) {
          c.fail(full, e.what());
        }
        own_regs.push_back({{"name", rname}, {"options", ro}});
      }
    }
    json prob = m.value("problem", json::object());
    if (!prob.is_object()) c.fail(path + ".problem", "must be a map of problem option: value");
    for (const auto& pr : problems) {
      const auto& entry = core::problem_registry().get(pr["name"]);
      if (entry.params.empty()) continue;
      std::set<std::string> known;
      for (const auto& p : entry.params) known.insert(p.name);
      c.keys(prob, path + ".problem", known);
    }
    for (auto& o : expand_grid(c, base, m.contains("grid") ? &m["grid"] : nullptr, path + ".grid")) {
      dry_build_optimizer(c, path, name, o, own_objs.empty() ? reg_objs.front() : own_objs.front(), lambdas.front());
      opts.push_back({{"name", name}, {"label", label}, {"options", o}, {"schedule", sched}});
      opt_regs.push_back(own_regs);
      opt_problem.push_back(prob);
      if (opts.size() > max_runs) c.fail(path, "above the plan limit of " + std::to_string(max_runs) + " runs (--max-runs)");
    }
  }

  // the product, seeds innermost (an entry with its own regularizers runs them in place of the
  // global list, once): its size is checked before anything is allocated
  size_t per_problem = 0;
  for (size_t oi = 0; oi < opts.size() && per_problem != std::numeric_limits<size_t>::max(); ++oi)
    per_problem = std::min(std::numeric_limits<size_t>::max() - 1,
                           per_problem + plan_mul(opt_regs[oi].empty() ? regs.size() : opt_regs[oi].size(),
                                                  plan_mul(lambdas.size(), seeds.size())));
  size_t total = plan_mul(problems.size(), per_problem);
  if (total > max_runs)
    c.fail("", "the plan has " + (total >= std::numeric_limits<size_t>::max() - 1 ? std::string("too many") : std::to_string(total)) +
                   " runs (" + std::to_string(problems.size()) + " problems x " + std::to_string(regs.size()) +
                   " regularizers x " + std::to_string(lambdas.size()) + " lambdas x " + std::to_string(opts.size()) +
                   " optimizer settings x " + std::to_string(seeds.size()) + " seeds), above the limit of " +
                   std::to_string(max_runs) + " (raise it with --max-runs N)");
  ex.runs.reserve(total);
  size_t index = 0;
  for (const auto& pr0 : problems)
    for (size_t ri = 0; ri < regs.size(); ++ri)
      for (double lam : lambdas)
        for (size_t oi = 0; oi < opts.size(); ++oi) {
          const auto& op = opts[oi];
          std::vector<json> rlist = opt_regs[oi].empty() ? std::vector<json>{regs[ri]} : opt_regs[oi];
          if (!opt_regs[oi].empty() && ri > 0) continue;
          json pr = pr0;
          for (auto it = opt_problem[oi].begin(); it != opt_problem[oi].end(); ++it)
            pr["options"][it.key()] = it.value();
          for (const auto& rg : rlist)
            for (int64_t seed : seeds) {
              RunSpec r;
              json optimizer = {{"name", op["name"]}, {"label", op["label"]}, {"options", op["options"]}};
              r.spec = {{"experiment", ex.name},  {"problem", pr},
                        {"regularizer", rg},      {"lambda", lam},
                        {"optimizer", optimizer}, {"schedule", op["schedule"]},
                        {"seed", seed},           {"budget", budget},
                        {"log_every", log_every}, {"checkpoint_every", checkpoint_every},
                        {"probes", probes}};
              if (!eval_every.is_null()) r.spec["eval_every"] = eval_every;
              if (!divergence.is_null()) r.spec["divergence_factor"] = divergence;
              r.id = run_id(r.spec);
              r.index = index++;
              ex.runs.push_back(std::move(r));
            }
        }
  std::set<std::string> ids;
  for (const auto& r : ex.runs)
    if (!ids.insert(r.id).second) c.fail("", "two runs resolve to the same spec (duplicate entries?): " + r.spec.dump());
  ex.document = std::move(doc);
  return ex;
}

Experiment load_experiment(const std::string& file, const std::vector<std::string>& overrides, size_t max_runs) {
  if (!file_exists(file)) throw Error(file + ": cannot open the experiment file");
  std::map<std::string, int> lines;
  json doc = yaml_to_json(read_text(file), file, &lines);
  try {
    for (const auto& o : overrides) apply_override(doc, o);
    // `plugins: [libx.so, ...]` (paths relative to the YAML file): loaded before validation, so the
    // names they register are known to it.
    if (doc.is_object() && doc.contains("plugins")) {
      const json& pl = doc["plugins"];
      if (!pl.is_array()) throw Error(file + ": key 'plugins' must be a list of shared-library paths");
      for (const auto& p : pl) {
        if (!p.is_string()) throw Error(file + ": key 'plugins' has a non-string entry " + p.dump());
        fs::path path(p.get<std::string>());
        if (path.is_relative()) path = fs::path(file).parent_path() / path;
        load_plugin(path.lexically_normal().string());
      }
    }
    return make_experiment(std::move(doc), file, lines, max_runs);
  } catch (const json::exception& e) {  // last resort (the fuzz target calls make_experiment directly)
    throw Error(file + ": " + e.what());
  }
}

std::vector<std::string> experiment_dirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("PROXBENCH_EXPERIMENTS_DIR"); env && *env) dirs.emplace_back(env);
  dirs.push_back(std::string(PROXBENCH_SOURCE_DIR) + "/harness/experiments");
  std::error_code ec;
  auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) dirs.push_back((exe.parent_path().parent_path() / "share/proxbench/experiments").string());
  return dirs;
}

std::vector<ExperimentInfo> list_experiments() {
  std::vector<ExperimentInfo> out;
  std::set<std::string> seen;
  for (const auto& d : experiment_dirs()) {
    std::error_code ec;
    if (!fs::is_directory(d, ec)) continue;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(d, ec))
      if (e.path().extension() == ".yaml" || e.path().extension() == ".yml") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::string name = f.stem().string();
      if (!seen.insert(name).second) continue;
      std::string desc;
      try {
        auto j = yaml_to_json(read_text(f.string()), f.string());
        if (j.is_object()) desc = j.value("description", "");
      } catch (const std::exception& e) {
        desc = std::string("(unreadable: ") + e.what() + ")";
      }
      out.push_back({name, f.string(), desc});
    }
  }
  return out;
}

std::string find_experiment(const std::string& name_or_path) {
  std::error_code ec;
  if (fs::is_regular_file(name_or_path, ec)) return name_or_path;
  std::string known;
  for (const auto& e : list_experiments()) {
    if (e.name == name_or_path) return e.path;
    known += (known.empty() ? "" : ", ") + e.name;
  }
  throw Error("unknown experiment '" + name_or_path + "': not a file, nor a shipped experiment (known: " + known + ")");
}

}  // namespace proxbench::harness
