// Group l2,1 prox (prox-reference.md §1(h)): per-coordinate τ checked by its duality certificate
// (dual max_{‖u‖≤1} u·z − ½Σ τ_i u_i², u_i = z_i/(s+τ_i)), the exact zero test Σ(z_i/τ_i)² ≤ 1,
// agreement with the block soft threshold when τ is equal (also through the Newton path with τ
// perturbed by one ulp), a negative control (the per-coordinate shortcut fails the certificate),
// and the tensor-level layouts rows / columns / whole for prox_, value and subgradient.
#include <gtest/gtest.h>

#include "core/kernels_cpu.h"
#include "optim_reference.h"
#include "prox_test_util.h"

namespace proxbench::test {
namespace {

double primal(const std::vector<double>& x, const std::vector<double>& z, const std::vector<double>& t) {
  double q = 0, n2 = 0;
  for (size_t i = 0; i < x.size(); ++i) q += (x[i] - z[i]) * (x[i] - z[i]) / (2 * t[i]), n2 += x[i] * x[i];
  return q + std::sqrt(n2);
}

/// Duality gap P(x) − D(u) with u_i = z_i/(s+τ_i) (s = ‖x‖; u = z/τ when x = 0), u scaled into the ball.
double gap(const std::vector<double>& x, const std::vector<double>& z, const std::vector<double>& t, double* pval) {
  double s = 0;
  for (double v : x) s += v * v;
  s = std::sqrt(s);
  std::vector<double> u(z.size());
  double nu = 0;
  for (size_t i = 0; i < z.size(); ++i) u[i] = z[i] / (s + t[i]), nu += u[i] * u[i];
  nu = std::sqrt(nu);
  double d = 0;
  for (size_t i = 0; i < z.size(); ++i) {
    const double ui = nu > 1 ? u[i] / nu : u[i];
    d += ui * z[i] - 0.5 * t[i] * ui * ui;
  }
  *pval = primal(x, z, t);
  return *pval - d;
}

struct Group {
  std::vector<double> z, t;
};

Group draw_group(Sampler& smp) {
  const int n = std::uniform_int_distribution<int>(1, 16)(smp.rng);
  Group g;
  const double t0 = smp.logu(1e-6, 1e2);
  const bool equal = smp.uni() < 0.15;
  for (int i = 0; i < n; ++i) {
    g.t.push_back(equal ? t0 : t0 * smp.logu(1, 1e6));
    g.z.push_back((smp.uni() < 0.5 ? -1 : 1) * smp.logu(1e-4, 1e2) * t0);
  }
  const double u = smp.uni();
  if (u < 0.15 || u > 0.5) {  // 15% within 1e-3..1e-12 of the zero threshold; 50% well inside or outside
    double zt2 = 0;
    for (int i = 0; i < n; ++i) zt2 += (g.z[i] / g.t[i]) * (g.z[i] / g.t[i]);
    const double target = u < 0.15 ? 1 + (smp.uni() < 0.5 ? -1 : 1) * smp.logu(1e-12, 1e-3) : smp.logu(1e-2, 1e2);
    for (double& v : g.z) v *= std::sqrt(target / zt2);
  }
  return g;
}

TEST(ProxGroup, DualityCertificateAndZeroTest) {
  Sampler smp(2024);
  int zero_groups = 0, n_groups = 20000;
  double max_gap = 0;
  for (int k = 0; k < n_groups; ++k) {
    auto g = draw_group(smp);
    auto x = g.z;
    core::group_l21_prox(x.data(), g.t.data(), false, int64_t(x.size()), 1);
    double p;
    const double gp = gap(x, g.z, g.t, &p);
    max_gap = std::max(max_gap, gp / p);
    ASSERT_LE(gp, 1e-12 * p) << "group " << k << " size " << x.size();
    double zt2 = 0;
    for (size_t i = 0; i < x.size(); ++i) zt2 += (g.z[i] / g.t[i]) * (g.z[i] / g.t[i]);
    bool all_zero = true;
    for (double v : x) all_zero &= v == 0;
    zero_groups += all_zero;
    if (zt2 < 1 - 1e-13) EXPECT_TRUE(all_zero) << "sum (z/tau)^2 = " << zt2;
    if (zt2 > 1 + 1e-9) EXPECT_FALSE(all_zero) << "sum (z/tau)^2 = " << zt2;
  }
  std::printf("[group] %d groups, %d zero, max relative duality gap %.3g\n", n_groups, zero_groups, max_gap);
  EXPECT_GT(zero_groups, n_groups / 10);
  EXPECT_LT(zero_groups, n_groups * 9 / 10);
}

/// group_l21_range (the per-ISA contiguous kernel of the fused step): Newton from group_l21_start,
/// stopped by kGroupStopRel's certificate, closing pass without division. Against the long-double
/// bisection reference, float64 and float32, on groups of 1 to 1000 members: the step's own regime
/// (τ = αλ/(√v+ε) with heavy-tailed 1/|g|, τ ≪ ‖z‖, where one Newton pass is typical), groups near
/// the zero threshold with τ over six decades (draw_group), and τ comparable to ‖z‖. Every
/// instruction set available gives the same bits. A negative control: x from the start alone (no
/// Newton) misses the float64 tolerance on the near-threshold groups.
TEST(ProxGroup, ContiguousKernelAgainstReference) {
  namespace kn = core::kernels;
  using Fn = void (*)(bool, void*, const void*, int64_t);
  std::vector<Fn> fns{&kn::isa_base::group_l21_range};
  if (kn::cpu_isa_available(kn::CpuIsa::Avx2)) fns.push_back(&kn::isa_avx2::group_l21_range);
  if (kn::cpu_isa_available(kn::CpuIsa::Avx512)) fns.push_back(&kn::isa_avx512::group_l21_range);
  // Every ISA's kernel on the group (z, t) rounded to T (the type of `zero`): x is the first one's
  // result, after checking that the others give its bits; ref is the reference of the rounded group.
  auto run_kernels = [&](auto zero, const std::vector<double>& z, const std::vector<double>& t,
                         std::vector<testref::LD>& ref, std::vector<double>& x) {
    using T = decltype(zero);
    const std::vector<T> zt(z.begin(), z.end()), tt(t.begin(), t.end());
    ref = testref::group_prox_ref(std::vector<testref::LD>(zt.begin(), zt.end()),
                                  std::vector<testref::LD>(tt.begin(), tt.end()));
    std::vector<T> first;
    for (size_t f = 0; f < fns.size(); ++f) {
      std::vector<T> y = zt;
      fns[f](std::is_same_v<T, double>, y.data(), tt.data(), int64_t(y.size()));
      if (f == 0)
        first = y;
      else
        ASSERT_EQ(0, std::memcmp(first.data(), y.data(), y.size() * sizeof(T))) << "isa " << f << " n " << y.size();
    }
    x.assign(first.begin(), first.end());
  };
  Sampler smp(77);
  std::normal_distribution<double> nrm(0, 1);
  double worst64 = 0, worst32 = 0, worst_start = 0;
  int64_t groups = 0;
  for (int regime = 0; regime < 3; ++regime) {
    for (int64_t n : {1, 3, 8, 13, 64, 129, 1000}) {
      for (int rep = 0; rep < (n >= 129 ? 20 : 200); ++rep) {
        std::vector<double> z(n), t(n);
        if (regime == 0) {  // the fused step's regime
          for (int64_t i = 0; i < n; ++i) {
            const double g = 0.01 * nrm(smp.rng);
            z[i] = 0.1 * nrm(smp.rng) - 1e-3 * (g > 0 ? 1 : -1);
            t[i] = 1e-7 / (std::fabs(g) + 1e-8);
          }
        } else if (regime == 1) {  // near the threshold, τ over six decades
          const Group g = draw_group(smp);
          z.resize(g.z.size()), t.resize(g.z.size());
          for (size_t i = 0; i < g.z.size(); ++i) z[i] = g.z[i], t[i] = g.t[i];
        } else {  // τ comparable to ‖z‖
          double nz = 0;
          for (int64_t i = 0; i < n; ++i) z[i] = nrm(smp.rng), nz += z[i] * z[i];
          for (int64_t i = 0; i < n; ++i) t[i] = std::sqrt(nz) * smp.logu(1e-3, 0.9) / std::sqrt(double(n));
        }
        const int64_t m = int64_t(z.size());
        ++groups;
        double zmax = 0;
        for (double v : z) zmax = std::max(zmax, std::fabs(v));
        // float64
        std::vector<testref::LD> ref, reff;
        std::vector<double> x, xf;
        ASSERT_NO_FATAL_FAILURE(run_kernels(0.0, z, t, ref, x));
        for (int64_t i = 0; i < m; ++i) {
          const double err = double(std::fabs(testref::LD(x[i]) - ref[i]));
          worst64 = std::max(worst64, err / zmax);
          ASSERT_LE(err, 1e-12 * zmax) << "regime " << regime << " n " << m << " member " << i;
        }
        // float32: the same group rounded to float, against its own reference
        ASSERT_NO_FATAL_FAILURE(run_kernels(0.0f, z, t, reff, xf));
        for (int64_t i = 0; i < m; ++i) {
          const double err = double(std::fabs(testref::LD(xf[i]) - reff[i]));
          const double tol = 1.2e-7 * double(std::fabs(reff[i])) + 1e-12 * zmax;  // one float ulp
          if (double(std::fabs(reff[i])) > 1e-6 * zmax) worst32 = std::max(worst32, err / double(std::fabs(reff[i])));
          ASSERT_LE(err, tol) << "regime " << regime << " n " << m << " member " << i;
        }
        // negative control: the start alone
        if (regime == 1 && ref[0] != 0) {
          double nz2 = 0, tz2 = 0, tmax = t[0], lo = 0;
          for (int64_t i = 0; i < m; ++i) {
            nz2 += z[i] * z[i], tz2 += z[i] * z[i] * t[i], tmax = std::max(tmax, t[i]);
            lo = std::max(lo, std::fabs(z[i]) - t[i]);
          }
          const double s0 = core::group_l21_start(std::sqrt(nz2), tz2 / nz2, tmax, lo);
          for (int64_t i = 0; i < m; ++i)
            worst_start =
                std::max(worst_start, double(std::fabs(testref::LD(z[i] * s0 / (s0 + t[i])) - ref[i])) / zmax);
        }
      }
    }
  }
  std::printf(
      "[group kernel] %lld groups, %zu ISAs: worst |x - ref| / max|z| %.3g (float64); worst relative %.3g "
      "(float32, members above 1e-6 max|z|); the start alone %.3g\n",
      static_cast<long long>(groups), fns.size(), worst64, worst32, worst_start);
  EXPECT_GT(worst_start, 1e-6);  // the negative control fails the 1e-12 bound by far
}

TEST(ProxGroup, EqualTauIsBlockSoftThreshold) {
  Sampler smp(7);
  for (int k = 0; k < 3000; ++k) {
    auto g = draw_group(smp);
    const double t = g.t[0];
    double nz = 0;
    for (double v : g.z) nz += v * v;
    nz = std::sqrt(nz);
    std::vector<double> ref(g.z.size());
    for (size_t i = 0; i < g.z.size(); ++i) ref[i] = nz > t ? (1 - t / nz) * g.z[i] : 0.0;
    auto x1 = g.z;
    core::group_l21_prox(x1.data(), &t, true, int64_t(x1.size()), 1);
    // τ perturbed by one ulp on one coordinate: the per-coordinate Newton path must agree
    std::vector<double> tp(g.z.size(), t);
    tp[0] = std::nextafter(t, INFINITY);
    auto x2 = g.z;
    if (g.z.size() > 1) core::group_l21_prox(x2.data(), tp.data(), false, int64_t(x2.size()), 1);
    for (size_t i = 0; i < g.z.size(); ++i) {
      EXPECT_NEAR(x1[i], ref[i], 1e-14 * nz);
      if (g.z.size() > 1) EXPECT_NEAR(x2[i], ref[i], 1e-12 * nz) << "group " << k;
    }
  }
}

TEST(ProxGroup, NegativeControlShortcutFailsCertificate) {
  // Wrong: x_i = z_i (1 − τ_i/‖z‖)₊ with per-coordinate τ.
  Sampler smp(99);
  int tested = 0, fails = 0;
  for (int k = 0; k < 5000; ++k) {
    auto g = draw_group(smp);
    if (g.z.size() < 2 || g.t[0] == g.t[1]) continue;
    ++tested;
    double nz = 0;
    for (double v : g.z) nz += v * v;
    nz = std::sqrt(nz);
    auto x = g.z;
    for (size_t i = 0; i < x.size(); ++i) x[i] *= std::max(0.0, 1 - g.t[i] / nz);
    double p;
    fails += gap(x, g.z, g.t, &p) > 1e-9 * p;
  }
  std::printf("[group negative control] shortcut fails %d of %d non-uniform groups\n", fails, tested);
  EXPECT_GT(fails, tested / 4);
}

TEST(ProxGroup, ZeroTauReturnsZ) {
  std::vector<double> z = {1.5, -2, 0, 3e-9}, t(4, 0.0);
  auto x = z;
  core::group_l21_prox(x.data(), t.data(), false, 4, 1);
  EXPECT_EQ(x, z);
  t = {0, 1, 2, 0};
  x = z;
  core::group_l21_prox(x.data(), t.data(), false, 4, 1);
  for (double v : x) EXPECT_TRUE(std::isfinite(v));
}

/// Reference: gathers group members with torch indexing, runs the scalar group prox, scatters back.
torch::Tensor reference_layout(torch::Tensor z, torch::Tensor tau, const std::string& layout) {
  auto out = z.clone();
  std::vector<torch::Tensor> groups_z, groups_t;
  if (layout == "whole") {
    groups_z = {out.view(-1)};
    groups_t = {tau.reshape(-1)};
  } else if (layout == "rows") {
    for (int64_t i = 0; i < z.size(0); ++i) groups_z.push_back(out[i]), groups_t.push_back(tau[i]);
  } else {
    for (int64_t j = 0; j < z.size(1); ++j) groups_z.push_back(out.select(1, j)), groups_t.push_back(tau.select(1, j));
  }
  for (size_t g = 0; g < groups_z.size(); ++g) {
    auto zc = groups_z[g].contiguous();
    auto tc = groups_t[g].contiguous();
    core::group_l21_prox(zc.data_ptr<double>(), tc.data_ptr<double>(), false, zc.numel(), 1);
    groups_z[g].copy_(zc.view_as(groups_z[g]));
  }
  return out;
}

TEST(ProxGroup, TensorLayouts) {
  torch::manual_seed(3);
  for (const std::string layout : {"rows", "columns", "whole"}) {
    SCOPED_TRACE(layout);
    auto reg = core::make_regularizer("group_l21", core::OptionMap(nlohmann::json{{"layout", layout}}));
    EXPECT_FALSE(reg->separable());
    EXPECT_TRUE(reg->convex());
    for (auto shape : std::vector<std::vector<int64_t>>{{5, 4}, {4, 3, 2, 2}}) {
      auto z = torch::randn(shape, torch::kDouble);
      auto tau = torch::rand(shape, torch::kDouble) * 2 + 0.05;
      auto expect = reference_layout(z, tau, layout);
      auto x = z.clone();
      reg->prox_(x, tau);
      EXPECT_TRUE(torch::allclose(x, expect, 1e-13, 1e-15)) << (x - expect).abs().max().item<double>();
      // value: Σ_g ‖x_g‖
      double ref_val = 0;
      if (layout == "whole")
        ref_val = z.norm().item<double>();
      else if (layout == "rows")
        ref_val = z.reshape({z.size(0), -1}).norm(2, 1).sum().item<double>();
      else
        ref_val = z.transpose(0, 1).reshape({z.size(1), -1}).norm(2, 1).sum().item<double>();
      EXPECT_NEAR(reg->value(z), ref_val, 1e-12 * ref_val);
      // subgradient x_g/‖x_g‖
      auto g = torch::empty_like(z);
      reg->subgradient(z, g);
      torch::Tensor gref;
      if (layout == "whole")
        gref = z / z.norm();
      else if (layout == "rows") {
        std::vector<int64_t> s(z.dim(), 1);
        s[0] = z.size(0);
        gref = z / z.reshape({z.size(0), -1}).norm(2, 1).reshape(s);
      } else {
        std::vector<int64_t> s(z.dim(), 1);
        s[1] = z.size(1);
        gref = z / z.transpose(0, 1).reshape({z.size(1), -1}).norm(2, 1).reshape(s);
      }
      EXPECT_TRUE(torch::allclose(g, gref, 1e-13, 1e-15));
      // common scalar τ = block soft threshold per group
      auto xc = z.clone();
      reg->prox_(xc, 0.7);
      auto tc = torch::full(shape, 0.7, torch::kDouble);
      EXPECT_TRUE(torch::allclose(xc, reference_layout(z, tc, layout), 1e-13, 1e-15));
      // float32 tensors, same layout, no NaN and close to float64
      auto x32 = z.to(torch::kFloat);
      reg->prox_(x32, tau.to(torch::kFloat));
      EXPECT_TRUE(torch::isfinite(x32).all().item<bool>());
      EXPECT_TRUE(torch::allclose(x32.to(torch::kDouble), expect, 1e-5, 1e-6));
    }
  }
}

TEST(ProxGroup, LayoutsZeroSomeGroups) {
  auto reg = core::make_regularizer("group_l21", core::OptionMap(nlohmann::json{{"layout", "rows"}}));
  auto z = torch::tensor({{3.0, 4.0}, {0.3, 0.4}, {-1.0, 0.0}}, torch::kDouble);
  reg->prox_(z, 1.0);
  auto expect = torch::tensor({{2.4, 3.2}, {0.0, 0.0}, {0.0, 0.0}}, torch::kDouble);
  EXPECT_TRUE(torch::allclose(z, expect, 1e-15, 1e-15)) << z;
}

}  // namespace
}  // namespace proxbench::test
