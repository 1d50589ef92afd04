// Every separable regularizer's prox (through the fused tensor path Regularizer::prox_ with a
// per-coordinate τ) against the brute-force oracle of prox_test_util.h: ≥ 1e5 (z, τ) per
// regularizer with |z|, τ log-uniform over 1e-8..1e3, both signs, points at and 1 ulp around every
// threshold, parameters varied over prox-reference.md §3. Pass: F(prox) ≤ F(oracle)·(1 + 1e-9).
// Negative controls show that the same harness fails known-wrong variants.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include <atomic>
#include <functional>
#include <mutex>

#include "prox_test_util.h"

namespace proxbench::test {
namespace {

constexpr double kRelTol = 1e-9;

struct OracleStats {
  int64_t n = 0, fails = 0, oracle_worse = 0;
  double max_gap = 0;
  std::string first_fail;
};

using ApplyFn = std::function<void(const core::Regularizer&, std::vector<double>& z, const std::vector<double>& tau)>;

/// Draws `batches` parameter sets × `per` samples, applies `apply` and compares with the oracle.
OracleStats run_oracle(const std::string& name, RegKind kind, int batches, int per, uint64_t seed, const ApplyFn& apply,
                       const std::function<bool(const RegSpec&, double z, double tau)>& keep = nullptr) {
  Sampler smp(seed);
  OracleStats st;
  std::mutex mu;
  for (int b = 0; b < batches; ++b) {
    auto reg = core::make_regularizer(name, core::OptionMap(smp.params(kind)));
    const RegSpec spec = reg->spec();
    std::vector<double> z0, tau;
    while (int(z0.size()) < per) {
      double z, t;
      smp.draw(spec, z, t);
      if (keep && !keep(spec, z, t)) continue;
      z0.push_back(z), tau.push_back(t);
    }
    std::vector<double> x = z0;
    apply(*reg, x, tau);
    std::atomic<int64_t> fails{0}, worse{0};
    at::parallel_for(0, per, 16, [&](int64_t lo, int64_t hi) {
      double local_gap = 0;
      for (int64_t i = lo; i < hi; ++i) {
        const double f_or = oracle_min(spec, z0[i], tau[i]);
        const double f_cf = objective(spec, z0[i], tau[i], x[i]);
        const double gap = f_or > 0 ? f_cf / f_or - 1 : (f_cf > 0 ? INFINITY : 0.0);
        local_gap = std::max(local_gap, gap);
        if (f_or < f_cf * (1 - kRelTol)) ++worse;  // informative only: closed form beat the brute force
        if (!(f_cf <= f_or * (1 + kRelTol))) {
          ++fails;
          std::lock_guard<std::mutex> g(mu);
          if (st.first_fail.empty())
            st.first_fail = name + " params=" + reg->to_json().dump() + " z=" + format_double(z0[i]) +
                            " tau=" + format_double(tau[i]) + " x=" + format_double(x[i]) +
                            " F=" + format_double(f_cf) + " F_oracle=" + format_double(f_or);
        }
      }
      std::lock_guard<std::mutex> g(mu);
      st.max_gap = std::max(st.max_gap, local_gap);
    });
    st.n += per;
    st.fails += fails;
    st.oracle_worse += worse;
  }
  return st;
}

/// The library path under test: one fused prox_ call over the whole batch, per-coordinate τ.
void apply_library(const core::Regularizer& r, std::vector<double>& z, const std::vector<double>& tau) {
  auto zt = torch::from_blob(z.data(), {int64_t(z.size())}, torch::kDouble);
  auto tt = torch::from_blob(const_cast<double*>(tau.data()), {int64_t(tau.size())}, torch::kDouble);
  r.prox_(zt, tt);
}

class ProxOracle : public ::testing::TestWithParam<std::pair<std::string, RegKind>> {};

TEST_P(ProxOracle, NoWorseThanBruteForce) {
  const auto& [name, kind] = GetParam();
  const auto st = run_oracle(name, kind, 200, 500, 0x5eed0000 + uint64_t(kind), apply_library);
  EXPECT_EQ(st.n, 100000);
  EXPECT_EQ(st.fails, 0) << st.first_fail;
  RecordProperty("max_rel_gap", format_double(st.max_gap));
  std::printf("[oracle] %-13s n=%lld fails=%lld max_rel_gap=%.3g closed_form_better=%lld\n", name.c_str(),
              (long long)st.n, (long long)st.fails, st.max_gap, (long long)st.oracle_worse);
}

INSTANTIATE_TEST_SUITE_P(AllSeparable, ProxOracle, ::testing::ValuesIn(separable_regs()),
                         [](const auto& info) { return info.param.first; });

// ---- negative controls: the oracle must fail known-wrong maps ----------------------------------

void expect_caught(const OracleStats& st, double min_frac, const char* what) {
  EXPECT_GT(double(st.fails), min_frac * double(st.n)) << what << ": the oracle did not catch the wrong map";
  std::printf("[negative control] %s: %lld of %lld fail (max rel gap %.3g)\n", what, (long long)st.fails,
              (long long)st.n, st.max_gap);
}

TEST(ProxOracleNegativeControl, L12StationaryPointThreshold) {
  // Wrong: jump at the existence bound 3(τ/4)^{2/3} instead of the prox threshold 1.5 τ^{2/3}.
  const auto st = run_oracle("l12", RegKind::L12, 20, 500, 11, [](const core::Regularizer&, std::vector<double>& z,
                                                                   const std::vector<double>& tau) {
    for (size_t i = 0; i < z.size(); ++i) {
      const double a = std::fabs(z[i]), t = tau[i];
      if (!(a > 3 * std::pow(t / 4, 2.0 / 3.0))) {
        z[i] = 0;
        continue;
      }
      const double phi = std::acos(std::min(1.0, t / 4 * std::pow(3 / a, 1.5)));
      z[i] = 2.0 / 3.0 * z[i] * (1 + std::cos(2.0 / 3.0 * (M_PI - phi)));
    }
  });
  expect_caught(st, 0.01, "l1/2 with threshold 3(tau/4)^(2/3)");
}

TEST(ProxOracleNegativeControl, McpTextbookFirmInNonconvexRegime) {
  // Wrong: the textbook firm threshold S(z, τλp)/(1 − τ/γ) (z beyond γλp) used for τ ≥ γ too.
  const auto st = run_oracle(
      "mcp", RegKind::Mcp, 40, 250, 12,
      [](const core::Regularizer& r, std::vector<double>& z, const std::vector<double>& tau) {
        const auto& s = r.spec();
        for (size_t i = 0; i < z.size(); ++i) {
          const double a = std::fabs(z[i]);
          if (a > s.gamma * s.lam_p) continue;
          const double soft = std::max(a - tau[i] * s.lam_p, 0.0);
          z[i] = std::copysign(soft / (1 - tau[i] / s.gamma), z[i]);
        }
      },
      [](const RegSpec& s, double, double tau) { return tau >= s.gamma; });
  expect_caught(st, 0.01, "MCP textbook firm formula with tau >= gamma");
}

TEST(ProxOracleNegativeControl, McpHardThresholdAtKappa) {
  // Wrong (benchopt gist.py): in the nonconvex regime, hard threshold at τλp instead of λp·sqrt(τγ).
  const auto st = run_oracle(
      "mcp", RegKind::Mcp, 40, 250, 13,
      [](const core::Regularizer& r, std::vector<double>& z, const std::vector<double>& tau) {
        for (size_t i = 0; i < z.size(); ++i)
          if (!(std::fabs(z[i]) > tau[i] * r.spec().lam_p)) z[i] = 0;
      },
      [](const RegSpec& s, double, double tau) { return tau >= s.gamma; });
  expect_caught(st, 0.01, "MCP hard threshold at tau*lam_p for tau >= gamma");
}

TEST(ProxOracleNegativeControl, ScadFanLiRuleWithScaledLambda) {
  // Wrong: Fan-Li's unit-step rule with λ → τλp (breakpoints 2τλp and aτλp).
  const auto st = run_oracle("scad", RegKind::Scad, 40, 250, 14,
                             [](const core::Regularizer& r, std::vector<double>& z, const std::vector<double>& tau) {
                               const auto& s = r.spec();
                               for (size_t i = 0; i < z.size(); ++i) {
                                 const double a = std::fabs(z[i]), l = tau[i] * s.lam_p;
                                 double x;
                                 if (a <= 2 * l) x = std::max(a - l, 0.0);
                                 else if (a <= s.a * l) x = ((s.a - 1) * a - s.a * l) / (s.a - 2);
                                 else x = a;
                                 z[i] = std::copysign(x, z[i]);
                               }
                             });
  expect_caught(st, 0.01, "SCAD Fan-Li rule with lambda -> tau*lambda");
}

TEST(ProxOracleNegativeControl, BinaryQuantSignZeroIsZero) {
  // Wrong (ProxQuant reg.py): sign(0) = 0, so z = 0 maps to 0 instead of ±x*.
  const auto st = run_oracle(
      "binary_quant", RegKind::BinaryQuant, 20, 100, 15,
      [](const core::Regularizer& r, std::vector<double>& z, const std::vector<double>& tau) {
        auto zt = torch::from_blob(z.data(), {int64_t(z.size())}, torch::kDouble);
        auto zero = zt == 0;
        r.prox_(zt, torch::from_blob(const_cast<double*>(tau.data()), {int64_t(tau.size())}, torch::kDouble));
        zt.masked_fill_(zero, 0.0);
      },
      [](const RegSpec&, double z, double) { return z == 0; });
  expect_caught(st, 0.99, "W-shaped with sign(0) = 0");
}

}  // namespace
}  // namespace proxbench::test
