// Image classification as a proxbench Problem: F(θ) = f(θ) + λ R(θ), f the mean cross-entropy of
// a network (problems/models/models.h) over a data set (problems/datasets/image_data.h).
//
// Registered as "classification". Options (the `problem:` map of an experiment):
//   dataset            fashion_mnist | cifar10 | cifar100 | synthetic     (default fashion_mnist)
//   data_dir           folder of the data set files; fashion_mnist defaults to the Debian package's
//                      /usr/share/datasets/fashion-mnist, CIFAR needs it (no default)
//   cifar100_labels    fine (100 classes) | coarse (20)                    (default fine)
//   subset             use the first N training examples, 0 = all          (default 0)
//   test_subset        use the first N test examples, 0 = all              (default 0)
//   train_eval_subset  first N training examples on which evaluate() measures train_loss, 0 = all
//                      (default 10000)
//   model              a registered model (`proxbench list models`)        (default resnet20)
//   batch_size         minibatch size, >= 1                                (default 128)
//   eval_batch_size    batch size of evaluation passes, >= 1               (default 128)
//   augment            random crop (padding 4) + horizontal flip on training batches
//                      (default true for cifar10/cifar100, false otherwise)
//   device             cpu | cuda (an error if CUDA is asked for and absent) (default cpu)
//   regularize_bias_bn put biases and BatchNorm parameters under the regularizer (default false)
//   layer_metrics      report the per-layer sparsity metrics                (default true)
//   synthetic_train, synthetic_test, synthetic_size, synthetic_channels, synthetic_classes,
//   synthetic_noise    the synthetic set: 2048, 512, 32, 3, 10, 64 by default
//   l0_gates           none | hard_concrete                                  (default none)
//   l0_gates_droprate_init  initial drop rate p of the gates: log α ~ N(log((1−p)/p), 0.01²) (0.5)
//   warm_start_epochs  full-precision warm start: before the run, N epochs of Adam (LibTorch's,
//                      bias-corrected, β = (0.9, 0.999), ε = 1e-8) on the same data order the run
//                      uses for epochs −N..−1; the run starts from the result (default 0)
//   warm_start_lr      its step size (default 1e-3)
//   binarize_eval      also evaluate the binarized model after training (default false)
//
// Hard-concrete L0 gates (Louizos, Welling, Kingma, ICLR 2018; the l0_hc baseline of ProxGen
// Figure 2). One gate per output channel of every Conv2d weight and per input neuron of every
// Linear weight: the effective weight is W ⊙ z (z broadcast over the gate's group). Gate
// parameters log α are extra trainable parameters (group "biases_bn", unregularized). With
// β = 2/3, γ = −0.1, ζ = 1.1:
//   training:   u ~ U(0,1), s = σ((log u − log(1−u) + log α)/β), z = min(1, max(0, s(ζ−γ) + γ))
//   evaluation: z = min(1, max(0, σ(log α)(ζ−γ) + γ))   (deterministic)
//   penalty:    λ · Σ_gates |group| · σ(log α − β log(−γ/ζ))   (expected number of non-zero weights,
//               the expected ‖W ⊙ z‖₀ on the mean-loss scale, added to every minibatch loss)
// λ is the run's λ (set_objective); the gates ARE the regularizer, so the run's regularizer must be
// none (an optimizer entry of the experiment gives `regularizer: {name: none}`) and the weights
// are handed to the optimizer unregularized: train them with Adam (subgradient_adam, λ·0).
// Metrics then count the effective weights: pct_zero / pct_small / the pruning sweep count a
// gated-off weight as zero; `regularizer` is ‖W ⊙ z‖₀ and objective = train_loss + λ‖W ⊙ z‖₀, the
// same F as a ProxGen l0 run; `gates_open_pct` is the share of open gates.
//
// Data order and augmentation: epoch e of a run with seed s visits the training examples in the
// permutation seeded_permutation(N, mix(s, e)) in batches of batch_size (the last one may be
// smaller); batch b of epoch e is augmented from mix(mix(s, e), b). Both are pure functions of
// (s, e, b), so a resumed run sees exactly the batches an uninterrupted one sees.
// Normalization: per-channel mean/std of the training set as loaded (before `subset`).
//
// Parameter groups: "weights" (Conv2d and Linear weights, regularized) and "biases_bn" (biases
// and BatchNorm weights/biases, unregularized unless regularize_bias_bn).
//
// λ scale. proxbench's λ multiplies R on the MEAN-loss scale: F = (1/N) Σ_i ℓ_i + λ R. A paper that
// writes the sum Σ_i ℓ_i + λ_sum R uses λ = λ_sum / N. ProxGen's code sets λ_sum = 0.1 and divides
// by the training-set size (CIFAR-10: λ = 0.1 / 50000 = 2e-6); SR2's λ ∈ {1e-4, 1e-3, 1e-2} is
// already on the mean scale (its code adds λ·R to the batch-mean loss).
//
// evaluate() metrics (eval mode, no gradients, percentages in [0, 100]):
//   train_loss          mean cross-entropy over the first train_eval_subset training examples
//                       (no augmentation) — a fixed set, so epochs are comparable
//   train_loss_running  mean of the minibatch losses of the gradient closure calls of the
//                       current epoch (the first gradient evaluation of each minibatch only)
//   regularizer         R(θ) over the regularized parameters (0 without a regularizer)
//   objective           F = train_loss + λ · regularizer
//   test_loss, test_accuracy
//   pct_zero, pct_small %|w| = 0 and %|w| ≤ 1e-3 over the regularized parameters
//   gates_open_pct      with l0_gates: % of gates with z > 0
//   layer/<name>/pct_zero  the same per regularized tensor (<name> = module path, e.g. layer1.0.conv1)
// final_metrics() — the pruning sweep of SR2 §5, called once after training: for k = 1..8, zero
// every regularized weight with |w| ≤ 10^{-k} (on a copy: the model is restored afterwards), no
// retraining, and record prune/1e-k/test_accuracy and prune/1e-k/pct_zero. Also test_error
// (= 100 − test accuracy); with warm_start_epochs warm_start/test_accuracy and warm_start/test_error
// (the full-precision model the run started from); with binarize_eval binary/test_accuracy and
// binary/test_error: the model with every regularized weight replaced by sign(w) (on a copy).
//
// save_state/load_state: model parameters and buffers (BatchNorm running statistics) copied in
// place (tensor identity kept, so an optimizer holding them stays valid), plus the epoch, seed,
// current batch and running-loss accumulators.
#pragma once
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <ATen/CPUGeneratorImpl.h>

