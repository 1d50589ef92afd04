// BM_LassoHarnessOverhead/<p>/<n>/<batch>: the cost of running an optimizer through the harness
// (DESIGN.md §5: ≤ 1.10× a bare loop). Each iteration makes one Lasso run of ProxGen-Adam with l1
// (bias correction on, θ_0 = 0) through the library's runner API (harness::make_experiment on an
// in-memory spec, harness::run_one into a temporary folder: the optimizer registry, the fused step
// with probes on, the per-step bookkeeping of the runner and the trajectory / summary / estimate
// files) and, in the same iteration, a bare Eigen loop that takes the very same steps: the runner's
// minibatches (each epoch's row order from problems::lasso_epoch_order, as LassoProblem draws it),
// the minibatch gradient Xᵀ_B(X_Bθ − y_B)/|B| by the function LassoProblem::closure_loss calls
// (problems::lasso_minibatch: one compilation of the gradient, so that code placement does not
// decide the ratio; two copies of that loop differed by ±20%) and the ProxGen-Adam update with bias
// correction and soft thresholding, θ ← S_τ(θ − α_t m/D), τ = α_t λ/D, in double. Which of the two
// runs first alternates. The benchmark fails unless both end at the same θ (theta_diff =
// max_j |Δθ_j|/(1 + |θ_j|) ≤ 1e-9; it is ~1e-16): the ratio compares equal work.
//
// Counters: on_ms = the harness run minus the parts the bare loop has no counterpart for and that
// the runner itself times apart — setup (data generation, L = λ_max(XᵀX/n)) and full-data evaluation
// (the logged metrics, with the reference solution) — so it is the training loop of the runner and
// the writing of its result files; off_ms = the bare loop; on_over_off = their ratio (bench_main
// prints it against 1.10); whole_run_ms = the whole run_one call; opt_ms = the runner's
// optimizer_seconds (opt->step with the closure inside, and the runner's few ns of per-step
// bookkeeping), so on_ms − opt_ms is the epoch shuffles, logging and file writing. Logging every
// log_every = steps/4 steps.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <Eigen/Dense>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <random>

#include "harness/experiment.h"
#include "harness/runner.h"
#include "problems/lasso.h"

