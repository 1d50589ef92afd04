// Original ProxQuant (Bai, Wang, Liberty, "ProxQuant: Quantized neural networks via proximal
// operators", ICLR 2019): an Adam step, then the prox of the regularizer with the PLAIN step
// τ = lr·λ — the preconditioner does not enter the prox:
//
//   m = β1 m + (1−β1) g,  v = β2 v + (1−β2) g²,  D = sqrt(v/(1−β2^t)) + δ,  α_t = lr/(1−β1^t)
//   z = θ − α_t m / D,    θ_{t+1} = prox_{τ r}(z),   τ = lr·λ (the same for every coordinate)
//
// with any registered regularizer (binary_quant, the W-shaped R(θ) = Σ ||θ_j| − 1|^q, is the
// ProxQuant one). The revised ProxQuant of the ProxGen paper (§2) is ProxGen with binary_quant:
// τ_i = α_t λ / D_i, i.e. the prox is preconditioned — use optimizer `proxgen` for it.
// The authors' reg = lr·reg_rate·epoch schedule is λ scheduled by the caller (set_lambda via
// group_options(i).lambda). Their final clip of θ to [−1, 1] after the prox is the option
// `official_clip_to_unit` (off by default: not in the paper's update).
// StepStats::lambda_min = α_t / max_i (C_i + δ) of the gradient step.
#pragma once
#include "optimizers/diag_optimizer.h"
#include "optimizers/proxgen.h"

namespace proxbench::optimizers {

class ProxQuant : public DiagOptimizer {
 public:
  /// Options: those of ProxGen with preconditioner adam (lr, beta1, beta2, delta, bias_correction).
  /// official_clip_to_unit: clip θ to [−1, 1] after the prox, as the authors' code does.
  ProxQuant(const std::vector<core::ParamGroupSpec>& groups, ProxGenOptions options,
            bool official_clip_to_unit = false);
  std::string name() const override { return "proxquant"; }

 protected:
  double plan(size_t group, int64_t t, core::kernels::DiagStep& s) const override;

 private:
  ProxGenOptions opt_;
  bool clip_ = false;
};

}  // namespace proxbench::optimizers
