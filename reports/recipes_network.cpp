// Recipes of the `classification` problem (network training runs):
//   net_table     SR2 Tables 2–3: per model, regularizer, λ and optimizer the final test accuracy,
//                 %|w| = 0 and %|w| ≤ 1e-3 over the regularized weights, mean ± std over seeds
//   net_pruning   SR2 Figures 2–4: test accuracy and %|w| = 0 after zeroing |w| ≤ 10^{-k}
//                 (k = 1..8, no retraining) against the threshold, one curve per optimizer
//   net_objective ProxGen Figure 2 (left): F(θ) = f(θ) + λR(θ) against epochs (log y)
//   net_pruned    ProxGen Figure 2 (right): test accuracy against the pruned ratio
//   net_learning  ProxGen Figure 4: learning curve (test accuracy and %|w| = 0 against epochs)
// The pruning sweep comes from summary.json's metrics prune/1e-k/{test_accuracy,pct_zero}
// (ClassificationProblem::final_metrics); the curves from trajectory.csv.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <tuple>

#include "core/common.h"
#include "reports/report.h"

namespace proxbench::reports {
namespace {

using json = nlohmann::json;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr int kPruneLevels = 8;

std::string num(double v) { return std::isfinite(v) ? format_double(v) : "NaN"; }

std::vector<const Config*> net_configs(const ExperimentResults& r) {
  std::vector<const Config*> out;
  for (const auto& c : r.configs)
    if (c.spec["problem"]["name"] == "classification") out.push_back(&c);
  return out;
}

std::string problem_opt(const Config& c, const char* key, const std::string& dflt) {
  const json& o = c.spec["problem"]["options"];
  if (!o.contains(key)) return dflt;
  return o[key].is_string() ? o[key].get<std::string>() : o[key].dump();
}

std::string model_of(const Config& c) { return problem_opt(c, "model", "resnet20"); }
std::string dataset_of(const Config& c) { return problem_opt(c, "dataset", "fashion_mnist"); }
std::string reg_of(const Config& c) { return c.spec["regularizer"].value("name", std::string("none")); }
std::string lambda_of(const Config& c) { return c.spec.contains("lambda") ? num(c.spec["lambda"].get<double>()) : "0"; }

std::vector<double> metric_over_seeds(const Config& c, const std::string& name) {
  std::vector<double> xs;
  for (const auto* r : c.runs) xs.push_back(r->metric(name));
  return xs;
}

std::string prune_key(int k, const char* what) { return "prune/1e-" + std::to_string(k) + "/" + what; }

bool has_pruning(const std::vector<const Config*>& cs) {
  for (const auto* c : cs)
    for (const auto* r : c->runs)
      if (std::isfinite(r->metric(prune_key(1, "test_accuracy")))) return true;
  return false;
}

// ---- SR2 Tables 2–3 --------------------------------------------------------------------------

void recipe_table(RecipeContext& ctx) {
  auto cs = net_configs(ctx.results);
  if (cs.empty()) return;
  std::stable_sort(cs.begin(), cs.end(), [](const Config* a, const Config* b) {
    return std::make_tuple(dataset_of(*a), model_of(*a), reg_of(*a), a->spec.value("lambda", 0.0)) <
           std::make_tuple(dataset_of(*b), model_of(*b), reg_of(*b), b->spec.value("lambda", 0.0));
  });
  Table t;
  t.header = {"data set", "model", "regularizer", "λ", "optimizer", "seeds", "test accuracy %", "%|w|=0", "%|w|≤1e-3",
              "F(θ) final"};
  for (const auto* c : cs) {
    t.rows.push_back({Table::text(dataset_of(*c)), Table::text(model_of(*c)), Table::text(reg_of(*c)),
                      Table::text(lambda_of(*c)), Table::text(c->label), Table::text(std::to_string(c->runs.size())),
                      Table::stat(metric_over_seeds(*c, "test_accuracy"), 4),
                      Table::stat(metric_over_seeds(*c, "pct_zero"), 3),
                      Table::stat(metric_over_seeds(*c, "pct_small"), 3),
                      Table::stat(metric_over_seeds(*c, "objective"), 4)});
  }
  ctx.out.add_table("Accuracy and sparsity per model, λ and optimizer (style of SR2 Tables 2–3)", "net_table", t,
                    "Final test accuracy and the share of exactly zero (|w| = 0) and small (|w| ≤ 1e-3) weights among the "
                    "regularized parameters (Conv and Linear weights), mean ± std over seeds. λ is on the mean-loss scale "
                    "F = (1/N)Σℓ_i + λR (a paper's sum-scale λ_sum is λ_sum/N). F is measured on the train_eval_subset.");
}

// ---- pruning sweep data ----------------------------------------------------------------------

struct PruneData {
  std::vector<std::string> files;  // per config: thr acc acc_lo acc_hi pz pz_lo pz_hi
};

PruneData write_prune_data(RecipeContext& ctx, const std::vector<const Config*>& cs, const std::string& stem,
                           bool with_unpruned) {
  PruneData d;
  for (size_t ci = 0; ci < cs.size(); ++ci) {
    std::string text = "# " + cs[ci]->label + "\n# threshold acc_mean acc_min acc_max pct_zero_mean pct_zero_min pct_zero_max\n";
    auto row = [&](double thr, const std::string& acc, const std::string& pz) {
      Stats a = stats_of(metric_over_seeds(*cs[ci], acc)), z = stats_of(metric_over_seeds(*cs[ci], pz));
      if (!a.n || !z.n) return;
      text += num(thr) + " " + num(a.mean) + " " + num(a.min) + " " + num(a.max) + " " + num(z.mean) + " " + num(z.min) +
              " " + num(z.max) + "\n";
    };
    if (with_unpruned) {  // ordered by pruned ratio: unpruned, then thresholds 1e-8 up to 1e-1
      row(0.0, "test_accuracy", "pct_zero");
      for (int k = kPruneLevels; k >= 1; --k) row(std::pow(10.0, -k), prune_key(k, "test_accuracy"), prune_key(k, "pct_zero"));
    } else {
      for (int k = 1; k <= kPruneLevels; ++k) row(std::pow(10.0, -k), prune_key(k, "test_accuracy"), prune_key(k, "pct_zero"));
    }
    d.files.push_back(ctx.out.write_data(stem + "_" + std::to_string(ci) + ".dat", text));
  }
  return d;
}

/// Two panels side by side and a legend column; `panel(k)` returns the gnuplot settings and the
/// `using` spec for panel k.
struct PanelSpec {
  std::string xlabel, ylabel, title, settings, using_;
};

std::string two_panels(const ExperimentResults& R, const std::vector<const Config*>& cs, const std::vector<std::string>& files,
                       const std::string& title, const std::vector<PanelSpec>& panels, int& W, int& H) {
  const int n = static_cast<int>(panels.size());
  size_t longest = 0;
  for (const auto* c : cs) longest = std::max(longest, c->label.size());
  const int legend_px = std::min<int>(460, 90 + 10 * static_cast<int>(longest));
  const int panel_px = 450;
  W = n * panel_px + legend_px;
  H = 440;
  std::string b = "set encoding utf8\nset multiplot title " + gp_quote(title) + " noenhanced font ',14'\n";
  for (int k = 0; k < n; ++k) {
    const auto& p = panels[k];
    double L = (k * panel_px + 80.0) / W, Rm = ((k + 1) * panel_px - 18.0) / W;
    b += "reset\nset encoding utf8\nset lmargin at screen " + num(L) + "\nset rmargin at screen " + num(Rm) +
         "\nset tmargin at screen 0.86\nset bmargin at screen 0.14\nset grid lc rgb '#dddddd'\n";
    b += "set xlabel " + gp_quote(p.xlabel) + "\nset ylabel " + gp_quote(p.ylabel) + " offset 1,0\n";
    b += "set title " + gp_quote(p.title) + " font ',12'\n" + p.settings;
    if (k == n - 1)
      b += "set key at screen " + num((n * panel_px + 10.0) / W) +
           ", 0.86 left top Left reverse noenhanced samplen 3 spacing 1.3 font ',11' box lc rgb '#bbbbbb'\n";
    else
      b += "unset key\n";
    std::string plot;
    for (size_t ci = 0; ci < cs.size(); ++ci) {
      auto st = series_style(R, *cs[ci]);
      plot += std::string(plot.empty() ? "" : ", ") + gp_quote(files[ci]) + " using " + p.using_ +
              " with linespoints pt 7 ps 0.8 lc rgb '" + st.color + "' dt " + std::to_string(st.dash) + " lw 2 title " +
              gp_quote(cs[ci]->label);
    }
    b += "plot " + plot + "\n";
  }
  return b;
}

// ---- SR2 Figures 2–4 -------------------------------------------------------------------------

void recipe_pruning(RecipeContext& ctx) {
  auto cs = net_configs(ctx.results);
  if (cs.empty() || !has_pruning(cs)) return;
  auto d = write_prune_data(ctx, cs, "net_pruning", false);
  const std::string xs = "set logscale x\nset xrange [5e-9:0.2]\nset format x '10^{%L}'\n";
  int W = 0, H = 0;
  std::string b = two_panels(ctx.results, cs, d.files, "Pruning sweep |w| ≤ 10^-k, no retraining (style of SR2 Figures 2–4)",
                             {{"pruning threshold 10^{-k}", "test accuracy (%)", "test accuracy after pruning", xs, "1:2"},
                              {"pruning threshold 10^{-k}", "%|w| = 0", "sparsity after pruning",
                               xs + "set yrange [0:100]\n", "1:5"}},
                             W, H);
  ctx.out.add_figure("Accuracy and sparsity against the pruning threshold (SR2 Figures 2–4)", "net_pruning", b, W, H,
                     "After training, every regularized weight with |w| ≤ 10^{-k} (k = 1..8) is set to zero on a copy of the "
                     "model and the test accuracy and the share of zero weights are measured, without retraining (SR2 §5). "
                     "Mean over seeds. A method whose accuracy stays flat down to large thresholds has a model that is "
                     "robust to pruning; exact zeros show as a flat sparsity curve at small thresholds.");
}

// ---- ProxGen Figure 2 ------------------------------------------------------------------------

void recipe_objective(RecipeContext& ctx) {
  if (net_configs(ctx.results).empty()) return;
  curves_figure(ctx, "Objective F(θ) against epochs (style of ProxGen Figure 2, left)", "net_objective",
                {{"objective", "F(θ) = f(θ) + λR(θ)", true}, {"train_loss", "training loss f(θ)", true}},
                "epoch", "epochs", false, true,
                "F and f on the fixed train_eval_subset after each epoch (log scale); line: mean over seeds, band: min to "
                "max over seeds.");
}

void recipe_pruned_ratio(RecipeContext& ctx) {
  auto cs = net_configs(ctx.results);
  if (cs.empty() || !has_pruning(cs)) return;
  auto d = write_prune_data(ctx, cs, "net_pruned", true);
  int W = 0, H = 0;
  std::string b = two_panels(ctx.results, cs, d.files, "Accuracy vs pruned ratio (ProxGen Fig. 2, right)",
                             {{"pruned ratio: %|w| = 0 after pruning", "test accuracy (%)", "accuracy vs pruned ratio",
                               "set xrange [0:100]\n", "5:2"}},
                             W, H);
  ctx.out.add_figure("Test accuracy against the pruned ratio (ProxGen Figure 2, right)", "net_pruned", b, W, H,
                     "Each point: the trained model (leftmost point of a curve, no pruning) and the model after zeroing "
                     "|w| ≤ 10^{-k}, k = 1..8; x is the share of zero regularized weights, y the test accuracy, mean "
                     "over seeds. Curves further up and to the right are better.");
}

// ---- ProxGen Figure 4 ------------------------------------------------------------------------

void recipe_learning(RecipeContext& ctx) {
  if (net_configs(ctx.results).empty()) return;
  curves_figure(ctx, "Learning curves (style of ProxGen Figure 4)", "net_learning",
                {{"test_accuracy", "test accuracy (%)", false}, {"pct_zero", "%|w| = 0", false}}, "epoch", "epochs",
                false, true,
                "Test accuracy and the share of exactly zero regularized weights after each epoch (epoch 0: the "
                "initialization); line: mean over seeds, band: min to max over seeds.");
}

// ---- ProxGen Table 3 --------------------------------------------------------------------------

/// Test error of a config: the binarized model's when measured (binary/test_error), else
/// 100 − test accuracy.
std::vector<double> error_over_seeds(const Config& c, bool binary) {
  std::vector<double> xs;
  for (const auto* r : c.runs) {
    double v = binary ? r->metric("binary/test_error") : kNaN;
    if (!std::isfinite(v)) v = r->metric("test_error");
    if (!std::isfinite(v)) v = 100.0 - r->metric("test_accuracy");
    xs.push_back(v);
  }
  return xs;
}

void recipe_binary_table(RecipeContext& ctx) {
  auto cs = net_configs(ctx.results);
  if (cs.empty()) return;
  bool binary = false;
  for (const auto* c : cs)
    for (const auto* r : c->runs) binary = binary || std::isfinite(r->metric("binary/test_error"));
  // columns: the optimizer labels in order of appearance; rows: the models
  std::vector<std::string> labels, models;
  for (const auto* c : cs) {
    if (std::find(labels.begin(), labels.end(), c->optimizer_label) == labels.end())
      labels.push_back(c->optimizer_label);
    if (std::find(models.begin(), models.end(), model_of(*c)) == models.end()) models.push_back(model_of(*c));
  }
  Table t;
  t.header = {"model", "full precision (32-bit)"};
  for (const auto& l : labels) t.header.push_back(l);
  for (const auto& m : models) {
    std::vector<double> fp;
    std::vector<Table::Cell> cells;
    for (const auto& l : labels) {
      std::vector<double> err;
      for (const auto* c : cs)
        if (model_of(*c) == m && c->optimizer_label == l) {
          for (double v : error_over_seeds(*c, binary)) err.push_back(v);
          if (fp.empty())
            for (const auto* r : c->runs) fp.push_back(r->metric("warm_start/test_error"));
        }
      cells.push_back(Table::stat(err, 3));
    }
    std::vector<Table::Cell> row = {Table::text(m), Table::stat(fp, 3)};
    row.insert(row.end(), cells.begin(), cells.end());
    t.rows.push_back(row);
  }
  ctx.out.add_table(
      "Test error of binary networks (layout of ProxGen Table 3)", "net_binary_table", t,
      std::string("Test error (%) mean ± std over seeds, one row per model and one column per method. ") +
          (binary ? "The methods' columns give the binarized model's error (every quantized weight "
                    "replaced by sign(w) after training, binary/test_error); "
                  : "No binarized evaluation in these runs: the columns give the trained model's error; ") +
          "the full-precision column is the warm-start model every run started from "
          "(warm_start/test_error; n/a without warm_start_epochs).");
}

PROXBENCH_REGISTER(recipe_registry(),
                   (RecipeRegistry::Entry{"net_binary_table",
                                          "ProxGen Table 3: test error of binary networks, models x methods",
                                          {},
                                          "problems=none;order=4",
                                          recipe_binary_table}));
PROXBENCH_REGISTER(recipe_registry(),
                   (RecipeRegistry::Entry{"net_table", "SR2 Tables 2-3: accuracy, %|w|=0, %|w|<=1e-3 per model/lambda/optimizer",
                                          {}, "problems=classification;order=5", recipe_table}));
PROXBENCH_REGISTER(recipe_registry(),
                   (RecipeRegistry::Entry{"net_pruning", "SR2 Figs. 2-4: accuracy and sparsity vs pruning threshold", {},
                                          "problems=classification;order=6", recipe_pruning}));
PROXBENCH_REGISTER(recipe_registry(),
                   (RecipeRegistry::Entry{"net_objective", "ProxGen Fig. 2 (left): F vs epochs", {},
                                          "problems=classification;order=7", recipe_objective}));
PROXBENCH_REGISTER(recipe_registry(),
                   (RecipeRegistry::Entry{"net_pruned", "ProxGen Fig. 2 (right): test accuracy vs pruned ratio", {},
                                          "problems=classification;order=8", recipe_pruned_ratio}));
PROXBENCH_REGISTER(recipe_registry(),
                   (RecipeRegistry::Entry{"net_learning", "ProxGen Fig. 4: test accuracy vs epochs", {},
                                          "problems=classification;order=9", recipe_learning}));

}  // namespace
}  // namespace proxbench::reports
