// CUDA fused steps (issue 7) against the CPU fused steps: for every optimizer × regularizer of the
// registries, one step from the same random float32 state on a CUDA copy and on the CPU must give
// the same parameters (after 3 steps, so the moment buffers enter) and probes to float32 tolerance; and an SR2 run on
// CUDA must accept and reject exactly as on the CPU, with the same σ sequence. No CUDA headers here: the test compiles
// in the CPU-only build, and every test skips with "no CUDA device" when torch::cuda::is_available() is false (CPU
// LibTorch, or no GPU).
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "core/optimizer.h"

using namespace proxbench;
using core::RegKind;

namespace {

#define PB_REQUIRE_CUDA() \
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device"

core::OptionMap cuda_options_for(const std::string& opt) {
  if (opt == "sr2") return core::OptionMap(nlohmann::json{{"sigma0", 2.0}});
  return core::OptionMap(nlohmann::json{{"lr", 0.05}});
}

double cuda_lambda_for(const std::string& opt) { return opt == "sr2" ? 0.05 : 0.1; }

/// |a − b| ≤ atol + rtol·|b| element-wise, reporting the worst element.
void expect_tensor_close(const torch::Tensor& got, const torch::Tensor& want, const std::string& what,
                         double rtol = 1e-5, double atol = 1e-6) {
  auto a = got.detach().to(torch::kCPU, torch::kDouble), b = want.detach().to(torch::kCPU, torch::kDouble);
  ASSERT_EQ(a.sizes(), b.sizes()) << what;
  auto excess = (a - b).abs() - (atol + rtol * b.abs());
  const double worst = excess.max().item<double>();
  EXPECT_LE(worst, 0.0) << what << ": worst excess over tolerance " << worst;
}

void expect_scalar_close(double got, double want, const std::string& what, double rtol = 1e-4) {
  if (std::isnan(want)) {
    EXPECT_TRUE(std::isnan(got)) << what;
    return;
  }
  EXPECT_NEAR(got, want, rtol * std::fabs(want) + 1e-9) << what;
}

/// 3 steps of optimizer oname with regularizer rname(params) on CUDA and on the CPU from the same
/// state: parameters and probes must agree. Tensors: a 64×33 matrix (rows = groups of 33), a
/// 1000-vector (several blocks' worth) and, with conv4d, an 8×6×3×3 conv weight (columns layout:
/// 6 strided groups of 72).
void check_cuda_vs_cpu(const std::string& oname, const std::string& rname, const core::OptionMap& params, bool conv4d) {
  auto reg_cpu = core::make_regularizer(rname, params);
  auto reg_gpu = core::make_regularizer(rname, params);
  const bool subgrad = oname.rfind("subgradient", 0) == 0;
  if (subgrad && !reg_cpu->has_subgradient()) GTEST_SKIP() << "'" << rname << "' has no subgradient";
  torch::manual_seed(7);
  auto opts = torch::TensorOptions().dtype(torch::kFloat);
  std::vector<torch::Tensor> init{torch::randn({64, 33}, opts) * 0.5, torch::randn({1000}, opts) * 0.5};
  if (conv4d) init.push_back(torch::randn({8, 6, 3, 3}, opts) * 0.5);
  std::vector<torch::Tensor> a, c;
  for (auto& t : init) {
    a.push_back(torch::rand(t.sizes(), opts) + 0.5);
    c.push_back(torch::randn(t.sizes(), opts));
  }
  auto run = [&](torch::Device dev, const auto& reg, std::vector<torch::Tensor>& ps) {
    ps.clear();
    for (auto& t : init) ps.push_back(t.to(dev).clone().requires_grad_(true));
    core::ParamGroupSpec g{ps, reg, cuda_lambda_for(oname)};
    auto opt = core::make_optimizer(oname, {g}, cuda_options_for(oname));
    opt->set_probes(true);
    auto closure = [&]() {
      torch::NoGradGuard ng;
      torch::Tensor loss = torch::zeros({}, torch::TensorOptions().dtype(torch::kFloat).device(dev));
      for (size_t k = 0; k < ps.size(); ++k) {
        auto d = ps[k].detach() - c[k].to(dev);
        ps[k].mutable_grad() = a[k].to(dev) * d;
        loss = loss + (0.5 * a[k].to(dev) * d * d).sum();
      }
      return loss;
    };
    for (int t = 0; t < 3; ++t) opt->step(closure);  // 3 steps: moments and bias correction engaged
    return opt;
  };
  std::vector<torch::Tensor> p_cpu, p_gpu;
  auto o_cpu = run(torch::kCPU, reg_cpu, p_cpu);
  auto o_gpu = run(torch::Device(torch::kCUDA, 0), reg_gpu, p_gpu);
  for (size_t k = 0; k < p_cpu.size(); ++k) {
    expect_tensor_close(p_gpu[k], p_cpu[k], oname + "/" + rname + " parameter " + std::to_string(k));
  }
  const auto& sc = o_cpu->last_stats();
  const auto& sg = o_gpu->last_stats();
  expect_scalar_close(sg.dtheta_sq, sc.dtheta_sq, "dtheta_sq");
  expect_scalar_close(sg.grad_sq, sc.grad_sq, "grad_sq");
  expect_scalar_close(sg.precond_max, sc.precond_max, "precond_max");
  expect_scalar_close(sg.precond_min, sc.precond_min, "precond_min");
  // Counts may differ only for coordinates whose float32 value lands within rounding of a threshold.
  EXPECT_NEAR(double(sg.nnz), double(sc.nnz), 2.0) << "nnz";
  EXPECT_NEAR(double(sg.n_small), double(sc.n_small), 2.0) << "n_small";
  EXPECT_EQ(sg.numel, sc.numel);
  EXPECT_EQ(sg.prox_evals, sc.prox_evals);
  EXPECT_EQ(sg.accepted, sc.accepted);
}

class CudaStep : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(CudaStep, CudaStepEqualsCpuStep) {
  PB_REQUIRE_CUDA();
  const auto& [oname, rname] = GetParam();
  check_cuda_vs_cpu(oname, rname, core::OptionMap(), false);
}

// Group l2,1 in the columns (strided groups) and whole layouts, every optimizer: the CUDA kernels
// of issue 13 (strided group prox, group subgradient, SR2 with groups) against the CPU.
class CudaGroupLayout : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(CudaGroupLayout, CudaStepEqualsCpuStep) {
  PB_REQUIRE_CUDA();
  const auto& [oname, layout] = GetParam();
  check_cuda_vs_cpu(oname, "group_l21", core::OptionMap(nlohmann::json{{"layout", layout}}), true);
}

INSTANTIATE_TEST_SUITE_P(Layouts, CudaGroupLayout,
                         ::testing::Combine(::testing::ValuesIn(core::optimizer_registry().names()),
                                            ::testing::Values(std::string("columns"), std::string("whole"))),
                         [](const auto& info) { return std::get<0>(info.param) + "_" + std::get<1>(info.param); });

std::string cuda_param_name(const ::testing::TestParamInfo<CudaStep::ParamType>& info) {
  return std::get<0>(info.param) + "_" + std::get<1>(info.param);
}

INSTANTIATE_TEST_SUITE_P(Registries, CudaStep,
                         ::testing::Combine(::testing::ValuesIn(core::optimizer_registry().names()),
                                            ::testing::ValuesIn(core::regularizer_registry().names())),
                         cuda_param_name);

// SR2 on the same data: the accept/reject sequence and σ_t must match step for step. A small σ0
// (step 1/σ0 = 20 ≫ 2/L) makes the first steps fail the ratio test, so each run both rejects and
// accepts (checked on the CPU by CudaSr2Scenario, which runs everywhere).
struct Sr2Run {
  std::vector<int> accepted;
  std::vector<double> sigma;
  torch::Tensor theta;
};

Sr2Run run_sr2_scenario(const std::string& rname, torch::Device dev) {
  torch::manual_seed(11);
  auto opts = torch::TensorOptions().dtype(torch::kFloat);
  auto init = torch::randn({32, 16}, opts);
  auto A = torch::randn({48, 32}, opts) / 6.0, b = torch::randn({48, 16}, opts);
  auto p = init.to(dev).clone().requires_grad_(true);
  auto Ad = A.to(dev), bd = b.to(dev);
  core::ParamGroupSpec g{{p}, core::make_regularizer(rname, core::OptionMap()), 0.05};
  auto opt = core::make_optimizer("sr2", {g}, core::OptionMap(nlohmann::json{{"sigma0", 0.05}}));
  opt->set_probes(true);
  auto closure = [&]() {
    torch::AutoGradMode on(true);
    if (p.grad().defined()) p.mutable_grad().zero_();
    auto r = torch::matmul(Ad, p) - bd;
    auto loss = (r * r).sum() * 0.5;
    loss.backward();
    return loss;
  };
  Sr2Run out;
  for (int t = 0; t < 40; ++t) {
    opt->step(closure);
    out.accepted.push_back(opt->last_stats().accepted ? 1 : 0);
    out.sigma.push_back(opt->last_stats().sigma);
  }
  out.theta = p.detach().cpu();
  return out;
}

const char* const kSr2Regs[] = {"l1", "l0", "group_l21"};

TEST(CudaSr2Scenario, CpuRunRejectsAndAccepts) {
  for (const std::string rname : kSr2Regs) {
    auto r = run_sr2_scenario(rname, torch::kCPU);
    int rejects = 0, accepts = 0;
    for (int x : r.accepted) (x ? accepts : rejects) += 1;
    EXPECT_GT(rejects, 0) << rname;
    EXPECT_GT(accepts, 0) << rname;
  }
}

TEST(CudaSr2, AcceptRejectSequenceEqualsCpu) {
  PB_REQUIRE_CUDA();
  for (const std::string rname : kSr2Regs) {
    auto c = run_sr2_scenario(rname, torch::kCPU);
    auto g = run_sr2_scenario(rname, torch::Device(torch::kCUDA, 0));
    EXPECT_EQ(g.accepted, c.accepted) << rname << ": accept/reject sequence";
    ASSERT_EQ(g.sigma.size(), c.sigma.size());
    for (size_t i = 0; i < c.sigma.size(); ++i)
      EXPECT_DOUBLE_EQ(g.sigma[i], c.sigma[i]) << rname << ": sigma at step " << i;
    expect_tensor_close(g.theta, c.theta, rname + ": SR2 final iterate", 1e-4, 1e-5);
  }
}

}  // namespace
