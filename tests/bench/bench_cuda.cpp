// GPU benchmarks (issue 13), and PyTorch's fused Adam on the CPU. Every BM_Cuda* benchmark skips
// with "no CUDA device" where there is none, so the CPU build registers them harmlessly.
//
// Optimizer steps on n float32 coordinates (n = 10M and 100M, one (n/1000) × 1000 tensor, the
// tensors of bench_optimizers.cpp): BM_CudaCopy/<n> (device copy: 8 bytes per coordinate),
// BM_CudaOptimizerStep/proxgen/l1/<n> (the fused CUDA step, probes on: one small device→host copy
// per step), BM_CudaOptimizerStepNoProbes/proxgen/l1/<n>, BM_CudaTorchAdamStep/<n>
// (torch::optim::Adam) and, against LibTorch ≥ 2, BM_CudaFusedAdamStep/<n> (at::_fused_adam_,
// PyTorch's one-kernel Adam; also BM_FusedAdamStep/<n> on the CPU, n = 10M). Each iteration runs
// kInner steps and synchronizes once (manual time per step), so that the launch queue, not a
// per-step synchronization, is measured — except where the step itself synchronizes (probes).
//
// Training throughput (images/s) on CIFAR-shaped synthetic data (3×32×32, 10 classes, batch 128):
// BM_CudaTrain/<model>/<optimizer>/<precision>, model resnet34 | densenet121, optimizer proxgen
// (Adam preconditioner, l1, λ = 1e-4, probes on) | adam (torch::optim::Adam, the same loop),
// precision fp32 | bf16cl (bf16 autocast, LibTorch ≥ 2, with the 4-D weights in channels-last).
#include <benchmark/benchmark.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <chrono>

#include "core/optimizer.h"
#include "core/regularizer.h"
#include "problems/classification.h"

#if TORCH_VERSION_MAJOR >= 2
#include <ATen/autocast_mode.h>
#define PROXBENCH_HAVE_FUSED_ADAM 1
#endif

