// Independent long-double references for the optimizer tests: the per-coordinate prox subproblem
// min_x ½(x − z)² + τ r(x) solved by brute force (grid over the interval that holds the minimizer,
// every local minimum polished by bisection on the derivative of the smooth pieces, kinks added as
// candidates, best objective wins, ties → smaller magnitude), and the group l2,1 prox with
// per-coordinate τ by bisection on its secular equation. Nothing here calls proxbench's scalar ops.
#pragma once
#include <cmath>
#include <vector>

#include "core/prox_scalar.h"

namespace proxbench::testref {

using LD = long double;

inline LD sgn(LD x) { return x > 0 ? 1 : (x < 0 ? -1 : 0); }

/// r(x) from prox-reference.md §0 (penalty values), written from the formulas.
inline LD r_value(const core::RegSpec& s, LD x) {
  using core::RegKind;
  const LD ax = std::fabs(x), lp = s.lam_p, q = s.q;
  switch (s.kind) {
    case RegKind::None: return 0;
    case RegKind::L1: return ax;
    case RegKind::L0: return x != 0 ? 1 : 0;
    case RegKind::L12: return std::sqrt(ax);
    case RegKind::L23: return std::pow(ax, LD(2) / 3);
    case RegKind::Lq: return ax == 0 ? 0 : std::pow(ax, q);
    case RegKind::Mcp: {
      const LD g = s.gamma;
      return ax <= g * lp ? lp * ax - x * x / (2 * g) : g * lp * lp / 2;
    }
    case RegKind::Scad: {
      const LD a = s.a;
      if (ax <= lp) return lp * ax;
      if (ax <= a * lp) return (2 * a * lp * ax - x * x - lp * lp) / (2 * (a - 1));
      return (a + 1) * lp * lp / 2;
    }
    case RegKind::BinaryQuant: {
      LD d = std::fabs(ax - 1);
      return d == 0 ? 0 : std::pow(d, q);
    }
    default: return 0;
  }
}

/// r'(x) on the smooth pieces (x ≠ 0 and off the kinks).
inline LD r_deriv(const core::RegSpec& s, LD x) {
  using core::RegKind;
  const LD ax = std::fabs(x), lp = s.lam_p, q = s.q, sg = sgn(x);
  switch (s.kind) {
    case RegKind::L1: return sg;
    case RegKind::L12: return sg * LD(0.5) / std::sqrt(ax);
    case RegKind::L23: return sg * (LD(2) / 3) * std::pow(ax, LD(-1) / 3);
    case RegKind::Lq: return sg * q * std::pow(ax, q - 1);
    case RegKind::Mcp: return ax <= s.gamma * lp ? sg * (lp - ax / LD(s.gamma)) : 0;
    case RegKind::Scad: {
      const LD a = s.a;
      if (ax <= lp) return sg * lp;
      if (ax <= a * lp) return sg * (a * lp - ax) / (a - 1);
      return 0;
    }
    case RegKind::BinaryQuant: {
      LD d = ax - 1;
      return d == 0 ? 0 : sg * sgn(d) * q * std::pow(std::fabs(d), q - 1);
    }
    default: return 0;
  }
}

/// argmin_x ½(x − z)² + τ r(x) by brute force.
inline LD prox_brute(const core::RegSpec& s, LD z, LD tau) {
  using core::RegKind;
  if (s.kind == RegKind::None || tau == 0) return z;
  auto h = [&](LD x) { return LD(0.5) * (x - z) * (x - z) + tau * r_value(s, x); };
  auto dh = [&](LD x) { return x - z + tau * r_deriv(s, x); };
  std::vector<LD> cand = {0, z};
  const LD lp = s.lam_p;
  if (s.kind == RegKind::BinaryQuant) cand.insert(cand.end(), {1, -1});
  if (s.kind == RegKind::Mcp) cand.insert(cand.end(), {LD(s.gamma) * lp, -LD(s.gamma) * lp});
  if (s.kind == RegKind::Scad) cand.insert(cand.end(), {lp, -lp, LD(s.a) * lp, -LD(s.a) * lp});
  LD lo = std::min<LD>(0, z), hi = std::max<LD>(0, z);
  if (s.kind == RegKind::BinaryQuant) {
    lo = -std::fabs(z) - 1;
    hi = std::fabs(z) + 1;
  }
  if (s.kind != RegKind::L0) {
    const int N = 2000;
    std::vector<LD> knots = {0};
    for (size_t i = 2; i < cand.size(); ++i) knots.push_back(cand[i]);
    for (int k = 0; k < N; ++k) {
      LD a = lo + (hi - lo) * k / N, b = lo + (hi - lo) * (k + 1) / N;
      // keep each cell inside one smooth piece: split at knots
      std::vector<LD> pts = {a};
      for (LD kn : knots)
        if (kn > a && kn < b) pts.push_back(kn);
      pts.push_back(b);
      std::sort(pts.begin(), pts.end());
      for (size_t j = 0; j + 1 < pts.size(); ++j) {
        LD u = pts[j], w = pts[j + 1];
        LD eu = u == 0 ? u + (w - u) * LD(1e-30) : u, ew = w == 0 ? w - (w - u) * LD(1e-30) : w;
        LD du = dh(eu), dw = dh(ew);
        if (du < 0 && dw > 0) {  // a local minimum inside (u, w): bisection on h'
          LD l = eu, r = ew;
          for (int it = 0; it < 200 && r > l; ++it) {
            LD mid = l + (r - l) / 2;
            if (mid == l || mid == r) break;
            (dh(mid) < 0 ? l : r) = mid;
          }
          cand.push_back(l);
          cand.push_back(r);
        }
      }
    }
  }
  LD best = cand[0], hb = h(best);
  for (LD c : cand) {
    LD hc = h(c);
    if (hc < hb || (hc == hb && std::fabs(c) < std::fabs(best))) {
      best = c;
      hb = hc;
    }
  }
  return best;
}

/// Group prox: argmin_x Σ (x_i − z_i)²/(2τ_i) + ‖x‖₂ (x_i = z_i s/(s + τ_i), s = ‖x‖ solving
/// Σ z_i²/(s + τ_i)² = 1; x = 0 when Σ (z_i/τ_i)² ≤ 1).
inline std::vector<LD> group_prox_ref(const std::vector<LD>& z, const std::vector<LD>& tau) {
  LD t0 = 0, zn = 0;
  for (size_t i = 0; i < z.size(); ++i) {
    t0 += (z[i] / tau[i]) * (z[i] / tau[i]);
    zn += z[i] * z[i];
  }
  std::vector<LD> x(z.size(), 0);
  if (t0 <= 1) return x;
  LD l = 0, r = std::sqrt(zn);
  for (int it = 0; it < 300; ++it) {
    LD m = (l + r) / 2, phi = 0;
    for (size_t i = 0; i < z.size(); ++i) phi += z[i] * z[i] / ((m + tau[i]) * (m + tau[i]));
    (phi > 1 ? l : r) = m;
  }
  LD sN = (l + r) / 2;
  for (size_t i = 0; i < z.size(); ++i) x[i] = z[i] * sN / (sN + tau[i]);
  return x;
}

}  // namespace proxbench::testref
