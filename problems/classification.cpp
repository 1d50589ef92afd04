#include "problems/classification.h"

#include "core/distributed.h"

#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <sstream>

#include "core/regularizer.h"
#include "core/rng.h"

namespace proxbench::problems {
namespace {

int64_t get_int_min(const core::OptionMap& o, const std::string& key, int64_t def, int64_t lo) {
  const int64_t v = o.get_int(key, def);
  if (v < lo) o.fail("option '" + key + "' = " + std::to_string(v) + " must be >= " + std::to_string(lo));
  return v;
}

std::string layer_name(const std::string& param_name) {
  const auto dot = param_name.rfind('.');
  return dot == std::string::npos ? param_name : param_name.substr(0, dot);
}

std::string prune_key(int k) { return "prune/1e-" + std::to_string(k); }

// Hard-concrete constants (Louizos et al. 2018): temperature β, stretch interval (γ, ζ).
constexpr double kBeta = 2.0 / 3.0, kGamma = -0.1, kZeta = 1.1;

}  // namespace

ClassificationOptions ClassificationOptions::from(const core::OptionMap& o) {
  ClassificationOptions c;
  c.dataset = o.get_string("dataset", c.dataset);
  if (c.dataset != "fashion_mnist" && c.dataset != "cifar10" && c.dataset != "cifar100" && c.dataset != "synthetic")
    o.fail("option 'dataset' = '" + c.dataset + "' must be one of fashion_mnist, cifar10, cifar100, synthetic");
  c.data_dir = o.get_string("data_dir", "");
  const std::string lab = o.get_string("cifar100_labels", "fine");
  if (lab != "fine" && lab != "coarse") o.fail("option 'cifar100_labels' = '" + lab + "' must be fine or coarse");
  c.cifar100_fine = lab == "fine";
  c.subset = get_int_min(o, "subset", 0, 0);
  c.test_subset = get_int_min(o, "test_subset", 0, 0);
  c.train_eval_subset = get_int_min(o, "train_eval_subset", c.train_eval_subset, 0);
  c.model = o.get_string("model", c.model);
  if (!model_registry().contains(c.model))
    o.fail("option 'model' = '" + c.model + "' is not a registered model (known: " + model_registry().known() + ")");
  c.batch_size = get_int_min(o, "batch_size", c.batch_size, 1);
  c.eval_batch_size = get_int_min(o, "eval_batch_size", c.eval_batch_size, 1);
  c.augment = o.get_bool("augment", c.dataset == "cifar10" || c.dataset == "cifar100");
  c.device = o.get_string("device", c.device);
  if (c.device != "cpu" && c.device != "cuda") o.fail("option 'device' = '" + c.device + "' must be cpu or cuda");
  if (c.device == "cuda" && !torch::cuda::is_available())
    o.fail("option 'device' = 'cuda' but no CUDA device is available to this LibTorch build; use device: cpu");
  c.regularize_bias_bn = o.get_bool("regularize_bias_bn", false);
  c.layer_metrics = o.get_bool("layer_metrics", true);
  c.l0_gates = o.get_string("l0_gates", c.l0_gates);
  if (c.l0_gates != "none" && c.l0_gates != "hard_concrete")
    o.fail("option 'l0_gates' = '" + c.l0_gates + "' must be none or hard_concrete");
  c.l0_gates_droprate_init = o.get_double("l0_gates_droprate_init", c.l0_gates_droprate_init);
  if (!(c.l0_gates_droprate_init > 0 && c.l0_gates_droprate_init < 1))
    o.fail("option 'l0_gates_droprate_init' = " + std::to_string(c.l0_gates_droprate_init) + " must be in (0, 1)");
  c.warm_start_epochs = get_int_min(o, "warm_start_epochs", 0, 0);
  c.warm_start_lr = o.get_double("warm_start_lr", c.warm_start_lr);
  if (!(c.warm_start_lr > 0)) o.fail("option 'warm_start_lr' = " + std::to_string(c.warm_start_lr) + " must be > 0");
  c.binarize_eval = o.get_bool("binarize_eval", false);
  c.synthetic_train = get_int_min(o, "synthetic_train", c.synthetic_train, 1);
  c.synthetic_test = get_int_min(o, "synthetic_test", c.synthetic_test, 1);
  c.synthetic_size = get_int_min(o, "synthetic_size", c.synthetic_size, 4);
  c.synthetic_channels = get_int_min(o, "synthetic_channels", c.synthetic_channels, 1);
  c.synthetic_classes = get_int_min(o, "synthetic_classes", c.synthetic_classes, 2);
  c.synthetic_noise = get_int_min(o, "synthetic_noise", c.synthetic_noise, 0);
  if (c.synthetic_noise > 255) o.fail("option 'synthetic_noise' = " + std::to_string(c.synthetic_noise) + " must be <= 255");
  if (c.dataset == "synthetic") {  // an impossible size is an error now, not std::bad_alloc in the run
    const double bytes = double(c.synthetic_train + c.synthetic_test) * double(c.synthetic_channels) *
                         double(c.synthetic_size) * double(c.synthetic_size);
    if (bytes > double(int64_t(1) << 33))
      o.fail("synthetic images of (" + std::to_string(c.synthetic_train) + " + " + std::to_string(c.synthetic_test) +
             ") x " + std::to_string(c.synthetic_channels) + " x " + std::to_string(c.synthetic_size) + "^2 bytes exceed the 8 GiB limit");
  }
  o.check_unused();
  return c;
}

ClassificationProblem::ClassificationProblem(const ClassificationOptions& opts, uint64_t seed) : opts_(opts) {
  if (opts.dataset == "fashion_mnist") {
    train_ = load_fashion_mnist(opts.data_dir, true);
    test_ = load_fashion_mnist(opts.data_dir, false);
  } else if (opts.dataset == "cifar10") {
    train_ = load_cifar10(opts.data_dir, true);
    test_ = load_cifar10(opts.data_dir, false);
  } else if (opts.dataset == "cifar100") {
    train_ = load_cifar100(opts.data_dir, true, opts.cifar100_fine);
    test_ = load_cifar100(opts.data_dir, false, opts.cifar100_fine);
  } else {
    // Templates depend on the data seed only (fixed), examples on the split: the task is the same
    // for every run seed.
    const uint64_t data_seed = 20211206;
    train_ = make_synthetic_images(opts.synthetic_train, opts.synthetic_channels, opts.synthetic_size,
                                   opts.synthetic_classes, data_seed, 0, int(opts.synthetic_noise));
    test_ = make_synthetic_images(opts.synthetic_test, opts.synthetic_channels, opts.synthetic_size,
                                  opts.synthetic_classes, data_seed, 1, int(opts.synthetic_noise));
  }
  setup(seed);
}

ClassificationProblem::ClassificationProblem(const ClassificationOptions& opts, ImageDataset train, ImageDataset test,
                                             uint64_t seed)
    : opts_(opts), train_(std::move(train)), test_(std::move(test)) {
  setup(seed);
}

void ClassificationProblem::setup(uint64_t seed) {
  auto shape = [](const ImageDataset& d) {
    return std::to_string(d.channels()) + "x" + std::to_string(d.height()) + "x" + std::to_string(d.width()) +
           (d.source.empty() ? "" : " (" + d.source + ")");
  };
  if (train_.channels() != test_.channels() || train_.height() != test_.height() || train_.width() != test_.width())
    throw Error("classification: training images " + shape(train_) + " and test images " + shape(test_) +
                " differ in shape");
  if (train_.height() != train_.width())
    throw Error("classification: images must be square, got " + shape(train_));
  stats_ = channel_stats(train_);
  train_ = train_.head(opts_.subset);
  test_ = test_.head(opts_.test_subset);
  device_ = opts_.device == "cuda" ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  {
    // the model's weights from the global generator: no other run's thread may seed or draw between
    std::lock_guard<std::mutex> rng(core::global_rng_mutex());
    torch::manual_seed(seed);
    model_ = make_model(opts_.model, ModelShape{train_.channels(), std::max(train_.num_classes, test_.num_classes),
                                               train_.height()});
  }
  model_->to(device_);
  model_->train(true);
  seed_ = seed;
  if (opts_.warm_start_epochs > 0) warm_start(seed);
  // Conv2d / Linear weights are regularized; everything else (biases, BatchNorm) is not.
  std::map<const void*, std::pair<std::shared_ptr<torch::nn::Module>, bool>> weights;  // → module, is conv
  for (const auto& m : model_->modules(false)) {
    if (auto* c = m->as<torch::nn::Conv2d>()) weights[c->weight.unsafeGetTensorImpl()] = {m, true};
    if (auto* l = m->as<torch::nn::Linear>()) weights[l->weight.unsafeGetTensorImpl()] = {m, false};
  }
  for (const auto& kv : model_->named_parameters()) {
    if (weights.count(kv.value().unsafeGetTensorImpl()) || opts_.regularize_bias_bn)
      reg_params_.emplace_back(kv.key(), kv.value());
    else
      other_params_.push_back(kv.value());
  }
  if (opts_.l0_gates == "hard_concrete") {
    const double init = std::log(1.0 - opts_.l0_gates_droprate_init) - std::log(opts_.l0_gates_droprate_init);
    for (size_t i = 0; i < reg_params_.size(); ++i) {
      auto it = weights.find(reg_params_[i].second.unsafeGetTensorImpl());
      if (it == weights.end()) {  // a bias / BatchNorm tensor under regularize_bias_bn: no gate
        gate_modules_.push_back(nullptr);
        gate_conv_.push_back(false);
        log_alpha_.emplace_back();
        continue;
      }
      const auto& w = reg_params_[i].second;
      const int64_t n = it->second.second ? w.size(0) : w.size(1);  // conv: output channels; linear: inputs
      {
        std::lock_guard<std::mutex> g(gen_.mutex());
        gen_.set_current_seed(seed ^ 0x6a09e667f3bcc909ULL);  // the gates' own stream: not the global one
      }
      const auto noise = torch::randn({n}, gen_, torch::TensorOptions().dtype(w.scalar_type())).to(w.device());
      auto la = model_->register_parameter("l0_log_alpha_" + std::to_string(i), (noise * 0.01 + init).detach());
      gate_modules_.push_back(it->second.first);
      gate_conv_.push_back(it->second.second);
      log_alpha_.push_back(la);
      other_params_.push_back(la);
    }
  }
  begin_epoch(0, seed);
}

void ClassificationProblem::warm_start(uint64_t seed) {
  torch::optim::Adam adam(model_->parameters(), torch::optim::AdamOptions(opts_.warm_start_lr));
  for (int64_t e = 0; e < opts_.warm_start_epochs; ++e) {
    // epochs -N..-1 of the run's data order (the run itself visits epochs 0, 1, ...)
    begin_epoch(-(opts_.warm_start_epochs - e), seed);
    for (int64_t b = 0; b < batches_per_epoch(); ++b) {
      select_batch(b);
      closure_loss(true);
      adam.step();
    }
  }
  for (auto& p : model_->parameters())
    if (p.grad().defined()) p.grad().zero_();
  warm_test_accuracy_ = eval_pass(test_, 0).first;
}

void ClassificationProblem::set_objective(const core::RegularizerPtr& regularizer, double lambda) {
  lambda_ = lambda;
  if (opts_.l0_gates != "none" && regularizer && regularizer->name() != "none")
    throw Error("classification: l0_gates: " + opts_.l0_gates +
                " carries the L0 penalty itself; the run's regularizer must "
                "be none, got '" +
                regularizer->name() + "' (give the optimizer entry regularizer: {name: none})");
}

torch::Tensor ClassificationProblem::expected_l0() {
  auto total = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat64).device(device_));
  for (size_t i = 0; i < log_alpha_.size(); ++i) {
    if (!gate_modules_[i]) continue;
    const auto& w = reg_params_[i].second;
    const double group = double(w.numel() / log_alpha_[i].numel());
    total = total + group * torch::sigmoid(log_alpha_[i] - kBeta * std::log(-kGamma / kZeta)).sum().to(torch::kFloat64);
  }
  return total;
}