namespace {

using namespace proxbench;
using clk = std::chrono::steady_clock;
constexpr int kInner = 10;

bool skip_without_cuda(benchmark::State& state) {
  if (torch::cuda::is_available()) return false;
  state.SkipWithError("no CUDA device");
  for (auto _ : state) {
  }
  return true;
}

void sync() { torch::cuda::synchronize(); }

torch::Tensor cuda_param(int64_t n) {
  torch::manual_seed(0);
  const auto o = torch::TensorOptions().device(torch::kCUDA);
  auto p = (torch::randn({n / 1000, 1000}, o) * 0.1).requires_grad_(true);
  p.mutable_grad() = torch::randn({n / 1000, 1000}, o) * 0.01;
  return p;
}

/// Runs f kInner times per iteration and reports the time per call.
template <class F>
void timed(benchmark::State& state, int64_t n, int64_t values, F&& f) {
  f();
  sync();
  for (auto _ : state) {
    const auto t0 = clk::now();
    for (int k = 0; k < kInner; ++k) f();
    sync();
    state.SetIterationTime(std::chrono::duration<double>(clk::now() - t0).count() / kInner);
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * n * values * int64_t(sizeof(float)));
  state.SetItemsProcessed(int64_t(state.iterations()) * n);
}

void BM_CudaCopy(benchmark::State& state) {
  if (skip_without_cuda(state)) return;
  const int64_t n = state.range(0);
  auto a = torch::rand({n}, torch::TensorOptions().device(torch::kCUDA));
  auto b = torch::empty_like(a);
  timed(state, n, 2, [&] { b.copy_(a); });
}

void cuda_step(benchmark::State& state, bool probes) {
  if (skip_without_cuda(state)) return;
  const int64_t n = state.range(0);
  auto p = cuda_param(n);
  auto loss = torch::zeros({});
  torch::optim::Optimizer::LossClosure closure = [&] { return loss; };
  core::ParamGroupSpec g{{p}, core::make_regularizer("l1", core::OptionMap()), 1e-4};
  auto optim = core::make_optimizer("proxgen", {g}, core::OptionMap(nlohmann::json{{"lr", 1e-3}}));
  optim->set_probes(probes);
  timed(state, n, 7, [&] { optim->step(closure); });
  state.counters["probes"] = probes ? 1 : 0;
}
void BM_CudaOptimizerStep(benchmark::State& state) { cuda_step(state, true); }
void BM_CudaOptimizerStepNoProbes(benchmark::State& state) { cuda_step(state, false); }

void BM_CudaTorchAdamStep(benchmark::State& state) {
  if (skip_without_cuda(state)) return;
  const int64_t n = state.range(0);
  auto p = cuda_param(n);
  torch::optim::Adam adam({p}, torch::optim::AdamOptions(1e-3));
  timed(state, n, 7, [&] { adam.step(); });
}

#ifdef PROXBENCH_HAVE_FUSED_ADAM
/// at::_fused_adam_ on one parameter (the state as torch.optim.Adam(fused=True) keeps it: m, v and
/// a float32 step count on the parameter's device).
struct FusedAdam {
  std::vector<torch::Tensor> p, g, m, v, vmax, steps;
  explicit FusedAdam(const torch::Tensor& param) {
    p = {param.detach()};
    g = {param.grad()};
    m = {torch::zeros_like(param)};
    v = {torch::zeros_like(param)};
    steps = {torch::zeros({}, param.options().dtype(torch::kFloat))};
  }
  void step() {
    steps[0].add_(1);
    at::_fused_adam_(p, g, m, v, vmax, steps, 1e-3, 0.9, 0.999, 0.0, 1e-8, false, false);
  }
};

void BM_CudaFusedAdamStep(benchmark::State& state) {
  if (skip_without_cuda(state)) return;
  const int64_t n = state.range(0);
  auto p = cuda_param(n);
  FusedAdam adam(p);
  timed(state, n, 7, [&] { adam.step(); });
}

void BM_FusedAdamStep(benchmark::State& state) {
  const int64_t n = state.range(0);
  torch::manual_seed(0);
  auto p = (torch::randn({n / 1000, 1000}) * 0.1).requires_grad_(true);
  p.mutable_grad() = torch::randn({n / 1000, 1000}) * 0.01;
  FusedAdam adam(p);
  adam.step();
  for (auto _ : state) {
    adam.step();
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * n * 7 * int64_t(sizeof(float)));
  state.SetItemsProcessed(int64_t(state.iterations()) * n);
}
#endif

// ---- training throughput ------------------------------------------------------------------------
problems::ClassificationOptions train_options(const std::string& model) {
  problems::ClassificationOptions o;
  o.dataset = "synthetic";
  o.model = model;
  o.synthetic_train = 2048;
  o.synthetic_test = 128;
  o.synthetic_size = 32;
  o.batch_size = 128;
  o.augment = true;
  o.device = "cuda";
  o.layer_metrics = false;
  return o;
}

void cuda_train(benchmark::State& state, const std::string& model, const std::string& optimizer, bool bf16cl) {
  if (skip_without_cuda(state)) return;
#if TORCH_VERSION_MAJOR < 2
  if (bf16cl) {
    state.SkipWithError("bf16 autocast: needs LibTorch >= 2");
    for (auto _ : state) {
    }
    return;
  }
#endif
  problems::ClassificationProblem prob(train_options(model), 1);
  if (bf16cl) {
    torch::NoGradGuard ng;
    for (auto& p : prob.model().parameters())
      if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
  std::vector<torch::Tensor> params;
  std::vector<core::ParamGroupSpec> groups;
  auto l1 = core::make_regularizer("l1", core::OptionMap());
  for (auto& g : prob.parameter_groups()) {
    params.insert(params.end(), g.params.begin(), g.params.end());
    groups.push_back({g.params, g.regularized ? l1 : nullptr, g.regularized ? 1e-4 : 0.0});
  }
  std::unique_ptr<torch::optim::Optimizer> opt;
  if (optimizer == "adam")
    opt = std::make_unique<torch::optim::Adam>(params, torch::optim::AdamOptions(1e-3));
  else
    opt = core::make_optimizer("proxgen", std::move(groups), core::OptionMap(nlohmann::json{{"lr", 1e-3}}));
  auto closure = [&] {
#if TORCH_VERSION_MAJOR >= 2
    if (bf16cl) {
      at::autocast::set_autocast_enabled(at::kCUDA, true);
      at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
      auto loss = prob.closure_loss(true);
      at::autocast::set_autocast_enabled(at::kCUDA, false);
      at::autocast::clear_cache();
      return loss;
    }
#endif
    return prob.closure_loss(true);
  };
  int64_t b = 0, epoch = 0, images = 0;
  prob.begin_epoch(0, 1);
  auto one = [&] {
    if (b == prob.batches_per_epoch()) {
      prob.begin_epoch(++epoch, 1);
      b = 0;
    }
    prob.select_batch(b++);
    opt->step(closure);
  };
  for (int k = 0; k < 3; ++k) one();  // warm-up: cuDNN algorithm choice, allocator
  sync();
  for (auto _ : state) {
    const auto t0 = clk::now();
    one();
    sync();
    state.SetIterationTime(std::chrono::duration<double>(clk::now() - t0).count());
    images += 128;
  }
  state.SetItemsProcessed(images);
  state.counters["images_per_s"] = benchmark::Counter(double(images), benchmark::Counter::kIsRate);
}

int register_all() {
  for (const int64_t n : {int64_t(10'000'000), int64_t(100'000'000)}) {
    auto reg = [n](const char* name, void (*fn)(benchmark::State&)) {
      benchmark::RegisterBenchmark(name, fn)->Arg(n)->Unit(benchmark::kMillisecond)->UseManualTime();
    };
    reg("BM_CudaCopy", BM_CudaCopy);
    reg("BM_CudaOptimizerStep/proxgen/l1", BM_CudaOptimizerStep);
    reg("BM_CudaOptimizerStepNoProbes/proxgen/l1", BM_CudaOptimizerStepNoProbes);
    reg("BM_CudaTorchAdamStep", BM_CudaTorchAdamStep);
#ifdef PROXBENCH_HAVE_FUSED_ADAM
    reg("BM_CudaFusedAdamStep", BM_CudaFusedAdamStep);
#endif
  }
#ifdef PROXBENCH_HAVE_FUSED_ADAM
  benchmark::RegisterBenchmark("BM_FusedAdamStep", BM_FusedAdamStep)
      ->Arg(10'000'000)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
#endif
  for (const std::string model : {"resnet34", "densenet121"})
    for (const std::string opt : {"proxgen", "adam"})
      for (const bool bf16cl : {false, true})
        benchmark::RegisterBenchmark(("BM_CudaTrain/" + model + "/" + opt + "/" + (bf16cl ? "bf16cl" : "fp32")).c_str(),
                                     [model, opt, bf16cl](benchmark::State& s) { cuda_train(s, model, opt, bf16cl); })
            ->Unit(benchmark::kMillisecond)
            ->UseManualTime()
            ->MinTime(2.0);
  return 0;
}
const int registered = register_all();

}  // namespace
