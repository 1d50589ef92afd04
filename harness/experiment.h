// Experiment specs: a YAML file → a validated JSON document → the list of runs it stands for.
//
// An experiment is the cartesian product
//     problems × problem grids × init × regularizers × λ × optimizers × optimizer grids × seeds,
// each element a *run* whose fully resolved spec (plain JSON, keys sorted) is hashed into a stable
// run id (FNV-1a 64 of the canonical dump, 16 hex digits): the same spec always lands in the same
// results folder `<out>/<experiment>/<run-id>/`, so a restarted sweep skips what is finished.
//
// Schema (every key but `name` and `optimizers` is optional):
//
//   name: proxgen-fig3-lasso          # [A-Za-z0-9._-]+, the results folder name
//   description: one line shown by `proxbench list experiments`
//   problem:                          # one map or a list of maps
//     name: lasso                     # a registered problem (`proxbench list problems`)
//     n: 500                          # every other key is an option of the problem
//     p: 100
//     grid: {batch_size: [16, 32]}    # optional: one run per combination of these option values
//   init: [random, zero]              # shortcut: a grid over the problem option `init`
//   regularizer: {name: l1}           # one map or a list; other keys are its parameters; `grid:` too
//   lambda: [0.05, 0.1]               # λ on the mean-loss scale: a number or a list
//   optimizers:                       # list of optimizers (`proxbench list optimizers`)
//     - name: proxgen
//       label: ProxGen-Adam           # legend name in reports (default: name)
//       options: {preconditioner: adam, lr: 0.01}
//       grid: {lr: [0.01, 0.003]}     # optional hyper-parameter grid
//       schedule: {type: step, milestones: [30, 60], factor: 0.1}   # lr schedule, in epochs
//       regularizer: {name: none}     # optional: this entry's own regularizer(s) (one map or a
//                                     # list, no grid) in place of the top-level list
//       problem: {l0_gates: hard_concrete}   # optional: problem options merged for its runs
//   seeds: [1, 2, 3]                  # a list, or a count N meaning 1..N (default 1)
//   budget: {epochs: 20}              # epochs | steps (planned length) and/or seconds (wall cap)
//   log_every: 10                     # steps between trajectory rows (default: once per epoch)
//   eval_every: epoch                 # steps (or 'epoch') between the rows that also evaluate the
//                                     # full-data metrics; rows in between hold the probes only
//                                     # (metric columns NaN). Default: every row evaluates
//   checkpoint_every: 0               # epochs between checkpoints (0: none; for network runs)
//   probes: true                      # per-step probes (‖Δθ‖, ‖g‖, λ_min, ...)
//   schedule: {type: constant}        # default lr schedule of every optimizer entry
//   report: {recipes: [lasso_fig3]}   # optional: report recipes (default: chosen by problem)
//   claims: [{id, text, source, check: {kind: compare, ...}, paper_scale: {...}}]
//                                     # the paper's claims about this experiment, judged by the
//                                     # report (reports/claims.h; validated here)
//   plugins: [libmyopt.so]            # optional: plugin libraries (paths relative to this file),
//                                     # loaded before validation (same as `--plugin`)
//   divergence_factor: 1.0e6          # a logged objective above factor × max(|F_0|, 1) ends the run
//                                     # as `diverged` (0: no bound; see kDefaultDivergenceFactor)
//
// A top-level `schedule` is the default of the optimizer entries. `--set a.b.c=value` (value as
// YAML; list indices as numbers: `optimizers.0.options.lr=0.1`) edits the document before
// validation. Every error names the file, the key path and (for YAML input) the line.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace proxbench::harness {

/// Default of `divergence_factor` (issue 17, defect 11). A run whose full-data objective at a
/// logged step exceeds factor × max(|F_0|, 1) (F_0: the objective at the initial point) ends as
/// `diverged`, like a NaN/Inf objective. 10⁶: a healthy stochastic run never multiplies its initial
/// objective by more than ~10² (the transient of a too-large step); the runaway runs of the audit
/// (lr = 10⁶) reached 10¹²–10²⁴ within a few steps; 10⁶ leaves orders of magnitude on both sides.
/// The key enters the run spec (and so the run id) only when the experiment sets it, so the ids of
/// existing experiments do not change.
constexpr double kDefaultDivergenceFactor = 1e6;
/// Default limit on the number of runs a plan may expand to (`--max-runs` raises it).
constexpr size_t kDefaultMaxRuns = 100000;
/// Limit on the nodes a YAML document may expand to through aliases (an alias bomb would make
/// millions); experiments have a few hundred.
constexpr size_t kMaxYamlNodes = 1000000;

/// One run of an experiment. `spec` keys: experiment, problem{name, options}, regularizer{name,
/// options}, lambda, optimizer{name, label, options}, schedule, seed, budget{epochs|steps,
/// seconds}, log_every, checkpoint_every, probes.
struct RunSpec {
  std::string id;        ///< run_id(spec)
  nlohmann::json spec;   ///< resolved, canonical
  size_t index = 0;      ///< position in the expansion order (shards split by it)
};

/// A loaded, validated experiment.
struct Experiment {
  std::string file;         ///< where it came from ("" for in-memory specs)
  std::string name;
  std::string description;
  nlohmann::json document;  ///< the YAML as JSON, after --set overrides
  std::vector<RunSpec> runs;
};

/// YAML text → JSON (plain scalars typed as YAML 1.2 core: int, float, bool, null, else string;
/// quoted scalars stay strings). `line_of` (optional) receives key path → 1-based line. Throws
/// proxbench::Error with file:line for invalid YAML, a duplicate key in a mapping, a non-scalar
/// key, or a document that expands (through aliases) to more than kMaxYamlNodes nodes.
nlohmann::json yaml_to_json(const std::string& text, const std::string& file,
                            std::map<std::string, int>* line_of = nullptr);

/// Applies one `path=value` override (value parsed as YAML) to `doc`.
void apply_override(nlohmann::json& doc, const std::string& assignment);

/// Loads, overrides, validates and expands an experiment file. Throws proxbench::Error naming the
/// file, key path and line on any problem: unknown keys, wrong types, unknown problem /
/// regularizer / optimizer names, optimizer or regularizer options their factory rejects.
/// Also every problem's options (the registry entry's `validate` hook: sizes, names, data files),
/// and the plan size: a plan of more than `max_runs` runs is refused before it is allocated.
Experiment load_experiment(const std::string& file, const std::vector<std::string>& overrides = {},
                           size_t max_runs = kDefaultMaxRuns);
/// Same from an in-memory document.
Experiment make_experiment(nlohmann::json document, const std::string& file = "<memory>",
                           const std::map<std::string, int>& line_of = {}, size_t max_runs = kDefaultMaxRuns);

/// Stable id of a resolved run spec: 16 hex digits of FNV-1a 64 over spec.dump().
std::string run_id(const nlohmann::json& spec);

/// Directories searched for shipped experiments, in order: PROXBENCH_EXPERIMENTS_DIR (env), the
/// source tree's harness/experiments, the installed share/proxbench/experiments.
std::vector<std::string> experiment_dirs();
/// Resolves a shipped experiment by name ("proxgen-fig3-lasso") or returns `name_or_path` if it
/// is an existing file. Throws listing the known names otherwise.
std::string find_experiment(const std::string& name_or_path);
/// (name, path, description) of every shipped experiment.
struct ExperimentInfo {
  std::string name, path, description;
};
std::vector<ExperimentInfo> list_experiments();

}  // namespace proxbench::harness
