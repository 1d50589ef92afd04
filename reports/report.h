// Reports: the results store (harness/runner.h) → figures (gnuplot, PNG + SVG), tables
// (Markdown, LaTeX, CSV) and an index.html linking all of it. Reports read ONLY the results
// store — never the experiment YAML, never the registries — so they can be made on another
// machine from a copied results folder.
//
// A report is a list of *recipes*, each one figure or table of a paper (ProxGen Figure 3, Figure
// 1, ...) or a generic view (curves over epochs, the list of runs). Recipes register like every
// other extension point:
//
//   void my_recipe(RecipeContext& ctx) { ... ctx.out.add_figure(...); }
//   PROXBENCH_REGISTER(recipe_registry(),
//       (RecipeRegistry::Entry{"my_recipe", "one line", {}, "problems=classification;order=30", my_recipe}));
//
// `flags` says when the recipe runs by default: `problems=` a '|'-separated list of problem
// names ('*' = any) present in the results; `order=` its place in index.html. An experiment may
// name its recipes explicitly (`report: {recipes: [a, b]}` in the YAML, stored in
// experiment.json). A recipe that finds nothing to show (e.g. a λ sweep with one λ) adds nothing.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/registry.h"
#include "harness/io.h"

namespace proxbench::reports {

/// One run read back from the store.
struct RunRecord {
  std::string id, dir;
  nlohmann::json spec, summary;
  /// trajectory.csv (read on first use; empty table when missing).
  const harness::CsvTable& trajectory() const;
  /// A final metric from summary.json (NaN when absent/null).
  double metric(const std::string& name) const;

 private:
  mutable std::shared_ptr<harness::CsvTable> traj_;
};

/// Runs that differ only in the seed.
struct Config {
  std::string key;    ///< canonical spec without seed
  std::string label;  ///< optimizer label + the spec values that vary between configs
  std::string optimizer_label;
  std::string variant;  ///< the varying values other than the optimizer ("init=zero lambda=0.1")
  nlohmann::json spec;  ///< of the first run
  std::vector<const RunRecord*> runs;  ///< sorted by seed
};

/// One experiment's folder.
struct ExperimentResults {
  std::string dir, name;
  nlohmann::json experiment;  ///< experiment.json
  std::vector<RunRecord> runs;
  std::vector<Config> configs;  ///< in first-appearance order of the expansion
  /// Problem names present.
  std::vector<std::string> problems() const;
};

/// Reads `<dir>/experiment.json` and every `<dir>/<run-id>/{spec,summary}.json`.
ExperimentResults load_results(const std::string& dir);

/// A table with statistic columns (mean ± std over seeds).
struct Table {
  struct Cell {
    std::string text;  ///< what Markdown/LaTeX/HTML show
    double mean = 0, std = 0;
    int n = 0;  ///< >0: a statistic; CSV writes mean and std
  };
  std::vector<std::string> header;
  std::vector<std::vector<Cell>> rows;
  /// mean ± std over the finite values of xs with `digits` significant digits (or %.2e if sci).
  static Cell stat(const std::vector<double>& xs, int digits = 3, bool sci = false);
  static Cell text(std::string s) { return Cell{std::move(s)}; }
  std::string markdown() const;
  std::string latex(const std::string& caption) const;
  std::string csv() const;
  std::string html() const;
};

/// Collects a report's artifacts and writes index.html.
class ReportWriter {
 public:
  explicit ReportWriter(std::string out_dir);
  const std::string& out_dir() const { return out_dir_; }
  /// Renders a gnuplot figure to <stem>.png and <stem>.svg. `body` is gnuplot commands after the
  /// terminal/output lines; it may reference data files written with write_data(). Adds it to
  /// the index (or a note when gnuplot is missing).
  void add_figure(const std::string& title, const std::string& stem, const std::string& body, int width, int height,
                  const std::string& caption);
  /// Writes <stem>.md, .tex, .csv and adds the table to the index.
  void add_table(const std::string& title, const std::string& stem, const Table& t, const std::string& caption);
  /// An HTML paragraph in the index.
  void add_note(const std::string& title, const std::string& html);
  /// Writes `text` to data/<name> (for figures); returns the path gnuplot should use.
  std::string write_data(const std::string& name, const std::string& text);
  /// index.html; returns its path.
  std::string write_index(const ExperimentResults& r);
  /// Files written so far (relative to out_dir).
  const std::vector<std::string>& files() const { return files_; }

 private:
  std::string out_dir_;
  std::vector<std::string> files_;
  std::string sections_;
};

/// True if `gnuplot` runs and offers the pngcairo and svg terminals.
bool gnuplot_available();

struct RecipeContext {
  const ExperimentResults& results;
  ReportWriter& out;
};
using RecipeFn = void(RecipeContext&);
using RecipeRegistry = core::Registry<RecipeFn>;
RecipeRegistry& recipe_registry();

/// Recipes that apply to `r` (its report.recipes, else by the problems= flags), in order.
std::vector<std::string> select_recipes(const ExperimentResults& r);

/// Writes the report(s) of `results_dir`: one experiment folder (has experiment.json) or a
/// root holding several. `out_dir` empty → <experiment folder>/report; with several experiments
/// → <out_dir>/<experiment>. Returns the index.html paths. Throws proxbench::Error when the
/// folder holds no results.
std::vector<std::string> write_reports(const std::string& results_dir, const std::string& out_dir, bool verbose);

// ---- helpers for recipes ---------------------------------------------------------------------

/// Mean, std (n−1), min, max over finite values; count.
struct Stats {
  double mean = 0, std = 0, min = 0, max = 0;
  int n = 0;
};
Stats stats_of(const std::vector<double>& xs);
/// A gnuplot string literal ('...' with quotes escaped).
std::string gp_quote(const std::string& s);
/// Color of the i-th series ("#rrggbb"), a palette readable on white.
std::string series_color(size_t i);
/// Formats with `digits` significant digits.
std::string fmt_sig(double v, int digits = 3);

}  // namespace proxbench::reports

namespace proxbench::reports {

/// Line style of a config in every figure: color by optimizer label, dash type by variant.
struct SeriesStyle {
  std::string color;
  int dash = 1;
};
SeriesStyle series_style(const ExperimentResults& r, const Config& c);

/// One config's curve of trajectory column `y` against column `x`: rows aligned by index over
/// the seeds; mean and min–max band over the seeds that reached the row.
struct Curve {
  std::vector<double> x, mean, lo, hi;
};
Curve seed_curve(const Config& c, const std::string& x, const std::string& y);

/// A panel of a multi-panel curves figure.
struct Panel {
  std::string column, ylabel;
  bool logy = true;
};
/// Panels side by side, one line per config (mean over seeds, band min–max when `bands`), one
/// legend at the right. Panels whose column has no finite value are dropped; returns false
/// (and adds nothing) when none is left.
bool curves_figure(RecipeContext& ctx, const std::string& title, const std::string& stem, const std::vector<Panel>& panels,
                   const std::string& xcol, const std::string& xlabel, bool logx, bool bands, const std::string& caption);

}  // namespace proxbench::reports
