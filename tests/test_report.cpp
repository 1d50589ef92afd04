// Reports: table formatting (mean ± std, CSV columns, LaTeX escaping), config grouping and
// labels, recipe selection, and a full report of a small Lasso store (index.html, tables,
// figures when gnuplot is available).
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "harness/experiment.h"
#include "harness/io.h"
#include "harness/runner.h"
#include "reports/report.h"
#include "tests/test_harness_support.h"

using namespace proxbench;
using nlohmann::json;
namespace fs = std::filesystem;

TEST(ReportTable, MeanStdFormatsAndCsvColumns) {
  auto c = reports::Table::stat({1.0, 2.0, 3.0});
  EXPECT_EQ(c.text, "2 ± 1");
  EXPECT_EQ(c.n, 3);
  auto nan = reports::Table::stat({NAN});
  EXPECT_EQ(nan.text, "n/a");
  auto one = reports::Table::stat({0.5, NAN});
  EXPECT_EQ(one.text, "0.5 ± 0");
  reports::Table t;
  t.header = {"method", "F1"};
  t.rows.push_back({reports::Table::text("ProxGen_Adam"), reports::Table::stat({0.9, 1.0})});
  test_util::TempDir tmp;
  test_util::write_file(tmp.path / "t.csv", t.csv());
  auto csv = harness::read_csv((tmp.path / "t.csv").string());
  EXPECT_EQ(csv.columns, (std::vector<std::string>{"method", "F1 mean", "F1 std", "F1 n"}));
  ASSERT_EQ(csv.rows.size(), 1u);
  EXPECT_NEAR(csv.rows[0][1], 0.95, 1e-15);
  EXPECT_NEAR(csv.rows[0][2], std::sqrt(0.005), 1e-15);
  EXPECT_EQ(csv.rows[0][3], 2);
  EXPECT_NE(t.markdown().find("| ProxGen_Adam | 0.95 ± 0.071 |"), std::string::npos) << t.markdown();
  auto tex = t.latex("cap");
  EXPECT_NE(tex.find("ProxGen\\_Adam & 0.95 $\\pm$ 0.071 \\\\"), std::string::npos) << tex;
  EXPECT_NE(tex.find("\\begin{tabular}{lr}"), std::string::npos);
}

namespace {
/// Runs the experiment `yaml` (named `name`) into `dir` and returns the number of completed runs.
int run_into(const std::string& yaml, const std::string& name, const fs::path& dir) {
  auto ex = harness::make_experiment(harness::yaml_to_json(yaml, name + ".yaml"), name + ".yaml");
  harness::RunnerOptions o;
  o.out_dir = dir.string();
  o.progress = false;
  return harness::run_experiment(ex, o).completed;
}
}  // namespace

TEST(ReportStore, LabelsNameOnlyWhatVariesWithinAnOptimizerLabel) {
  // A runs the regularizer grid (l1, scad); B has its own regularizer (l1 only) and its own lr: B's
  // label must not repeat them, A's must name the regularizer alone ("A scad", not "A name=scad").
  test_util::TempDir tmp;
  ASSERT_EQ(run_into(R"(
name: lab
problem: {name: lasso, n: 40, p: 8, k: 2, batch_size: 20}
regularizer: [{name: l1}, {name: scad}]
lambda: 0.05
optimizers:
  - {name: test_prox_gd, label: A, options: {lr: 0.3}}
  - {name: test_prox_gd, label: B, regularizer: {name: l1}, options: {lr: 0.1}}
seeds: 1
budget: {epochs: 1}
)",
                     "lab", tmp.path),
            3);
  auto r = reports::load_results((tmp.path / "lab").string());
  std::set<std::string> labels;
  for (const auto& c : r.configs) labels.insert(c.label);
  EXPECT_EQ(labels, (std::set<std::string>{"A l1", "A scad", "B"}));
}

