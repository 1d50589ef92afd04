// proxbench_bench's main: Google Benchmark's console output, then a table of ratios against the
// baselines measured in the SAME run (DESIGN.md §5, issue #18): each fused step's bytes/s against
// BM_Copy's, its time against BM_TorchAdamStep's, probes on against off (BM_ProbesPaired), each
// ProxGen regularizer against ProxGen-l1, the harness against a bare loop (BM_LassoHarnessOverhead),
// and the narrower instruction sets' loops against the ones in use. Every target row is printed
// with met / MISSED, or "not run" when the filter left out one of its inputs, and BM_Copy's time
// heads the table (under 1.5 ms for 10M floats: a host where the step is compute-bound). With
// --benchmark_repetitions the fastest repetition is used, except for the paired benchmarks
// (BM_ProbesPaired, BM_LassoHarnessOverhead), whose ratio is Σ t_on / Σ t_off over every repetition.
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>

namespace {

struct Result {
  double time = 0;  // real time per iteration, in the benchmark's unit (all ms here)
  double bytes_per_second = 0;
  double on_total = 0, off_total = 0;  // BM_ProbesPaired: Σ t_on, Σ t_off over every repetition
};

class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const auto& r : runs) {
      if (r.error_occurred || r.run_type != Run::RT_Iteration) continue;
      std::string name = r.run_name.function_name + (r.run_name.args.empty() ? "" : "/" + r.run_name.args);
      Result res{r.GetAdjustedRealTime(), 0};
      auto it = r.counters.find("bytes_per_second");
      if (it != r.counters.end()) res.bytes_per_second = it->second.value;
      auto old = results_.find(name);
      if (old == results_.end() || res.time < old->second.time) {
        if (old != results_.end()) res.on_total = old->second.on_total, res.off_total = old->second.off_total;
        results_[name] = res;
      }
      auto on = r.counters.find("on_ms"), off = r.counters.find("off_ms");
      if (on != r.counters.end() && off != r.counters.end()) {
        results_[name].on_total += on->second.value * double(r.iterations);
        results_[name].off_total += off->second.value * double(r.iterations);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    const std::string n = "/10000000";
    const Result* copy = find("BM_Copy" + n);
    const Result* adam = find("BM_TorchAdamStep" + n);
    const Result* l1 = find("BM_OptimizerStep/proxgen/l1" + n);
    const Result* fused = find("BM_FusedAdamStep" + n);  // at::_fused_adam_ (LibTorch >= 2)
    std::printf("\nRatios against baselines measured in this run (DESIGN.md §5 targets in brackets):\n");
    if (copy)
      std::printf("  BM_Copy/10000000: %.3f ms (%s)\n", copy->time,
                  copy->time < 1.5 ? "under 1.5 ms: the step is compute-bound on this host"
                                   : "1.5 ms or more: the step is memory-bound (or the host is loaded)");
    else
      std::printf(
          "  BM_Copy/10000000: not run (add Copy/10000000 to the filter to see whether the host is "
          "memory- or compute-bound)\n");
    for (const auto& [name, r] : results_) {
      if (name.rfind("BM_OptimizerStep", 0) != 0) continue;
      std::printf("  %-52s %9.2f ms", name.c_str(), r.time);
      if (copy && copy->bytes_per_second > 0 && r.bytes_per_second > 0)
        std::printf("  bytes/s = %5.1f%% of copy", 100.0 * r.bytes_per_second / copy->bytes_per_second);
      if (adam) std::printf("  %5.2fx faster than torch Adam", adam->time / r.time);
      if (fused) std::printf("  %5.2fx faster than fused Adam", fused->time / r.time);
      if (l1 && name.rfind("BM_OptimizerStep/proxgen/", 0) == 0) std::printf("  %5.2fx the l1 step", r.time / l1->time);
      std::printf("\n");
    }
    // The rows of issue #18 / DESIGN.md §5, each met / MISSED, or "not run" when the filter left out
    // one of its two inputs.
    std::printf("\nTargets (every row; 'not run' when the filter left out an input):\n");
    const Result* paired = find("BM_ProbesPaired/proxgen/l1" + n);
    if (paired && paired->off_total > 0)
      verdict("probes on / off (BM_ProbesPaired, paired steps)", paired->on_total / paired->off_total, 1.10, false);
    else
      not_run("probes on / off (BM_ProbesPaired, paired steps)", 1.10, false);
    for (const char* reg : {"scad", "l12", "l23", "group_l21", "lq", "mcp", "binary_quant", "l0"}) {
      const Result* r = find(std::string("BM_OptimizerStep/proxgen/") + reg + n);
      const std::string what = std::string(reg) + " step / l1 step";
      if (r && l1)
        verdict(what, r->time / l1->time, 2.5, false);
      else
        not_run(what, 2.5, false);
    }
    if (l1 && adam)
      verdict("torch Adam time / ProxGen-Adam l1 time", adam->time / l1->time, 3.0, true);
    else
      not_run("torch Adam time / ProxGen-Adam l1 time", 3.0, true);
    if (l1 && copy && copy->bytes_per_second > 0)
      verdict("ProxGen-Adam l1 bytes/s / copy bytes/s", l1->bytes_per_second / copy->bytes_per_second, 0.70, true);
    else
      not_run("ProxGen-Adam l1 bytes/s / copy bytes/s", 0.70, true);
    if (l1 && fused)
      verdict("ProxGen-Adam l1 time / at::_fused_adam_ time", l1->time / fused->time, 1.10, false);
    else
      not_run("ProxGen-Adam l1 time / at::_fused_adam_ time (LibTorch >= 2 only)", 1.10, false);
    bool harness_run = false;
    for (const auto& [name, r] : results_)
      if (name.rfind("BM_LassoHarnessOverhead/", 0) == 0 && r.off_total > 0) {
        verdict("harness / bare loop, Lasso p/n/batch/steps " + name.substr(24), r.on_total / r.off_total, 1.10, false);
        harness_run = true;
      }
    if (!harness_run) not_run("Lasso through the harness / bare Eigen loop", 1.10, false);
    std::printf("\nInformational:\n");
    if (const Result* pc = find("BM_ProbesPairedCounts/proxgen/l1" + n); pc && pc->off_total > 0)
      std::printf("  %-52s %6.3f   (the runner counts on logged steps only)\n",
                  "probes + sparsity counts on every step / off", pc->on_total / pc->off_total);
    if (const Result* off = find("BM_OptimizerStepNoProbes/proxgen/l1" + n); off && l1)
      std::printf("  %-52s %6.3f   (separate runs, drift-prone: the paired verdict is the target)\n",
                  "ProxGen-Adam l1 probes on / off", l1->time / off->time);
    for (const char* isa : {"Base", "Avx2"})
      if (const Result* other = find(std::string("BM_OptimizerStep") + isa + "Isa/proxgen/l1" + n); other && l1)
        std::printf("  %-52s %6.3f\n", (std::string(isa == std::string("Base") ? "baseline" : "AVX2") +
                                         "-ISA loops / loops in use (l1)").c_str(),
                    other->time / l1->time);
    cuda_ratios();
  }

