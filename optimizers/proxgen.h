// ProxGen (Yun, Lozano, Yang, "Adaptive Proximal Gradient Methods for Structured Neural Networks",
// NeurIPS 2021), Algorithm 1 with a diagonal preconditioner, and revised ProxQuant (= ProxGen with
// the W-shaped regularizer `binary_quant`, paper §2).
//
// Per step t (Algorithm 1, lines 5–8; eq. (2)):
//   g_t = ∇f(θ_t; ξ_t)
//   m_t = ρ m_{t−1} + (1 − ρ) g_t                                 (line 6; ρ = option beta1)
//   C_t = preconditioner (line 7), D_t = C_t + δ
//   θ_{t+1} = prox^{D_t}_{α_t λ R}(θ_t − α_t D_t^{-1} m_t)         (line 8, eq. (2))
// which for a diagonal D and a separable R is, per coordinate (prox-reference.md §0; eq. (3) for
// l1, eq. (4) for l0):
//   z_i = θ_i − α_t m_i / D_i,   τ_i = α_t λ / D_i,   θ_{t+1,i} = prox_{τ_i r}(z_i).
// Group l2,1 solves the per-group problem min Σ_i (x_i − z_i)²/(2τ_i) + ‖x‖₂ exactly.
//
// Preconditioners (option `preconditioner`):
//   adam     v_t = β2 v + (1−β2) g², C_t = sqrt(v_t) and α_t = lr (the paper's §4 form, the default:
//            C_t = sqrt(β C² + (1−β) g²), ρ = 0.9, β = 0.999, no bias correction); with
//            bias_correction: C_t = sqrt(v_t / (1−β2^t)), α_t = lr / (1 − β1^t) (Adam's step-size
//            form, as torch::optim::Adam and the authors' code use it).
//   rmsprop  v_t = β2 v + (1−β2) g², C_t = sqrt(v_t), α_t = lr.
//   adagrad  v_t = v + g², C_t = sqrt(v_t), α_t = lr.
//   identity C_t + δI := I (proximal SGD with momentum), α_t = lr. With beta1 = 0 (m = g) this is
//            the plain proximal SGD θ ← prox_{lr λ R}(θ − lr g) that SR2 §5 runs as its ProxGen
//            baseline ("momentum, preconditioner and learning-rate steps disabled").
// StepStats::lambda_min = α_t / max_i (C_t,i + δ) = λ_min(α_t (C_t + δI)^{-1}) (condition (C-4));
// for identity it is α_t.
//
// form (option `form`): `paper` (default) = the equations above with the options' defaults.
// `authors` = the official ProxGen code as a whole (AdamL0 / AdamL1 / AdamL12 / AdamL23,
// reference-implementations.md): bias_correction = true; the prox threshold τ = lr·λ/D without the
// 1/(1−β1^t) of the gradient step (official_threshold_without_bias_correction1 = true); decoupled
// weight decay θ ← θ(1 − lr·wd) with wd = 0.01 on every parameter before the step; only tensors of
// 2+ dimensions get the prox (biases, BatchNorm and any 1-D tensor of a regularized group take the
// plain Adam step); l1/2 by their trigonometric map with |z| + 1e-4 inside the arccos (a bias: up to
// 28% error at τ = 1e-6; scalar::L12ShiftOp); l0 keeps |z| > sqrt(2τ), l1 soft-thresholds, l2/3 is
// Cao's closed form (exact in float64; our map is used, which does not overflow in float32). Any
// option given explicitly overrides the form's value for it.
#pragma once
#include <string>

#include "optimizers/diag_optimizer.h"

namespace proxbench::optimizers {

struct ProxGenOptions {
  std::string form = "paper";           ///< paper | authors (see above)
  std::string preconditioner = "adam";  ///< adam | rmsprop | adagrad | identity
  double lr = 1e-3;                     ///< α (paper §4: 1e-3 for Adam)
  double beta1 = 0.9;                   ///< ρ of Algorithm 1 line 6 (paper §4: 0.9)
  double beta2 = 0.999;                 ///< β of the second moment (paper §4: 0.999)
  double delta = 1e-8;                  ///< δ > 0 of Algorithm 1 (0 < δ ≪ 1)
  bool bias_correction = false;         ///< Adam's 1/(1−β^t) corrections (adam only); authors: true
  bool official_threshold_without_bias_correction1 = false;  ///< authors: true
  double decoupled_weight_decay = 0.0;                       ///< authors: 0.01
  int64_t prox_min_dim = 0;                                  ///< tensors with fewer dimensions get no prox; authors: 2
  double l12_shift = 0.0;                                    ///< l1/2 map bias (RegSpec::l12_shift); authors: 1e-4

  /// Reads and validates (messages name the option, value and range). `form` is read first and
  /// sets the defaults of the others.
  static ProxGenOptions from_map(const core::OptionMap& o, const std::string& owner = "optimizer 'proxgen'");
  void validate(const std::string& owner = "optimizer 'proxgen'") const;
};

class ProxGen : public DiagOptimizer {
 public:
  ProxGen(const std::vector<core::ParamGroupSpec>& groups, ProxGenOptions options);
  std::string name() const override { return "proxgen"; }
  const ProxGenOptions& options() const { return opt_; }

 protected:
  double plan(size_t group, int64_t t, core::kernels::DiagStep& s) const override;

 private:
  ProxGenOptions opt_;
  core::kernels::Precond precond_;
  bool adam_ = false;  ///< preconditioner == "adam" (plan() runs per tensor and step: no string compare there)
};

}  // namespace proxbench::optimizers