TEST(ReportStore, GroupsSeedsAndWritesAFullLassoReport) {
  test_util::TempDir tmp;
  ASSERT_EQ(run_into(R"(
name: rep
problem: {name: lasso, n: 60, p: 12, k: 3, batch_size: 20}
init: [random, zero]
regularizer: {name: l1}
lambda: [0.02, 0.1]
optimizers:
  - {name: test_prox_gd, label: PGD, options: {lr: 0.3}}
seeds: 2
budget: {epochs: 5}
)",
                     "rep", tmp.path),
            8);

  auto r = reports::load_results((tmp.path / "rep").string());
  EXPECT_EQ(r.runs.size(), 8u);
  ASSERT_EQ(r.configs.size(), 4u);  // init × λ, seeds grouped
  for (const auto& c : r.configs) EXPECT_EQ(c.runs.size(), 2u);
  EXPECT_EQ(r.configs[0].label, "PGD lambda=0.02 init=random") << r.configs[0].label;
  EXPECT_EQ(r.configs[0].optimizer_label, "PGD");
  auto rec = reports::select_recipes(r);
  for (const char* want : {"lasso_setup", "lasso_fig3", "lasso_support", "curves", "probes", "conditions", "runs"})
    EXPECT_NE(std::find(rec.begin(), rec.end(), want), rec.end()) << want;
  EXPECT_EQ(rec.front(), "lasso_setup");

  auto idx = reports::write_reports((tmp.path / "rep").string(), (tmp.path / "out").string(), false);
  ASSERT_EQ(idx.size(), 1u);
  fs::path out = tmp.path / "out";
  EXPECT_EQ(fs::path(idx[0]), out / "index.html");
  std::string html = harness::read_text(idx[0]);
  for (const char* stem : {"support_recovery", "lasso_setup", "conditions", "runs"})
    for (const char* ext : {".md", ".tex", ".csv"}) {
      EXPECT_TRUE(fs::exists(out / (std::string(stem) + ext))) << stem << ext;
      EXPECT_NE(html.find(std::string(stem) + ext), std::string::npos) << stem << ext;
    }
  auto md = harness::read_text((out / "support_recovery.md").string());
  EXPECT_NE(md.find("PGD lambda=0.1 init=zero"), std::string::npos) << md;
  EXPECT_NE(md.find(" ± "), std::string::npos);
  auto csv = harness::read_csv((out / "support_recovery.csv").string());
  EXPECT_EQ(csv.rows.size(), 4u);
  EXPECT_NE(csv.column("F1 mean"), -1);
  for (const char* stem : {"fig3_estimates", "curves_epochs", "probes_fig1", "phase_f1_lambda"}) {
    EXPECT_TRUE(fs::exists(out / (std::string(stem) + ".gp"))) << stem;
    if (reports::gnuplot_available()) {
      EXPECT_GT(fs::file_size(out / (std::string(stem) + ".png")), 1000u) << stem;
      EXPECT_TRUE(fs::exists(out / (std::string(stem) + ".svg"))) << stem;
      EXPECT_NE(html.find(std::string(stem) + ".png"), std::string::npos) << stem;
    }
  }
  // a folder without results is an error (the explicit recipe list: ExplicitRecipesAndUnknownRecipe)
  EXPECT_THROW(reports::write_reports((tmp.path / "nothing").string(), "", false), Error);
}

TEST(ReportStore, ExplicitRecipesAndUnknownRecipe) {
  test_util::TempDir tmp;
  json doc = harness::yaml_to_json(
      "name: r2\nproblem: {name: lasso, n: 20, p: 4, k: 1, batch_size: 20}\nregularizer: {name: l1}\nlambda: 0.1\n"
      "optimizers: [{name: test_prox_gd}]\nbudget: {epochs: 2}\nreport: {recipes: [runs]}\n",
      "r2.yaml");
  harness::RunnerOptions o;
  o.out_dir = tmp.path.string();
  o.progress = false;
  harness::run_experiment(harness::make_experiment(doc, "r2.yaml"), o);
  auto r = reports::load_results((tmp.path / "r2").string());
  EXPECT_EQ(reports::select_recipes(r), std::vector<std::string>{"runs"});
  auto idx = reports::write_reports(tmp.path.string(), "", false);  // the root: finds r2
  ASSERT_EQ(idx.size(), 1u);
  EXPECT_TRUE(fs::exists(tmp.path / "r2" / "report" / "runs.md"));
  EXPECT_FALSE(fs::exists(tmp.path / "r2" / "report" / "support_recovery.md"));
  r.experiment["document"]["report"]["recipes"] = {"no_such_recipe"};
  EXPECT_THROW(reports::select_recipes(r), Error);
}