namespace {
/// s̄ = clamp(s(ζ − γ) + γ, 0, 1); with `sample`, s = σ((log u − log(1 − u) + log α)/β), u ~ U(0, 1)
/// drawn from `gen` (on the CPU, then moved: one small tensor per gated weight).
torch::Tensor gate_values(const torch::Tensor& log_alpha, bool sample, at::Generator* gen = nullptr) {
  torch::Tensor s;
  if (sample) {
    auto u = torch::rand(log_alpha.sizes(), *gen, torch::TensorOptions().dtype(log_alpha.scalar_type()))
                 .to(log_alpha.device())
                 .clamp(1e-6, 1.0 - 1e-6);
    s = torch::sigmoid((torch::log(u) - torch::log(1 - u) + log_alpha) / kBeta);
  } else {
    s = torch::sigmoid(log_alpha);
  }
  return (s * (kZeta - kGamma) + kGamma).clamp(0.0, 1.0);
}
torch::Tensor gated(const torch::Tensor& w, const torch::Tensor& z, bool conv) {
  return conv ? w * z.view({-1, 1, 1, 1}) : w * z.view({1, -1});
}
}  // namespace

torch::Tensor ClassificationProblem::effective_weight(size_t i) {
  const auto& w = reg_params_[i].second;
  if (log_alpha_.empty() || !gate_modules_[i]) return w.detach();
  torch::NoGradGuard g;
  return gated(w.detach(), gate_values(log_alpha_[i].detach(), false), gate_conv_[i]);
}

