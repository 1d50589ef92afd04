// One step of every optimizer × every regularizer (both enumerated from the registries) from a
// random state in float64 against an independent long-double reference written from the papers'
// equations (ProxGen Alg. 1 / eq. (2)–(4), Prox-SGD eq. (5)–(6), SR2 Alg. 1 / eq. (8), Adam,
// ProxQuant), with the prox solved by brute force (tests/optim_reference.h) — never by the
// library's own scalar ops.
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "core/optimizer.h"
#include "optim_reference.h"
#include "optimizers/sr2.h"

using namespace proxbench;
using core::RegKind;
using testref::LD;

namespace {

constexpr int64_t kRows = 8, kCols = 8;

core::ProxParamState& only_state(core::ProxOptimizer& opt) {
  EXPECT_EQ(opt.state().size(), 1u);
  return dynamic_cast<core::ProxParamState&>(*opt.state().begin()->second);
}

core::OptionMap options_for(const std::string& opt) {
  if (opt == "proxgen") return core::OptionMap(nlohmann::json{{"lr", 0.1}});
  if (opt == "prox_sgd") return core::OptionMap(nlohmann::json{{"lr", 0.5}});
  if (opt == "sr2") return core::OptionMap(nlohmann::json{{"sigma0", 2.0}});
  if (opt == "subgradient_adam" || opt == "subgradient_sgd" || opt == "proxquant" || opt == "binary_connect")
    return core::OptionMap(nlohmann::json{{"lr", 0.1}});
  return core::OptionMap();
}

double lambda_for(const std::string& opt) { return opt == "prox_sgd" ? 0.3 : (opt == "sr2" ? 0.5 : 1.0); }

/// x = prox of λ R per coordinate (separable) or per row (group l2,1), from z and τ.
std::vector<LD> prox_ref(const core::Regularizer& reg, const std::vector<LD>& z, const std::vector<LD>& tau) {
  std::vector<LD> x(z.size());
  if (reg.spec().kind == RegKind::GroupL21) {
    for (int64_t r = 0; r < kRows; ++r) {
      std::vector<LD> zr(z.begin() + r * kCols, z.begin() + (r + 1) * kCols);
      std::vector<LD> tr(tau.begin() + r * kCols, tau.begin() + (r + 1) * kCols);
      auto xr = testref::group_prox_ref(zr, tr);
      std::copy(xr.begin(), xr.end(), x.begin() + r * kCols);
    }
    return x;
  }
  for (size_t i = 0; i < z.size(); ++i) x[i] = testref::prox_brute(reg.spec(), z[i], tau[i]);
  return x;
}

std::vector<LD> to_ld(const torch::Tensor& t) {
  auto c = t.contiguous().to(torch::kDouble);
  std::vector<LD> out(c.numel());
  for (int64_t i = 0; i < c.numel(); ++i) out[i] = c.data_ptr<double>()[i];
  return out;
}

void expect_close(const torch::Tensor& got, const std::vector<LD>& ref, const std::vector<LD>& scale,
                  const std::string& what) {
  auto g = got.contiguous();
  int bad = 0;
  for (int64_t i = 0; i < g.numel() && bad < 5; ++i) {
    LD x = g.data_ptr<double>()[i];
    LD tol = LD(1e-12) * std::max<LD>(std::max(std::fabs(ref[i]), scale[i]), LD(1e-300));
    if (!(std::fabs(x - ref[i]) <= tol)) {
      ++bad;
      ADD_FAILURE() << what << "[" << i << "]: got " << double(x) << ", reference " << double(ref[i]) << " (diff "
                    << double(std::fabs(x - ref[i])) << ")";
    }
  }
}

class OptimStep : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(OptimStep, OneStepMatchesLongDoubleReference) {
  const auto& [oname, rname] = GetParam();
  if (oname.rfind("test_", 0) == 0) GTEST_SKIP() << "'" << oname << "' is a test-only optimizer of the harness tests";
  auto reg = core::make_regularizer(rname, core::OptionMap());
  const RegKind kind = reg->spec().kind;
  if (kind == RegKind::Custom) GTEST_SKIP() << "plugin regularizer: no reference";
  const bool subgrad = oname.rfind("subgradient", 0) == 0;
  if (subgrad && !reg->has_subgradient())
    GTEST_SKIP() << "'" << rname << "' has no subgradient: subgradient methods refuse it (tested in OptimOptions)";
  torch::manual_seed(1234);
  auto opts = torch::TensorOptions().dtype(torch::kDouble);
  auto p = torch::randn({kRows, kCols}, opts).requires_grad_(true);
  const double lam = lambda_for(oname);
  core::ParamGroupSpec g{{p}, reg, lam};
  auto opt = core::make_optimizer(oname, {g}, options_for(oname));
  opt->set_probes(true);

