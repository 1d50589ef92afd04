// Prox-SGD (Yang et al., "ProxSGD: Training structured neural networks under regularization and
// constraints", ICLR 2020) in the two-stage form of the ProxGen paper, eq. (5)–(6), with the step
// size and momentum schedules and defaults of its authors' code (reference-implementations.md):
//
//   ε_t = ε0 / (t + 4)^{ε_decay},   ρ_t = ρ0 / (t + 4)^{ρ_decay}            (t = 1, 2, ...)
//   v_t = (1 − ρ_t) v_{t−1} + ρ_t g_t                                      (ρ_t weighs the NEW gradient)
//   r_t = β r_{t−1} + (1 − β) g_t²,   D_t = sqrt(r_t / (1 − β^t)) + δ       (bias_correction)
//   x̂_t = prox^{D_t}_{λR}(θ_t − D_t^{-1} v_t)                              eq. (5): NO learning rate
//        = per coordinate prox_{τ'_i r}(θ_i − v_i/D_i),  τ'_i = λ / D_i     (prox-reference.md §0)
//   θ_{t+1} = θ_t + ε_t (x̂_t − θ_t)                                         eq. (6)
//
// θ_{t+1} is a convex combination of θ_t and x̂_t (0 < ε_t < 1), so from a dense start it never
// reaches exact zeros; x̂_t does. x̂_t is kept in the per-parameter state buffer "x_hat"
// (ProxSGD::x_hat(p)) and its non-zero count is StepStats::nnz_aux; StepStats::nnz counts θ_{t+1}.
// StepStats::lambda_min = ε_t / max_i D_i (the scalar in front of D_t^{-1} in θ_{t+1} − θ_t when R = 0).
//
// The group lr is ε0 (so LibTorch LR schedulers scale ε0).
//
// preconditioner (option): `ema` (default, D_t above) or `identity` (D_t := I, no r state). With
// rho0 = 1, rho_decay = 0 (v_t = g_t, no momentum) and epsilon_decay = 0 (ε_t = lr) this is SR2 §5's
// Prox-SGD baseline "with momentum, preconditioner and learning-rate steps disabled":
// x̂ = prox_{λR}(θ − g), θ ← θ + lr (x̂ − θ).
//
// form (option `form`):
//   paper         (default) the equations above.
//   authors       the Prox-SGD authors' code (reference-implementations.md): identical but for the
//                 second moment's bias correction, computed with exponent t + 1 (an off-by-one;
//                 `official_bias_correction_off_by_one` = true); all parameters, no weight decay.
//   proxgen_code  the ProxGen authors' `ProxSGDL1`, the Prox-SGD curve of ProxGen's Figure 2:
//                 decoupled weight decay θ ← θ(1 − lr·wd), wd = 0.01, on every parameter first;
//                 m = β1 m + (1−β1) g (β1 = 0.9 weighs the OLD momentum), r = β r + (1−β) g²,
//                 D = sqrt(r/(1−β^t)) + δ; x̂ = soft(θ − m/D, λ/D) on tensors of 2+ dimensions
//                 (x̂ = θ − m/D on 1-D tensors), no lr inside; θ ← θ + lr/(1−β1^t) (x̂ − θ), lr
//                 the group's learning rate (default 1e-3), i.e. the runner's step schedule, and
//                 no ε_t/ρ_t schedules. Options: lr, beta1, beta, delta, weight_decay.
// Explicit options override the form's values (e.g. form: authors with bias_correction: false).
#pragma once
#include "optimizers/diag_optimizer.h"

namespace proxbench::optimizers {

struct ProxSgdOptions {
  std::string form = "paper";                        ///< paper | authors | proxgen_code
  std::string preconditioner = "ema";                ///< ema | identity
  double lr = 0.06;                                  ///< ε0 (authors' code default 0.06); proxgen_code: lr (1e-3)
  double epsilon_decay = 0.5;                        ///< ε_decay (authors' code 0.5)
  double rho0 = 0.9;                                 ///< ρ0 (authors' code 0.9)
  double rho_decay = 0.5;                            ///< ρ_decay (authors' code 0.5)
  double beta = 0.999;                               ///< β of r (authors' code 0.999)
  double delta = 1e-8;                               ///< δ (authors' code 1e-8)
  bool bias_correction = true;                       ///< r / (1 − β^t)
  bool official_bias_correction_off_by_one = false;  ///< r / (1 − β^{t+1}) as the authors' code
  double beta1 = 0.9;                                ///< proxgen_code: m ← β1 m + (1−β1) g
  double weight_decay = 0.0;                         ///< proxgen_code: decoupled θ ← θ(1 − lr·wd) (0.01)

  static ProxSgdOptions from_map(const core::OptionMap& o, const std::string& owner = "optimizer 'prox_sgd'");
  void validate(const std::string& owner = "optimizer 'prox_sgd'") const;
};

class ProxSgd : public DiagOptimizer {
 public:
  ProxSgd(const std::vector<core::ParamGroupSpec>& groups, ProxSgdOptions options);
  std::string name() const override { return "prox_sgd"; }
  const ProxSgdOptions& options() const { return opt_; }
  /// x̂_t of parameter p from the last step (undefined before the first step).
  torch::Tensor x_hat(const torch::Tensor& p);

 protected:
  double plan(size_t group, int64_t t, core::kernels::DiagStep& s) const override;

 private:
  ProxSgdOptions opt_;
};

}  // namespace proxbench::optimizers
