// Recipes for any problem: curves over epochs, ProxGen Figure 1's probes, the Theorem 1 conditions
// table, the list of runs.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>

#include "core/common.h"
#include "reports/report.h"

namespace proxbench::reports {
namespace {

using json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string num(double v) { return std::isfinite(v) ? format_double(v) : "NaN"; }

}  // namespace

SeriesStyle series_style(const ExperimentResults& r, const Config& c) {
  std::vector<std::string> labels, variants;
  for (const auto& k : r.configs) {
    if (std::find(labels.begin(), labels.end(), k.optimizer_label) == labels.end()) labels.push_back(k.optimizer_label);
    if (std::find(variants.begin(), variants.end(), k.variant) == variants.end()) variants.push_back(k.variant);
  }
  size_t li = std::find(labels.begin(), labels.end(), c.optimizer_label) - labels.begin();
  size_t vi = std::find(variants.begin(), variants.end(), c.variant) - variants.begin();
  return {series_color(li), static_cast<int>(vi % 5) + 1};
}

Curve seed_curve(const Config& c, const std::string& x, const std::string& y) {
  Curve out;
  std::vector<std::vector<double>> xs, ys;
  size_t rows = 0;
  for (const auto* r : c.runs) {
    xs.push_back(r->trajectory().values(x));
    ys.push_back(r->trajectory().values(y));
    rows = std::max(rows, xs.back().size());
  }
  for (size_t i = 0; i < rows; ++i) {
    std::vector<double> xv, yv;
    for (size_t s = 0; s < xs.size(); ++s)
      if (i < xs[s].size()) xv.push_back(xs[s][i]), yv.push_back(ys[s][i]);
    Stats sx = stats_of(xv), sy = stats_of(yv);
    if (!sx.n) continue;
    out.x.push_back(sx.mean);
    out.mean.push_back(sy.n ? sy.mean : kNaN);
    out.lo.push_back(sy.n ? sy.min : kNaN);
    out.hi.push_back(sy.n ? sy.max : kNaN);
  }
  return out;
}

bool curves_figure(RecipeContext& ctx, const std::string& title, const std::string& stem, const std::vector<Panel>& panels_in,
                   const std::string& xcol, const std::string& xlabel, bool logx, bool bands, const std::string& caption) {
  const auto& R = ctx.results;
  // keep panels with data
  std::vector<Panel> panels;
  for (const auto& p : panels_in) {
    bool any = false;
    for (const auto& c : R.configs)
      for (const auto* r : c.runs)
        for (double v : r->trajectory().values(p.column)) any = any || std::isfinite(v);
    if (any) panels.push_back(p);
  }
  if (panels.empty()) return false;
  const double floor_log = 1e-16;
  // one data file per (config, panel): rows whose column is NaN for every seed (probes-only rows
  // of eval_every, metrics between evaluations) are left out, so lines join the measured points
  std::vector<std::vector<std::string>> files(R.configs.size());
  for (size_t ci = 0; ci < R.configs.size(); ++ci)
    for (size_t k = 0; k < panels.size(); ++k) {
      Curve cv = seed_curve(R.configs[ci], xcol, panels[k].column);
      auto clip = [&](double v) { return panels[k].logy && std::isfinite(v) ? std::max(v, floor_log) : v; };
      std::string text = "# " + R.configs[ci].label + "\n# x " + panels[k].column + "_mean _min _max\n";
      for (size_t i = 0; i < cv.x.size(); ++i) {
        if ((logx && !(cv.x[i] > 0)) || !std::isfinite(cv.mean[i])) continue;
        text += num(cv.x[i]) + " " + num(clip(cv.mean[i])) + " " + num(clip(cv.lo[i])) + " " + num(clip(cv.hi[i])) + "\n";
      }
      files[ci].push_back(ctx.out.write_data(stem + "_" + std::to_string(ci) + "_" + std::to_string(k) + ".dat", text));
    }
  // layout in pixels: panels side by side, one legend column at the right
  const int n = static_cast<int>(panels.size());
  size_t longest = 0;
  for (const auto& c : R.configs) longest = std::max(longest, c.label.size());
  const int legend_px = std::min<int>(520, 90 + 9 * static_cast<int>(longest));
  const int panel_px = 430, W = n * panel_px + legend_px, H = 440;
  std::string b = "set encoding utf8\nset multiplot title " + gp_quote(title) + " noenhanced font ',14'\n";
  for (int k = 0; k < n; ++k) {
    const auto& p = panels[k];
    double L = (k * panel_px + 80.0) / W, Rm = ((k + 1) * panel_px - 18.0) / W;
    b += "reset\nset encoding utf8\nset lmargin at screen " + num(L) + "\nset rmargin at screen " + num(Rm) +
         "\nset tmargin at screen 0.86\nset bmargin at screen 0.14\nset grid lc rgb '#dddddd'\n";
    b += "set xlabel " + gp_quote(xlabel) + "\nset ylabel " + gp_quote(p.ylabel) + " offset 1,0\n";
    b += "set title " + gp_quote(p.ylabel) + " font ',12'\n";
    b += std::string(p.logy ? "set logscale y\nset format y '10^{%L}'\n" : "unset logscale y\n");
    b += std::string(logx ? "set logscale x\n" : "");
    if (k == n - 1)
      b += "set key at screen " + num((n * panel_px + 10.0) / W) + ", 0.86 left top Left reverse noenhanced samplen 3 "
           "spacing 1.3 font ',11' box lc rgb '#bbbbbb'\n";
    else
      b += "unset key\n";
    std::string plot;
    for (size_t ci = 0; ci < R.configs.size(); ++ci) {
      auto st = series_style(R, R.configs[ci]);
      if (bands)
        plot += std::string(plot.empty() ? "" : ", ") + gp_quote(files[ci][k]) +
                " using 1:3:4 with filledcurves lc rgb '" + st.color + "' fs transparent solid 0.15 noborder notitle";
      plot += std::string(plot.empty() ? "" : ", ") + gp_quote(files[ci][k]) + " using 1:2 with lines lc rgb '" +
              st.color + "' dt " + std::to_string(st.dash) + " lw 2 title " + gp_quote(R.configs[ci].label);
    }
    b += "plot " + plot + "\n";
  }
  ctx.out.add_figure(title, stem, b, W, H, caption);
  return true;
}

namespace {

// ---- curves over epochs ----------------------------------------------------------------------

void recipe_curves(RecipeContext& ctx) {
  curves_figure(ctx, "Objective and stationarity vs epochs", "curves_epochs",
                {{"objective", "objective F(θ) = f(θ) + λR(θ)", true},
                 {"suboptimality", "suboptimality F(θ) − F*", true},
                 {"stationarity", "stationarity dist(0, ∂F(θ))", true},
                 {"test_accuracy", "test accuracy", false}},
                "epoch", "epochs", false, true,
                "Full-data metrics at the logged steps; line: mean over seeds, band: min to max over seeds. "
                "Log scales; values below 1e-16 are drawn at 1e-16. Stationarity is the exact dist(0, ∂F) for l1 "
                "(ProxGen Section 3), the prox-gradient mapping norm for other regularizers.");
}

// ---- ProxGen Figure 1: probes ----------------------------------------------------------------

void recipe_probes(RecipeContext& ctx) {
  curves_figure(ctx, "Conditions (C-3), (C-4) along the run (style of ProxGen Figure 1)", "probes_fig1",
                {{"dtheta_norm", "‖θ_{t+1} − θ_t‖_2", true},
                 {"grad_norm", "‖g_t‖_2", true},
                 {"lambda_min", "λ_{min}(α_t (C_t + δI)^{-1})", true}},
                "step", "steps t", false, false,
                "Probes measured by the optimizer at the logged steps (mean over seeds): the step length and the "
                "stochastic gradient norm bound D and G of (C-3); the smallest eigenvalue of the effective step "
                "α_t(C_t+δI)^{-1} bounds γ of (C-4) (SR2 reports 1/σ_t; Prox-SGD its α_t/max(C+δ)). "
                "Rows are logged every log_every steps; set log_every: 1 for every step.");
}

// ---- conditions table (Theorem 1) ------------------------------------------------------------

double option_number(const json& opts, std::initializer_list<const char*> keys) {
  for (const char* k : keys)
    if (opts.contains(k) && opts[k].is_number()) return opts[k].get<double>();
  return kNaN;
}

void recipe_conditions(RecipeContext& ctx) {
  Table t;
  t.header = {"run", "optimizer", "seed", "D = max‖Δθ‖", "G = max‖g‖", "γ = min λ_min", "L", "α0", "δ", "δ/(3L)",
              "α0 ≤ δ/(3L)"};
  bool any = false;
  for (const auto& c : ctx.results.configs)
    for (const auto* r : c.runs) {
      const json cond = r->summary.value("conditions", json::object());
      auto g = [&](const char* k) { return cond.contains(k) && cond[k].is_number() ? cond[k].get<double>() : kNaN; };
      const json opts = r->summary.value("optimizer", json::object()).value("options", json::object());
      std::string oname = r->summary.value("optimizer", json::object()).value("name", "");
      double a0 = option_number(opts, {"lr", "alpha", "alpha0", "eps0"});
      double delta = option_number(opts, {"delta", "eps"});
      double L = g("L");
      std::string holds;
      if (oname.find("proxgen") == std::string::npos) holds = "n/a (Theorem 1 is about ProxGen)";
      else if (!std::isfinite(a0) || !std::isfinite(delta) || !std::isfinite(L)) holds = "n/a";
      else holds = a0 <= delta / (3 * L) ? "yes" : "no";
      any = any || std::isfinite(g("D"));
      t.rows.push_back({Table::text(r->id.substr(0, 8)), Table::text(c.label),
                        Table::text(std::to_string(r->spec["seed"].get<int64_t>())), Table::text(fmt_sig(g("D"))),
                        Table::text(fmt_sig(g("G"))), Table::text(fmt_sig(g("gamma"))), Table::text(fmt_sig(L, 4)),
                        Table::text(fmt_sig(a0)), Table::text(fmt_sig(delta)),
                        Table::text(std::isfinite(L) && std::isfinite(delta) ? fmt_sig(delta / (3 * L)) : "n/a"),
                        Table::text(holds)});
    }
  if (!any) return;
  ctx.out.add_table("Conditions of ProxGen Theorem 1 per run", "conditions", t,
                    "D, G: largest step length and stochastic gradient norm over all steps ((C-3)); γ: smallest "
                    "λ_min(α_t(C_t+δI)^{-1}) over all steps ((C-4)); L: Lipschitz constant of ∇f (exact for the Lasso: "
                    "λ_max(XᵀX/n)); Theorem 1 assumes α0 ≤ δ/(3L). α0 and δ are the optimizer's lr and delta/eps "
                    "options (registry defaults filled in).");
}

// ---- runs ------------------------------------------------------------------------------------

void recipe_runs(RecipeContext& ctx) {
  Table t;
  t.header = {"run", "configuration", "seed", "status", "steps", "objective", "optimizer s", "evaluation s", "message"};
  for (const auto& c : ctx.results.configs)
    for (const auto* r : c.runs) {
      const auto& s = r->summary;
      const json tm = s.value("timings", json::object());
      auto num_of = [&](const json& j, const char* k) { return j.contains(k) && j[k].is_number() ? j[k].get<double>() : kNaN; };
      t.rows.push_back({Table::text(r->id), Table::text(c.label), Table::text(std::to_string(r->spec["seed"].get<int64_t>())),
                        Table::text(s.value("status", "?")),
                        Table::text(std::to_string(s.value("final", json::object()).value("step", int64_t(0)))),
                        Table::text(fmt_sig(r->metric("objective"), 6)), Table::text(fmt_sig(num_of(tm, "optimizer_seconds"))),
                        Table::text(fmt_sig(num_of(tm, "evaluation_seconds"))), Table::text(s.value("message", ""))});
    }
  ctx.out.add_table("Runs", "runs", t,
                    "Every finished run of the store (run folder = run id; spec.json, trajectory.csv, summary.json inside). "
                    "Optimizer time excludes evaluation.");
}

PROXBENCH_REGISTER(recipe_registry(),
                   (RecipeRegistry::Entry{"curves", "objective / suboptimality / stationarity vs epochs", {},
                                          "problems=*;order=20", recipe_curves}));
PROXBENCH_REGISTER(recipe_registry(), (RecipeRegistry::Entry{"probes", "ProxGen Fig. 1: ||dtheta||, ||g||, lambda_min vs steps",
                                                             {}, "problems=*;order=30", recipe_probes}));
PROXBENCH_REGISTER(recipe_registry(), (RecipeRegistry::Entry{"conditions", "D, G, gamma, L and Theorem 1's alpha0 <= delta/(3L)",
                                                             {}, "problems=*;order=40", recipe_conditions}));
PROXBENCH_REGISTER(recipe_registry(),
                   (RecipeRegistry::Entry{"runs", "table of all runs", {}, "problems=*;order=90", recipe_runs}));

}  // namespace
}  // namespace proxbench::reports