  if (oname == "sr2") {
    // f(θ) = mean ½ a (θ − c)², gradient set by the closure.
    auto a = torch::rand({kRows, kCols}, opts) + 0.5, c = torch::randn({kRows, kCols}, opts);
    std::vector<LD> g_seen;
    int calls = 0;
    auto closure = [&]() {
      ++calls;
      torch::NoGradGuard ng;
      auto d = p.detach() - c;
      auto gr = a * d / double(p.numel());
      p.mutable_grad() = gr;
      if (calls == 1) g_seen = to_ld(gr);
      return (0.5 * a * d * d).mean();
    };
    auto th0 = to_ld(p.detach());
    auto sr = dynamic_cast<optimizers::Sr2*>(opt.get());
    const LD sigma = sr->sigma();
    opt->step(closure);
    ASSERT_EQ(calls, 2);
    const LD n = p.numel();
    std::vector<LD> z(th0.size()), tau(th0.size(), LD(lam) / sigma), scale(th0.size());
    for (size_t i = 0; i < z.size(); ++i) {
      z[i] = th0[i] - g_seen[i] / sigma;
      scale[i] = std::fabs(z[i]);
    }
    auto x = prox_ref(*reg, z, tau);
    auto al = to_ld(a), cl = to_ld(c);
    auto F = [&](const std::vector<LD>& th) {
      LD f = 0, r = 0;
      for (size_t i = 0; i < th.size(); ++i) f += LD(0.5) * al[i] * (th[i] - cl[i]) * (th[i] - cl[i]);
      if (kind == RegKind::GroupL21) {
        for (int64_t rr = 0; rr < kRows; ++rr) {
          LD s2 = 0;
          for (int64_t j = 0; j < kCols; ++j) s2 += th[rr * kCols + j] * th[rr * kCols + j];
          r += std::sqrt(s2);
        }
      } else {
        for (LD v : th) r += testref::r_value(reg->spec(), v);
      }
      return std::make_pair(f / n, r * LD(lam));
    };
    auto [f0, r0] = F(th0);
    auto [f1, r1] = F(x);
    LD gts = 0;
    for (size_t i = 0; i < x.size(); ++i) gts += g_seen[i] * (x[i] - th0[i]);
    const LD rho = ((f0 + r0) - (f1 + r1)) / (r0 - gts - r1);
    const bool accept = rho >= LD(sr->options().eta1);
    EXPECT_EQ(opt->last_stats().accepted, accept) << "rho " << double(rho);
    EXPECT_NEAR(opt->last_stats().rho, double(rho), 1e-9 * std::max<double>(1, std::fabs(double(rho))));
    expect_close(p.detach(), accept ? x : th0, scale, "sr2 theta");
    return;
  }

  // First step creates the state; then the state is overwritten with random values.
  p.mutable_grad() = torch::randn({kRows, kCols}, opts);
  opt->step();
  auto& st = only_state(*opt);
  st.step = 4;
  for (auto& kv : st.buffers) {
    if (kv.first == "m") kv.second.copy_(torch::randn({kRows, kCols}, opts));
    if (kv.first == "v") kv.second.copy_(torch::rand({kRows, kCols}, opts) + 0.5);
  }
  const LD t = 5;
  // binary_connect: the update acts on the latent weights (p holds their sign) of a regularized group
  const bool bc_latent = oname == "binary_connect" && kind != RegKind::None;
  auto th = to_ld(bc_latent ? st.buffers.at("latent") : p.detach());
  auto gv = torch::randn({kRows, kCols}, opts);
  p.mutable_grad() = gv;
  auto g_ = to_ld(gv);
  auto m = to_ld(st.buffers.at("m"));
  std::vector<LD> v;
  if (st.buffers.count("v")) v = to_ld(st.buffers.at("v"));
  std::vector<LD> sub(th.size(), 0);
  if (subgrad && kind != RegKind::None) {
    if (kind == RegKind::L1) {
      for (size_t i = 0; i < th.size(); ++i) sub[i] = testref::sgn(th[i]);
    } else {  // the regularizer's own documented subgradient (its values are the regularizer's tests' job)
      auto s = torch::empty_like(p.detach());
      reg->subgradient(p.detach(), s);
      sub = to_ld(s);
    }
  }
  opt->step();

