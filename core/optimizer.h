// The optimizer base of proxbench: a torch::optim::Optimizer whose param groups each carry a
// regularizer and its weight λ, and which reports the quantities of the theory after every step.
//
// Problem: min_θ F(θ) = f(θ) + Σ_groups λ_g R_g(θ_g), f the mean loss (never a sum).
//
// LibTorch conventions are kept: param groups, per-parameter state, `step(closure)` where the
// closure zeroes the gradients, computes the mean loss, calls backward() and returns the loss;
// save/load through torch::serialize archives (checkpointing mid-run).
#pragma once
#include <cstdint>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "core/options.h"
#include "core/regularizer.h"
#include "core/registry.h"

namespace proxbench::core {

/// What one step measured. NaN / −1 mean "not measured by this optimizer".
/// Reductions are fused into the update pass (core/kernels.h), so probes cost almost nothing.
struct StepStats {
  static constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
  int64_t step = 0;             ///< 1-based index of the step just taken
  double loss = kNaN;           ///< f(θ_t; ξ_t) returned by the closure
  double dtheta_sq = kNaN;      ///< ‖θ_{t+1} − θ_t‖²  (ProxGen (C-1): bounded iterates)
  double grad_sq = kNaN;        ///< ‖g_t‖²            (ProxGen (C-2): bounded gradients)
  double precond_max = kNaN;    ///< max_i (C_t,i + δ)
  double precond_min = kNaN;    ///< min_i (C_t,i + δ)
  /// λ_min(α_t (C_t + δI)^{-1}) (ProxGen (C-3)/(C-4)); for a diagonal C this is
  /// α_t / max_i (C_i + δ). Each optimizer documents what it reports (SR2: 1/σ_t).
  double lambda_min = kNaN;
  int64_t nnz = -1;             ///< exact non-zeros in θ_{t+1} (regularized params)
  int64_t n_small = -1;         ///< |θ_{t+1,i}| ≤ 1e-3 (regularized params)
  int64_t numel = -1;           ///< number of regularized coordinates
  double sigma = kNaN;          ///< SR2: σ_t used for this step
  double rho = kNaN;            ///< SR2: ρ_t = ΔF/Δψ
  bool accepted = true;         ///< SR2: step accepted
  int64_t loss_evals = 0;       ///< closure calls in this step
  int64_t grad_evals = 0;       ///< gradient evaluations in this step
  int64_t prox_evals = 0;       ///< prox applications (per parameter tensor) in this step
};

/// Running totals over all steps (Ceres-style counters).
struct OptimizerCounters {
  int64_t steps = 0, loss_evals = 0, grad_evals = 0, prox_evals = 0, accepted = 0, rejected = 0;
};

/// One param group as the registry factories receive it.
struct ParamGroupSpec {
  std::vector<torch::Tensor> params;
  RegularizerPtr regularizer;  ///< nullptr = unregularized (biases, BatchNorm)
  double lambda = 0.0;         ///< weight of R in F, on the mean-loss scale
};

/// Base class of every proxbench optimizer (built-in or plugin).
class ProxOptimizer : public torch::optim::Optimizer {
 public:
  using torch::optim::Optimizer::Optimizer;

  /// Registry name ("proxgen", "sr2", ...).
  virtual std::string name() const = 0;
  /// Statistics of the last step.
  const StepStats& last_stats() const { return stats_; }
  const OptimizerCounters& counters() const { return counters_; }
  /// Probes on (default) or off: off skips the fused reductions.
  void set_probes(bool on) { probes_ = on; }
  bool probes() const { return probes_; }

  /// Regularizer and λ of param group i (nullptr / 0 when none).
  virtual RegularizerPtr group_regularizer(size_t i) const = 0;
  virtual double group_lambda(size_t i) const = 0;

  /// F's regularization part Σ_g λ_g R_g(θ_g) at the current parameters.
  double regularization_value() const;

 protected:
  StepStats stats_;
  OptimizerCounters counters_;
  bool probes_ = true;
};

using OptimizerFactory = std::unique_ptr<ProxOptimizer>(std::vector<ParamGroupSpec>, const OptionMap&);
using OptimizerRegistry = Registry<OptimizerFactory>;
OptimizerRegistry& optimizer_registry();

/// Builds a registered optimizer over the given groups with the given options.
std::unique_ptr<ProxOptimizer> make_optimizer(const std::string& name, std::vector<ParamGroupSpec> groups,
                                              const OptionMap& options);

}  // namespace proxbench::core
