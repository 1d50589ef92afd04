// The fused CPU loops are compiled per instruction set (core/kernels_cpu.h): baseline, AVX2 and
// AVX-512. Every one available on this host must give the baseline's bits for θ, every state buffer, the counts,
// max/min of C + δ and SR2's ρ; the two sums of squares of the diagonal loops (‖θ_{t+1} − θ_t‖², ‖g‖²) are summed in
// the lane order of each vector width, so they must agree to the rounding bound of a sum of kTile
// = 1024 non-negative terms in T, 1024·ε_T relative. For every optimizer × regularizer of the
// registries, float32 and float64, over sizes that exercise the tails and several tiles and chunks.
// An instruction set this host lacks is skipped with a message (GTEST_SKIP).
#include <gtest/gtest.h>

#include <cstring>

#include "core/kernels_cpu.h"
#include "core/optimizer.h"
#include "tests/test_harness_support.h"

using namespace proxbench;
namespace kn = core::kernels;

namespace {

struct IsaGuard {
  kn::CpuIsa saved = kn::cpu_isa();
  ~IsaGuard() { kn::set_cpu_isa(saved); }
};

struct IsaRun {
  std::vector<torch::Tensor> tensors;  // θ, then every state buffer in name order
  std::vector<core::StepStats> stats;
};

core::OptionMap options_for(const std::string& opt) {
  if (opt == "sr2") return core::OptionMap(nlohmann::json{{"sigma0", 2.0}});
  return core::OptionMap(nlohmann::json{{"lr", 0.05}});
}

IsaRun run(kn::CpuIsa isa, const std::string& opt, const std::string& reg, torch::ScalarType dt, int64_t n) {
  kn::set_cpu_isa(isa);
  torch::manual_seed(7);
  auto p = (torch::randn({n}) * 0.5).to(dt).requires_grad_(true);
  // A few exact zeros and values near the W-shaped minima, so every branch of the maps is hit.
  {
    torch::NoGradGuard ng;
    p.index_put_({torch::indexing::Slice(0, n, 17)}, 0.0);
    p.index_put_({torch::indexing::Slice(1, n, 23)}, 1.0);
  }
  const double lam = reg == "none" ? 0.0 : 0.05;
  core::ParamGroupSpec g{{p}, core::make_regularizer(reg, core::OptionMap()), lam};
  auto o = core::make_optimizer(opt, {g}, options_for(opt));
  IsaRun r;
  for (int k = 0; k < 3; ++k) {
    torch::optim::Optimizer::LossClosure closure = [&] {
      o->zero_grad();
      auto loss = ((p - 0.3) * (p - 0.3)).sum() * 0.5 + (p * p * p).sum() * 0.01;
      loss.backward();
      return loss;
    };
    o->step(closure);
    r.stats.push_back(o->last_stats());
  }
  r.tensors.push_back(p.detach().clone());
  for (auto& kv : o->state()) {
    auto& st = dynamic_cast<core::ProxParamState&>(*kv.second);
    for (auto& b : st.buffers)
      if (b.second.defined()) r.tensors.push_back(b.second.clone());
  }
  return r;
}

bool same_bits(double a, double b) { return std::memcmp(&a, &b, sizeof a) == 0 || (std::isnan(a) && std::isnan(b)); }

/// |a − b| ≤ 1024·ε_T·max(|a|, |b|): two orders of a sum of at most 1024 non-negative terms in T.
bool same_sum(double a, double b, torch::ScalarType dt) {
  const double eps = dt == torch::kFloat ? 0x1p-23 : 0x1p-52;
  return same_bits(a, b) || std::fabs(a - b) <= 1024 * eps * std::max(std::fabs(a), std::fabs(b));
}

}  // namespace

TEST(KernelIsa, SetAndQuery) {
  EXPECT_TRUE(kn::cpu_isa_available(kn::CpuIsa::Base));
  IsaGuard guard;
  kn::set_cpu_isa(kn::CpuIsa::Base);
  EXPECT_EQ(kn::cpu_isa(), kn::CpuIsa::Base);
  EXPECT_STREQ(kn::cpu_isa_name(kn::CpuIsa::Avx2), "avx2");
  EXPECT_STREQ(kn::cpu_isa_name(kn::CpuIsa::Avx512), "avx512");
  for (kn::CpuIsa isa : {kn::CpuIsa::Avx2, kn::CpuIsa::Avx512}) {
    if (!kn::cpu_isa_available(isa)) {
      EXPECT_THROW(kn::set_cpu_isa(isa), Error);
    } else {
      kn::set_cpu_isa(isa);
      EXPECT_EQ(kn::cpu_isa(), isa);
    }
  }
}

