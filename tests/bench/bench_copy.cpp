// Baseline: a plain memory copy of n float32 values (the bandwidth every fused step is compared to).
#include <benchmark/benchmark.h>
#include <torch/torch.h>

static void BM_Copy(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto a = torch::rand({n});
  auto b = torch::empty({n});
  for (auto _ : state) {
    b.copy_(a);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * n * 2 * int64_t(sizeof(float)));
  state.SetItemsProcessed(int64_t(state.iterations()) * n);
}
BENCHMARK(BM_Copy)->Arg(1 << 20)->Arg(10'000'000)->Unit(benchmark::kMillisecond)->UseRealTime();
