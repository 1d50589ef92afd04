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
// StepStats::lambda_min = α_t / max_i (C_i + δ) of the gradient step.
//
// The quantized parameters are those of the groups that carry a regularizer (any λ); the others
// (biases, BatchNorm: no regularizer) take the plain Adam step and are never clipped or binarized.
//
// form (option `form`): `paper` (default) = the update above. `authors` = its official code
// (reference-implementations.md), each piece also an option:
//   official_clip_to_unit  θ ← clip(θ, −1, 1) after the prox, on the quantized parameters only.
//   reg_rate               λ ramps with the epoch: the prox step is reg = lr·reg_rate·epoch
//                          (epoch 0-based: 0 in the first epoch), i.e. λ_e = reg_rate·epoch replaces
//                          the group λ (set on the group at on_epoch_begin). 0 = off; authors: 1e-4.
//   reset_moments_each_epoch  m, v and the bias-correction step count restart from zero at every
//                          epoch (their training script rebuilds Adam each epoch). authors: true.
//   binarize_epoch         at the start of this epoch (0-based), θ ← sign(θ) (torch sign: 0 stays 0)
//                          on the quantized parameters, which are frozen from then on; the other
//                          parameters keep training. −1 = never (default, also under authors: the
//                          authors' 200 of 300 epochs is the experiment's to set).
// The epoch hooks need the training loop to call on_epoch_begin(epoch) (harness/runner.cpp does).
// binarized_params() gives (p, sign(p)) for the quantized parameters: evaluate the binarized model
// beside the full-precision one with core::ScopedBinarized.
#pragma once
#include "optimizers/diag_optimizer.h"
#include "optimizers/proxgen.h"

namespace proxbench::optimizers {

struct ProxQuantOptions {
  std::string form = "paper";  ///< paper | authors
  double lr = 1e-2;            ///< ProxQuant binary runs: Adam lr 0.01
  double beta1 = 0.9, beta2 = 0.999, delta = 1e-8;
  bool bias_correction = true;
  bool official_clip_to_unit = false;     ///< authors: true
  double reg_rate = 0.0;                  ///< authors: 1e-4
  bool reset_moments_each_epoch = false;  ///< authors: true
  int64_t binarize_epoch = -1;            ///< −1 = never

  static ProxQuantOptions from_map(const core::OptionMap& o, const std::string& owner = "optimizer 'proxquant'");
  void validate(const std::string& owner = "optimizer 'proxquant'") const;
};

class ProxQuant : public DiagOptimizer {
 public:
  ProxQuant(const std::vector<core::ParamGroupSpec>& groups, ProxQuantOptions options);
  std::string name() const override { return "proxquant"; }
  const ProxQuantOptions& options() const { return opt_; }
  void on_epoch_begin(int64_t epoch) override;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> binarized_params() const override;
  /// True once the quantized parameters were binarized and frozen.
  bool binarized() const { return binarized_; }

 protected:
  double plan(size_t group, int64_t t, core::kernels::DiagStep& s) const override;
  bool prox_tensor(size_t group, const torch::Tensor& p) const override;
  bool frozen(size_t group) const override { return binarized_ && quantized(group); }
  void save_extra(torch::serialize::OutputArchive& a) const override;
  void load_extra(torch::serialize::InputArchive& a) override;

 private:
  bool quantized(size_t group) const;
  ProxQuantOptions opt_;
  bool binarized_ = false;
};

}  // namespace proxbench::optimizers
