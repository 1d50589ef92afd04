// float32 through the fused tensor path: no NaN/Inf over the standard range (τ, |z| in
// 1e-8..1e3) and the extended range (τ in 1e-30..1e3, |z| up to 1e8), and agreement with the same
// map in float64 on the float32-rounded inputs and parameters, away from thresholds (|z| not within
// 1e-4 relative of a threshold or knot, where the float32 decision is legitimately uncertain).
// Error measure: |x32 − x64| / (cond · scale). scale = |x64| for l0, l1, l1/2, l2/3 (a few ulp of x);
// scale = max(|x64|, |z|) for lq, W, MCP and SCAD, whose final step x = |z| − d cancels when x ≪ |z|
// (lq with q → 1 jumps to x_thr ≈ 2(1−q)/(2−q)·|z|; MCP/SCAD just above τλp), so only an
// absolute-in-|z| accuracy is meaningful there. cond = 1 except the MCP firm / SCAD middle branch
// amplification γ/|γ − τ| and (a−1)/|a−1−τ| (the map's own condition number in its parameters).
#include <gtest/gtest.h>

#include "prox_test_util.h"

namespace proxbench::test {
namespace {

struct F32Stats {
  int64_t n = 0, nonfinite = 0, compared = 0;
  double max_err = 0;
  std::string worst;
};

nlohmann::json round_params(const nlohmann::json& p) {
  nlohmann::json o = nlohmann::json::object();
  for (auto it = p.begin(); it != p.end(); ++it) o[it.key()] = double(float(it.value().get<double>()));
  return o;
}

F32Stats run_f32(const std::string& name, RegKind kind, bool extended, uint64_t seed) {
  Sampler smp(seed);
  if (extended) smp.tau_lo = 1e-30, smp.z_hi = 1e8;
  F32Stats st;
  const int batches = 100, per = 1000;
  for (int b = 0; b < batches; ++b) {
    auto params = round_params(smp.params(kind));
    auto reg = core::make_regularizer(name, core::OptionMap(params));
    const RegSpec s = reg->spec();
    std::vector<float> z32(per), t32(per);
    std::vector<double> z64(per), t64(per);
    for (int i = 0; i < per; ++i) {
      double z, t;
      smp.draw(s, z, t);
      z32[i] = float(z), t32[i] = float(t);
      z64[i] = z32[i], t64[i] = t32[i];
    }
    auto x32 = torch::from_blob(z32.data(), {per}, torch::kFloat).clone();
    auto x64 = torch::from_blob(z64.data(), {per}, torch::kDouble).clone();
    reg->prox_(x32, torch::from_blob(t32.data(), {per}, torch::kFloat));
    reg->prox_(x64, torch::from_blob(t64.data(), {per}, torch::kDouble));
    const float* a = x32.data_ptr<float>();
    const double* e = x64.data_ptr<double>();
    for (int i = 0; i < per; ++i) {
      ++st.n;
      if (!std::isfinite(a[i])) {
        ++st.nonfinite;
        continue;
      }
      const double az = std::fabs(z64[i]), tau = t64[i];
      bool near = false;
      // the W shape decides on w = |z| − 1, whose float32 resolution is ulp(1), not ulp(threshold)
      const double unit = kind == RegKind::BinaryQuant ? 1.0 : 0.0;
      for (double th : thresholds(s, tau)) near |= std::fabs(az - th) <= 1e-4 * std::max(th, unit);
      if (near) continue;
      double cond = 1, scale = std::fabs(e[i]);
      if (kind == RegKind::Lq || kind == RegKind::BinaryQuant) scale = std::max(scale, az);
      if (kind == RegKind::Mcp) {
        cond = std::max(1.0, s.gamma / std::fabs(s.gamma - tau));
        scale = std::max(scale, az);
      }
      if (kind == RegKind::Scad) {
        cond = std::max(1.0, (s.a - 1) / std::fabs(s.a - 1 - tau));
        scale = std::max(scale, az);
      }
      ++st.compared;
      const double err = std::fabs(double(a[i]) - e[i]);
      const double rel = err == 0 ? 0 : err / (cond * scale);
      if (rel > st.max_err) {
        st.max_err = rel;
        st.worst = reg->to_json().dump() + " z=" + format_double(z64[i]) + " tau=" + format_double(tau) +
                   " x32=" + format_double(a[i]) + " x64=" + format_double(e[i]);
      }
    }
  }
  return st;
}

class ProxFloat32 : public ::testing::TestWithParam<std::pair<std::string, RegKind>> {};

TEST_P(ProxFloat32, FiniteAndAgreesWithFloat64) {
  const auto& [name, kind] = GetParam();
  for (bool extended : {false, true}) {
    const auto st = run_f32(name, kind, extended, 0xf32 + 7 * uint64_t(kind) + extended);
    SCOPED_TRACE(std::string(extended ? "extended" : "standard") + " range");
    EXPECT_EQ(st.nonfinite, 0);
    EXPECT_GT(st.compared, st.n / 2);
    EXPECT_LE(st.max_err, 5e-7) << "worst: " << st.worst;
    std::printf("[float32] %-13s %-8s n=%lld nonfinite=%lld compared=%lld max_rel_err=%.3g\n", name.c_str(),
                extended ? "extended" : "standard", (long long)st.n, (long long)st.nonfinite, (long long)st.compared,
                st.max_err);
  }
}

INSTANTIATE_TEST_SUITE_P(AllSeparable, ProxFloat32, ::testing::ValuesIn(separable_regs()),
                         [](const auto& info) { return info.param.first; });

}  // namespace
}  // namespace proxbench::test

