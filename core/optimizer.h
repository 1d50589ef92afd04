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
#include <unordered_map>
#include <utility>
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
  /// Prox-SGD: exact non-zeros of x̂_t (eq. (5)), the point that carries the sparsity, while θ_{t+1}
  /// (eq. (6)) is a convex combination with no exact zeros. −1 for the other optimizers.
  int64_t nnz_aux = -1;
  double lr = kNaN;             ///< α_t actually used (first group; SR2: 1/σ_t)
  /// The optimizer asks its caller to end training after this step (SR2 form: authors — a negative
  /// model decrease below −1e-4, or 31 near-zero ones in a row, stops the authors' training loop).
  bool stop = false;
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

/// Options of one param group: the learning rate (what LibTorch LR schedulers read and set through
/// get_lr/set_lr), the group's regularizer (nullptr = none) and its weight λ.
struct ProxGroupOptions : public torch::optim::OptimizerCloneableOptions<ProxGroupOptions> {
  double lr = 1e-3;
  RegularizerPtr regularizer;
  double lambda = 0.0;
  double get_lr() const override { return lr; }
  void set_lr(const double v) override { lr = v; }
  /// True when the group has a regularizer other than "none" and λ ≠ 0.
  bool regularized() const;
};

/// Per-parameter state: the step count t and named buffers ("m", "v", "x_hat", "prev", "z",
/// "tau"), each allocated once on first use (zeros, the parameter's dtype and shape).
struct ProxParamState : public torch::optim::OptimizerCloneableParamState<ProxParamState> {
  int64_t step = 0;
  std::map<std::string, torch::Tensor> buffers;
};

/// Base class of every proxbench optimizer (built-in or plugin).
///
/// Subclasses implement step(closure); the base provides param groups carrying regularizer and
/// λ, per-parameter state with named buffers, statistics, and save/load of everything (buffers,
/// step counts, group lr/λ/regularizer as its to_json string, counters and the subclass's extra
/// scalars through save_extra/load_extra), so that save → load → continue reproduces an
/// uninterrupted run bit for bit.
class ProxOptimizer : public torch::optim::Optimizer {
 public:
  using torch::optim::Optimizer::Optimizer;
  /// Builds one torch param group per spec (lr = default_lr), each with its regularizer and λ.
  ProxOptimizer(const std::vector<ParamGroupSpec>& groups, double default_lr);

  /// Registry name ("proxgen", "sr2", ...).
  virtual std::string name() const = 0;
  /// Statistics of the last step.
  const StepStats& last_stats() const { return stats_; }
  const OptimizerCounters& counters() const { return counters_; }
  /// Probes on (default) or off: off skips the fused reductions.
  void set_probes(bool on) { probes_ = on; }
  bool probes() const { return probes_; }
  /// With probes on, whether the next steps also count the sparsity of θ_{t+1} (StepStats::nnz,
  /// n_small, numel, nnz_aux; −1 when off). On by default. The norms (‖Δθ‖², ‖g‖², D) are reduced
  /// on every step either way; the counts cost about as much as the norms in a compute-bound step,
  /// so the runner turns them on only for the steps whose row it logs (harness/runner.cpp).
  void set_count_sparsity(bool on) { count_sparsity_ = on; }
  bool count_sparsity() const { return count_sparsity_; }

  /// Regularizer and λ of param group i (nullptr / 0 when none).
  virtual RegularizerPtr group_regularizer(size_t i) const;
  virtual double group_lambda(size_t i) const;
  /// The group's options (lr, regularizer, λ); throws for groups built without ProxGroupOptions.
  ProxGroupOptions& group_options(size_t i);
  const ProxGroupOptions& group_options(size_t i) const;

  /// F's regularization part Σ_g λ_g R_g(θ_g) at the current parameters.
  double regularization_value() const;

  /// Called by the training loop before the first step of every epoch (0-based), after a resume
  /// too. Default: nothing. ProxQuant (form: authors) ramps its λ with the epoch, restarts Adam's
  /// moments and binarizes-and-freezes at its `binarize_epoch` here.
  virtual void on_epoch_begin(int64_t /*epoch*/) {}