void ClassificationProblem::apply_gates(bool sample) {
  if (sample) {  // the gate noise is a function of (seed, epoch, batch), like the batch itself: a run
                 // resumed from a checkpoint, or run beside others (--jobs), draws the same samples
    uint64_t h = epoch_seed_ + 0x9e3779b97f4a7c15ULL * uint64_t(batch_index_ + 2);
    h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ULL;
    h = (h ^ (h >> 27)) * 0x94d049bb133111ebULL;
    std::lock_guard<std::mutex> g(gen_.mutex());
    gen_.set_current_seed(h ^ (h >> 31));
  }
  for (size_t i = 0; i < log_alpha_.size(); ++i) {
    if (!gate_modules_[i]) continue;
    auto w = gated(reg_params_[i].second, gate_values(log_alpha_[i], sample, &gen_), gate_conv_[i]);
    if (gate_conv_[i])
      gate_modules_[i]->as<torch::nn::Conv2d>()->weight = w;
    else
      gate_modules_[i]->as<torch::nn::Linear>()->weight = w;
  }
}

void ClassificationProblem::restore_gates() {
  for (size_t i = 0; i < log_alpha_.size(); ++i) {
    if (!gate_modules_[i]) continue;
    if (gate_conv_[i])
      gate_modules_[i]->as<torch::nn::Conv2d>()->weight = reg_params_[i].second;
    else
      gate_modules_[i]->as<torch::nn::Linear>()->weight = reg_params_[i].second;
  }
}

