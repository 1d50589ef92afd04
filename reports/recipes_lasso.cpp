// Recipes of the Lasso support-recovery problem: the setup, ProxGen Figure 3 (final estimate
// against the truth per coordinate), the support-recovery table, and the F1-vs-λ phase plot.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/common.h"
#include "reports/report.h"

namespace proxbench::reports {
namespace {

using json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

std::string num(double v) { return std::isfinite(v) ? format_double(v) : "NaN"; }

std::vector<const Config*> lasso_configs(const ExperimentResults& r) {
  std::vector<const Config*> out;
  for (const auto& c : r.configs)
    if (c.spec["problem"]["name"] == "lasso") out.push_back(&c);
  return out;
}

/// "a, b" of the distinct values of a spec path over the configs.
std::string distinct(const std::vector<const Config*>& cs, const std::function<json(const json&)>& get) {
  std::vector<std::string> vals;
  for (const auto* c : cs) {
    json v = get(c->spec);
    std::string s = v.is_null() ? "default" : v.is_string() ? v.get<std::string>() : v.dump();
    if (std::find(vals.begin(), vals.end(), s) == vals.end()) vals.push_back(s);
  }
  std::string out;
  for (const auto& v : vals) out += (out.empty() ? "" : ", ") + v;
  return out;
}

// ---- setup -----------------------------------------------------------------------------------

void recipe_setup(RecipeContext& ctx) {
  auto cs = lasso_configs(ctx.results);
  if (cs.empty()) return;
  Table t;
  t.header = {"setting", "value"};
  auto opt = [](const char* k) {
    return [k](const json& s) { return s["problem"]["options"].contains(k) ? s["problem"]["options"][k] : json(nullptr); };
  };
  // the resolved instance facts come from summary.json's "problem" block
  const json prob = cs.front()->runs.front()->summary.value("problem", json::object());
  auto fact = [&](const char* k) { return prob.contains(k) ? prob[k].dump() : std::string("n/a"); };
  t.rows.push_back({Table::text("n (samples)"), Table::text(fact("n"))});
  t.rows.push_back({Table::text("p (features)"), Table::text(fact("p"))});
  t.rows.push_back({Table::text("k (non-zeros of θ*)"), Table::text(fact("k"))});
  t.rows.push_back({Table::text("ρ (column correlation)"), Table::text(fact("rho"))});
  t.rows.push_back({Table::text("noise std"), Table::text(fact("noise"))});
  t.rows.push_back({Table::text("minibatch size"), Table::text(fact("batch_size"))});
  t.rows.push_back({Table::text("magnitude of θ*"), Table::text(distinct(cs, opt("magnitude")))});
  t.rows.push_back({Table::text("init"), Table::text(distinct(cs, opt("init")))});
  t.rows.push_back({Table::text("init scale"), Table::text(distinct(cs, opt("init_scale")))});
  t.rows.push_back({Table::text("regularizer"), Table::text(distinct(cs, [](const json& s) { return s["regularizer"]; }))});
  t.rows.push_back({Table::text("λ"), Table::text(distinct(cs, [](const json& s) { return s["lambda"]; }))});
  t.rows.push_back({Table::text("budget"), Table::text(distinct(cs, [](const json& s) { return s["budget"]; }))});
  std::set<int64_t> seeds;
  for (const auto* c : cs)
    for (const auto* r : c->runs) seeds.insert(r->spec["seed"].get<int64_t>());
  std::string ss;
  for (auto s : seeds) ss += (ss.empty() ? "" : ", ") + std::to_string(s);
  t.rows.push_back({Table::text("seeds (data, init and minibatches)"), Table::text(ss)});
  t.rows.push_back({Table::text("L = λ_max(XᵀX/n) (seed " + std::to_string(cs.front()->runs.front()->spec["seed"].get<int64_t>()) + ")"),
                    Table::text(prob.contains("lipschitz_constant") ? fmt_sig(prob["lipschitz_constant"].get<double>(), 6) : "n/a")});
  if (prob.contains("reference"))
    t.rows.push_back({Table::text("reference F* solver"),
                      Table::text(prob["reference"].value("solver", "") + ", KKT residual " +
                                  fmt_sig(prob["reference"].value("kkt_residual", kNaN), 2))});
  for (const auto* c : cs) {
    // one row per optimizer configuration: its resolved options
    const json o = c->runs.front()->summary.value("optimizer", json::object());
    std::string opts;
    const json given = c->spec["optimizer"]["options"];
    for (auto it = given.begin(); it != given.end(); ++it) opts += (opts.empty() ? "" : ", ") + it.key() + "=" + it.value().dump();
    std::string row = "optimizer " + c->optimizer_label;
    bool dup = false;
    for (const auto& r : t.rows) dup = dup || r[0].text == row;
    if (!dup) t.rows.push_back({Table::text(row), Table::text(o.value("name", "") + (opts.empty() ? "" : ": " + opts))});
  }
  ctx.out.add_table("Setup of the Lasso experiment", "lasso_setup", t,
                    "y = Xθ* + ε with X_ij ~ N(0, 1) (AR(1) columns when ρ > 0), θ* k-sparse; F(θ) = ½‖Xθ − y‖²/n + λ‖θ‖₁ "
                    "(mean loss). Optimizer options as given in the experiment (the run folders' summary.json hold them "
                    "with the defaults filled in).");
}

// ---- ProxGen Figure 3 ------------------------------------------------------------------------

void recipe_fig3(RecipeContext& ctx) {
  auto cs = lasso_configs(ctx.results);
  if (cs.empty()) return;
  std::vector<std::string> labels, variants;
  for (const auto* c : cs) {
    if (std::find(labels.begin(), labels.end(), c->optimizer_label) == labels.end()) labels.push_back(c->optimizer_label);
    if (std::find(variants.begin(), variants.end(), c->variant) == variants.end()) variants.push_back(c->variant);
  }
  const int cols = static_cast<int>(labels.size()), rows = static_cast<int>(variants.size());
  // The shared legend sits in a strip below the panels (a strip on top overlapped the panel titles).
  const int pw = 380, ph = 330, top = 70, bottom = 45, W = cols * pw, H = rows * ph + top + bottom;
  std::string b = "set encoding utf8\nset multiplot title " +
                  gp_quote("Final estimate vs truth per coordinate (ProxGen Figure 3); first seed") +
                  " noenhanced font ',14'\n";
  int drawn = 0;
  for (int ri = 0; ri < rows; ++ri)
    for (int ci = 0; ci < cols; ++ci) {
      const Config* c = nullptr;
      for (const auto* k : cs)
        if (k->optimizer_label == labels[ci] && k->variant == variants[ri]) c = k;
      if (!c) continue;
      const RunRecord* run = c->runs.front();
      if (!harness::file_exists(run->dir + "/estimate.csv")) continue;
      harness::CsvTable est = harness::read_csv(run->dir + "/estimate.csv");
      std::string text = "# index theta_star theta_hat  (" + c->label + ", run " + run->id + ")\n";
      auto idx = est.values("index"), ts = est.values("theta_star"), th = est.values("theta_hat");
      for (size_t i = 0; i < idx.size(); ++i) text += num(idx[i]) + " " + num(ts[i]) + " " + num(th[i]) + "\n";
      std::string file = ctx.out.write_data("fig3_" + run->id + ".dat", text);
      double L = (ci * pw + 70.0) / W, R = ((ci + 1) * pw - 12.0) / W;
      double T = 1.0 - (top + ri * ph + 40.0) / H, B = 1.0 - (top + (ri + 1) * ph - 60.0) / H;
      std::string title = c->optimizer_label + (variants[ri].empty() ? "" : ", " + variants[ri]) + "\\nnnz " +
                          fmt_sig(run->metric("nnz"), 4) + ", F1 " + fmt_sig(run->metric("support_f1"), 3) + ", ‖θ̂−θ*‖ " +
                          fmt_sig(run->metric("estimation_error"), 2);
      auto st = series_style(ctx.results, *c);
      b += "reset\nset encoding utf8\nset lmargin at screen " + num(L) + "\nset rmargin at screen " + num(R) +
           "\nset tmargin at screen " + num(T) + "\nset bmargin at screen " + num(B) + "\n";
      b += "set title \"" + title + "\" noenhanced font ',11'\nset xlabel 'coordinate j' offset 0,0.5\nset ylabel 'value' offset 1.5,0\n";
      b += "set grid lc rgb '#e5e5e5'\nset xzeroaxis lc rgb '#999999'\nset offsets 0.5, 0.5, 0.1, 0.1\nset autoscale xfix\n";
      b += "unset key\n";
      b += "plot " + gp_quote(file) + " using 1:2 with impulses lc rgb '#aaaaaa' lw 2 title 'truth θ*', " + gp_quote(file) +
           " using 1:($2 != 0 ? $2 : 1/0) with points pt 6 ps 1.3 lc rgb '#000000' title 'support of θ*', " + gp_quote(file) +
           " using 1:($3 != 0 ? $3 : 1/0) with points pt 7 ps 0.7 lc rgb '" + st.color + "' title 'estimate θ̂ (non-zero)', " +
           gp_quote(file) + " using 1:($3 == 0 ? $3 : 1/0) with points pt 2 ps 0.6 lc rgb '#d00000' title 'estimate exactly 0'\n";
      ++drawn;
    }
  if (!drawn) return;
  // The shared legend: a key-only plot (NaN series) over the strip below the panels.
  b += "reset\nset encoding utf8\nset lmargin at screen 0.02\nset rmargin at screen 0.98\nset bmargin at screen 0\n"
       "set tmargin at screen " + num(double(bottom) / H) +
       "\nunset border\nunset tics\nset xrange [0:1]\nset yrange [0:1]\n"
       "set key center center horizontal maxrows 1 noenhanced font ',11' samplen 2\n"
       "plot NaN with impulses lc rgb '#aaaaaa' lw 2 title 'truth θ*', NaN with points pt 6 ps 1.3 lc rgb '#000000' "
       "title 'support of θ*', NaN with points pt 7 ps 0.7 lc rgb '#555555' title 'estimate θ̂, non-zero (colour: "
       "optimizer)', NaN with points pt 2 ps 0.6 lc rgb '#d00000' title 'estimate exactly 0'\n";
  ctx.out.add_figure("ProxGen Figure 3: Lasso estimates per coordinate", "fig3_estimates", b, W, H,
                     "Each panel: the final iterate θ̂ of one optimizer (column) and initialization (row), first seed, "
                     "against the truth θ* (grey impulses, black circles). Red crosses mark coordinates that are exactly "
                     "zero: a method without them recovers no support. ProxGen (Yun et al., NeurIPS 2021) Section 5, "
                     "Study 1.");
}

// ---- support-recovery table ------------------------------------------------------------------

void recipe_support(RecipeContext& ctx) {
  auto cs = lasso_configs(ctx.results);
  if (cs.empty()) return;
  Table t;
  t.header = {"configuration", "seeds", "nnz", "precision", "recall", "F1", "sign accuracy", "‖θ−θ*‖₂", "F − F*",
              "dist(0, ∂F)"};
  for (const auto* c : cs) {
    auto col = [&](const char* m) {
      std::vector<double> v;
      for (const auto* r : c->runs) v.push_back(r->metric(m));
      return v;
    };
    t.rows.push_back({Table::text(c->label), Table::text(std::to_string(c->runs.size())), Table::stat(col("nnz"), 4),
                      Table::stat(col("support_precision")), Table::stat(col("support_recall")),
                      Table::stat(col("support_f1")), Table::stat(col("sign_accuracy")),
                      Table::stat(col("estimation_error")), Table::stat(col("suboptimality"), 3, true),
                      Table::stat(col("stationarity"), 3, true)});
  }
  ctx.out.add_table("Support recovery (mean ± std over seeds)", "support_recovery", t,
                    "Final iterate. nnz: exact non-zeros; precision/recall/F1 of the estimated support {j: θ_j ≠ 0} "
                    "against supp(θ*) (precision 0 when nnz = 0); sign accuracy over all p coordinates; F − F*: "
                    "suboptimality against the coordinate-descent reference (l1 only); dist(0, ∂F): exact stationarity "
                    "(l1) or the prox-gradient mapping norm. Std is the sample standard deviation over seeds.");
}

// ---- F1 against λ ----------------------------------------------------------------------------

void recipe_phase(RecipeContext& ctx) {
  auto cs = lasso_configs(ctx.results);
  std::set<double> lambdas;
  for (const auto* c : cs) lambdas.insert(c->spec["lambda"].get<double>());
  if (lambdas.size() < 2 || *lambdas.begin() <= 0) return;
  // series: configs that differ only in λ
  std::map<std::string, std::vector<const Config*>> series;
  std::vector<std::string> order;
  for (const auto* c : cs) {
    json k = c->spec;
    k.erase("lambda");
    k.erase("seed");
    std::string key = k.dump();
    if (!series.count(key)) order.push_back(key);
    series[key].push_back(c);
  }
  std::string b = "set encoding utf8\nset logscale x\nset grid lc rgb '#dddddd'\nset xlabel 'λ (mean-loss scale)'\n"
                  "set ylabel 'support F1'\nset yrange [-0.05:1.05]\nset key outside right top noenhanced font ',11'\n"
                  "set title 'Support recovery against λ (mean ± std over seeds)' font ',13'\nplot ";
  // x range: half a decade past the grid; series of one optimizer that differ in another key (the
  // init) share its colour and get their own dash and point type.
  b.insert(b.find("plot "), "set xrange [" + num(*lambdas.begin() / 1.5) + ":" + num(*lambdas.rbegin() * 1.5) + "]\n");
  std::map<std::string, int> var_index;
  std::string plot;
  int i = 0;
  for (const auto& key : order) {
    auto& v = series[key];
    std::sort(v.begin(), v.end(), [](auto* a, auto* b) { return a->spec["lambda"] < b->spec["lambda"]; });
    std::string text = "# lambda f1_mean f1_std\n";
    for (const auto* c : v) {
      std::vector<double> f1;
      for (const auto* r : c->runs) f1.push_back(r->metric("support_f1"));
      Stats s = stats_of(f1);
      text += num(c->spec["lambda"].get<double>()) + " " + num(s.mean) + " " + num(s.std) + "\n";
    }
    std::string file = ctx.out.write_data("phase_" + std::to_string(i++) + ".dat", text);
    auto st = series_style(ctx.results, *v.front());
    std::string label = v.front()->optimizer_label;
    std::string var = v.front()->variant;
    // drop lambda=... from the variant
    auto p = var.find("lambda=");
    if (p != std::string::npos) {
      auto e = var.find(' ', p);
      var.erase(p, e == std::string::npos ? std::string::npos : e - p + 1);
    }
    while (!var.empty() && var.back() == ' ') var.pop_back();
    const int vi = var_index.emplace(var, int(var_index.size())).first->second;
    const int dash = vi == 0 ? st.dash : 1 + vi % 5, pt = vi % 2 == 0 ? 7 : 6;
    plot += std::string(plot.empty() ? "" : ", ") + gp_quote(file) + " using 1:2:3 with yerrorlines lc rgb '" + st.color +
            "' dt " + std::to_string(dash) + " lw 2 pt " + std::to_string(pt) + " title " +
            gp_quote(label + (var.empty() ? "" : " " + var));
  }
  ctx.out.add_figure("Support recovery phase plot: F1 against λ", "phase_f1_lambda", b + plot + "\n", 1000, 520,
                     "Final support F1 of each optimizer and initialization over a log grid of λ (not in the papers).");
}

PROXBENCH_REGISTER(recipe_registry(),
                   (RecipeRegistry::Entry{"lasso_setup", "Lasso: n, p, k, noise, lambda, batch, optimizer options", {},
                                          "problems=lasso;order=5", recipe_setup}));
PROXBENCH_REGISTER(recipe_registry(), (RecipeRegistry::Entry{"lasso_fig3", "ProxGen Fig. 3: estimate vs truth per coordinate",
                                                             {}, "problems=lasso;order=10", recipe_fig3}));
PROXBENCH_REGISTER(recipe_registry(),
                   (RecipeRegistry::Entry{"lasso_support", "support-recovery table, mean +- std over seeds", {},
                                          "problems=lasso;order=15", recipe_support}));
PROXBENCH_REGISTER(recipe_registry(), (RecipeRegistry::Entry{"lasso_phase", "F1 against lambda (needs >= 2 lambdas)", {},
                                                             "problems=lasso;order=60", recipe_phase}));

}  // namespace
}  // namespace proxbench::reports