  /// The binarized model of a quantizing optimizer: for each quantized parameter p, the pair
  /// (p, b) where b is the tensor (a copy, p's shape) the binarized network uses in p's place —
  /// ProxQuant: sign(p); BinaryConnect: p itself already holds the sign of its latent weights, so
  /// b = p. Empty for non-quantizing optimizers. Evaluate the binarized model beside the
  /// full-precision one with ScopedBinarized below.
  virtual std::vector<std::pair<torch::Tensor, torch::Tensor>> binarized_params() const { return {}; }

  void save(torch::serialize::OutputArchive& archive) const override;
  void load(torch::serialize::InputArchive& archive) override;

 protected:
  /// The state of parameter p (created on first use).
  ProxParamState& param_state(const torch::Tensor& p);
  /// Named buffer of a state, zeros shaped like p on first use (allocated once, never per step).
  static torch::Tensor& buffer(ProxParamState& st, const std::string& name, const torch::Tensor& p);
  /// Subclass scalars that must survive a checkpoint (e.g. SR2's σ).
  virtual void save_extra(torch::serialize::OutputArchive&) const {}
  virtual void load_extra(torch::serialize::InputArchive&) {}
  /// The prologue of a step that takes one gradient: evaluates the closure (if any) with grad mode
  /// on (s.loss_evals = 1, s.loss = its value), counts one gradient evaluation, advances
  /// step_count_ and sets s.step. Returns the loss (undefined without a closure). Take a
  /// torch::NoGradGuard after it.
  torch::Tensor begin_step(const LossClosure& closure, StepStats& s);
  /// Fills stats_ from the fused reductions (probes) and the step's counts; updates counters_.
  void record_step(const StepStats& s);

  StepStats stats_;
  OptimizerCounters counters_;
  bool probes_ = true;
  bool count_sparsity_ = true;
  int64_t step_count_ = 0;  ///< steps taken by this optimizer (1-based after the first step)

 private:
  /// param_state's cache, TensorImpl → its state object: LibTorch 1.x keys state_ by the address
  /// printed into a string (an ostringstream per lookup, the largest fixed cost of a small step).
  /// The objects behind state_'s unique_ptrs never move and proxbench never erases one; the cache
  /// is dropped whenever state_'s size differs from the size it was built at (e.g. state().clear()).
  std::unordered_map<const c10::TensorImpl*, ProxParamState*> state_cache_;
  size_t state_cache_size_ = 0;
};

/// While alive, the quantized parameters of `opt` hold their binarized values
/// (ProxOptimizer::binarized_params); the destructor restores the full-precision values bit for bit.
/// active() is false (and nothing changes) for a non-quantizing optimizer.
///   { core::ScopedBinarized bin(*opt); if (bin.active()) metrics = evaluate(); }
class ScopedBinarized {
 public:
  explicit ScopedBinarized(const ProxOptimizer& opt);
  ~ScopedBinarized();
  ScopedBinarized(const ScopedBinarized&) = delete;
  ScopedBinarized& operator=(const ScopedBinarized&) = delete;
  bool active() const { return !saved_.empty(); }

 private:
  std::vector<std::pair<torch::Tensor, torch::Tensor>> saved_;  ///< (param, its full-precision copy)
};

/// Throws proxbench::Error("<owner>: option '<key>' = <v> must be <what>") unless ok.
void require_option(bool ok, const std::string& owner, const std::string& key, double value, const std::string& what);

using OptimizerFactory = std::unique_ptr<ProxOptimizer>(std::vector<ParamGroupSpec>, const OptionMap&);
using OptimizerRegistry = Registry<OptimizerFactory>;
OptimizerRegistry& optimizer_registry();

/// Builds a registered optimizer over the given groups with the given options.
std::unique_ptr<ProxOptimizer> make_optimizer(const std::string& name, std::vector<ParamGroupSpec> groups,
                                              const OptionMap& options);

}  // namespace proxbench::core