namespace {

using namespace proxbench;
using json = nlohmann::json;
using clk = std::chrono::steady_clock;

constexpr double kLambda = 0.05, kLr = 0.01;
constexpr uint64_t kSeed = 1;  // the run's seed (seeds: 1) and so its data seed

json lasso_doc(int64_t p, int64_t n, int64_t batch, int64_t steps) {
  return json{{"name", "bench-harness-overhead"},
              {"problem",
               {{"name", "lasso"},
                {"n", n},
                {"p", p},
                {"k", std::max<int64_t>(1, p / 10)},
                {"batch_size", batch},
                {"reference_tol", 1e-8},
                {"init", "zero"}}},
              {"regularizer", {{"name", "l1"}}},
              {"lambda", kLambda},
              {"optimizers",
               json::array({{{"name", "proxgen"},
                             {"options", {{"preconditioner", "adam"}, {"lr", kLr}, {"bias_correction", true}}}}})},
              {"seeds", 1},
              {"budget", {{"steps", steps}}},
              {"log_every", std::max<int64_t>(1, steps / 4)}};
}

/// The bare loop: `steps` ProxGen-Adam l1 steps from θ = 0 on the runner's minibatches (epoch e in
/// the order problems::lasso_epoch_order(e, seed) gives LassoProblem::begin_epoch, batches of
/// `batch` rows in that order, the last one shorter), so that both sides take the same steps.
/// Returns the final θ.
Eigen::VectorXd bare_loop(const problems::LassoData& d, int64_t batch, int64_t steps, uint64_t seed) {
  const int64_t n = d.X.rows(), p = d.X.cols();
  Eigen::VectorXd th = Eigen::VectorXd::Zero(p), g(p), m = Eigen::VectorXd::Zero(p), v = Eigen::VectorXd::Zero(p);
  Eigen::ArrayXd D(p), z(p), tau(p);  // allocated once, as the harness's state is
  std::vector<int64_t> perm(static_cast<size_t>(n));
  const double b1 = 0.9, b2 = 0.999, delta = 1e-8;
  const int64_t bpe = (n + batch - 1) / batch;
  int64_t t = 0;
  for (int64_t e = 0; t < steps; ++e) {
    problems::lasso_epoch_order(e, seed, perm);
    for (int64_t b = 0; b < bpe && t < steps; ++b) {
      const int64_t i0 = b * batch, i1 = std::min(n, i0 + batch);
      problems::lasso_minibatch(d, perm.data() + i0, i1 - i0, double(i1 - i0), th.data(), g.data());
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
  return th;
}

/// theta_hat of the run's estimate.csv (index,theta_star,theta_hat).
std::vector<double> read_theta_hat(const std::string& path) {
  std::ifstream f(path);
  std::string line;
  std::vector<double> out;
  std::getline(f, line);  // header
  while (std::getline(f, line)) out.push_back(std::stod(line.substr(line.rfind(',') + 1)));
  return out;
}

void BM_LassoHarnessOverhead(benchmark::State& state) {
  const int64_t p = state.range(0), n = state.range(1), batch = state.range(2), steps = state.range(3);
  auto ex = harness::make_experiment(lasso_doc(p, n, batch, steps));
  problems::LassoDataOptions o;
  o.n = n, o.p = p, o.k = std::max<int64_t>(1, p / 10);
  const auto data = problems::make_lasso_data(o, 1);
  const auto tmp = std::filesystem::temp_directory_path() / ("proxbench-bench-harness-" + std::to_string(::getpid()));
  double on = 0, off = 0, whole = 0, optsec = 0, max_diff = 0;
  Eigen::VectorXd bare_theta;
  std::vector<double> harness_theta;
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
        harness_theta = read_theta_hat(dir + "/estimate.csv");
        const auto& tm = sum["timings"];
        whole += w;
        optsec += tm["optimizer_seconds"].get<double>();
        on += w - tm["setup_seconds"].get<double>() - tm["evaluation_seconds"].get<double>();
        std::filesystem::remove_all(dir);
      } else {
        const auto t0 = clk::now();
        bare_theta = bare_loop(data, batch, steps, kSeed);
        off += std::chrono::duration<double>(clk::now() - t0).count();
      }
    }
  }
  std::filesystem::remove_all(tmp);
  if (state.error_occurred()) return;  // a failed harness run: keep its message
  // the two sides took the same steps: the same final θ up to rounding (the fused kernel and Eigen
  // may contract different products into FMAs)
  if (static_cast<int64_t>(harness_theta.size()) != p) {
    state.SkipWithError("harness run: estimate.csv has no theta_hat for every coordinate");
    return;
  }
  for (int64_t j = 0; j < p; ++j)
    max_diff = std::max(max_diff, std::abs(harness_theta[size_t(j)] - bare_theta[j]) / (1 + std::abs(bare_theta[j])));
  if (!(max_diff <= 1e-9)) {
    state.SkipWithError(
        ("the bare loop and the harness ended at different points: max |Δθ|/(1+|θ|) = " + std::to_string(max_diff))
            .c_str());
    return;
  }
  const double it = double(std::max<int64_t>(1, state.iterations()));
  state.counters["on_ms"] = 1e3 * on / it;
  state.counters["off_ms"] = 1e3 * off / it;
  state.counters["whole_run_ms"] = 1e3 * whole / it;
  state.counters["on_over_off"] = off > 0 ? on / off : 0;
  state.counters["steps"] = double(steps);
  state.counters["opt_ms"] = 1e3 * optsec / it;
  state.counters["theta_diff"] = max_diff;
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
