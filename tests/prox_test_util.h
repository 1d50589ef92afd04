// Shared helpers of the regularizer tests: an independent brute-force prox oracle, reference
// penalty values written from the definitions (prox-reference.md §0, not from core/prox_scalar.h),
// and the sampler of (z, τ, parameters) used by the oracle and float32 tests.
#pragma once
#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "core/regularizer.h"

namespace proxbench::test {

using core::RegKind;
using core::RegSpec;

/// r(x) straight from the definitions (prox-reference.md §0).
inline double r_ref(const RegSpec& s, double x) {
  const double ax = std::fabs(x);
  switch (s.kind) {
    case RegKind::None: return 0;
    case RegKind::L0: return x != 0 ? 1 : 0;
    case RegKind::L1: return ax;
    case RegKind::L12: return std::sqrt(ax);
    case RegKind::L23: return std::pow(ax, 2.0 / 3.0);
    case RegKind::Lq: return std::pow(ax, s.q);
    case RegKind::Mcp: {
      const double l = s.lam_p, g = s.gamma;
      return ax <= g * l ? l * ax - x * x / (2 * g) : g * l * l / 2;
    }
    case RegKind::Scad: {
      const double l = s.lam_p, a = s.a;
      if (ax <= l) return l * ax;
      if (ax <= a * l) return (2 * a * l * ax - x * x - l * l) / (2 * (a - 1));
      return (a + 1) * l * l / 2;
    }
    case RegKind::BinaryQuant: return std::pow(std::fabs(ax - 1), s.q);
    default: return std::numeric_limits<double>::quiet_NaN();
  }
}

/// F(x) = ½(x − z)² + τ r(x); both terms are ≥ 0 (no cancellation).
inline double objective(const RegSpec& s, double z, double tau, double x) {
  const double d = x - z;
  return 0.5 * d * d + tau * r_ref(s, x);
}

/// Brute-force minimizer of F, written without any closed form: explicit candidates (0, z, ±1 and
/// the MCP/SCAD knots ±λp, ±aλp, ±γλp) first, then a uniform grid of `grid` points over an interval
/// that provably contains the minimizer ([min(0,z), max(0,z)]; [−|z|−1, |z|+1] for the W shape),
/// then golden-section refinement of the `refine` best grid-local minima over their neighbour
/// bracket. Returns the smallest objective found (and its argument in *xbest).
inline double oracle_min(const RegSpec& s, double z, double tau, double* xbest = nullptr, int grid = 200,
                         int refine = 3, int golden_steps = 80) {
  double best = std::numeric_limits<double>::infinity(), bx = 0;
  auto consider = [&](double x) {
    const double f = objective(s, z, tau, x);
    if (f < best) best = f, bx = x;
  };
  std::vector<double> cands = {0.0, z, 1.0, -1.0};
  if (s.kind == RegKind::Mcp) cands.insert(cands.end(), {s.lam_p, -s.lam_p, s.gamma * s.lam_p, -s.gamma * s.lam_p});
  if (s.kind == RegKind::Scad) cands.insert(cands.end(), {s.lam_p, -s.lam_p, s.a * s.lam_p, -s.a * s.lam_p});
  for (double c : cands) consider(c);
  double lo = std::min(0.0, z), hi = std::max(0.0, z);
  if (s.kind == RegKind::BinaryQuant) lo = -std::fabs(z) - 1, hi = std::fabs(z) + 1;
  if (hi <= lo) {
    if (xbest) *xbest = bx;
    return best;
  }
  std::vector<double> xs(grid), fs(grid);
  for (int i = 0; i < grid; ++i) {
    xs[i] = i == grid - 1 ? hi : lo + (hi - lo) * (double(i) / (grid - 1));
    fs[i] = objective(s, z, tau, xs[i]);
    if (fs[i] < best) best = fs[i], bx = xs[i];
  }
  std::vector<int> mins;
  for (int i = 0; i < grid; ++i)
    if ((i == 0 || fs[i] <= fs[i - 1]) && (i == grid - 1 || fs[i] <= fs[i + 1])) mins.push_back(i);
  std::sort(mins.begin(), mins.end(), [&](int a, int b) { return fs[a] < fs[b]; });
  if (int(mins.size()) > refine) mins.resize(refine);
  const double g = (std::sqrt(5.0) - 1) / 2;
  for (int i : mins) {
    double a = xs[std::max(0, i - 1)], b = xs[std::min(grid - 1, i + 1)];
    double c = b - g * (b - a), d = a + g * (b - a);
    double fc = objective(s, z, tau, c), fd = objective(s, z, tau, d);
    for (int k = 0; k < golden_steps; ++k) {
      if (fc <= fd) {
        b = d, d = c, fd = fc;
        c = b - g * (b - a);
        fc = objective(s, z, tau, c);
      } else {
        a = c, c = d, fc = fd;
        d = a + g * (b - a);
        fd = objective(s, z, tau, d);
      }
    }
    consider(c);
    consider(d);
  }
  if (xbest) *xbest = bx;
  return best;
}

/// The l_q threshold on |z| (0 < q < 1) and soft (q = 1): prox-reference.md §1(c)-(e).
inline double lq_threshold(double q, double tau) {
  if (q == 1.0) return tau;
  if (q == 0.5) return 1.5 * std::cbrt(tau) * std::cbrt(tau);
  if (q == 2.0 / 3.0) return 2 * std::pow(2 * tau / 3, 0.75);
  return (2 - q) / (2 * (1 - q)) * std::pow(2 * tau * (1 - q), 1 / (2 - q));
}

/// Points on |z| where the map jumps or has a kink (where the sampler concentrates).
inline std::vector<double> thresholds(const RegSpec& s, double tau) {
  switch (s.kind) {
    case RegKind::L0: return {std::sqrt(2 * tau)};
    case RegKind::L1: return {tau};
    case RegKind::L12: return {lq_threshold(0.5, tau)};
    case RegKind::L23: return {lq_threshold(2.0 / 3.0, tau)};
    case RegKind::Lq: return {lq_threshold(s.q, tau)};
    case RegKind::Mcp:
      if (tau < s.gamma) return {tau * s.lam_p, s.gamma * s.lam_p};
      return {s.lam_p * std::sqrt(tau * s.gamma)};
    case RegKind::Scad:
      if (tau < s.a - 1) return {tau * s.lam_p, (1 + tau) * s.lam_p, s.a * s.lam_p};
      return {tau * s.lam_p, tau < s.a + 1 ? s.lam_p * (s.a + 1 + tau) / 2 : s.lam_p * std::sqrt(tau * (s.a + 1))};
    case RegKind::BinaryQuant: {
      const double t = lq_threshold(s.q, tau);
      std::vector<double> v = {1 + t};
      if (1 - t > 0) v.push_back(1 - t);
      return v;
    }
    default: return {1.0};
  }
}

/// Sampler of prox-reference.md §3: τ log-uniform on [tau_lo, tau_hi]; z: 40% log-uniform |z| on
/// [z_lo, z_hi], 25% log-normal around a threshold, 15% within 1e-3..1e-13 relative of one, 15%
/// exactly at a threshold or one ulp either side, 5% far above (2×–1e4×); random sign.
/// For the W shape 1% exact zeros.
struct Sampler {
  std::mt19937_64 rng;
  double tau_lo = 1e-8, tau_hi = 1e3, z_lo = 1e-8, z_hi = 1e3;
  explicit Sampler(uint64_t seed) : rng(seed) {}
  double uni() { return std::uniform_real_distribution<double>(0, 1)(rng); }
  double logu(double lo, double hi) { return std::exp(std::log(lo) + uni() * (std::log(hi) - std::log(lo))); }
  void draw(const RegSpec& s, double& z, double& tau) {
    tau = logu(tau_lo, tau_hi);
    const auto th = thresholds(s, tau);
    const double t = th[std::uniform_int_distribution<size_t>(0, th.size() - 1)(rng)];
    const double u = uni();
    double az;
    if (u < 0.40) {
      az = logu(z_lo, z_hi);
    } else if (u < 0.65) {
      az = t * std::exp(0.7 * std::normal_distribution<double>(0, 1)(rng));
    } else if (u < 0.80) {
      az = t * (1 + (uni() < 0.5 ? -1 : 1) * logu(1e-13, 1e-3));
    } else if (u < 0.95) {
      const int k = std::uniform_int_distribution<int>(0, 2)(rng);
      az = k == 0 ? t : (k == 1 ? std::nextafter(t, 0.0) : std::nextafter(t, INFINITY));
    } else {
      az = t * logu(2, 1e4);
    }
    if (s.kind == RegKind::BinaryQuant && uni() < 0.01) az = 0;
    z = uni() < 0.5 ? -az : az;
  }
  /// Random parameters over the ranges of prox-reference.md §3.
  nlohmann::json params(RegKind k) {
    nlohmann::json p = nlohmann::json::object();
    static const double qs[] = {0.05, 0.1, 0.25, 1.0 / 3, 0.5, 2.0 / 3, 0.75, 0.9, 0.99};
    if (k == RegKind::Lq) p["q"] = uni() < 0.5 ? 0.02 + 0.96 * uni() : qs[std::uniform_int_distribution<int>(0, 8)(rng)];
    if (k == RegKind::Mcp) p["lam_p"] = logu(1e-3, 10), p["gamma"] = logu(1e-3, 3e2);
    if (k == RegKind::Scad) p["lam_p"] = logu(1e-3, 10), p["a"] = 2 + logu(0.01, 100);
    if (k == RegKind::BinaryQuant) {
      const double u = uni();
      p["q"] = u < 0.3 ? 1.0 : (u < 0.5 ? 0.5 : (u < 0.7 ? 2.0 / 3 : 0.05 + 0.95 * uni()));
    }
    return p;
  }
};

/// Registered name of each separable built-in kind.
inline std::vector<std::pair<std::string, RegKind>> separable_regs() {
  return {{"none", RegKind::None}, {"l0", RegKind::L0},   {"l1", RegKind::L1},
          {"l12", RegKind::L12},   {"l23", RegKind::L23}, {"lq", RegKind::Lq},
          {"mcp", RegKind::Mcp},   {"scad", RegKind::Scad}, {"binary_quant", RegKind::BinaryQuant}};
}

}  // namespace proxbench::test
