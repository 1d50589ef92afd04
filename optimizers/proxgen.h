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
//   adam     v_t = β2 v + (1−β2) g², C_t = sqrt(v_t / (1−β2^t)) with bias_correction (else sqrt(v_t)),
//            α_t = lr / (1 − β1^t) with bias_correction (else lr) — Adam's step-size form, as
//            torch::optim::Adam and the authors' code use it. bias_correction=false is the form
//            written in the paper's §4 (C_t = sqrt(β C² + (1−β) g²), ρ = 0.9, β = 0.999).
//   rmsprop  v_t = β2 v + (1−β2) g², C_t = sqrt(v_t), α_t = lr.
//   adagrad  v_t = v + g², C_t = sqrt(v_t), α_t = lr.
//   identity C_t + δI := I (proximal SGD with momentum), α_t = lr.
// StepStats::lambda_min = α_t / max_i (C_t,i + δ) = λ_min(α_t (C_t + δI)^{-1}) (condition (C-4));
// for identity it is α_t.
//
// Authors'-code options (off by default; reference-implementations.md):
//   official_threshold_without_bias_correction1: the prox threshold uses τ = lr·λ/D (no 1/(1−β1^t))
//     while the gradient step keeps α_t = lr/(1−β1^t), as the official ProxGen opt.py does.
//   decoupled_weight_decay = wd > 0: θ ← θ (1 − lr·wd) before the step, on every parameter (the
//     official code uses wd = 0.01 on all parameters, BatchNorm and biases included).
#pragma once
#include <string>

#include "optimizers/diag_optimizer.h"

namespace proxbench::optimizers {

struct ProxGenOptions {
  std::string preconditioner = "adam";  ///< adam | rmsprop | adagrad | identity
  double lr = 1e-3;                     ///< α (paper §4: 1e-3 for Adam)
  double beta1 = 0.9;                   ///< ρ of Algorithm 1 line 6 (paper §4: 0.9)
  double beta2 = 0.999;                 ///< β of the second moment (paper §4: 0.999)
  double delta = 1e-8;                  ///< δ > 0 of Algorithm 1 (0 < δ ≪ 1)
  bool bias_correction = true;          ///< Adam's 1/(1−β^t) corrections (adam only)
  bool official_threshold_without_bias_correction1 = false;
  double decoupled_weight_decay = 0.0;

  /// Reads and validates (messages name the option, value and range).
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
};

}  // namespace proxbench::optimizers
