// BM_RegProx/<reg>/<n>: one fused Regularizer::prox_ over n float32 coordinates with a
// per-coordinate τ (the ProxGen diagonal-preconditioner case), for every registered regularizer
// (default parameters; group_l21 with rows of 128). z ~ N(0,1), τ ~ U[0.01, 1], restored before
// every iteration outside the timed region. items_per_second = coordinates/s; bytes_per_second
// counts 12 B per coordinate (read z, read τ, write x).
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include "core/regularizer.h"

namespace {

void bm_reg_prox(benchmark::State& state, const std::string& name) {
  const int64_t n = state.range(0);
  auto reg = proxbench::core::make_regularizer(name, proxbench::core::OptionMap());
  torch::manual_seed(0);
  const int64_t cols = 128;  // divides both sizes
  auto z0 = torch::randn({n / cols, cols});
  auto tau = torch::rand({n / cols, cols}) * 0.99 + 0.01;
  auto z = z0.clone();
  for (auto _ : state) {
    state.PauseTiming();
    z.copy_(z0);
    state.ResumeTiming();
    reg->prox_(z, tau);
    benchmark::ClobberMemory();
  }
  const int64_t m = z.numel();
  state.SetItemsProcessed(int64_t(state.iterations()) * m);
  state.SetBytesProcessed(int64_t(state.iterations()) * m * 3 * int64_t(sizeof(float)));
}

const int registered = [] {
  for (const auto& name : proxbench::core::regularizer_registry().names())
    benchmark::RegisterBenchmark(("BM_RegProx/" + name).c_str(), bm_reg_prox, name)
        ->Arg(1 << 20)
        ->Arg(10'000'000)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  return 0;
}();

}  // namespace
