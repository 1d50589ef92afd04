#include "reports/claims.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>
#include <set>

#include "core/common.h"
#include "harness/io.h"

namespace proxbench::reports {
namespace {

using json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string n3(double v) { return fmt_sig(v, 4); }

// ---- validation ------------------------------------------------------------------------------

[[noreturn]] void bad(const std::string& where, const std::string& path, const std::string& msg) {
  throw Error(where + ": '" + path + "': " + msg);
}

void need_keys(const json& o, const std::string& where, const std::string& path, const std::set<std::string>& required,
               const std::set<std::string>& optional) {
  if (!o.is_object()) bad(where, path, "must be a map");
  for (const auto& k : required)
    if (!o.contains(k)) bad(where, path + "." + k, "required");
  for (auto it = o.begin(); it != o.end(); ++it)
    if (!required.count(it.key()) && !optional.count(it.key())) {
      std::string known;
      for (const auto& s : required) known += (known.empty() ? "" : ", ") + s;
      for (const auto& s : optional) known += (known.empty() ? "" : ", ") + s;
      bad(where, path + "." + it.key(), "unknown key '" + it.key() + "' (known: " + known + ")");
    }
}

void need_string(const json& o, const std::string& k, const std::string& where, const std::string& path) {
  if (o.contains(k) && !o[k].is_string()) bad(where, path + "." + k, "must be a string, got " + o[k].dump());
}
void need_number(const json& o, const std::string& k, const std::string& where, const std::string& path, bool nonneg) {
  if (!o.contains(k)) return;
  if (!o[k].is_number() || (nonneg && o[k].get<double>() < 0))
    bad(where, path + "." + k, std::string("must be a number") + (nonneg ? " >= 0" : "") + ", got " + o[k].dump());
}
void need_enum(const json& o, const std::string& k, const std::vector<std::string>& vals, const std::string& where,
               const std::string& path) {
  if (!o.contains(k)) return;
  std::string all;
  for (const auto& v : vals) all += (all.empty() ? "" : " | ") + v;
  if (!o[k].is_string() || std::find(vals.begin(), vals.end(), o[k].get<std::string>()) == vals.end())
    bad(where, path + "." + k, "must be one of " + all + ", got " + o[k].dump());
}

void check_selector(const json& c, const std::string& k, const std::string& where, const std::string& path) {
  const std::string p = path + "." + k;
  need_keys(c[k], where, p, {"label"}, {"where"});
  need_string(c[k], "label", where, p);
  if (c[k].contains("where")) {
    if (!c[k]["where"].is_object()) bad(where, p + ".where", "must be a map of key: value");
    for (auto it = c[k]["where"].begin(); it != c[k]["where"].end(); ++it)
      if (!it.value().is_primitive()) bad(where, p + ".where." + it.key(), "must be a scalar");
  }
}

void check_pair_on(const json& c, const std::string& where, const std::string& path) {
  if (!c.contains("pair_on")) return;
  if (!c["pair_on"].is_array()) bad(where, path + ".pair_on", "must be a list of where-keys");
  for (const auto& k : c["pair_on"])
    if (!k.is_string()) bad(where, path + ".pair_on", "must be a list of where-keys (strings)");
}

void validate_check(const json& c, const std::string& where, const std::string& path) {
  if (!c.is_object() || !c.contains("kind") || !c["kind"].is_string())
    bad(where, path + ".kind", "required (a string)");
  const std::string kind = c["kind"];
  const std::vector<std::string> better = {"higher", "lower"};
  if (kind == "threshold") {
    need_keys(c, where, path, {"kind", "a", "metric", "op", "value"}, {"margin", "over_seeds"});
    check_selector(c, "a", where, path);
    need_string(c, "metric", where, path);
    need_enum(c, "op", {"<", "<=", ">", ">=", "=="}, where, path);
    need_number(c, "value", where, path, false);
    need_number(c, "margin", where, path, true);
    need_enum(c, "over_seeds", {"mean", "all", "any"}, where, path);
  } else if (kind == "compare") {
    need_keys(c, where, path, {"kind", "a", "b", "metric", "better"}, {"margin", "noise_sigmas", "pair_on"});
    check_pair_on(c, where, path);
    check_selector(c, "a", where, path);
    check_selector(c, "b", where, path);
    need_string(c, "metric", where, path);
    need_enum(c, "better", better, where, path);
    need_number(c, "margin", where, path, true);
    need_number(c, "noise_sigmas", where, path, true);
  } else if (kind == "gap_trend") {
    need_keys(c, where, path, {"kind", "a", "b", "metric", "along", "order"},
              {"measure", "better", "margin", "pair_on"});
    check_pair_on(c, where, path);
    check_selector(c, "a", where, path);
    check_selector(c, "b", where, path);
    need_string(c, "metric", where, path);
    need_string(c, "along", where, path);
    if (!c["order"].is_array() || c["order"].size() < 2) bad(where, path + ".order", "must list at least 2 values");
    need_enum(c, "measure", {"ratio", "difference"}, where, path);
    need_enum(c, "better", better, where, path);
    need_number(c, "margin", where, path, true);
  } else if (kind == "better_at_similar") {
    need_keys(c, where, path, {"kind", "a", "b", "better", "similar"}, {"noise_sigmas", "pair_on"});
    check_pair_on(c, where, path);
    check_selector(c, "a", where, path);
    check_selector(c, "b", where, path);
    need_keys(c["better"], where, path + ".better", {"metric"}, {"direction", "margin"});
    need_string(c["better"], "metric", where, path + ".better");
    need_enum(c["better"], "direction", better, where, path + ".better");
    need_number(c["better"], "margin", where, path + ".better", true);
    need_keys(c["similar"], where, path + ".similar", {"metric", "tolerance"}, {"direction"});
    need_string(c["similar"], "metric", where, path + ".similar");
    need_number(c["similar"], "tolerance", where, path + ".similar", true);
    need_enum(c["similar"], "direction", better, where, path + ".similar");
    need_number(c, "noise_sigmas", where, path, true);
  } else {
    std::string known;
    for (const auto& k : check_kinds()) known += (known.empty() ? "" : ", ") + k.first;
    bad(where, path + ".kind", "unknown check kind '" + kind + "' (known: " + known + ")");
  }
}

// ---- selection -------------------------------------------------------------------------------

void flatten(const json& j, const std::string& path, std::map<std::string, json>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it)
      flatten(it.value(), path.empty() ? it.key() : path + "." + it.key(), out);
  } else {
    out[path] = j;
  }
}