std::vector<core::ProblemParamGroup> ClassificationProblem::parameter_groups() {
  std::vector<core::ProblemParamGroup> g;
  // with gates the weights go unregularized: the gates carry the L0 penalty (in the loss)
  core::ProblemParamGroup w{"weights", {}, log_alpha_.empty()};
  for (const auto& kv : reg_params_) w.params.push_back(kv.second);
  g.push_back(std::move(w));
  if (!other_params_.empty()) g.push_back(core::ProblemParamGroup{"biases_bn", other_params_, false});
  return g;
}

int64_t ClassificationProblem::batches_per_epoch() const {
  return (train_.size() + opts_.batch_size - 1) / opts_.batch_size;
}

void ClassificationProblem::begin_epoch(int64_t epoch, uint64_t seed) {
  epoch_ = epoch;
  seed_ = seed;
  epoch_seed_ = mix_seed(seed, uint64_t(epoch));
  order_ = seeded_permutation(train_.size(), epoch_seed_);
  batch_index_ = -1;
  x_ = torch::Tensor();
  y_ = torch::Tensor();
  running_sum_ = 0;
  running_count_ = 0;
}

void ClassificationProblem::select_batch(int64_t index) {
  const int64_t nb = batches_per_epoch();
  if (index < 0 || index >= nb)
    throw Error("classification: batch index " + std::to_string(index) + " outside [0, " + std::to_string(nb) + ")");
  const int64_t lo = index * opts_.batch_size, hi = std::min(train_.size(), lo + opts_.batch_size);
  std::vector<int64_t> idx(order_.begin() + lo, order_.begin() + hi);
  Augment aug;
  aug.crop = aug.flip = opts_.augment;
  torch::Tensor y;
  x_ = assemble_batch(train_, idx, stats_, aug, mix_seed(epoch_seed_, uint64_t(index)), &y);
  batch_m_ = hi - lo;
  if (dp_world_ > 1) {  // the global batch (same augmentation), then this rank's slice of it
    const int64_t a = dp_rank_ * batch_m_ / dp_world_, b = (dp_rank_ + 1) * batch_m_ / dp_world_;
    x_ = x_.narrow(0, a, b - a);
    y = y.narrow(0, a, b - a);
  }
  x_ = x_.to(device_);
  y_ = y.to(device_);
  batch_index_ = index;
  batch_counted_ = false;
}