namespace proxbench::test {
namespace {

// The vectorizable exp2 / log2 behind the float32 general-q maps (core/prox_scalar.h) against libm,
// over their whole documented ranges: double 2^y to 5e-13 relative on y ∈ [−1000, 1000], log2 to
// 5e-12 absolute over normal doubles from 1e-300 to 1e300.
TEST(VecMath, Exp2Log2AgainstLibm) {
  double e_exp = 0, e_log = 0;
  for (int i = 0; i <= 200000; ++i) {
    const double y = -1000.0 + 2000.0 * i / 200000.0;
    e_exp = std::max(e_exp, std::fabs(core::scalar::exp2_vec(y) / std::exp2(y) - 1));
    const double x = std::pow(10.0, -300.0 + 600.0 * i / 200000.0);
    e_log = std::max(e_log, std::fabs(core::scalar::log2_vec(x) - std::log2(x)));
  }
  EXPECT_LE(e_exp, 5e-13);
  EXPECT_LE(e_log, 5e-12);
  EXPECT_EQ(core::scalar::exp2_vec(3.0), 8.0);
  EXPECT_EQ(core::scalar::log2_vec(0.0), -1023.0);  // documented: callers mask it
}

// The float32 general-q shrink at q = 1 (LqConst(1): β_thr = 1) is the soft threshold, and near
// q → 1 (q = 0.995, u_thr = 0.01) it still matches the float64 Newton map away from the threshold.
TEST(VecMath, GeneralQShrinkLimits) {
  const core::scalar::LqConst one(1.0);
  for (float a : {0.5f, 1.0f, 3.0f, 1e6f})
    for (float t : {0.1f, 0.49f, 2.0f, 7.0f}) {
      float d = -1;
      const bool nz = core::scalar::shrink_lq_vec(a, t, one, d);
      EXPECT_EQ(nz, a > t) << a << " " << t;
      if (nz) EXPECT_NEAR(d, t, 1e-6 * a) << a << " " << t;
    }
  const core::scalar::LqOp op(0.995);
  for (double z : {0.02, 0.05, 0.3, 1.0, 4.0, 100.0}) {
    const double tau = 0.01;
    const double x64 = op.prox(z, tau);
    const float x32 = op.prox(float(z), float(tau));
    EXPECT_NEAR(double(x32), x64, 5e-7 * z) << z;
  }
}

// The float32 lq map through the registry (visit_separable: the all-float shrink_lq_f32 up to
// kLqFloatMaxQ = 0.8, the double polynomial with its Halley step above) against the float64 Newton
// map on the same inputs, for q up to 1 − 1e-4, away from the threshold. Bounds: the documented
// accuracy of each path. All-float: 3e-7 of max(|x|, |z|) (measured worst 2.6e-7 at q = 0.8 over
// 400k draws; the float32 tolerance of every map is 5e-7). Double: 1.5e-7 (the measured worst is the
// output's own rounding, ≈ 6e-8; the polynomial alone at q = 0.999 errs by ≈ 6e-7, so this bound
// fails if that path loses its Halley step). Also: the one-entry fit caches give the same op.
TEST(VecMath, GeneralQFloat32AcrossQ) {
  std::mt19937_64 rng(0x1a9);
  std::uniform_real_distribution<double> uni(0, 1);
  for (double q : {0.02, 0.3, 0.5, 0.7, 0.8, 0.81, 0.9, 0.99, 0.995, 0.996, 0.999, 0.9999}) {
    auto reg = core::make_regularizer("lq", core::OptionMap(nlohmann::json{{"q", q}}));
    const int n = 20000;
    std::vector<float> z32(n), t32(n);
    std::vector<double> z64(n), t64(n);
    for (int i = 0; i < n; ++i) {
      const float t = float(std::pow(10.0, -8 + 9 * uni(rng)));
      const double zthr = lq_threshold(q, double(t));
      z32[i] = float(zthr * std::pow(10.0, -1 + 3 * uni(rng))) * (uni(rng) < 0.5 ? -1.0f : 1.0f);
      t32[i] = t, z64[i] = z32[i], t64[i] = t;
    }
    auto x32 = torch::from_blob(z32.data(), {n}, torch::kFloat).clone();
    auto x64 = torch::from_blob(z64.data(), {n}, torch::kDouble).clone();
    reg->prox_(x32, torch::from_blob(t32.data(), {n}, torch::kFloat));
    reg->prox_(x64, torch::from_blob(t64.data(), {n}, torch::kDouble));
    double worst = 0;
    int compared = 0;
    for (int i = 0; i < n; ++i) {
      const double az = std::fabs(z64[i]), zthr = lq_threshold(q, t64[i]);
      if (std::fabs(az - zthr) <= 1e-4 * zthr) continue;
      ++compared;
      const double e = x64.data_ptr<double>()[i], a = x32.data_ptr<float>()[i];
      ASSERT_TRUE(std::isfinite(a)) << "q=" << q << " z=" << z64[i] << " tau=" << t64[i];
      worst = std::max(worst, std::fabs(a - e) / std::max(az, std::fabs(e)));
    }
    EXPECT_GT(compared, n * 9 / 10) << q;
    EXPECT_LE(worst, q <= core::scalar::kLqFloatMaxQ ? 3e-7 : 1.5e-7) << "q=" << q;
    const core::scalar::LqConst c1(q), c2(0.4), c3(q);
    for (int j = 0; j <= core::scalar::kLqDeg; ++j) EXPECT_EQ(c1.p[j], c3.p[j]) << q;
    EXPECT_NE(c1.p[1], c2.p[1]);
    const core::scalar::LqConstF f1(q), f2(0.4), f3(q);
    for (int j = 0; j <= core::scalar::kLqFDegR; ++j) EXPECT_EQ(f1.r[j], f3.r[j]) << q;
    EXPECT_NE(f1.p[1], f2.p[1]);
  }
}

// The all-float general-q shrink at the edges of float32: subnormal |z| and τ (a subnormal |z| is
// normalized through its integer significand; τ enters by exact power-of-two scalings), τ = 0 and
// z = 0, huge τ and huge |z|, and τ whose scaled intermediates over- or underflow. Against the
// float64 Newton map on the same inputs: within 3e-7 of max(|x|, |z|) plus two subnormal ulps (the
// two roundings of d and x in the subnormal range are absolute), no NaN or Inf for finite inputs.
TEST(VecMath, GeneralQFloat32Edges) {
  std::mt19937_64 rng(0x5ab);
  std::uniform_real_distribution<double> uni(0, 1);
  const double tiny = std::numeric_limits<float>::denorm_min();
  for (double q : {0.05, 0.5, 0.8}) {
    const core::scalar::LqOpT<true> f32(q);
    const core::scalar::LqOp f64(q);
    int compared = 0, nonzero = 0;
    auto check = [&](float z, float t) {
      const float x = f32.prox(z, t);
      const double e = f64.prox(double(z), double(t));
      ASSERT_TRUE(std::isfinite(x)) << "q=" << q << " z=" << z << " tau=" << t;
      const double zthr = lq_threshold(q, double(t));
      if (t > 0 && std::fabs(std::fabs(double(z)) - zthr) <= 1e-4 * zthr) return;
      ++compared, nonzero += e != 0;
      EXPECT_LE(std::fabs(double(x) - e), 3e-7 * std::max(std::fabs(double(z)), std::fabs(e)) + 2 * tiny)
          << "q=" << q << " z=" << z << " tau=" << t << " x32=" << x << " x64=" << e;
    };
    for (int i = 0; i < 20000; ++i) {
      // τ from 1e-45 (subnormal) to 1e-30, |z| from 0.1 to 1000 thresholds (subnormal for small τ)
      const float t = float(std::pow(10.0, -45 + 15 * uni(rng)));
      if (t == 0) continue;
      const float z = float(lq_threshold(q, double(t)) * std::pow(10.0, -1 + 4 * uni(rng)));
      check(uni(rng) < 0.5 ? -z : z, t);
    }
    for (float z : {0.0f, -0.0f, 1e-45f, 1e-40f, 1e-38f, 1.0f, 3e38f, -3e38f})
      for (float t : {0.0f, 1e-45f, 1e-40f, 1e-38f, 1e-30f, 1.0f, 1e30f, 3e38f}) check(z, t);
    EXPECT_EQ(f32.prox(-2.5f, 0.0f), -2.5f);  // τ = 0 is the identity
    EXPECT_GT(compared, 15000) << q;
    EXPECT_GT(nonzero, compared / 2) << q;
  }
}

}  // namespace
}  // namespace proxbench::test
