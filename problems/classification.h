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
//   layer/<name>/pct_zero  the same per regularized tensor (<name> = module path, e.g. layer1.0.conv1)
// final_metrics() — the pruning sweep of SR2 §5, called once after training: for k = 1..8, zero
// every regularized weight with |w| ≤ 10^{-k} (on a copy: the model is restored afterwards), no
// retraining, and record prune/1e-k/test_accuracy and prune/1e-k/pct_zero.
//
// save_state/load_state: model parameters and buffers (BatchNorm running statistics) copied in
// place (tensor identity kept, so an optimizer holding them stays valid), plus the epoch, seed,
// current batch and running-loss accumulators.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

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

 private:
  void setup(uint64_t seed);
  std::pair<double, double> eval_pass(const ImageDataset& data, int64_t limit);

  ClassificationOptions opts_;
  ImageDataset train_, test_;
  ChannelStats stats_;
  ImageClassifierPtr model_;
  torch::Device device_{torch::kCPU};
  std::vector<std::pair<std::string, torch::Tensor>> reg_params_;
  std::vector<torch::Tensor> other_params_;
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