#include "core/distributed.h"
#include "core/problem.h"
#include "problems/datasets/image_data.h"
#include "problems/models/models.h"

namespace proxbench::problems {

/// Options of the classification problem, validated (see the file comment for meanings).
struct ClassificationOptions {
  std::string dataset = "fashion_mnist";
  std::string data_dir;
  bool cifar100_fine = true;
  int64_t subset = 0, test_subset = 0, train_eval_subset = 10000;
  std::string model = "resnet20";
  int64_t batch_size = 128, eval_batch_size = 128;
  bool augment = false;
  std::string device = "cpu";
  bool regularize_bias_bn = false;
  bool layer_metrics = true;
  std::string l0_gates = "none";
  double l0_gates_droprate_init = 0.5;
  int64_t warm_start_epochs = 0;
  double warm_start_lr = 1e-3;
  bool binarize_eval = false;
  int64_t synthetic_train = 2048, synthetic_test = 512, synthetic_size = 32, synthetic_channels = 3,
          synthetic_classes = 10, synthetic_noise = 64;

  /// Reads and checks every key; unknown keys are an error naming them.
  static ClassificationOptions from(const core::OptionMap& opts);
};

class ClassificationProblem : public core::Problem, public core::DataParallelProblem {
 public:
  ClassificationProblem(const ClassificationOptions& opts, uint64_t seed);
  /// With data sets already in memory (tests, benchmarks); `opts.dataset` is only a label then.
  ClassificationProblem(const ClassificationOptions& opts, ImageDataset train, ImageDataset test, uint64_t seed);

