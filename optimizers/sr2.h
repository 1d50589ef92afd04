// SR2 (Lakhmiri, Orban, Lodi, "A stochastic proximal method for nonsmooth regularized finite sum
// optimization"): stochastic nonsmooth quadratic regularization, Algorithm 1 with the constants of
// its Table 1.
//
// Per step t, with F(θ; ξ) = f(θ; ξ) + Σ_groups λ R(θ) on the minibatch ξ_t:
//   g_t = ∇f(θ_t; ξ_t)
//   s_t = argmin_s g_tᵀs + λR(θ_t + s) + σ_t/2 ‖s‖²  = prox_{σ_t^{-1} λR}(θ_t − g_t/σ_t) − θ_t   (eq. (8))
//   ΔF  = F(θ_t; ξ_t) − F(θ_t + s_t; ξ_t)                       (same minibatch, through the closure)
//   Δψ  = ψ(0) − ψ(s_t) = λR(θ_t) − g_tᵀ s_t − λR(θ_t + s_t)    (the paper's model ψ: g_t, no momentum,
//                                                                 no σ term; the authors' code differs)
//   ρ_t = ΔF / Δψ;  accept θ_{t+1} = θ_t + s_t if ρ_t ≥ η1, else θ_{t+1} = θ_t (restored exactly, bit
//   for bit, from a copy kept in the state buffer "prev")
//   σ_{t+1} = max(σ_min, γ3 σ_t) if ρ_t ≥ η2;  σ_t if η1 ≤ ρ_t < η2;  γ1 σ_t if ρ_t < η1.
// Algorithm 1 allows σ_{t+1} ∈ [γ1σ, γ2σ] on failure; Table 1's γ2 = 2.95 contradicts its own
// requirement γ1 ≤ γ2 (γ1 = 5.56), and the authors' code multiplies by γ1 — so does this class (γ2
// is not an option). Special cases: s_t = 0 exactly (a fixed point) is accepted with ρ = NaN and σ
// kept; Δψ ≤ 0 with s_t ≠ 0 (rounding) gives ρ = 0 (the paper's extended-arithmetic rule: reject);
// a non-finite trial loss gives ρ = NaN: reject.
//
// Closure contract (exact): step(closure) REQUIRES a LibTorch-style closure — it zeroes the
// gradients, computes the MEAN loss f(θ; ξ) of the SAME minibatch every time it is called, calls
// backward() and returns the loss. step() calls it exactly twice: once at θ_t (its gradient is g_t),
// then once at the trial point θ_t + s_t (the loss gives ΔF; the gradient it computes is not used).
// After step() the parameters' .grad hold that trial-point gradient. StepStats counts
// loss_evals = 2, grad_evals = 2, prox_evals = the regularized tensors.
//
// StepStats: sigma = σ_t (used for this step), rho = ρ_t, accepted, lambda_min = lr = 1/σ_t (the step
// of the prox-gradient map), dtheta_sq = ‖s_t‖² if accepted else 0, precond_max/min = σ_t.
// The group lr of LibTorch is unused (SR2 has no learning rate; σ_t is adapted).
//
// form (option `form`): `paper` (default) = the above. `authors` = the SR2 authors' code
// (reference-implementations.md), each piece also an option:
//   momentum = 0.9         d_t = β d_{t−1} + (1−β) g_t replaces g_t in the step and in the model:
//                          s = prox_{λR/σ}(θ − d/σ) − θ, Δψ = λR(θ) − d_tᵀs − λR(θ + s); the
//                          momentum is not rolled back on a rejection. 0 = off (paper).
//   weight_decay = 0.02    θ ← θ(1 − 0.001·wd) before the step (λR(θ) of the model is taken before
//                          it; a rejected step restores the unshrunk θ). 0 = off (paper).
//   model = authors        Δψ ∈ [−1e-4, 0]: the step is kept with ρ = 0 and σ unchanged (30 in a
//                          row ask to stop: StepStats::stop); Δψ < −1e-4: the step is kept,
//                          ρ = NaN, StepStats::stop = true (their loop ends). A zero step is no
//                          special case. σ has no lower bound (sigma_min unused).
//                          model = paper: the rules above.
//   eta2 = 0.999, gamma1 = 5.57, gamma3 = 0.79 (their constants; Table 1 gives 0.99, 5.56, 0.8).
//   sigma0_from_hessian    σ0 = the largest Hessian eigenvalue (in magnitude) at θ_0 on the first
//                          minibatch, by `hessian_iters` (20) power iterations. The optimizer sees
//                          only the closure, so each Hessian-vector product is a finite difference
//                          of closure gradients, Hv ≈ (∇f(θ + h v) − ∇f(θ))/h, h = 1e-3·max(1, ‖θ‖)
//                          (exact for a quadratic f; the authors use autograd's double backward,
//                          estimate_sigma0 below). Costs hessian_iters + 1 extra closure calls in
//                          step 1 (StepStats::loss_evals counts them). authors: true.
// Not reproduced: the authors' "andrei" diagonal quasi-Newton preconditioner (their default,
// D = mask(B) + σ with B updated by a secant rule on accepted steps): the step stays the
// scalar 1/σ.
#pragma once
#include <functional>