torch::Tensor ClassificationProblem::closure_loss(bool with_grad) {
  if (!x_.defined()) throw Error("classification: closure_loss called before select_batch");
  const bool gates = !log_alpha_.empty();
  if (with_grad) {
    for (auto& p : model_->parameters())
      if (p.grad().defined()) p.grad().zero_();
    if (gates) apply_gates(true);
    torch::Tensor loss;
    try {
      loss = torch::nn::functional::cross_entropy(model_->forward(x_), y_);
    } catch (...) {
      if (gates) restore_gates();
      throw;
    }
    // data parallel: this rank's share of the global mean (the ranks' losses and gradients are
    // summed), and 1/world of the gate penalty
    if (dp_world_ > 1) loss = loss * (double(x_.size(0)) / double(batch_m_));
    auto total = gates ? loss + (lambda_ / double(dp_world_) * expected_l0()).to(loss.scalar_type()) : loss;
    total.backward();
    if (gates) restore_gates();
    if (!batch_counted_) {
      running_sum_ += loss.detach().item<double>();
      ++running_count_;
      batch_counted_ = true;
    }
    return total.detach();
  }
  torch::NoGradGuard guard;
  const double share = dp_world_ > 1 ? double(x_.size(0)) / double(batch_m_) : 1.0;
  if (!gates) {
    auto loss = torch::nn::functional::cross_entropy(model_->forward(x_), y_);
    return dp_world_ > 1 ? loss * share : loss;
  }
  apply_gates(true);
  auto l = torch::nn::functional::cross_entropy(model_->forward(x_), y_);
  restore_gates();
  if (dp_world_ > 1) l = l * share;
  return l + (lambda_ / double(dp_world_) * expected_l0()).to(l.scalar_type());
}

void ClassificationProblem::set_data_parallel(core::Communicator* comm) {
  comm_ = comm && comm->world() > 1 ? comm : nullptr;
  dp_rank_ = comm_ ? comm_->rank() : 0;
  dp_world_ = comm_ ? comm_->world() : 1;
}

void ClassificationProblem::sync_buffers() {
  if (!comm_) return;
  std::vector<torch::Tensor> b;
  for (const auto& kv : model_->named_buffers()) b.push_back(kv.value());
  comm_->broadcast(b, 0);
}

void ClassificationProblem::set_training(bool on) { model_->train(on); }

