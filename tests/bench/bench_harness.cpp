// BM_LassoHarnessOverhead/<p>/<n>/<batch>: the cost of running an optimizer through the harness
// (DESIGN.md §5: ≤ 1.10× a bare loop). Each iteration makes one Lasso run of ProxGen-Adam with l1
// through the library's runner API (harness::make_experiment on an in-memory spec, harness::run_one
// into a temporary folder: the optimizer registry, the fused step with probes on, the per-step
// bookkeeping of the runner and the trajectory / summary files) and, in the same iteration, a bare
// Eigen loop that takes the same steps: the minibatch gradient Xᵀ_B(X_Bθ − y_B)/|B| by the function
// LassoProblem::closure_loss calls (problems::lasso_minibatch: one compilation of the gradient, so
// that code placement does not decide the ratio; two copies of that loop differed by ±20%) and the
// ProxGen-Adam update with bias correction and soft thresholding, θ ← S_τ(θ − α_t m/D),
// τ = α_t λ/D, in double. Which of the two runs first alternates.
//
// Counters: on_ms = the harness run minus the parts the bare loop has no counterpart for and that
// the runner itself times apart — setup (data generation, L = λ_max(XᵀX/n)) and full-data evaluation
// (the logged metrics, with the reference solution) — so it is the training loop of the runner;
// off_ms = the bare loop; on_over_off = their ratio (bench_main prints it against 1.10);
// whole_run_ms = the whole run_one call; opt_ms = the runner's optimizer_seconds (opt->step with the
// closure inside), so on_ms − opt_ms is the runner's own bookkeeping and file writing. Logging
// every log_every = steps/4 steps.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <Eigen/Dense>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <random>

#include "harness/experiment.h"
#include "harness/runner.h"
#include "problems/lasso.h"

namespace {

using namespace proxbench;
using json = nlohmann::json;
using clk = std::chrono::steady_clock;

constexpr double kLambda = 0.05, kLr = 0.01;

json lasso_doc(int64_t p, int64_t n, int64_t batch, int64_t steps) {
  return json{
      {"name", "bench-harness-overhead"},
      {"problem",
       {{"name", "lasso"},
        {"n", n},
        {"p", p},
        {"k", std::max<int64_t>(1, p / 10)},
        {"batch_size", batch},
        {"reference_tol", 1e-8}}},
      {"regularizer", {{"name", "l1"}}},
      {"lambda", kLambda},
      {"optimizers", json::array({{{"name", "proxgen"}, {"options", {{"preconditioner", "adam"}, {"lr", kLr}}}}})},
      {"seeds", 1},
      {"budget", {{"steps", steps}}},
      {"log_every", std::max<int64_t>(1, steps / 4)}};
}

/// The bare loop: `steps` ProxGen-Adam l1 steps on minibatches of d, epochs reshuffled.
double bare_loop(const problems::LassoData& d, int64_t batch, int64_t steps, uint64_t seed) {
  const int64_t n = d.X.rows(), p = d.X.cols();
  Eigen::VectorXd th = Eigen::VectorXd::Zero(p), g(p), m = Eigen::VectorXd::Zero(p), v = Eigen::VectorXd::Zero(p);
  Eigen::ArrayXd D(p), z(p), tau(p);  // allocated once, as the harness's state is
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::mt19937_64 rng(seed);
  const double b1 = 0.9, b2 = 0.999, delta = 1e-8;
  const int64_t bpe = (n + batch - 1) / batch;
  int64_t t = 0;
  double loss = 0;
  while (t < steps) {
    for (int64_t i = 0; i < n; ++i) perm[size_t(i)] = i;
    std::shuffle(perm.begin(), perm.end(), rng);
    for (int64_t b = 0; b < bpe && t < steps; ++b) {
      const int64_t i0 = b * batch, i1 = std::min(n, i0 + batch);
      loss = problems::lasso_minibatch(d, perm.data() + i0, i1 - i0, double(i1 - i0), th.data(), g.data());
      ++t;
      const double a = kLr / (1 - std::pow(b1, double(t))), sv = 1 / (1 - std::pow(b2, double(t)));
      m = b1 * m + (1 - b1) * g;
      v.array() = b2 * v.array() + (1 - b2) * g.array().square();
      D = (sv * v.array()).sqrt() + delta;
      z = th.array() - a * m.array() / D;
      tau = a * kLambda / D;
      th.array() = z.sign() * (z.abs() - tau).max(0.0);
    }
  }
  return loss + th.sum();  // keeps the loop observable
}

void BM_LassoHarnessOverhead(benchmark::State& state) {
  const int64_t p = state.range(0), n = state.range(1), batch = state.range(2), steps = state.range(3);
  auto ex = harness::make_experiment(lasso_doc(p, n, batch, steps));
  problems::LassoDataOptions o;
  o.n = n, o.p = p, o.k = std::max<int64_t>(1, p / 10);
  const auto data = problems::make_lasso_data(o, 1);
  const auto tmp = std::filesystem::temp_directory_path() / ("proxbench-bench-harness-" + std::to_string(::getpid()));
  double on = 0, off = 0, whole = 0, optsec = 0;
  bool harness_first = false;
  int64_t k = 0;
  for (auto _ : state) {
    harness_first = !harness_first;
    for (const bool h : {harness_first, !harness_first}) {
      if (h) {
        const std::string dir = (tmp / std::to_string(k++)).string();
        const auto t0 = clk::now();
        const json sum = harness::run_one(ex.runs[0], dir);
        const double w = std::chrono::duration<double>(clk::now() - t0).count();
        if (sum["status"] != "completed") {
          state.SkipWithError(
              ("harness run: " + sum["status"].get<std::string>() + " " + sum["message"].get<std::string>()).c_str());
          break;
        }
        const auto& tm = sum["timings"];
        whole += w;
        optsec += tm["optimizer_seconds"].get<double>();
        on += w - tm["setup_seconds"].get<double>() - tm["evaluation_seconds"].get<double>();
        std::filesystem::remove_all(dir);
      } else {
        const auto t0 = clk::now();
        benchmark::DoNotOptimize(bare_loop(data, batch, steps, uint64_t(k)));
        off += std::chrono::duration<double>(clk::now() - t0).count();
      }
    }
  }
  std::filesystem::remove_all(tmp);
  const double it = double(std::max<int64_t>(1, state.iterations()));
  state.counters["on_ms"] = 1e3 * on / it;
  state.counters["off_ms"] = 1e3 * off / it;
  state.counters["whole_run_ms"] = 1e3 * whole / it;
  state.counters["on_over_off"] = off > 0 ? on / off : 0;
  state.counters["steps"] = double(steps);
  state.counters["opt_ms"] = 1e3 * optsec / it;
}

// {p, n, batch, steps}: the proxgen-fig3-lasso instance (p = 100, n = 500, batches of 32), and a
// larger one where the gradient costs more than a fused step's fixed overhead.
BENCHMARK(BM_LassoHarnessOverhead)
    ->Args({100, 500, 32, 4000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(12);  // ~40 ms a side: many pairs, as this host's speed drifts by 2× within seconds
BENCHMARK(BM_LassoHarnessOverhead)
    ->Args({1000, 4000, 128, 1000})
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime()
    ->Iterations(4);

}  // namespace