  std::string name() const override { return "classification"; }
  void set_objective(const core::RegularizerPtr& regularizer, double lambda) override;
  std::vector<core::ProblemParamGroup> parameter_groups() override;
  int64_t batches_per_epoch() const override;
  void begin_epoch(int64_t epoch, uint64_t seed) override;
  void select_batch(int64_t index) override;
  torch::Tensor closure_loss(bool with_grad) override;
  core::Metrics evaluate(const core::EvalContext& ctx) override;
  core::Metrics final_metrics(const core::EvalContext& ctx) override;
  torch::Device device() const override { return device_; }
  void set_training(bool on) override;
  void save_state(torch::serialize::OutputArchive& archive) override;
  void load_state(torch::serialize::InputArchive& archive) override;
  /// Data parallel: the global batch is assembled (same order and augmentation as one process)
  /// and this rank keeps its slice; BatchNorm buffers are broadcast from rank 0 before evaluate()
  /// and final_metrics(); train_loss_running is reduced over the ranks. BatchNorm in training mode
  /// normalizes with the statistics of the rank's slice (as PyTorch DDP without SyncBatchNorm).
  void set_data_parallel(core::Communicator* comm) override;

  /// The pruning sweep (SR2 §5) for k = 1..k_max (see the file comment).
  core::Metrics pruning_sweep(int k_max = 8);
  /// Test accuracy (%) and mean loss in eval mode.
  std::pair<double, double> test_accuracy_and_loss();

  ImageClassifier& model() { return *model_; }
  const ImageDataset& train_data() const { return train_; }
  const ImageDataset& test_data() const { return test_; }
  /// Regularized tensors with their layer names.
  const std::vector<std::pair<std::string, torch::Tensor>>& regularized() const { return reg_params_; }
  const ClassificationOptions& options() const { return opts_; }
  /// Hard-concrete gates (l0_gates): the expected L0 penalty Σ |group|·P(z ≠ 0) (a 0-dim tensor
  /// with gradient to log α), and the effective weight W ⊙ z_eval of regularized tensor i.
  torch::Tensor expected_l0();
  torch::Tensor effective_weight(size_t i);
  /// Number of gates and the gate parameters (log α), in regularized-tensor order.
  const std::vector<torch::Tensor>& gate_log_alphas() const { return log_alpha_; }

 private:
  void setup(uint64_t seed);
  void warm_start(uint64_t seed);
  std::pair<double, double> eval_pass(const ImageDataset& data, int64_t limit);
  /// Puts W ⊙ z (sampled or deterministic gates) into the modules' weight members; restore_gates()
  /// puts the raw parameters back. No-ops without gates.
  void apply_gates(bool sample);
  void restore_gates();

  ClassificationOptions opts_;
  ImageDataset train_, test_;
  ChannelStats stats_;
  ImageClassifierPtr model_;
  torch::Device device_{torch::kCPU};
  std::vector<std::pair<std::string, torch::Tensor>> reg_params_;
  std::vector<torch::Tensor> other_params_;
  // hard-concrete gates: per regularized tensor i, the module holding it, conv or linear, log α
  std::vector<std::shared_ptr<torch::nn::Module>> gate_modules_;
  std::vector<bool> gate_conv_;
  std::vector<torch::Tensor> log_alpha_;
  /// The gates' random stream (initial log α noise, then per batch u ~ U(0, 1) reseeded from
  /// (seed, epoch, batch)): a generator of this problem's own, never LibTorch's global one.
  at::Generator gen_ = at::make_generator<at::CPUGeneratorImpl>(0);
  double lambda_ = 0.0;
  double warm_test_accuracy_ = std::numeric_limits<double>::quiet_NaN();
  // data order
  int64_t epoch_ = 0;
  uint64_t seed_ = 0, epoch_seed_ = 0;
  std::vector<int64_t> order_;
  int64_t batch_index_ = -1;
  torch::Tensor x_, y_;
  bool batch_counted_ = false;
  double running_sum_ = 0.0;
  int64_t running_count_ = 0;
  // data parallel
  void sync_buffers();
  core::Communicator* comm_ = nullptr;
  int64_t dp_rank_ = 0, dp_world_ = 1, batch_m_ = 0;
};

}  // namespace proxbench::problems