std::pair<double, double> ClassificationProblem::eval_pass(const ImageDataset& data, int64_t limit) {
  const int64_t n = (limit > 0 && limit < data.size()) ? limit : data.size();
  const bool was_training = model_->is_training();
  model_->eval();
  torch::NoGradGuard guard;
  apply_gates(false);
  struct Restore {
    ClassificationProblem* p;
    ~Restore() { p->restore_gates(); }
  } restore{this};
  double loss_sum = 0;
  int64_t correct = 0;
  for (int64_t lo = 0; lo < n; lo += opts_.eval_batch_size) {
    const int64_t hi = std::min(n, lo + opts_.eval_batch_size);
    std::vector<int64_t> idx(size_t(hi - lo));
    for (int64_t i = lo; i < hi; ++i) idx[size_t(i - lo)] = i;
    torch::Tensor y;
    auto x = assemble_batch(data, idx, stats_, Augment{}, 0, &y).to(device_);
    y = y.to(device_);
    auto logits = model_->forward(x);
    loss_sum += torch::nn::functional::cross_entropy(
                    logits, y, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                    .item<double>();
    correct += logits.argmax(1).eq(y).sum().item<int64_t>();
  }
  model_->train(was_training);
  return {100.0 * double(correct) / double(n), loss_sum / double(n)};
}

std::pair<double, double> ClassificationProblem::test_accuracy_and_loss() { return eval_pass(test_, 0); }

core::Metrics ClassificationProblem::evaluate(const core::EvalContext& ctx) {
  sync_buffers();
  core::Metrics m;
  double running_sum = running_sum_;
  if (comm_) {  // the shares of the ranks add up to the minibatch means
    auto t = torch::full({1}, running_sum_, torch::kDouble);
    comm_->allreduce_sum({t});
    running_sum = t.item<double>();
  }
  const auto train = eval_pass(train_, opts_.train_eval_subset);
  const auto test = eval_pass(test_, 0);
  double reg = 0;
  const bool gates = !log_alpha_.empty();
  if (gates) {  // R = ‖W ⊙ z‖₀ of the effective weights (the l0 value a ProxGen l0 run reports)
    for (size_t i = 0; i < reg_params_.size(); ++i) reg += double(effective_weight(i).ne(0).sum().item<int64_t>());
  } else if (ctx.regularizer) {
    for (const auto& kv : reg_params_) reg += ctx.regularizer->value(kv.second.detach().to(torch::kCPU).contiguous());
  }
  m.emplace_back("train_loss", train.second);
  m.emplace_back("train_loss_running",
                 running_count_ > 0 ? running_sum / double(running_count_) : std::numeric_limits<double>::quiet_NaN());
  m.emplace_back("regularizer", reg);
  m.emplace_back("objective", train.second + (gates ? lambda_ : ctx.lambda) * reg);
  m.emplace_back("test_loss", test.second);
  m.emplace_back("test_accuracy", test.first);
  torch::NoGradGuard guard;
  int64_t total = 0, zero = 0, small = 0;
  core::Metrics layers;
  for (size_t i = 0; i < reg_params_.size(); ++i) {
    const auto& kv = reg_params_[i];
    auto a = effective_weight(i).abs();
    const int64_t z = a.eq(0).sum().item<int64_t>();
    total += a.numel();
    zero += z;
    small += a.le(1e-3).sum().item<int64_t>();
    if (opts_.layer_metrics)
      layers.emplace_back("layer/" + layer_name(kv.first) + "/pct_zero", 100.0 * double(z) / double(a.numel()));
  }
  m.emplace_back("pct_zero", total ? 100.0 * double(zero) / double(total) : 0.0);
  m.emplace_back("pct_small", total ? 100.0 * double(small) / double(total) : 0.0);
  if (gates) {
    int64_t open = 0, n = 0;
    for (size_t i = 0; i < log_alpha_.size(); ++i)
      if (gate_modules_[i]) {
        open += gate_values(log_alpha_[i].detach(), false).gt(0).sum().item<int64_t>();
        n += log_alpha_[i].numel();
      }
    m.emplace_back("gates_open_pct", n ? 100.0 * double(open) / double(n) : 0.0);
  }
  m.insert(m.end(), layers.begin(), layers.end());
  return m;
}

core::Metrics ClassificationProblem::pruning_sweep(int k_max) {
  core::Metrics m;
  std::vector<torch::Tensor> saved;
  {
    torch::NoGradGuard guard;
    for (const auto& kv : reg_params_) saved.push_back(kv.second.detach().clone());
  }
  for (int k = 1; k <= k_max; ++k) {
    const double thr = std::pow(10.0, -k);
    int64_t total = 0, zero = 0;
    {
      torch::NoGradGuard guard;
      for (size_t i = 0; i < reg_params_.size(); ++i) {
        auto p = reg_params_[i].second;
        p.copy_(saved[i]);
        p.masked_fill_(saved[i].abs().le(thr), 0.0);
        total += p.numel();
        zero += effective_weight(i).eq(0).sum().item<int64_t>();
      }
    }
    const auto acc = eval_pass(test_, 0);
    m.emplace_back(prune_key(k) + "/test_accuracy", acc.first);
    m.emplace_back(prune_key(k) + "/pct_zero", total ? 100.0 * double(zero) / double(total) : 0.0);
  }
  torch::NoGradGuard guard;
  for (size_t i = 0; i < reg_params_.size(); ++i) reg_params_[i].second.copy_(saved[i]);
  return m;
}

core::Metrics ClassificationProblem::final_metrics(const core::EvalContext&) {
  sync_buffers();
  core::Metrics m = pruning_sweep(8);
  const double acc = eval_pass(test_, 0).first;
  m.emplace_back("test_error", 100.0 - acc);
  if (opts_.warm_start_epochs > 0) {
    m.emplace_back("warm_start/test_accuracy", warm_test_accuracy_);
    m.emplace_back("warm_start/test_error", 100.0 - warm_test_accuracy_);
  }
  if (opts_.binarize_eval) {  // sign(w) on a copy, as ProxQuant's binarized evaluation
    std::vector<torch::Tensor> saved;
    torch::NoGradGuard guard;
    for (const auto& kv : reg_params_) {
      saved.push_back(kv.second.detach().clone());
      kv.second.copy_(torch::sign(kv.second));
    }
    const double bacc = eval_pass(test_, 0).first;
    for (size_t i = 0; i < reg_params_.size(); ++i) reg_params_[i].second.copy_(saved[i]);
    m.emplace_back("binary/test_accuracy", bacc);
    m.emplace_back("binary/test_error", 100.0 - bacc);
  }
  return m;
}

void ClassificationProblem::save_state(torch::serialize::OutputArchive& archive) {
  torch::serialize::OutputArchive model;
  for (const auto& kv : model_->named_parameters()) model.write(kv.key(), kv.value().detach().to(torch::kCPU));
  for (const auto& kv : model_->named_buffers()) model.write(kv.key(), kv.value().to(torch::kCPU), true);
  archive.write("classification_model", model);
  torch::serialize::OutputArchive data;
  data.write("epoch", torch::tensor(epoch_, torch::kInt64));
  data.write("seed", torch::tensor(int64_t(seed_), torch::kInt64));
  data.write("batch_index", torch::tensor(batch_index_, torch::kInt64));
  data.write("running_sum", torch::tensor(running_sum_, torch::kFloat64));
  data.write("running_count", torch::tensor(running_count_, torch::kInt64));
  data.write("model_name", torch::tensor(std::vector<int64_t>(opts_.model.begin(), opts_.model.end()), torch::kInt64));
  archive.write("classification_data", data);
}

void ClassificationProblem::load_state(torch::serialize::InputArchive& archive) {
  torch::serialize::InputArchive model, data;
  if (!archive.try_read("classification_model", model) || !archive.try_read("classification_data", data))
    throw Error("classification: checkpoint has no classification state (written by another problem?)");
  torch::Tensor t;
  data.read("model_name", t);
  std::string name;
  for (int64_t i = 0; i < t.numel(); ++i) name.push_back(char(t[i].item<int64_t>()));
  if (name != opts_.model)
    throw Error("classification: checkpoint holds model '" + name + "', this run builds '" + opts_.model + "'");
  torch::NoGradGuard guard;
  for (const auto& kv : model_->named_parameters()) {
    torch::Tensor v;
    if (!model.try_read(kv.key(), v)) throw Error("classification: checkpoint lacks parameter '" + kv.key() + "'");
    if (!v.sizes().equals(kv.value().sizes()))
      throw Error("classification: checkpoint parameter '" + kv.key() + "' has a different shape");
    kv.value().copy_(v);
  }
  for (const auto& kv : model_->named_buffers()) {
    torch::Tensor v;
    if (!model.try_read(kv.key(), v, true)) throw Error("classification: checkpoint lacks buffer '" + kv.key() + "'");
    kv.value().copy_(v);
  }
  data.read("epoch", t);
  const int64_t epoch = t.item<int64_t>();
  data.read("seed", t);
  const uint64_t seed = uint64_t(t.item<int64_t>());
  begin_epoch(epoch, seed);
  data.read("batch_index", t);
  const int64_t b = t.item<int64_t>();
  data.read("running_sum", t);
  running_sum_ = t.item<double>();
  data.read("running_count", t);
  running_count_ = t.item<int64_t>();
  if (b >= 0) {
    select_batch(b);
    batch_counted_ = true;
  }
}

namespace {

std::vector<core::ParamDoc> docs() {
  return {
      {"dataset", "fashion_mnist", "fashion_mnist | cifar10 | cifar100 | synthetic"},
      {"data_dir", "\"\"", "data folder (fashion_mnist default: /usr/share/datasets/fashion-mnist; CIFAR: required)"},
      {"cifar100_labels", "fine", "fine (100 classes) | coarse (20)"},
      {"subset", "0", "first N training examples, 0 = all, >= 0"},
      {"test_subset", "0", "first N test examples, 0 = all, >= 0"},
      {"train_eval_subset", "10000", "first N training examples for evaluate()'s train_loss, 0 = all"},
      {"model", "resnet20", "a registered model (proxbench list models)"},
      {"batch_size", "128", "minibatch size, >= 1"},
      {"eval_batch_size", "128", "evaluation batch size, >= 1"},
      {"augment", "true for CIFAR", "random crop (pad 4) + horizontal flip on training batches"},
      {"device", "cpu", "cpu | cuda (error when CUDA is absent)"},
      {"regularize_bias_bn", "false", "regularize biases and BatchNorm parameters too"},
      {"layer_metrics", "true", "report layer/<name>/pct_zero for every regularized tensor"},
      {"l0_gates", "none",
       "none | hard_concrete: Louizos et al. 2018 L0 gates per conv output channel / linear input, "
       "penalty lambda * expected L0 (run regularizer must be none; train with Adam)"},
      {"l0_gates_droprate_init", "0.5", "initial gate drop rate p, log alpha ~ N(log((1-p)/p), 0.01^2), in (0, 1)"},
      {"warm_start_epochs", "0", "full-precision warm start: N epochs of Adam before the run, >= 0"},
      {"warm_start_lr", "1e-3", "step size of the warm start's Adam, > 0"},
      {"binarize_eval", "false", "after training also evaluate sign(w) of the regularized weights (binary/test_error)"},
      {"synthetic_train", "2048", "synthetic training examples, >= 1"},
      {"synthetic_test", "512", "synthetic test examples, >= 1"},
      {"synthetic_size", "32", "synthetic image side, >= 4"},
      {"synthetic_channels", "3", "synthetic channels, >= 1"},
      {"synthetic_classes", "10", "synthetic classes, >= 2"},
      {"synthetic_noise", "64", "synthetic uniform pixel noise half-width, in [0, 255]"},
  };
}

PROXBENCH_REGISTER(core::problem_registry(),
                   (core::ProblemRegistry::Entry{
                       "classification",
                       "image classification: mean cross-entropy of a network (ResNet/VGG/DenseNet) on Fashion-MNIST, "
                       "CIFAR-10/100 or synthetic images; lambda on the mean-loss scale",
                       docs(), "paper: ProxGen §4, SR2 §5",
                       [](const core::OptionMap& o, uint64_t seed) -> std::unique_ptr<core::Problem> {
                         return std::make_unique<ClassificationProblem>(ClassificationOptions::from(o), seed);
                       }}));
// plan-time check: the options, then the data files (stat only)
PROXBENCH_REGISTER(core::problem_validator_registry(),
                   (core::ProblemValidatorRegistry::Entry{
                       "classification", "options and data files of the classification problem", {}, "",
                       [](const core::OptionMap& o) {
                         const auto c = ClassificationOptions::from(o);
                         if ((c.dataset == "cifar10" || c.dataset == "cifar100") && c.data_dir.empty())
                           o.fail("dataset '" + c.dataset + "' needs data_dir: the folder holding the binary version");
                         check_dataset_files(c.dataset, c.data_dir);
                       }}));

}  // namespace
}  // namespace proxbench::problems
