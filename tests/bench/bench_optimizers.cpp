// Fused optimizer steps on n float32 coordinates (DESIGN.md §5), beside torch::optim::Adam on the
// same tensor and BM_Copy (bench_copy.cpp).
//
// Names: BM_OptimizerStep/<optimizer>/<regularizer>/<n> (probes on, the default),
// BM_OptimizerStepNoProbes/<optimizer>/<regularizer>/<n>, BM_TorchAdamStep/<n>, and
// BM_OptimizerStepBaseIsa/proxgen/l1/<n> and BM_OptimizerStepAvx2Isa/... (the narrower loops than
// the ones in use, when available; the label of each run names the loops used), and BM_ProbesPaired/proxgen/l1/<n>
// (norms only, as the runner probes every step; BM_ProbesPairedCounts/...: with the sparsity counts): one
// optimizer whose steps alternate probes on and off (on–off, then off–on), each timed, so that drift of a shared
// machine (memory bandwidth and clock change by 10–30% over minutes) hits both sides alike; its
// counter on_over_off is Σ t_on / Σ t_off. bench_main.cpp prints the ratios.
//
// bytes_per_second counts the bytes the update must move per coordinate at the least, 4 bytes per
// float32 value read or written: the parameter, the gradient and every state buffer that the
// update reads and writes (e.g. ProxGen-Adam and torch Adam: read θ, g, m, v and write θ, m, v =
// 7 values = 28 bytes; BM_Copy: 8 bytes). Scratch buffers of the two-phase paths (group l2,1) and
// SR2's restore pass are NOT counted, so those rates understate the traffic. items_per_second is
// coordinates per second.
#include <benchmark/benchmark.h>
#include <torch/torch.h>

#include <chrono>

#include "core/kernels_cpu.h"
#include "core/optimizer.h"

