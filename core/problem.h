// The Problem interface: what the harness needs from a workload (DESIGN.md §3). Problems know
// nothing of optimizers. The harness drives a problem like this:
//
//   problem.begin_epoch(epoch, seed);                  // seeded shuffle of the minibatches
//   for (b = 0; b < problem.batches_per_epoch(); ++b) {
//     problem.select_batch(b);                         // fixes ξ_t
//     optimizer.step([&] { return problem.closure_loss(true); });   // same ξ_t on every call
//   }
//   metrics = problem.evaluate(ctx);                   // full-data metrics, never timed as optimizer time
#pragma once
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/options.h"
#include "core/optimizer.h"
#include "core/registry.h"

namespace proxbench::core {

/// Named metrics, in a stable order (written as trajectory.csv columns and summary.json).
using Metrics = std::vector<std::pair<std::string, double>>;

/// Parameters of a problem, grouped; the harness attaches the experiment's regularizer to the
/// groups marked `regularized` (Conv/Linear weights) and none to the others (biases, BatchNorm).
struct ProblemParamGroup {
  std::string name;
  std::vector<torch::Tensor> params;
  bool regularized = true;
};

/// What evaluate() is told about the objective F = f + λR it should report.
struct EvalContext {
  RegularizerPtr regularizer;  ///< may be nullptr
  double lambda = 0.0;
  const ProxOptimizer* optimizer = nullptr;  ///< may be nullptr
};

class Problem {
 public:
  virtual ~Problem() = default;
  virtual std::string name() const = 0;
  /// Tells the problem the run's regularizer (may be nullptr) and λ. The harness calls it once,
  /// before parameter_groups(). Default: ignored. A problem that carries its own penalty (the
  /// classification problem's hard-concrete L0 gates) takes its weight λ from here.
  virtual void set_objective(const RegularizerPtr& /*regularizer*/, double /*lambda*/) {}
  virtual std::vector<ProblemParamGroup> parameter_groups() = 0;
  virtual int64_t batches_per_epoch() const = 0;
  /// Reshuffles the minibatches of epoch `epoch` from `seed` (deterministic).
  virtual void begin_epoch(int64_t epoch, uint64_t seed) = 0;
  /// Makes minibatch `index` of the current epoch the current one.
  virtual void select_batch(int64_t index) = 0;
  /// Mean loss on the current minibatch at the current parameters; with `with_grad` it first
  /// zeroes the gradients and then back-propagates. Returns a 0-dim tensor.
  virtual torch::Tensor closure_loss(bool with_grad) = 0;
  /// Full-data metrics (objective, accuracy, support recovery, ...).
  virtual Metrics evaluate(const EvalContext& ctx) = 0;
  /// Lipschitz constant of ∇f when known exactly (Lasso), else NaN.
  virtual double lipschitz_constant() const { return std::numeric_limits<double>::quiet_NaN(); }
  /// Device its tensors live on.
  virtual torch::Device device() const { return torch::kCPU; }
  /// Train / eval mode (BatchNorm, dropout).
  virtual void set_training(bool) {}
  /// Hook for problems that write data into the run folder (Lasso's save_data).
  virtual void save_artifacts(const std::string& /*run_dir*/) {}
  /// Facts about the problem instance for summary.json's "problem" block (sizes, the Lipschitz
  /// constant, a reference optimum, ...). Called after the last evaluate().
  virtual nlohmann::json describe() const { return nlohmann::json::object(); }

  /// Checkpoint hooks (harness `checkpoint_every`): everything a resumed run needs besides the
  /// optimizer (model buffers, data-order / augmentation RNG state), so that resume equals an
  /// uninterrupted run. The harness saves the values of parameter_groups() itself as well (and the
  /// optimizer, and the global torch RNG), so a problem whose state is only its parameters needs
  /// nothing here. Called between epochs only.
  virtual void save_state(torch::serialize::OutputArchive& /*archive*/) {}
  virtual void load_state(torch::serialize::InputArchive& /*archive*/) {}
  /// Metrics computed once after training (not every epoch), e.g. the classification problem's
  /// pruning sweep (SR2 §5): `prune/1e-k/test_accuracy`, `prune/1e-k/pct_zero`, k = 1..8.
  /// Leaves the parameters unchanged. Default: none. The harness adds them to summary.json's
  /// metrics (never to trajectory.csv).
  virtual Metrics final_metrics(const EvalContext& /*ctx*/) { return {}; }
};

/// Factory: options from the experiment's `problem:` map, plus the run seed.
using ProblemFactory = std::unique_ptr<Problem>(const OptionMap&, uint64_t seed);
using ProblemRegistry = Registry<ProblemFactory>;
ProblemRegistry& problem_registry();

/// Plan-time check of a problem's options (issue 17): reads and checks every option (ranges,
/// names, sizes that could not be allocated, data files by stat only) without building anything,
/// throwing proxbench::Error naming the option. The experiment planner calls the validator of the
/// problem's name (when one is registered, under the same name as the problem) for every option
/// set, so that a bad value stops the sweep before any run, with file and line.
///   PROXBENCH_REGISTER(problem_validator_registry(), (ProblemValidatorRegistry::Entry{"lasso", "", {}, "", fn}));
using ProblemValidator = void(const OptionMap&);
using ProblemValidatorRegistry = Registry<ProblemValidator>;
ProblemValidatorRegistry& problem_validator_registry();

}  // namespace proxbench::core