namespace {

/// Runs every optimizer × regularizer × dtype × size with the baseline loops and with `isa`.
void expect_same_as_base(kn::CpuIsa isa) {
  IsaGuard guard;
  int compared = 0;
  for (const auto& opt : core::optimizer_registry().names()) {
    for (const auto& reg : core::regularizer_registry().names()) {
      auto r = core::make_regularizer(reg, core::OptionMap());
      if (r->spec().kind == core::RegKind::Custom) continue;
      if (r->spec().kind == core::RegKind::L0 && opt.rfind("subgradient", 0) == 0) continue;  // refused by design
      for (auto dt : {torch::kFloat, torch::kDouble}) {
        for (int64_t n : {int64_t(13), int64_t(70001)}) {  // tails only; several tiles and two chunks
          SCOPED_TRACE(std::string(kn::cpu_isa_name(isa)) + ": " + opt + " / " + reg + " / " + c10::toString(dt) +
                       " / n=" + std::to_string(n));
          IsaRun a, b;
          try {
            a = run(kn::CpuIsa::Base, opt, reg, dt, n);
          } catch (const std::exception&) {
            continue;  // a combination the optimizer refuses (checked elsewhere)
          }
          b = run(isa, opt, reg, dt, n);
          ASSERT_EQ(a.tensors.size(), b.tensors.size());
          for (size_t k = 0; k < a.tensors.size(); ++k)
            EXPECT_TRUE(torch::equal(a.tensors[k], b.tensors[k])) << "tensor " << k << " differs";
          for (size_t k = 0; k < a.stats.size(); ++k) {
            const auto &x = a.stats[k], &y = b.stats[k];
            EXPECT_TRUE(same_sum(x.dtheta_sq, y.dtheta_sq, dt)) << x.dtheta_sq << " vs " << y.dtheta_sq;
            EXPECT_TRUE(same_sum(x.grad_sq, y.grad_sq, dt)) << x.grad_sq << " vs " << y.grad_sq;
            EXPECT_TRUE(same_bits(x.precond_max, y.precond_max));
            EXPECT_TRUE(same_bits(x.precond_min, y.precond_min));
            EXPECT_TRUE(same_bits(x.rho, y.rho));
            EXPECT_EQ(x.nnz, y.nnz);
            EXPECT_EQ(x.n_small, y.n_small);
            EXPECT_EQ(x.nnz_aux, y.nnz_aux);
          }
          ++compared;
        }
      }
    }
  }
  EXPECT_GT(compared, 100);
}

}  // namespace

TEST(KernelIsa, Avx2AndBaseGiveTheSameBits) {
  if (!kn::cpu_isa_available(kn::CpuIsa::Avx2)) GTEST_SKIP() << "AVX2 kernels not built in or CPU without AVX2";
  expect_same_as_base(kn::CpuIsa::Avx2);
}

TEST(KernelIsa, Avx512AndBaseGiveTheSameBits) {
  if (!kn::cpu_isa_available(kn::CpuIsa::Avx512))
    GTEST_SKIP() << "AVX-512 kernels not built in or this CPU lacks AVX-512 F/BW/DQ/VL: not checked on this host";
  expect_same_as_base(kn::CpuIsa::Avx512);
}

TEST(KernelIsa, EnvironmentVariableIsValidated) {
  // cpu_isa() reads PROXBENCH_KERNEL_ISA once, at its first use: checked in child processes.
  std::string out;
  EXPECT_NE(test_util::run_cli("list kernels", &out, "PROXBENCH_KERNEL_ISA=sse9"), 0);
  EXPECT_NE(out.find("PROXBENCH_KERNEL_ISA='sse9'"), std::string::npos) << out;
}

TEST(KernelIsa, EnvironmentVariableChoosesBase) {
  std::string out;
  EXPECT_EQ(test_util::run_cli("list kernels", &out, "PROXBENCH_KERNEL_ISA=base"), 0);
  EXPECT_NE(out.find("base  available  [in use]"), std::string::npos) << out;
}

TEST(KernelIsa, EnvironmentVariableRefusesAnUnavailableIsa) {
  for (kn::CpuIsa isa : {kn::CpuIsa::Avx2, kn::CpuIsa::Avx512}) {
    const std::string name = kn::cpu_isa_name(isa);
    std::string out;
    const int rc = test_util::run_cli("list kernels", &out, "PROXBENCH_KERNEL_ISA=" + name);
    if (kn::cpu_isa_available(isa)) {
      EXPECT_EQ(rc, 0) << out;
      EXPECT_NE(out.find(name + "  available  [in use]"), std::string::npos) << out;
    } else {
      EXPECT_NE(rc, 0) << out;
      EXPECT_NE(out.find("PROXBENCH_KERNEL_ISA=" + name + ": the " + name + " kernels are not built in"),
                std::string::npos)
          << out;
    }
  }
}

TEST(KernelIsa, ListKernelsNamesEveryIsa) {
  std::string out;
  ASSERT_EQ(test_util::run_cli("list kernels", &out), 0) << out;
  for (kn::CpuIsa isa : kn::kAllCpuIsas)
    EXPECT_NE(out.find(std::string("  ") + kn::cpu_isa_name(isa) +
                       (kn::cpu_isa_available(isa) ? "  available" : "  not available")),
              std::string::npos)
        << out;
}