namespace {

using namespace proxbench;

int64_t values_moved(const std::string& opt, const std::string& pre) {
  if (opt == "sr2") return 4;              // read θ, g; write θ, prev
  if (opt == "prox_sgd") return 8;         // read θ, g, v, r; write θ, v, r, x̂
  if (opt == "subgradient_sgd") return 5;  // read θ, g, m; write θ, m
  if (opt == "proxgen" && pre == "identity") return 5;
  return 7;  // Adam-type: read θ, g, m, v; write θ, m, v
}

/// The benchmarked parameter: (n/1000) × 1000 float32, θ ~ N(0, 0.1²), gradient ~ N(0, 0.01²), seed 0.
torch::Tensor bench_param(int64_t n) {
  torch::manual_seed(0);
  auto p = (torch::randn({n / 1000, 1000}) * 0.1).requires_grad_(true);
  p.mutable_grad() = torch::randn({n / 1000, 1000}) * 0.01;
  return p;
}

/// A registry optimizer over p with regularizer reg (λ = 1e-4; 0 for none) and lr 1e-3 (SR2: its
/// defaults), its state allocated by a first step. closure returns a constant loss.
std::unique_ptr<core::ProxOptimizer> bench_optimizer(const std::string& opt, const std::string& reg,
                                                     const torch::Tensor& p,
                                                     const torch::optim::Optimizer::LossClosure& closure) {
  core::ParamGroupSpec g{{p}, core::make_regularizer(reg, core::OptionMap()), reg == "none" ? 0.0 : 1e-4};
  nlohmann::json o = nlohmann::json::object();
  if (opt != "sr2") o["lr"] = 1e-3;
  auto optim = core::make_optimizer(opt, {g}, core::OptionMap(o));
  optim->step(closure);  // allocate the state
  return optim;
}

void run_step(benchmark::State& state, const std::string& opt, const std::string& reg, bool probes, int isa = -1) {
  const int64_t n = state.range(0);
  namespace kn = core::kernels;
  const kn::CpuIsa saved = kn::cpu_isa();
  if (isa >= 0) kn::set_cpu_isa(kn::CpuIsa(isa));
  auto p = bench_param(n);
  auto loss = torch::zeros({});
  torch::optim::Optimizer::LossClosure closure = [&] { return loss; };
  auto optim = bench_optimizer(opt, reg, p, closure);
  optim->set_probes(probes);
  for (auto _ : state) {
    optim->step(closure);
    benchmark::ClobberMemory();
  }
  const int64_t v = values_moved(opt, "adam");
  state.SetBytesProcessed(int64_t(state.iterations()) * p.numel() * v * int64_t(sizeof(float)));
  state.SetItemsProcessed(int64_t(state.iterations()) * p.numel());
  state.counters["probes"] = probes ? 1 : 0;
  state.SetLabel(kn::cpu_isa_name(kn::cpu_isa()));
  kn::set_cpu_isa(saved);
}

/// counts: whether the probed steps also count the sparsity (nnz, n_small). The runner probes the
/// norms on every step and counts only on the steps it logs (set_count_sparsity), so the target row
/// is BM_ProbesPaired (counts off); BM_ProbesPairedCounts (counts on every step) is informational.
void BM_ProbesPaired(benchmark::State& state, bool counts) {
  const int64_t n = state.range(0);
  auto p = bench_param(n);
  auto loss = torch::zeros({});
  torch::optim::Optimizer::LossClosure closure = [&] { return loss; };
  auto optim = bench_optimizer("proxgen", "l1", p, closure);
  optim->set_count_sparsity(counts);
  using clk = std::chrono::steady_clock;
  double on = 0, off = 0;
  bool first = true;  // which side runs first alternates, so neither always follows the other
  for (auto _ : state) {
    first = !first;
    for (const bool probes : {first, !first}) {
      optim->set_probes(probes);
      const auto t0 = clk::now();
      optim->step(closure);
      benchmark::ClobberMemory();
      (probes ? on : off) += std::chrono::duration<double>(clk::now() - t0).count();
    }
  }
  state.counters["on_ms"] = 1e3 * on / double(state.iterations());
  state.counters["off_ms"] = 1e3 * off / double(state.iterations());
  state.counters["on_over_off"] = on / off;
  state.SetLabel(core::kernels::cpu_isa_name(core::kernels::cpu_isa()));
}

void BM_TorchAdamStep(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto p = bench_param(n);
  torch::optim::Adam adam({p}, torch::optim::AdamOptions(1e-3));
  adam.step();
  for (auto _ : state) {
    adam.step();
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * p.numel() * 7 * int64_t(sizeof(float)));
  state.SetItemsProcessed(int64_t(state.iterations()) * p.numel());
}

constexpr int64_t kN = 10'000'000;

int register_all() {
  auto add = [](const std::string& name, const std::string& opt, const std::string& reg, bool probes) {
    benchmark::RegisterBenchmark(name.c_str(),
                                 [opt, reg, probes](benchmark::State& s) { run_step(s, opt, reg, probes); })
        ->Arg(kN)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  };
  for (const auto& opt : core::optimizer_registry().names()) {
    if (opt == "proxgen") {
      for (const auto& reg : core::regularizer_registry().names()) {
        auto r = core::make_regularizer(reg, core::OptionMap());
        if (r->spec().kind == core::RegKind::Custom) continue;
        add("BM_OptimizerStep/" + opt + "/" + reg, opt, reg, true);
      }
      add("BM_OptimizerStepNoProbes/" + opt + "/l1", opt, "l1", false);
      for (const bool counts : {false, true})
        benchmark::RegisterBenchmark(("BM_ProbesPaired" + std::string(counts ? "Counts/" : "/") + opt + "/l1").c_str(),
                                     [counts](benchmark::State& s) { BM_ProbesPaired(s, counts); })
            ->Arg(kN)
            ->Unit(benchmark::kMillisecond)
            ->UseRealTime();
      namespace kn = core::kernels;
      for (kn::CpuIsa isa : {kn::CpuIsa::Base, kn::CpuIsa::Avx2})  // the narrower loops than the ones in use
        if (int(isa) < int(kn::cpu_isa()) && kn::cpu_isa_available(isa))
          benchmark::RegisterBenchmark(
              ("BM_OptimizerStep" + std::string(isa == kn::CpuIsa::Base ? "Base" : "Avx2") + "Isa/" + opt + "/l1")
                  .c_str(),
              [opt, isa](benchmark::State& s) { run_step(s, opt, "l1", true, int(isa)); })
              ->Arg(kN)
              ->Unit(benchmark::kMillisecond)
              ->UseRealTime();
    } else {
      add("BM_OptimizerStep/" + opt + "/l1", opt, "l1", true);
    }
  }
  benchmark::RegisterBenchmark("BM_TorchAdamStep", BM_TorchAdamStep)
      ->Arg(kN)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime();
  return 0;
}
const int registered = register_all();

}  // namespace
