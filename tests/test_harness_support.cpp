#include "tests/test_harness_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <random>

#include "core/optimizer.h"
#include "core/problem.h"

namespace proxbench::test_util {

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path = std::filesystem::temp_directory_path() /
         ("proxbench-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  std::filesystem::remove_all(path);
  std::filesystem::create_directories(path);
}
TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path, ec);
}

int run_cli(const std::string& args, std::string* output, const std::string& env) {
  std::string cmd = env + (env.empty() ? "" : " ") + "'" PROXBENCH_CLI_PATH "' " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int st = ::pclose(p);
  if (output) *output = out;
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
}

namespace {
using namespace proxbench::core;

/// θ ← prox_{αλR}(θ − α g); probes: ‖Δθ‖², ‖g‖², λ_min = α, nnz.
class TestProxGD : public ProxOptimizer {
 public:
  TestProxGD(std::vector<ParamGroupSpec> groups, double lr) : ProxOptimizer(groups, lr) {}
  std::string name() const override { return "test_prox_gd"; }
  torch::Tensor step(LossClosure closure) override {
    torch::Tensor loss = closure();
    torch::NoGradGuard ng;
    stats_ = StepStats{};
    stats_.step = ++counters_.steps;
    stats_.loss = loss.item<double>();
    double dsq = 0, gsq = 0;
    int64_t nnz = 0;
    for (size_t i = 0; i < param_groups().size(); ++i) {
      double lr = group_options(i).lr;
      auto reg = group_regularizer(i);
      for (auto& p : param_groups()[i].params()) {
        auto g = p.grad();
        gsq += g.pow(2).sum().item<double>();
        auto z = (p - lr * g).contiguous();
        if (reg) reg->prox_(z, lr * group_lambda(i));
        dsq += (z - p).pow(2).sum().item<double>();
        p.copy_(z);
        nnz += p.ne(0).sum().item<int64_t>();
      }
      stats_.lambda_min = lr;
    }
    stats_.dtheta_sq = dsq;
    stats_.grad_sq = gsq;
    stats_.nnz = nnz;
    stats_.loss_evals = stats_.grad_evals = 1;
    counters_.loss_evals++;
    counters_.grad_evals++;
    return loss;
  }
};

PROXBENCH_REGISTER(optimizer_registry(),
                   (OptimizerRegistry::Entry{"test_prox_gd", "test-only proximal gradient step", {{"lr", "0.1", "step, > 0"}}, "",
                                             [](std::vector<ParamGroupSpec> g, const OptionMap& o) -> std::unique_ptr<ProxOptimizer> {
                                               double lr = o.get_double_in("lr", 0.1, 0, 1e300, true, false);
                                               o.check_unused();
                                               return std::make_unique<TestProxGD>(std::move(g), lr);
                                             }}));
// A problem whose runs fail when they start (no plan-time `validate`): the runner's error path.
PROXBENCH_REGISTER(problem_registry(),
                   (ProblemRegistry::Entry{"test_failing", "test-only problem that throws when built", {}, "",
                                           [](const OptionMap&, uint64_t) -> std::unique_ptr<Problem> {
                                             throw Error("test_failing: this problem always fails to build");
                                           }}));
}  // namespace

harness::Experiment experiment_from_yaml(const std::string& text, const std::string& name,
                                         const std::vector<std::string>& sets) {
  nlohmann::json doc = harness::yaml_to_json(text, name);
  for (const auto& s : sets) harness::apply_override(doc, s);
  return harness::make_experiment(doc, name);
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

harness::RunnerOptions quiet(const std::filesystem::path& out, int jobs) {
  harness::RunnerOptions o;
  o.out_dir = out.string();
  o.jobs = jobs;
  o.progress = false;
  return o;
}

}  // namespace proxbench::test_util