  const size_t N = th.size();
  std::vector<LD> z(N), tau(N), scale(N), thw = th;
  LD eps = 1;
  const LD b1 = 0.9, b2 = 0.999, delta = 1e-8;
  if (oname == "proxgen" || oname == "proxquant" || oname == "subgradient_adam" || oname == "binary_connect") {
    // proxgen's default form (paper §4) has no bias correction; the others are Adam with it
    const bool bc = oname != "proxgen";
    const LD lr = 0.1, alpha = bc ? lr / (1 - std::pow(b1, t)) : lr, sv = bc ? 1 / (1 - std::pow(b2, t)) : 1;
    for (size_t i = 0; i < N; ++i) {
      const LD gi = g_[i] + LD(lam) * sub[i];
      const LD mi = b1 * m[i] + (1 - b1) * gi;
      const LD vi = b2 * v[i] + (1 - b2) * gi * gi;
      const LD D = std::sqrt(vi * sv) + delta;
      z[i] = th[i] - alpha * mi / D;
      tau[i] = oname == "proxquant" ? lr * LD(lam) : alpha * LD(lam) / D;
    }
    if (oname == "binary_connect") {  // no prox; latent clipped to [-1, 1] (quantized groups)
      std::vector<LD> nw(N);
      for (size_t i = 0; i < N; ++i) nw[i] = bc_latent ? std::min<LD>(1, std::max<LD>(-1, z[i])) : z[i];
      for (size_t i = 0; i < N; ++i) scale[i] = std::max(std::fabs(z[i]), std::fabs(th[i]));
      expect_close(bc_latent ? st.buffers.at("latent") : p.detach(), nw, scale, "binary_connect/" + rname + " theta");
      if (bc_latent) {
        std::vector<LD> sg(N);
        for (size_t i = 0; i < N; ++i) sg[i] = nw[i] >= 0 ? 1 : -1;
        expect_close(p.detach(), sg, scale, "binary_connect/" + rname + " sign");
      }
      LD d2 = 0;
      for (size_t i = 0; i < N; ++i) d2 += (nw[i] - th[i]) * (nw[i] - th[i]);
      EXPECT_NEAR(opt->last_stats().dtheta_sq, double(d2), 1e-10 * double(d2) + 1e-300);
      return;
    }
  } else if (oname == "subgradient_sgd") {
    for (size_t i = 0; i < N; ++i) {
      const LD mi = g_[i] + LD(lam) * sub[i];  // momentum 0
      z[i] = th[i] - LD(0.1) * mi;             // lr 0.1
      tau[i] = 0;
    }
  } else if (oname == "prox_sgd") {
    const LD rho = LD(0.9) / std::sqrt(t + 4);
    eps = LD(0.5) / std::sqrt(t + 4);
    for (size_t i = 0; i < N; ++i) {
      const LD mi = (1 - rho) * m[i] + rho * g_[i];
      const LD vi = b2 * v[i] + (1 - b2) * g_[i] * g_[i];
      const LD D = std::sqrt(vi / (1 - std::pow(b2, t))) + delta;
      z[i] = th[i] - mi / D;
      tau[i] = LD(lam) / D;
    }
  } else {
    GTEST_SKIP() << "no reference written for optimizer '" << oname << "' (plugin?)";
  }
  for (size_t i = 0; i < N; ++i) scale[i] = std::max(std::fabs(z[i]), std::fabs(th[i]));
  std::vector<LD> x = subgrad ? z : (kind == RegKind::None ? z : prox_ref(*reg, z, tau));
  std::vector<LD> nw(N);
  for (size_t i = 0; i < N; ++i) nw[i] = eps == 1 ? x[i] : thw[i] + eps * (x[i] - thw[i]);
  expect_close(p.detach(), nw, scale, oname + "/" + rname + " theta");
  if (oname == "prox_sgd" && kind != RegKind::None) {
    auto xh = dynamic_cast<core::ProxParamState&>(*opt->state().begin()->second).buffers.at("x_hat");
    expect_close(xh, x, scale, "prox_sgd x_hat");
  }
  // Probes: ‖Δθ‖² and ‖g‖² from the fused pass.
  LD d2 = 0, g2 = 0;
  for (size_t i = 0; i < N; ++i) {
    d2 += (nw[i] - th[i]) * (nw[i] - th[i]);
    g2 += g_[i] * g_[i];
  }
  EXPECT_NEAR(opt->last_stats().dtheta_sq, double(d2), 1e-10 * double(d2) + 1e-300);
  EXPECT_NEAR(opt->last_stats().grad_sq, double(g2), 1e-12 * double(g2));
  EXPECT_EQ(opt->last_stats().step, 2);
}

std::string param_name(const ::testing::TestParamInfo<OptimStep::ParamType>& info) {
  return std::get<0>(info.param) + "_" + std::get<1>(info.param);
}

// The sparsity counts are probes the runner asks for on logged steps only (set_count_sparsity):
// turning them off must change nothing but the counts — θ bit for bit, the norms the conditions
// report needs on every step to rounding — and must report the counts as not measured (−1).
class CountSparsity : public ::testing::TestWithParam<std::string> {};

TEST_P(CountSparsity, OffChangesNothingButTheCounts) {
  const std::string oname = GetParam();
  if (oname.rfind("test_", 0) == 0) GTEST_SKIP() << "test-only optimizer";
  auto reg = core::make_regularizer("l1", core::OptionMap());
  struct Out {
    torch::Tensor theta;
    std::vector<core::StepStats> stats;
  };
  auto run = [&](bool count) {
    torch::manual_seed(77);
    auto p = torch::randn({3001}, torch::kFloat).requires_grad_(true);  // vector body and tail
    auto target = torch::randn({3001}, torch::kFloat);
    auto opt = core::make_optimizer(oname, {core::ParamGroupSpec{{p}, reg, 0.3}}, options_for(oname));
    opt->set_probes(true);
    opt->set_count_sparsity(count);
    Out o;
    for (int k = 0; k < 4; ++k) {
      opt->step([&] {
        torch::NoGradGuard ng;
        auto d = p.detach() - target;
        p.mutable_grad() = d.clone();
        return (0.5 * d * d).sum();
      });
      o.stats.push_back(opt->last_stats());
    }
    o.theta = p.detach().clone();
    return o;
  };
  const Out on = run(true), off = run(false);
  EXPECT_TRUE(torch::equal(on.theta, off.theta)) << oname;
  for (size_t k = 0; k < on.stats.size(); ++k) {
    const auto &a = on.stats[k], &b = off.stats[k];
    if (std::isnan(a.grad_sq)) continue;  // an optimizer without norm probes
    EXPECT_NEAR(a.grad_sq, b.grad_sq, 1e-6 * a.grad_sq) << oname << " step " << k;
    EXPECT_NEAR(a.dtheta_sq, b.dtheta_sq, 1e-6 * a.dtheta_sq + 1e-30) << oname << " step " << k;
    if (a.nnz >= 0) {
      EXPECT_EQ(b.nnz, -1) << oname;
      EXPECT_EQ(b.n_small, -1) << oname;
    }
  }
  const auto& last = on.stats.back();
  // (BinaryConnect counts its latent weights, and only tensors that get the prox are counted)
  if (last.nnz >= 0 && last.numel == on.theta.numel() && oname != "binary_connect")
    EXPECT_EQ(last.nnz, on.theta.ne(0).sum().item<int64_t>()) << oname;
}

INSTANTIATE_TEST_SUITE_P(Registries, CountSparsity, ::testing::ValuesIn(core::optimizer_registry().names()),
                         [](const auto& info) { return info.param; });

INSTANTIATE_TEST_SUITE_P(Registries, OptimStep,
                         ::testing::Combine(::testing::ValuesIn(core::optimizer_registry().names()),
                                            ::testing::ValuesIn(core::regularizer_registry().names())),
                         param_name);

}  // namespace
