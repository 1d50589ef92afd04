// End-to-end training throughput (images/s): ResNet-20 on synthetic 3x32x32 images, batch 128,
// the same loop (select_batch → step(closure)) with torch::optim::Adam and with ProxGen (Adam
// preconditioner, l1, λ = 1e-4) built through the optimizer registry. DESIGN.md §5 target:
// ProxGen ≥ 0.95× Adam; BM_TrainResNet20_ProxGenVsAdam measures both in one interleaved run.
// Run: ./build/tests/proxbench_bench --benchmark_filter=Train
#include <benchmark/benchmark.h>

#include <chrono>

#include "core/optimizer.h"
#include "core/regularizer.h"
#include "problems/classification.h"

namespace {

using proxbench::problems::ClassificationOptions;
using proxbench::problems::ClassificationProblem;

ClassificationOptions bench_options() {
  ClassificationOptions o;
  o.dataset = "synthetic";
  o.model = "resnet20";
  o.synthetic_train = 1024;
  o.synthetic_test = 128;
  o.synthetic_size = 32;
  o.batch_size = 128;
  o.augment = true;
  return o;
}

template <class Opt>
void train_loop(benchmark::State& state, ClassificationProblem& p, Opt& opt) {
  int64_t epoch = 0, b = 0, images = 0;
  p.begin_epoch(epoch, 1);
  for (auto _ : state) {
    if (b == p.batches_per_epoch()) {
      p.begin_epoch(++epoch, 1);
      b = 0;
    }
    p.select_batch(b++);
    auto loss = opt.step([&] { return p.closure_loss(true); });
    benchmark::DoNotOptimize(loss);
    images += bench_options().batch_size;
  }
  state.SetItemsProcessed(images);
  state.counters["images_per_s"] = benchmark::Counter(double(images), benchmark::Counter::kIsRate);
}

void BM_TrainResNet20_TorchAdam(benchmark::State& state) {
  ClassificationProblem p(bench_options(), 1);
  std::vector<torch::Tensor> params;
  for (auto& g : p.parameter_groups()) params.insert(params.end(), g.params.begin(), g.params.end());
  torch::optim::Adam opt(params, torch::optim::AdamOptions(1e-3));
  train_loop(state, p, opt);
}

void BM_TrainResNet20_ProxGen(benchmark::State& state) {
  if (!proxbench::core::optimizer_registry().contains("proxgen")) {
    state.SkipWithError("proxgen not registered");
    for (auto _ : state) {
    }
    return;
  }
  ClassificationProblem p(bench_options(), 1);
  std::vector<proxbench::core::ParamGroupSpec> groups;
  auto l1 = proxbench::core::make_regularizer("l1", proxbench::core::OptionMap());
  for (auto& g : p.parameter_groups())
    groups.push_back({g.params, g.regularized ? l1 : nullptr, g.regularized ? 1e-4 : 0.0});
  std::unique_ptr<proxbench::core::ProxOptimizer> opt;
  try {
    opt = proxbench::core::make_optimizer("proxgen", std::move(groups),
                                          proxbench::core::OptionMap(nlohmann::json{{"lr", 1e-3}}, "optimizer 'proxgen'"));
  } catch (const std::exception& e) {
    state.SkipWithError(e.what());
    for (auto _ : state) {
    }
    return;
  }
  train_loop(state, p, *opt);
}

// Side by side in one run: each iteration takes one Adam step and one ProxGen step (two problems
// with the same seed, so the same initialization and batches), timed separately; alternating
// cancels the drift of a shared machine's load. Counters: adam_images_per_s,
// proxgen_images_per_s and their ratio proxgen_over_adam (target ≥ 0.95, DESIGN.md §5).
void BM_TrainResNet20_ProxGenVsAdam(benchmark::State& state) {
  if (!proxbench::core::optimizer_registry().contains("proxgen")) {
    state.SkipWithError("proxgen not registered");
    for (auto _ : state) {
    }
    return;
  }
  ClassificationProblem pa(bench_options(), 1), pp(bench_options(), 1);
  std::vector<torch::Tensor> params;
  for (auto& g : pa.parameter_groups()) params.insert(params.end(), g.params.begin(), g.params.end());
  torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-3));
  std::vector<proxbench::core::ParamGroupSpec> groups;
  auto l1 = proxbench::core::make_regularizer("l1", proxbench::core::OptionMap());
  for (auto& g : pp.parameter_groups())
    groups.push_back({g.params, g.regularized ? l1 : nullptr, g.regularized ? 1e-4 : 0.0});
  auto prox = proxbench::core::make_optimizer("proxgen", std::move(groups),
                                              proxbench::core::OptionMap(nlohmann::json{{"lr", 1e-3}}, "optimizer 'proxgen'"));
  using clock = std::chrono::steady_clock;
  double ta = 0, tp = 0;
  int64_t b = 0, epoch = 0, images = 0;
  pa.begin_epoch(0, 1);
  pp.begin_epoch(0, 1);
  for (auto _ : state) {
    if (b == pa.batches_per_epoch()) {
      pa.begin_epoch(++epoch, 1);
      pp.begin_epoch(epoch, 1);
      b = 0;
    }
    auto t0 = clock::now();
    pa.select_batch(b);
    adam.step([&] { return pa.closure_loss(true); });
    auto t1 = clock::now();
    pp.select_batch(b);
    prox->step([&] { return pp.closure_loss(true); });
    auto t2 = clock::now();
    ta += std::chrono::duration<double>(t1 - t0).count();
    tp += std::chrono::duration<double>(t2 - t1).count();
    images += bench_options().batch_size;
    ++b;
  }
  state.counters["adam_images_per_s"] = double(images) / ta;
  state.counters["proxgen_images_per_s"] = double(images) / tp;
  state.counters["proxgen_over_adam"] = ta / tp;
}

}  // namespace

BENCHMARK(BM_TrainResNet20_ProxGenVsAdam)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(16);
BENCHMARK(BM_TrainResNet20_TorchAdam)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);
BENCHMARK(BM_TrainResNet20_ProxGen)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(3.0);

// The data path alone: one augmented, normalized batch of 128 CIFAR-shaped images (images/s).
static void BM_AssembleBatchCifarAugment(benchmark::State& state) {
  auto ds = proxbench::problems::make_synthetic_images(1024, 3, 32, 10, 1, 0);
  auto st = proxbench::problems::channel_stats(ds);
  proxbench::problems::Augment aug;
  aug.crop = aug.flip = true;
  auto perm = proxbench::problems::seeded_permutation(1024, 3);
  std::vector<int64_t> idx(perm.begin(), perm.begin() + 128);
  uint64_t s = 0;
  for (auto _ : state) {
    torch::Tensor y;
    auto x = proxbench::problems::assemble_batch(ds, idx, st, aug, ++s, &y);
    benchmark::DoNotOptimize(x);
  }
  state.SetItemsProcessed(int64_t(state.iterations()) * 128);
}
BENCHMARK(BM_AssembleBatchCifarAugment)->Unit(benchmark::kMicrosecond)->UseRealTime();