#include "core/kernels.h"
#include "core/optimizer.h"

namespace proxbench::optimizers {

struct Sr2Options {
  std::string form = "paper";        ///< paper | authors
  double momentum = 0.0;             ///< authors: 0.9
  double weight_decay = 0.0;         ///< authors: 0.02 (θ ← θ(1 − 0.001 wd))
  std::string model = "paper";       ///< paper | authors (the Δψ ≤ 0 rules)
  bool sigma0_from_hessian = false;  ///< authors: true
  int64_t hessian_iters = 20;
  double sigma0 = 1.0;      ///< σ_0 ≥ σ_min (authors: top Hessian eigenvalue at init; estimate_sigma0)
  double sigma_min = 1e-6;  ///< σ_min > 0 (Algorithm 1 input; Table 1 gives none)
  double eta1 = 7.5e-4;     ///< η1 (Table 1)
  double eta2 = 0.99;       ///< η2 (Table 1; the authors' code uses 0.999)
  double gamma1 = 5.56;     ///< γ1 > 1 (Table 1; the authors' code uses 5.57)
  double gamma3 = 0.8;      ///< γ3 in (0, 1] (Table 1; the authors' code uses 0.79)

  static Sr2Options from_map(const core::OptionMap& o, const std::string& owner = "optimizer 'sr2'");
  /// 0 < η1 ≤ η2 < 1, γ1 > 1, 0 < γ3 ≤ 1, σ0 ≥ σ_min > 0 (Algorithm 1's input line).
  void validate(const std::string& owner = "optimizer 'sr2'") const;
};

class Sr2 : public core::ProxOptimizer {
 public:
  Sr2(const std::vector<core::ParamGroupSpec>& groups, Sr2Options options);
  std::string name() const override { return "sr2"; }
  const Sr2Options& options() const { return opt_; }
  /// One SR2 iteration (see the closure contract above); returns the loss at θ_t.
  torch::Tensor step(LossClosure closure) override;
  double sigma() const { return sigma_; }
  void set_sigma(double s) { sigma_ = s; }

  /// Largest Hessian eigenvalue (in magnitude) of loss_fn at the current parameters by `iters`
  /// steps of power iteration on Hessian-vector products (torch::autograd::grad with
  /// create_graph = true; the authors' σ0). loss_fn returns the mean loss with its graph (it must
  /// not call backward()). Deterministic: the start vector comes from a generator seeded by `seed`.
  /// The same estimate through a closure (finite-difference Hessian-vector products; see above).
  /// Leaves θ as it was and the gradients of the last closure call at θ in .grad.
  static double estimate_sigma0_fd(const std::vector<torch::Tensor>& params, const LossClosure& closure, int iters,
                                   uint64_t seed = 0);

  static double estimate_sigma0(const std::vector<torch::Tensor>& params, const std::function<torch::Tensor()>& loss_fn,
                                int iters = 20, uint64_t seed = 0);

 protected:
  void save_extra(torch::serialize::OutputArchive& a) const override;
  void load_extra(torch::serialize::InputArchive& a) override;

 private:
  Sr2Options opt_;
  double sigma_;
  int64_t stop_counter_ = 0;
  core::kernels::ProbePartials partials_;
};

}  // namespace proxbench::optimizers
