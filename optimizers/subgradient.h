// Subgradient baselines: Adam and SGD on ∇f + λ ∂R — what popular libraries do (autograd through
// λR), the baseline the ProxGen paper beats (§4, "subgradient methods"). No prox is applied, so the
// iterates reach exact zeros only by accident.
//
//   ĝ_t = g_t + λ r'(θ_t)             r' = the scalar subgradient of core/prox_scalar.h: sign(θ) for l1
//                                     (0 at 0), q|θ|^{q−1} sign(θ) for lq with its documented smoothing,
//                                     per regularizer; group l2,1: θ_g/‖θ_g‖ (0 for a zero group)
//   subgradient_adam: m = β1 m + (1−β1) ĝ, v = β2 v + (1−β2) ĝ², θ ← θ − α_t m / (sqrt(v/(1−β2^t)) + δ),
//                     α_t = lr / (1 − β1^t) (Adam with bias correction; option bias_correction)
//   subgradient_sgd:  m = μ m + (1−μ) ĝ (μ = option momentum, default 0: plain SGD), θ ← θ − lr m
//
// l0 has no subgradient: both refuse it at construction with an error naming the regularizer.
// decoupled_weight_decay (Adam, as the authors' AdamW baseline): θ ← θ(1 − lr·wd) first.
// form: `paper` (default) or `authors` — subgradient_adam's authors form is ProxGen's code baseline,
// AdamW with decoupled_weight_decay = 0.01 (ProxGen's AdamW on loss + λR through autograd);
// subgradient_sgd has one form.
// StepStats::lambda_min = α_t / max_i (C_i + δ) (Adam), lr (SGD).
#pragma once
#include "optimizers/diag_optimizer.h"

namespace proxbench::optimizers {

struct SubgradientOptions {
  double lr = 1e-3;             ///< adam: 1e-3 (ProxGen §4 baselines); sgd: set by the user
  double beta1 = 0.9;           ///< adam first moment; sgd: momentum μ (default 0 for sgd)
  double beta2 = 0.999;         ///< adam second moment
  double delta = 1e-8;          ///< adam δ
  bool bias_correction = true;  ///< adam
  double decoupled_weight_decay = 0.0;

  static SubgradientOptions from_map(const core::OptionMap& o, bool adam, const std::string& owner);
  void validate(const std::string& owner) const;
};

/// Subgradient Adam (adam = true) or subgradient SGD (adam = false).
class Subgradient : public DiagOptimizer {
 public:
  Subgradient(const std::vector<core::ParamGroupSpec>& groups, SubgradientOptions options, bool adam);
  std::string name() const override { return adam_ ? "subgradient_adam" : "subgradient_sgd"; }

 protected:
  double plan(size_t group, int64_t t, core::kernels::DiagStep& s) const override;

 private:
  SubgradientOptions opt_;
  bool adam_;
};

}  // namespace proxbench::optimizers