bool same_value(const json& a, const json& b) {
  if (a.is_number() && b.is_number()) {
    const double x = a.get<double>(), y = b.get<double>();
    return x == y || std::abs(x - y) <= 1e-12 * std::max(std::abs(x), std::abs(y));
  }
  auto s = [](const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
  return s(a) == s(b);
}

/// The spec value a where-key names (null when absent).
json spec_value(const json& spec, const std::string& key) {
  std::map<std::string, json> flat;
  flatten(spec, "", flat);
  if (key == "regularizer") return flat.count("regularizer.name") ? flat["regularizer.name"] : json();
  if (key.find('.') != std::string::npos) return flat.count(key) ? flat[key] : json();
  for (const auto& [p, v] : flat) {
    auto d = p.find_last_of('.');
    if ((d == std::string::npos ? p : p.substr(d + 1)) == key) return v;
  }
  return json();
}

bool matches(const Config& c, const json& sel) {
  if (c.optimizer_label != sel["label"].get<std::string>()) return false;
  const json where = sel.value("where", json::object());
  for (auto it = where.begin(); it != where.end(); ++it) {
    json v = spec_value(c.spec, it.key());
    if (v.is_null() || !same_value(v, it.value())) return false;
  }
  return true;
}

/// "'label' with k=v ..." for messages.
std::string sel_text(const json& sel) {
  std::string t = "'" + sel["label"].get<std::string>() + "'";
  const json where = sel.value("where", json::object());
  for (auto it = where.begin(); it != where.end(); ++it)
    t += " " + it.key() + "=" + (it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
  return t;
}

std::vector<const Config*> select(const ExperimentResults& r, const json& sel) {
  std::vector<const Config*> out;
  for (const auto& c : r.configs)
    if (matches(c, sel)) out.push_back(&c);
  return out;
}

bool completed(const RunRecord* run) {
  const std::string s = run->summary.value("status", "");
  return s == "completed" || s == "budget";
}

/// A config's metric over its completed seeds.
struct Agg {
  std::vector<double> values;
  double mean = kNaN, se = 0;
  int n = 0, failed = 0;
};

Agg aggregate(const Config& c, const std::string& metric) {
  Agg a;
  for (const auto* run : c.runs) {
    if (!completed(run)) {
      ++a.failed;
      continue;
    }
    double v = run->metric(metric);
    if (std::isfinite(v)) a.values.push_back(v);
  }
  Stats s = stats_of(a.values);
  a.n = s.n;
  if (s.n) a.mean = s.mean, a.se = s.n > 1 ? s.std / std::sqrt(double(s.n)) : 0.0;
  return a;
}

/// Key of a config without the optimizer (pairs a's and b's configs); with `pair_on`, only the
/// values of those where-keys.
std::string pair_key(const Config& c, const json& pair_on) {
  if (pair_on.is_array()) {
    std::string k;
    for (const auto& key : pair_on) k += spec_value(c.spec, key.get<std::string>()).dump() + "|";
    return k;
  }
  json s = c.spec;
  s.erase("seed");
  s.erase("optimizer");
  s.erase("experiment");
  return s.dump();
}

std::string where_text(const Config& c) { return c.label; }

struct Pair {
  const Config *a, *b;
};

/// Pairs of a/b configs; `missing` receives a note when either side selects nothing. Configs pair
/// when their specs agree on everything but the optimizer (or on the `pair_on` keys); one config
/// on each side pairs anyway (a baseline with its own regularizer or problem options).
std::vector<Pair> pairs_of(const ExperimentResults& r, const json& check, std::string& missing) {
  auto as = select(r, check["a"]), bs = select(r, check["b"]);
  if (as.empty())
    missing = "no runs of " + sel_text(check["a"]);
  else if (bs.empty())
    missing = "no runs of " + sel_text(check["b"]);
  const json pair_on = check.contains("pair_on") ? check["pair_on"] : json();
  std::vector<Pair> out;
  for (const auto* a : as)
    for (const auto* b : bs)
      if (pair_key(*a, pair_on) == pair_key(*b, pair_on)) out.push_back({a, b});
  if (out.empty() && as.size() == 1 && bs.size() == 1) out.push_back({as[0], bs[0]});
  if (missing.empty() && out.empty()) missing = "the selected runs of a and b differ in more than the optimizer";
  return out;
}

bool passes(double x, const std::string& op, double v) {
  if (op == "<") return x < v;
  if (op == "<=") return x <= v;
  if (op == ">") return x > v;
  if (op == ">=") return x >= v;
  return x == v;
}

/// Signed distance by which x passes (> 0) or fails (< 0) `x op v`.
double pass_distance(double x, const std::string& op, double v, double margin) {
  if (op == "==") return margin - std::abs(x - v);
  if (op == "<" || op == "<=") return v - x;
  return x - v;
}

// ---- the check kinds -------------------------------------------------------------------------

void fail_missing(ClaimResult& res, const std::string& why) {
  res.outcome = Verdict::Inconclusive;
  res.detail = "runs missing or failed: " + why;
}

void check_threshold(const ExperimentResults& r, const json& c, ClaimResult& res) {
  const std::string metric = c["metric"], op = c["op"], over = c.value("over_seeds", "mean");
  const double value = c["value"], margin = c.value("margin", 0.0);
  auto cs = select(r, c["a"]);
  if (cs.empty()) return fail_missing(res, "no runs of " + sel_text(c["a"]));
  bool all_pass = true, any_clear_fail = false;
  std::string detail;
  json per = json::array();
  for (const auto* cfg : cs) {
    Agg a = aggregate(*cfg, metric);
    if (!a.n) return fail_missing(res, cfg->label + ": no completed run with metric '" + metric + "'");
    bool pass;
    double worst = 0;
    if (over == "mean") {
      const double d = pass_distance(a.mean, op, value, margin);
      pass = op == "==" ? d >= 0 : passes(a.mean, op, value);
      worst = d;
      if (!pass && d < -(op == "==" ? 0.0 : margin) - 2 * a.se) any_clear_fail = true;
    } else {
      int n_pass = 0;
      worst = std::numeric_limits<double>::infinity();
      for (double x : a.values) {
        const double d = pass_distance(x, op, value, margin);
        bool p = op == "==" ? d >= 0 : passes(x, op, value);
        n_pass += p;
        worst = std::min(worst, d);
        if (!p && d < -(op == "==" ? 0.0 : margin)) any_clear_fail = any_clear_fail || over == "all";
      }
      pass = over == "all" ? n_pass == a.n : n_pass > 0;
      if (over == "any" && !pass) {
        bool clear = true;
        for (double x : a.values) clear = clear && pass_distance(x, op, value, margin) < -(op == "==" ? 0.0 : margin);
        any_clear_fail = any_clear_fail || clear;
      }
    }
    all_pass = all_pass && pass;
    std::string vals;
    for (double x : a.values) vals += (vals.empty() ? "" : ", ") + n3(x);
    detail += (detail.empty() ? "" : "; ") + where_text(*cfg) + ": " + metric + " = " + n3(a.mean) +
              (a.n > 1 ? " ± " + n3(a.se) + " (SE)" : "") + (over != "mean" ? " [seeds: " + vals + "]" : "") +
              (a.failed ? " (" + std::to_string(a.failed) + " failed)" : "") + (pass ? " passes" : " fails");
    per.push_back(
        {{"config", cfg->label}, {"mean", a.mean}, {"se", a.se}, {"n", a.n}, {"values", a.values}, {"passes", pass}});
  }
  res.numbers = {{"metric", metric}, {"op", op},           {"value", value},
                 {"margin", margin}, {"over_seeds", over}, {"configs", per}};
  res.outcome = all_pass ? Verdict::Reproduced : any_clear_fail ? Verdict::NotReproduced : Verdict::Inconclusive;
  std::string tol = op == "==" ? " ± " + n3(margin) : margin > 0 ? " (margin " + n3(margin) + ")" : "";
  res.detail = "needs " + metric + " " + op + " " + n3(value) + tol + " (" + over + " over seeds): " + detail;
  if (res.outcome == Verdict::Inconclusive) res.detail += "; the failure is within the margin / seed noise";
}

/// Outcome of one signed difference against its noise level.
Verdict judge(double d, double noise) {
  if (d > noise) return Verdict::Reproduced;
  if (d < -noise) return Verdict::NotReproduced;
  return Verdict::Inconclusive;
}

Verdict combine(const std::vector<Verdict>& vs) {
  if (vs.empty()) return Verdict::Inconclusive;
  bool all = true;
  for (auto v : vs) {
    if (v == Verdict::NotReproduced) return Verdict::NotReproduced;
    all = all && v == Verdict::Reproduced;
  }
  return all ? Verdict::Reproduced : Verdict::Inconclusive;
}

void check_compare(const ExperimentResults& r, const json& c, ClaimResult& res) {
  const std::string metric = c["metric"];
  const double sign = c["better"] == "higher" ? 1.0 : -1.0, margin = c.value("margin", 0.0),
               k = c.value("noise_sigmas", 2.0);
  std::string missing;
  auto ps = pairs_of(r, c, missing);
  if (ps.empty()) return fail_missing(res, missing);
  std::vector<Verdict> vs;
  json per = json::array();
  std::string detail;
  for (const auto& p : ps) {
    Agg a = aggregate(*p.a, metric), b = aggregate(*p.b, metric);
    if (!a.n || !b.n)
      return fail_missing(res, (a.n ? p.b : p.a)->label + ": no completed run with metric '" + metric + "'");
    const double d = sign * (a.mean - b.mean), noise = std::max(margin, k * std::sqrt(a.se * a.se + b.se * b.se));
    vs.push_back(judge(d, noise));
    detail += (detail.empty() ? "" : "; ") + p.a->label + " " + n3(a.mean) + " vs " + p.b->label + " " + n3(b.mean) +
              " (" + metric + ", " + std::string(sign > 0 ? "higher" : "lower") + " is better; advantage " + n3(d) +
              ", noise/margin " + n3(noise) + (a.n < 2 || b.n < 2 ? ", 1 seed: no noise estimate" : "") + ")";
    per.push_back({{"a", p.a->label},
                   {"b", p.b->label},
                   {"a_mean", a.mean},
                   {"b_mean", b.mean},
                   {"a_se", a.se},
                   {"b_se", b.se},
                   {"advantage", d},
                   {"noise", noise},
                   {"verdict", verdict_text(vs.back())}});
  }
  res.numbers = {{"metric", metric}, {"better", c["better"]}, {"margin", margin}, {"pairs", per}};
  res.outcome = combine(vs);
  res.detail = detail;
}

void check_gap_trend(const ExperimentResults& r, const json& c, ClaimResult& res) {
  const std::string metric = c["metric"], along = c["along"], measure = c.value("measure", "ratio"),
                    better = c.value("better", "lower");
  const double margin = c.value("margin", 0.0);
  std::vector<double> gaps;
  json per = json::array();
  std::string detail;
  for (const auto& val : c["order"]) {
    json ca = c, cb = c;
    ca["a"]["where"][along] = val;
    cb["b"]["where"][along] = val;
    json sub = {{"a", ca["a"]}, {"b", cb["b"]}};
    if (c.contains("pair_on")) sub["pair_on"] = c["pair_on"];
    std::string missing;
    auto ps = pairs_of(r, sub, missing);
    const std::string vs = val.is_string() ? val.get<std::string>() : val.dump();
    if (ps.empty()) return fail_missing(res, along + " = " + vs + ": " + missing);
    Agg a = aggregate(*ps[0].a, metric), b = aggregate(*ps[0].b, metric);
    if (!a.n || !b.n) return fail_missing(res, along + " = " + vs + ": no completed run with metric '" + metric + "'");
    double gap;
    if (measure == "ratio")
      gap = better == "lower" ? b.mean / a.mean : a.mean / b.mean;
    else
      gap = better == "lower" ? b.mean - a.mean : a.mean - b.mean;
    gaps.push_back(gap);
    detail += (detail.empty() ? "" : "; ") + along + "=" + vs + ": a " + n3(a.mean) + ", b " + n3(b.mean) + ", gap " +
              n3(gap);
    per.push_back({{along, val}, {"a_mean", a.mean}, {"b_mean", b.mean}, {"gap", gap}});
  }
  std::vector<Verdict> steps;
  for (size_t i = 1; i < gaps.size(); ++i) steps.push_back(judge(gaps[i] - gaps[i - 1], margin));
  res.outcome = combine(steps);
  res.numbers = {{"metric", metric}, {"measure", measure}, {"along", along}, {"margin", margin}, {"gaps", per}};
  res.detail = "gap (" + measure + ", " + metric + ") of " + c["a"]["label"].get<std::string>() + " over " +
               c["b"]["label"].get<std::string>() + " must grow along " + along + " (margin " + n3(margin) +
               "): " + detail;
}

void check_better_at_similar(const ExperimentResults& r, const json& c, ClaimResult& res) {
  const json& bt = c["better"];
  const json& sm = c["similar"];
  const std::string bm = bt["metric"], smet = sm["metric"];
  const double bsign = bt.value("direction", "higher") == "higher" ? 1.0 : -1.0, margin = bt.value("margin", 0.0),
               tol = sm["tolerance"], k = c.value("noise_sigmas", 2.0);
  std::string missing;
  auto ps = pairs_of(r, c, missing);
  if (ps.empty()) return fail_missing(res, missing);
  std::vector<Verdict> vs;
  json per = json::array();
  std::string detail;
  for (const auto& p : ps) {
    Agg a = aggregate(*p.a, bm), b = aggregate(*p.b, bm), as = aggregate(*p.a, smet), bs = aggregate(*p.b, smet);
    if (!a.n || !b.n || !as.n || !bs.n)
      return fail_missing(
          res, p.a->label + " / " + p.b->label + ": no completed run with metrics '" + bm + "', '" + smet + "'");
    const double d = bsign * (a.mean - b.mean), noise = std::max(margin, k * std::sqrt(a.se * a.se + b.se * b.se));
    const double sd = as.mean - bs.mean;
    Verdict v = judge(d, noise);
    std::string sim = "similar";
    if (std::abs(sd) > tol) {
      if (!sm.contains("direction"))
        v = Verdict::Inconclusive, sim = "not similar";
      else {
        const double ssign = sm["direction"] == "higher" ? 1.0 : -1.0;
        if (ssign * sd > 0)
          sim = "a better on it too";
        else
          v = Verdict::NotReproduced, sim = "a worse on it beyond the tolerance";
      }
    }
    vs.push_back(v);
    detail += (detail.empty() ? "" : "; ") + p.a->label + " vs " + p.b->label + ": " + bm + " " + n3(a.mean) + " vs " +
              n3(b.mean) + " (advantage " + n3(d) + ", noise/margin " + n3(noise) + "), " + smet + " " + n3(as.mean) +
              " vs " + n3(bs.mean) + " (|Δ| " + n3(std::abs(sd)) + ", tolerance " + n3(tol) + ": " + sim + ")";
    per.push_back({{"a", p.a->label},
                   {"b", p.b->label},
                   {"better_a", a.mean},
                   {"better_b", b.mean},
                   {"advantage", d},
                   {"noise", noise},
                   {"similar_a", as.mean},
                   {"similar_b", bs.mean},
                   {"verdict", verdict_text(v)}});
  }
  res.outcome = combine(vs);
  res.numbers = {{"better", bt}, {"similar", sm}, {"pairs", per}};
  res.detail = detail;
}

/// True when every run selected by the claim's selectors matches `paper_scale` (strings equal,
/// numbers at least the stated value); `why` names the first mismatch.
bool at_paper_scale(const ExperimentResults& r, const json& claim, std::string& why) {
  if (!claim.contains("paper_scale")) return true;
  const json& chk = claim["check"];
  std::vector<const Config*> cs;
  for (const char* k : {"a", "b"})
    if (chk.contains(k))
      for (auto* c : select(r, chk[k])) cs.push_back(c);
  if (cs.empty())  // the selectors match nothing (e.g. a model the default does not run): all runs
    for (const auto& c : r.configs) cs.push_back(&c);
  for (auto it = claim["paper_scale"].begin(); it != claim["paper_scale"].end(); ++it)
    for (const auto* c : cs) {
      json v = spec_value(c->spec, it.key());
      bool ok = !v.is_null() && (it.value().is_number() && v.is_number() ? v.get<double>() >= it.value().get<double>()
                                                                         : same_value(v, it.value()));
      if (!ok) {
        why = it.key() + " = " +
              (v.is_null()     ? "unset"
               : v.is_string() ? v.get<std::string>()
                               : v.dump()) +
              ", paper: " + (it.value().is_string() ? it.value().get<std::string>() : it.value().dump());
        return false;
      }
    }
  return true;
}

std::string csv_quote(const std::string& v) {
  std::string o = "\"";
  for (char ch : v) o += ch == '"' ? std::string("\"\"") : std::string(1, ch);
  return o + "\"";
}

std::string html_escape(const std::string& s) {
  std::string o;
  for (char ch : s) {
    switch (ch) {
      case '<':
        o += "&lt;";
        break;
      case '>':
        o += "&gt;";
        break;
      case '&':
        o += "&amp;";
        break;
      default:
        o += ch;
    }
  }
  return o;
}

std::string key_of(Verdict v) {
  return v == Verdict::Reproduced ? "reproduced" : v == Verdict::NotReproduced ? "not_reproduced" : "inconclusive";
}

}  // namespace

std::string verdict_text(Verdict v) {
  return v == Verdict::Reproduced ? "reproduced" : v == Verdict::NotReproduced ? "not reproduced" : "inconclusive";
}

std::string ClaimResult::display() const {
  return at_this_scale ? "inconclusive at this scale" : verdict_text(verdict);
}

const std::vector<std::pair<std::string, std::string>>& check_kinds() {
  static const std::vector<std::pair<std::string, std::string>> k = {
      {"threshold", "a metric of the selected runs against a value (op < <= > >= ==, mean / all / any seeds)"},
      {"compare",
       "a metric of optimizer a against optimizer b (higher or lower is better), beyond margin and seed noise"},
      {"gap_trend", "the gap (ratio or difference) of a over b grows along an ordered list of settings"},
      {"better_at_similar", "a better than b on one metric while similar (within a tolerance) on another"},
  };
  return k;
}

void validate_claims(const json& claims, const std::string& where) {
  if (!claims.is_array()) bad(where, "claims", "must be a list of {id, text, source, check}");
  std::set<std::string> ids;
  static const std::regex id_re(R"([A-Za-z0-9._-]+)");
  for (size_t i = 0; i < claims.size(); ++i) {
    const std::string p = "claims[" + std::to_string(i) + "]";
    const json& c = claims[i];
    need_keys(c, where, p, {"id", "text", "source", "check"}, {"paper_scale"});
    for (const char* k : {"id", "text", "source"}) need_string(c, k, where, p);
    if (!std::regex_match(c["id"].get<std::string>(), id_re)) bad(where, p + ".id", "must be made of [A-Za-z0-9._-]");
    if (!ids.insert(c["id"]).second) bad(where, p + ".id", "duplicate id '" + c["id"].get<std::string>() + "'");
    if (c.contains("paper_scale")) {
      if (!c["paper_scale"].is_object()) bad(where, p + ".paper_scale", "must be a map of spec key: value");
      for (auto it = c["paper_scale"].begin(); it != c["paper_scale"].end(); ++it)
        if (!it.value().is_primitive()) bad(where, p + ".paper_scale." + it.key(), "must be a scalar");
    }
    validate_check(c["check"], where, p + ".check");
  }
}

ClaimResult evaluate_claim(const ExperimentResults& r, const json& claim) {
  ClaimResult res;
  res.id = claim.value("id", "");
  res.text = claim.value("text", "");
  res.source = claim.value("source", "");
  const json& c = claim.at("check");
  res.kind = c.value("kind", "");
  if (res.kind == "threshold")
    check_threshold(r, c, res);
  else if (res.kind == "compare")
    check_compare(r, c, res);
  else if (res.kind == "gap_trend")
    check_gap_trend(r, c, res);
  else if (res.kind == "better_at_similar")
    check_better_at_similar(r, c, res);
  else
    res.detail = "unknown check kind '" + res.kind + "'";
  res.verdict = res.outcome;
  std::string why;
  if (!at_paper_scale(r, claim, why)) {
    res.at_this_scale = true;
    res.verdict = Verdict::Inconclusive;
    res.detail = "not at the paper's scale (" + why + "); outcome at this scale: " + verdict_text(res.outcome) + ". " +
                 res.detail;
  }
  return res;
}

std::vector<ClaimResult> evaluate_claims(const ExperimentResults& r) {
  std::vector<ClaimResult> out;
  const json doc = r.experiment.value("document", json::object());
  if (!doc.contains("claims") || !doc["claims"].is_array()) return out;
  for (const auto& c : doc["claims"]) {
    try {
      out.push_back(evaluate_claim(r, c));
    } catch (const std::exception& e) {  // a malformed claim in an old store: say so, go on
      ClaimResult bad_claim;
      bad_claim.id = c.value("id", "?");
      bad_claim.text = c.value("text", "");
      bad_claim.source = c.value("source", "");
      bad_claim.detail = std::string("cannot evaluate: ") + e.what();
      out.push_back(bad_claim);
    }
  }
  return out;
}

void write_claims(const ExperimentResults& r, ReportWriter& out) {
  auto res = evaluate_claims(r);
  if (res.empty()) return;
  std::string md =
      "<!-- Paper claims: " + r.name + " -->\n| claim | source | check | verdict | numbers |\n|---|---|---|---|---|\n";
  std::string csv = "id,text,source,kind,verdict,outcome_at_this_scale,at_this_scale,detail\n";
  json j = {{"experiment", r.name}, {"claims", json::array()}};
  std::map<std::string, int> counts = {{"reproduced", 0}, {"not_reproduced", 0}, {"inconclusive", 0}};
  std::string html = "<table>\n<tr><th>claim</th><th>source</th><th>verdict</th><th>numbers</th></tr>\n";
  for (const auto& c : res) {
    auto cell = [](std::string s) {
      for (auto& ch : s)
        if (ch == '|' || ch == '\n') ch = ch == '|' ? '/' : ' ';
      return s;
    };
    md += "| " + cell(c.id + ": " + c.text) + " | " + cell(c.source) + " | " + c.kind + " | **" + c.display() +
          "** | " + cell(c.detail) + " |\n";
    csv += csv_quote(c.id) + "," + csv_quote(c.text) + "," + csv_quote(c.source) + "," + c.kind + "," +
           key_of(c.verdict) + "," + key_of(c.outcome) + "," + (c.at_this_scale ? "true" : "false") + "," +
           csv_quote(c.detail) + "\n";
    counts[key_of(c.verdict)]++;
    j["claims"].push_back({{"id", c.id},
                           {"text", c.text},
                           {"source", c.source},
                           {"kind", c.kind},
                           {"verdict", key_of(c.verdict)},
                           {"display", c.display()},
                           {"outcome_at_this_scale", key_of(c.outcome)},
                           {"at_this_scale", c.at_this_scale},
                           {"detail", c.detail},
                           {"numbers", c.numbers}});
    const char* color = c.verdict == Verdict::Reproduced      ? "#1a7f37"
                        : c.verdict == Verdict::NotReproduced ? "#b00"
                                                              : "#8a6d00";
    html += "<tr><td><b>" + html_escape(c.id) + "</b>: " + html_escape(c.text) + "</td><td>" + html_escape(c.source) +
            "</td><td style=\"color:" + color + ";font-weight:bold\">" + html_escape(c.display()) + "</td><td>" +
            html_escape(c.detail) + "</td></tr>\n";
  }
  j["counts"] = counts;
  harness::write_text_atomic(out.out_dir() + "/claims.md", md);
  harness::write_text_atomic(out.out_dir() + "/claims.csv", csv);
  harness::write_text_atomic(out.out_dir() + "/claims.json", j.dump(2) + "\n");
  html +=
      "</table>\n<p class=cap>Each claim of the paper about this experiment, checked on the stored runs (DESIGN §7): "
      "reproduced / not reproduced beyond the stated margin and the seed noise (2 standard errors), inconclusive when "
      "runs are missing or failed or the difference is within the margin; \"inconclusive at this scale\" when the runs "
      "were not made at the paper's setting (the outcome at this scale is given). " +
      std::to_string(counts["reproduced"]) + " reproduced, " + std::to_string(counts["not_reproduced"]) +
      " not reproduced, " + std::to_string(counts["inconclusive"]) +
      " inconclusive.</p>\n<p class=files><a href=\"claims.md\">Markdown</a> · <a href=\"claims.csv\">CSV</a> · "
      "<a href=\"claims.json\">JSON</a></p>\n";
  out.add_note("Paper claims", html);
}

}  // namespace proxbench::reports