 private:
  /// GPU (bench_cuda.cpp): the fused step against the device copy, torch::optim::Adam and
  /// at::_fused_adam_ at each size, and training images/s ProxGen / Adam.
  void cuda_ratios() const {
    bool header = false;
    for (const std::string n : {"/10000000", "/100000000"}) {
      const Result* step = find("BM_CudaOptimizerStep/proxgen/l1" + n);
      if (!step) continue;
      if (!header) std::printf("\nGPU ratios (same run):\n");
      header = true;
      const Result* nop = find("BM_CudaOptimizerStepNoProbes/proxgen/l1" + n);
      const Result* copy = find("BM_CudaCopy" + n);
      const Result* adam = find("BM_CudaTorchAdamStep" + n);
      const Result* fused = find("BM_CudaFusedAdamStep" + n);
      std::printf("  proxgen/l1 n=%-10s %8.3f ms", n.c_str() + 1, step->time);
      if (nop) std::printf("  (no probes %.3f ms)", nop->time);
      if (copy && copy->bytes_per_second > 0 && step->bytes_per_second > 0)
        std::printf("  bytes/s = %5.1f%% of copy", 100.0 * step->bytes_per_second / copy->bytes_per_second);
      if (adam) std::printf("  %5.2fx faster than torch Adam", adam->time / step->time);
      if (fused) std::printf("  %5.2fx faster than fused Adam", fused->time / step->time);
      std::printf("\n");
    }
    for (const std::string m : {"resnet34", "densenet121"})
      for (const std::string prec : {"fp32", "bf16cl"}) {
        const Result* p = find("BM_CudaTrain/" + m + "/proxgen/" + prec);
        const Result* a = find("BM_CudaTrain/" + m + "/adam/" + prec);
        if (p && a && p->time > 0)
          std::printf("  train %-12s %-6s images/s: proxgen %8.1f  adam %8.1f  proxgen/adam %5.3f\n", m.c_str(),
                      prec.c_str(), 128.0 / (p->time * 1e-3), 128.0 / (a->time * 1e-3), a->time / p->time);
      }
  }

  const Result* find(const std::string& name) const {
    auto it = results_.find(name);
    return it == results_.end() ? nullptr : &it->second;
  }
  static void not_run(const std::string& what, double target, bool at_least) {
    std::printf("  %-52s %6s   [%s %.2f: not run]\n", what.c_str(), "-", at_least ? ">=" : "<=", target);
  }
  static void verdict(const std::string& what, double v, double target, bool at_least) {
    const bool ok = at_least ? v >= target : v <= target;
    std::printf("  %-52s %6.3f   [%s %.2f: %s]\n", what.c_str(), v, at_least ? ">=" : "<=", target,
                ok ? "met" : "MISSED");
  }
  std::map<std::string, Result> results_;
};

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // LibTorch may default to fewer intra-op threads than cores; every benchmark here (the copy, torch
  // Adam and the fused steps) runs on the same thread count, all cores unless OMP_NUM_THREADS is set.
  if (!std::getenv("OMP_NUM_THREADS")) at::set_num_threads(int(std::max(1u, std::thread::hardware_concurrency())));
  std::printf("intra-op threads: %d\n", at::get_num_threads());
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
