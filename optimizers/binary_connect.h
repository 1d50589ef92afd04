// BinaryConnect (Courbariaux, Bengio, David, "BinaryConnect: Training deep neural networks with
// binary weights during propagations", NeurIPS 2015; the BinaryConnect baseline of ProxGen Table 3).
//
// The quantized parameters (those of the groups that carry a regularizer; the regularizer itself
// and λ are otherwise ignored) keep full-precision latent weights w in the state buffer "latent";
// the parameter the network uses in its forward pass holds w_b = sign(w) (+1 where w ≥ 0, −1
// where w < 0: the deterministic binarization of the paper, eq. (1)). Per step t, with g_t the
// gradient with respect to w_b (straight-through: applied to w as is):
//
//   adam (default): m = β1 m + (1−β1) g,  v = β2 v + (1−β2) g²,  D = sqrt(v/(1−β2^t)) + δ,
//                   w ← clip(w − α_t m / D, −1, 1),  α_t = lr/(1−β1^t)
//   sgd:            w ← clip(w − lr·m, −1, 1),  m = μ m + (1−μ) g (μ = option beta1; 0 = plain SGD)
//   p ← sign(w)                                       (written by the same fused pass)
//
// Groups without a regularizer (biases, BatchNorm) take the same Adam / SGD step on the parameter
// itself, not binarized, not clipped. At construction the quantized parameters are binarized:
// w_0 = clip(p, −1, 1) (a full-precision warm start), p ← sign(w_0), so the very first forward pass
// already uses binary weights. ‖Δθ‖² refers to the latent weights; the sparsity probes count
// nothing (binary weights have no zeros).
// binarized_params() returns (p, p) for the quantized parameters (they already hold the binarized
// values); latent(p) gives the full-precision weights.
#pragma once
#include "optimizers/diag_optimizer.h"

namespace proxbench::optimizers {

struct BinaryConnectOptions {
  std::string update = "adam";  ///< adam | sgd
  double lr = 1e-2;             ///< Adam lr 0.01 as the ProxQuant binary runs it compares against
  double beta1 = 0.9;           ///< adam β1; sgd: momentum μ (default 0 for sgd)
  double beta2 = 0.999, delta = 1e-8;
  bool bias_correction = true;

  static BinaryConnectOptions from_map(const core::OptionMap& o,
                                       const std::string& owner = "optimizer 'binary_connect'");
  void validate(const std::string& owner = "optimizer 'binary_connect'") const;
};

class BinaryConnect : public DiagOptimizer {
 public:
  BinaryConnect(const std::vector<core::ParamGroupSpec>& groups, BinaryConnectOptions options);
  std::string name() const override { return "binary_connect"; }
  const BinaryConnectOptions& options() const { return opt_; }
  std::vector<std::pair<torch::Tensor, torch::Tensor>> binarized_params() const override;
  /// The latent full-precision weights of quantized parameter p (undefined for the others).
  torch::Tensor latent(const torch::Tensor& p);

 protected:
  double plan(size_t group, int64_t t, core::kernels::DiagStep& s) const override;
  bool prox_tensor(size_t, const torch::Tensor&) const override { return false; }
  void bind(size_t group, torch::Tensor& p, core::ProxParamState& st, core::kernels::DiagBuffers& b) override;

 private:
  bool quantized(size_t group) const;
  BinaryConnectOptions opt_;
};

}  // namespace proxbench::optimizers
