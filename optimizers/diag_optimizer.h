// DiagOptimizer: the shared step loop of every optimizer whose update is one fused diagonal pass
// (ProxGen and its preconditioners, Prox-SGD, subgradient Adam/SGD, original ProxQuant).
//
// A subclass only says, per parameter tensor and step, which preconditioner and mode the fused
// kernel runs and with which scalars (core/kernels.h DiagCoeffs); the loop below calls the closure
// (if any), allocates the per-parameter buffers on first use, runs core::kernels::diag_step on each
// tensor that has a gradient, and fills StepStats (probes, λ_min, counts).
#pragma once
#include <string>
#include <vector>

#include "core/kernels.h"
#include "core/optimizer.h"

namespace proxbench::optimizers {

/// Throws proxbench::Error("<owner>: option '<key>' = <v> must be in <lo, hi>") unless v lies in the
/// interval (open or closed ends as given).
void check_in(const std::string& owner, const std::string& key, double v, double lo, double hi, bool lo_open,
              bool hi_open);

class DiagOptimizer : public core::ProxOptimizer {
 public:
  /// One fused diagonal step over every parameter with a gradient. `closure` (optional) follows the
  /// LibTorch contract: it zeroes the gradients, computes the MEAN loss, calls backward() and
  /// returns the loss; it is called once, before the update. Returns the closure's loss (or an
  /// undefined tensor without a closure).
  torch::Tensor step(LossClosure closure = nullptr) override;

 protected:
  using core::ProxOptimizer::ProxOptimizer;

  /// What the kernel does for a tensor of group `group` whose state step count is `t` (already
  /// incremented: t = 1 on the first step). Fills s.mode, s.precond, s.c, s.write_aux; returns α_t
  /// of λ_min = α_t / max_i(C_i + δ) (the step's scalar in front of (C_t + δI)^{-1}).
  virtual double plan(size_t group, int64_t t, core::kernels::DiagStep& s) const = 0;

  /// Whether tensor p of group `group` gets the prox (and is counted by the sparsity probes).
  /// Default: the group is regularized (ProxGroupOptions::regularized) and p.dim() ≥ prox_min_dim_
  /// (the ProxGen authors' code proxes only tensors of 2+ dimensions: prox_min_dim_ = 2).
  virtual bool prox_tensor(size_t group, const torch::Tensor& p) const;
  /// Parameters of a frozen group are skipped by step() (ProxQuant after its binarize epoch).
  virtual bool frozen(size_t /*group*/) const { return false; }
  /// Last chance to change the buffers of tensor p before its fused pass (BinaryConnect: θ := the
  /// latent weights, aux := p). Default: nothing.
  virtual void bind(size_t /*group*/, torch::Tensor& /*p*/, core::ProxParamState& /*st*/,
                    core::kernels::DiagBuffers& /*b*/) {}

  core::kernels::ProbePartials partials_;
  int64_t prox_min_dim_ = 0;

 private:
  std::vector<core::kernels::ProbeAcc> accs_;  ///< step(): one per tensor, capacity kept (no per-step allocation)
  std::vector<double> alphas_;                 ///< step(): α_t per tensor, likewise
};

}  // namespace proxbench::optimizers
