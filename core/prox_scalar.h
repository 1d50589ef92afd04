// Scalar proximal maps, values and subgradients of every separable regularizer of proxbench,
// written once and callable from host code and CUDA device code (PB_HD = __host__ __device__
// under nvcc). Each map solves, for one coordinate,
//
//     prox_{τ r}(z) = argmin_x  ½ (x − z)² + τ r(x),        τ ≥ 0,
//
// in the ½-scaled convention (λ_Xu = λ_Cao = 2τ). Ties at a jump threshold return the solution of
// smaller magnitude (0 for l0/lq/MCP/SCAD; the quantized ±1 for the W-shaped family); at z = 0 the
// W-shaped family returns +x* (sign(0) := +1). τ = 0 returns z for every map.
//
// The per-coordinate τ_i = α λ / (C_i + δ) is how ProxGen's diagonal preconditioner enters
// (ProxGen paper, eq. (3)–(4)): a diagonal-preconditioned prox of a separable r is this scalar map
// applied coordinate-wise with its own τ_i.
//
// Each op is a small struct with the parameters of the regularizer and three member templates:
//   T prox(T z, T tau) const;   T value(T x) const;   T subgrad(T x) const;
// so fused loops (core/kernels.h) can be templated on the op and inlined.
#pragma once
#include <cmath>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "core/common.h"

namespace proxbench::core {

/// Which regularizer a RegSpec describes. `Custom` is a plugin regularizer (no scalar op; the
/// optimizers fall back to the virtual tensor-level Regularizer::prox_).
enum class RegKind : int32_t { None, L0, L1, L12, L23, Lq, Mcp, Scad, BinaryQuant, GroupL21, Custom };

/// Plain-old-data description of a regularizer: what a CPU loop or a CUDA kernel needs.
struct RegSpec {
  RegKind kind = RegKind::None;
  double q = 1.0;      ///< exponent: lq (0<q<1), W-shaped (0<q<=1)
  double lam_p = 1.0;  ///< MCP / SCAD inner λ (the penalty's own scale, λp in prox-reference.md)
  double gamma = 3.0;  ///< MCP concavity γ > 0
  double a = 3.7;      ///< SCAD a > 2 (Fan & Li's default 3.7)
  /// l1/2 only, 0 = the exact map. > 0: the ProxGen authors' code (AdamL12): the trigonometric
  /// half-thresholding with |z| + l12_shift inside the arccos for every kept weight (their 1e-4,
  /// a bias; reference-implementations.md). Set by an optimizer (proxgen form: authors), never by
  /// the regularizer's own options.
  double l12_shift = 0.0;
};

namespace scalar {

/// |mag| with the sign bit of z (bit operation, branch-free; callers pass mag ≥ 0).
template <class T>
PB_INLINE T copysign_(T mag, T z) {
  return std::copysign(mag, z);
}

/// Inlining of the generic map cores below: forced on the host (the lockstep vector forms, several
/// hundred instructions, were otherwise left as calls inside the fused loops); PB_INLINE on CUDA.
#if defined(__CUDACC__) || !(defined(__GNUC__) || defined(__clang__))
#define PB_CORE_INLINE PB_INLINE
#else
#define PB_CORE_INLINE inline __attribute__((always_inline))
#endif

/// One float32 coordinate as a "lane set" of the generic map cores (l23_f32_core, lq_f32_core):
/// masks are bool, bit casts go through memcpy. core/kernels_lanes.h has the vector lane sets (K
/// native vectors of the instruction set in lockstep) with the same static members, so each core
/// is written once and its scalar and vector forms perform the same IEEE operations in the same
/// order: the same bits.
struct ScalarLanes {
  using F = float;
  using I = int32_t;
  using U = uint32_t;
  PB_INLINE static U bits(F x) {
    U u;
    memcpy(&u, &x, sizeof u);
    return u;
  }
  PB_INLINE static F from_bits(U u) {
    F x;
    memcpy(&x, &u, sizeof x);
    return x;
  }
  PB_INLINE static I u2i(U u) { return I(u); }  ///< same bits for u < 2^31, the only use
  PB_INLINE static U i2u(I i) { return U(i); }
  PB_INLINE static F to_f(I i) { return F(i); }  ///< value conversion (rounds)
  PB_INLINE static I to_i(F x) { return I(x); }  ///< value conversion (truncates)
  PB_INLINE static F sqrt(F x) { return std::sqrt(x); }
  PB_INLINE static F f(float s) { return s; }  ///< broadcast
  PB_INLINE static I i(int32_t s) { return s; }
  template <class T>
  PB_INLINE static T sel(bool m, T a, T b) {
    return m ? a : b;
  }
};

/// r(x) = 0.
struct NoneOp {
  template <class T>
  PB_INLINE T prox(T z, T) const {
    return z;
  }
  template <class T>
  PB_INLINE T value(T) const {
    return T(0);
  }
  template <class T>
  PB_INLINE T subgrad(T) const {
    return T(0);
  }
};

/// r(x) = |x|: soft thresholding x = sign(z) max(|z| − τ, 0). Subgradient: sign(x), 0 at 0.
struct L1Op {
  // Branch-free (a select), so fused loops vectorize; thresholded values are +0.
  template <class T>
  PB_INLINE T prox(T z, T tau) const {
    const T m = std::fabs(z) - tau;
    const T x = copysign_(m, z);
    return m > T(0) ? x : T(0);  // select, not a branch
  }
  template <class T>
  PB_INLINE T value(T x) const {
    return std::fabs(x);
  }
  template <class T>
  PB_INLINE T subgrad(T x) const {
    return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0));
  }
};

/// r(x) = [x ≠ 0]: hard thresholding, x = z if |z| > sqrt(2τ) else 0 (tie → 0).
/// Has no subgradient (subgrad returns 0; Regularizer::has_subgradient() is false).
struct L0Op {
  template <class T>
  PB_INLINE T prox(T z, T tau) const {
    return std::fabs(z) > std::sqrt(T(2) * tau) ? z : T(0);
  }
  template <class T>
  PB_INLINE T value(T x) const {
    return x != T(0) ? T(1) : T(0);
  }
  template <class T>
  PB_INLINE T subgrad(T) const {
    return T(0);
  }
};

// ------------------------------------------------------------------------------------------------
// Building blocks shared by the l_q family and the W-shaped family.
//
// Each `shrink_*` solves the magnitude problem  min_{y>=0} ½(y − a)² + τ y^q  for a = |z| ≥ 0 and
// τ > 0. It returns false when the minimizer is 0 (a ≤ analytic threshold; ties → 0) and otherwise
// true with the shrink d > 0 such that the minimizer is y = a − d. Returning the shrink rather
// than y lets callers form the final value as one subtraction `a − d` (the float32-safe "shrink
// form" of prox-reference.md §2 item 4), and lets the W-shaped map write x = s·(|z| ∓ d) without
// the cancellation of 1 + u (§1(i)).
// ------------------------------------------------------------------------------------------------

template <class T>
PB_INLINE T max_(T a, T b) {
  return a < b ? b : a;
}
template <class T>
PB_INLINE T min_(T a, T b) {
  return b < a ? b : a;
}

/// Floor on |x| (resp. ||x| − 1|) used by the subgradients of the non-Lipschitz penalties
/// (l1/2, l2/3, lq, W with q < 1): q·max(|x|, kSubgradEps)^{q−1}. Bounds the subgradient by
/// q·1e-8^{q−1} (5e3 for q = 1/2).
constexpr double kSubgradEps = 1e-8;

/// Newton iteration cap of the l_q and group solvers (observed max 9–10, prox-reference.md §2.8).
constexpr int kNewtonCap = 40;

/// l1: y = a − τ for a > τ (soft threshold, Donoho).
template <class T>
PB_INLINE bool shrink_l1(T a, T tau, T& d) {
  d = tau;
  return a > tau;
}

/// l_{1/2} half thresholding (Xu, Chang, Xu, Zhang, IEEE TNNLS 23(7) 2012, Thm. 1, in the ½ scaling:
/// λ_Xu = 2τ). The minimizer is nonzero iff a > t = (3/2)τ^{2/3} (tie → 0). In float64 this is
/// tested as (a/1.5)^{3/2} > τ (same inequality, no cube root; exact at the golden ties); in float32
/// as a^{3/2} > 1.5^{3/2}·τ, which reuses √a and saves a division and a square root (its decision
/// can differ from the exact one only within a few ulp of t). Above t, y = a − d with the
/// stationarity relation y + τ/(2√y) = a. Instead of Xu's trig root (acos, cos: scalar libm calls),
/// √y = u√a where u is the largest root of the scale-free cubic
///   2u³ − 2u + β = 0,   β = τ a^{−3/2} ∈ [0, 2√6/9] above t,
/// found by Newton from a degree-4 polynomial start u₀(β) (within 8.7e-5 of u*; f is convex with
/// f' ≥ 2 on this branch, so Newton converges quadratically from either side): 1 step in float32,
/// 3 in float64 reach the rounding level (worst relative error of y: 1.7e-7 in float32 over 2·10⁶
/// random (a, τ), τ ∈ [1e-26, 1e3], the same as with 2 steps; 1.9e-16 in float64 over a
/// 4·10^5-point sweep of β). Then d = τ/(2u√a) (the shrink form of prox-reference.md §1(c)).
/// Branch-free (selects only: every op is + − × ÷ sqrt), so the fused loops vectorize it; masked
/// lanes may hold inf/NaN and are discarded by the select. Float32: 2 divisions (β, and the Newton
/// step fused with d) and 1 square root; float64 keeps its separate steps.
template <class T>
PB_INLINE bool shrink_l12(T a, T tau, T& d) {
  constexpr bool F32 = sizeof(T) <= 4;
  const T ra = std::sqrt(a), ara = a * ra;
  bool above;
  if constexpr (F32) {
    above = ara > T(1.8371173070873836) * tau;  // 1.5^{3/2}
  } else {
    const T a15 = a / T(1.5);
    above = a15 * std::sqrt(a15) > tau;
  }
  const T beta = tau / ara;
  // u₀: degree-4 interpolant of u*(β) at Chebyshev nodes of [0, 2√6/9] (relative error ≤ 8.7e-5).
  T u = T(0.9999716832271865) +
        beta * (T(-0.2474290870614576) +
                beta * (T(-0.12924126928965726) + beta * (T(0.09643063462968277) + beta * T(-0.29593191516086775))));
  if constexpr (F32) {
    // one Newton step u' = (u f' − f)/f' and d = τ/(2u'√a) share one division: d = τ f'/(2√a (u f' − f))
    const T f = T(2) * u * u * u - T(2) * u + beta, fp = T(6) * u * u - T(2);
    d = tau * fp / (T(2) * ra * (u * fp - f));
  } else {
    for (int k = 0; k < 3; ++k) u = u - (T(2) * u * u * u - T(2) * u + beta) / (T(6) * u * u - T(2));
    d = tau / (T(2) * u * ra);
  }
  return above;
}

/// Rough inverse cube root x^{−1/3} of x > 0 in float (relative error ≤ 3.5%): the bit pattern,
/// read as an integer (≈ a scaled log2 x), divided by −3 plus a bias (the division by 3 as a float
/// multiply: three vector instructions instead of an integer multiply-high sequence). Only a
/// starting point. L: a lane set (ScalarLanes).
template <class L>
PB_CORE_INLINE typename L::F icbrt_guess(typename L::F x) {
  return L::from_bits(L::i2u(0x54a23300 - L::to_i(L::to_f(L::u2i(L::bits(x))) * (1.0f / 3.0f))));
}

/// The float32 form of shrink_l23 below over a lane set L (ScalarLanes, or the vector lanes of
/// core/kernels_lanes.h): d for a > 0 and the mask a > t. Lanes with A ≥ 1e9 (or a NaN A) take
/// A = 2 and d = 0, as in shrink_l23.
template <class L>
PB_CORE_INLINE auto l23_f32_core(typename L::F a, typename L::F tau, typename L::F& d) {
  using F = typename L::F;
  const F k = tau * float(2.0 / 3.0);  // a multiply, not a division
  const F k4 = L::sqrt(L::sqrt(k));
  const F k34 = k4 * k4 * k4;
  const auto above = a > 2.0f * k34;
  const F A0 = a / k34;
  const auto fits = A0 < 1e9f;  // else d/a ≈ A^{−4/3} is below half an ulp: d = 0
  const F A = L::sel(fits, L::sel(A0 > 2.0f, A0, L::f(2.0f)), L::f(2.0f));
  // A^{−1/3} = k^{1/4}·a^{−1/3}: the chain on a runs beside the two square roots of k instead of
  // after them and the division (the float loop is latency-bound: 25% faster); a·y³ is formed as
  // (a·y)·y², whose factors stay normal floats for every normal a
  F ya = icbrt_guess<L>(a);  // two Newton steps, written out (a loop stayed a loop in the lockstep form)
  ya = ya * (4.0f - (a * ya) * (ya * ya)) * float(1.0 / 3.0);
  ya = ya * (4.0f - (a * ya) * (ya * ya)) * float(1.0 / 3.0);
  const F y = ya * k4;
  const F y2 = y * y, e = y2 * y2;
  const F r =
      (A * y2) *
      (float(0.9998835069997941) +
       e * (float(-0.3188643113535382) +
            e * (float(-0.49224734197994824) + e * (float(1.359068070505577) + e * float(-3.4920885674691213)))));
  // one Halley step r' = (r·den − num)/den and d = k/(k^{1/4} r') share one division:
  // d = (k/k^{1/4})·den/(r·den − num), num = 2ff', den = 2f'² − ff'' (k/k^{1/4} rather than
  // (k^{1/4})³: fewer roundings, worst relative error 3.5e-7 instead of 5.9e-7 near A = 2)
  const F r2 = r * r, r3 = r2 * r;
  const F f = (r3 - A) * r + 1.0f, fp = 4.0f * r3 - A, fpp = 12.0f * r2;
  const F num = 2.0f * f * fp, den = 2.0f * fp * fp - f * fpp;
  d = L::sel(fits, (k / k4) * den / (r * den - num), L::f(0.0f));
  return above;
}

/// l_{2/3} (Cao, Sun, Xu, J. Vis. Commun. Image Represent. 24 (2013), in the ½ scaling λ_Cao = 2τ).
/// With k = 2τ/3 the minimizer is nonzero iff a > t = 2k^{3/4} (tie → 0; k^{3/4} = (√√k)³, no pow),
/// and then y = a − d with the stationarity relation y + k y^{−1/3} = a (prox-reference.md §1(d)).
/// Instead of the Cardano form (two cube roots: scalar libm calls), y^{1/3} = k^{1/4}·r where r is
/// the largest root of the scale-free quartic
///   r⁴ − A r + 1 = 0,   A = a / k^{3/4} > 2 above t.
/// Writing r = A^{1/3}·s, s is the largest root of s⁴ − s + ε = 0 with ε = A^{−4/3} ∈ (0, 2^{−4/3}],
/// a smooth function of ε that a degree-4 polynomial (Chebyshev interpolant) gives to 5.6e-4. A^{−1/3}
/// comes from icbrt_guess and division-free Newton steps y ← y(4 − Ay³)/3 (float64: 1 step, 2.4e-3;
/// float32: as k^{1/4}·a^{−1/3}, 2 steps on a, 1.2e-5), so r₀ = (A y²)·s(y⁴) needs no division. Then Halley steps on
/// the quartic (cubic convergence, one division each): 1 in float32, 2 in float64 reach the rounding level (relative
/// error 1.2e-7 / 2.1e-16 over A ∈ [2, 10^9] / [2, 10^18] and a fine grid near A = 2). For A > 10^9 (float) / 10^18
/// (double) the shrink d/a ≈ A^{−4/3} is below half an ulp and d = 0. Then d = k/(k^{1/4} r) (shrink form). Float32:
/// three divisions (A, k/k^{1/4}, and the Halley step fused with d; k = τ·(2/3) by a multiply); float64: five, as
/// before; branch-free (+ − × ÷ sqrt and integer ops), so the fused loops vectorize it. The float32
/// form is l23_f32_core above (one definition for the scalar form and the lockstep vector loops).
template <class T>
PB_INLINE bool shrink_l23(T a, T tau, T& d) {
  if constexpr (sizeof(T) <= 4) {
    return l23_f32_core<ScalarLanes>(a, tau, d);
  } else {
    const T k = T(2) * tau / T(3);
    const T k4 = std::sqrt(std::sqrt(k));
    const T k34 = k4 * k4 * k4;
    const bool above = a > T(2) * k34;
    const T A0 = a / k34;
    // Beyond A = 1e18, d/a ≈ A^{−4/3} is far below half an ulp: x = a exactly. Lanes below the
    // threshold (discarded) use A = 2.
    const bool huge = !(A0 < T(1e18));
    const T A = huge || !(A0 > T(2)) ? T(2) : A0;
    T y = T(icbrt_guess<ScalarLanes>(float(A)));
    y = y * (T(4) - A * y * y * y) * T(1.0 / 3.0);
    const T y2 = y * y, e = y2 * y2;
    T r = (A * y2) * (T(0.9998835069997941) +
                      e * (T(-0.3188643113535382) +
                           e * (T(-0.49224734197994824) + e * (T(1.359068070505577) + e * T(-3.4920885674691213)))));
    for (int it = 0; it < 2; ++it) {  // Halley: r ← r − 2ff'/(2f'² − ff'')
      const T r2 = r * r, r3 = r2 * r;
      const T f = (r3 - A) * r + T(1), fp = T(4) * r3 - A, fpp = T(12) * r2;
      r = r - T(2) * f * fp / (T(2) * fp * fp - f * fpp);
    }
    d = huge ? T(0) : k / (k4 * r);
    return above;
  }
}

/// General l_q, 0 < q < 1 (Marjanovic & Solo, IEEE TSP 60(11) 2012; Chen, Shen, Suter, IET SP 10(5)
/// 2016), prox-reference.md §1(e). Threshold z_thr = (2−q)/(2(1−q))·x_thr with
/// x_thr = (2τ(1−q))^{1/(2−q)}; above it y is the larger root of h(y) = y + qτy^{q−1} = a, found by
/// Newton from y₀ = a, clamped at x_thr. h is convex, so the iterates decrease monotonically; the
/// loop stops when an iterate no longer decreases (no 1-ulp limit cycles) or after kNewtonCap steps.
/// τ y^{q−2} is formed as w = τ / y^{2−q} (≤ 1/(2(1−q)) on [x_thr, ∞)), one pow per step, no overflow.
/// Computed in double for every T (see the comment inside); the decision |z| > z_thr is therefore
/// the same for float32 and float64 inputs of equal value.
template <class T>
PB_INLINE bool shrink_lq(T a_in, T tau_in, double q, T& d_out) {
  // Always in double: in float32 the exponent 2 − q is itself rounded (q has 24 bits), and
  // powf(y, 2 − q) then errs by |log y|·ulp ≈ 1e-6 relative, which the cancellation |z| − d turns
  // into 1e-5 relative errors of x. In double the same effect is ~1e-15.
  const double a = double(a_in), tau = double(tau_in);
  const double x_thr = std::pow(2.0 * tau * (1.0 - q), 1.0 / (2.0 - q));
  const double z_thr = (2.0 - q) / (2.0 * (1.0 - q)) * x_thr;
  if (!(a > z_thr)) return false;
  double y = a;
  double w = tau / std::pow(y, 2.0 - q);
  for (int it = 0; it < kNewtonCap; ++it) {
    const double step = (y + q * w * y - a) / (1.0 - q * (1.0 - q) * w);
    const double yn = max_(x_thr, y - step);
    if (!(yn < y)) break;
    y = yn;
    w = tau / std::pow(y, 2.0 - q);
  }
  d_out = T(q * w * y);  // = qτ y^{q−1}
  return true;
}

// ---- vectorizable double-precision exp2 / log2 (the general-q maps in float32) --------------------
// Branch-free arithmetic and 64-bit integer operations on the bit patterns (no libm call, no
// int64 <-> double conversion instruction: AVX2 has none), so GCC's loop vectorizer turns them into
// straight vector code. Relative error ≤ 5e-13 over the ranges used below; only float32 results
// are computed with them, so this is four orders of magnitude below what they need.

/// 2^y for y clamped to [−1000, 1000]: round(y) through the 1.5·2^52 trick, 2^f = e^{f ln 2} by
/// Taylor degree 10 on |f| ≤ ½ (relative error 2e-13; Estrin's scheme: short dependency chains),
/// the exponent inserted into the bit pattern.
PB_INLINE double exp2_vec(double y) {
  y = y < -1000.0 ? -1000.0 : (y > 1000.0 ? 1000.0 : y);
  constexpr double kMagic = 6755399441055744.0;  // 1.5·2^52: the low bits of t are round(y)
  const double t = y + kMagic;
  const double x = (y - (t - kMagic)) * 0.6931471805599453;  // f·ln 2, |x| ≤ 0.347
  const double x2 = x * x, x4 = x2 * x2, x8 = x4 * x4;
  const double p01 = 1.0 + x, p23 = 0.5 + x * (1.0 / 6), p45 = 1.0 / 24 + x * (1.0 / 120),
               p67 = 1.0 / 720 + x * (1.0 / 5040), p89 = 1.0 / 40320 + x * (1.0 / 362880);
  const double p03 = p01 + x2 * p23, p47 = p45 + x2 * p67, p810 = p89 + x2 * (1.0 / 3628800);
  const double p = p03 + x4 * p47 + x8 * p810;
  uint64_t b;  // unsigned: the shift drops the high bits by definition (a signed one overflows: UB)
  memcpy(&b, &t, sizeof b);
  b = (b + 1023) << 52;  // the low 12 bits of round(y) + 1023: the biased exponent of 2^round(y)
  double sc;
  memcpy(&sc, &b, sizeof sc);
  return p * sc;
}

/// log2 x for a positive normal x: exponent and mantissa m ∈ [√½, √2) from the bit pattern,
/// ln m = 2 atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172, by its series to s^13 (one division;
/// absolute error 2e-12). x = 0 gives −1023 (callers mask it).
PB_INLINE double log2_vec(double x) {
  int64_t b;
  memcpy(&b, &x, sizeof b);
  const int64_t eb = (b >> 52) | int64_t(0x4330000000000000);  // 2^52 + biased exponent, as a double
  const int64_t mb = (b & int64_t(0x000FFFFFFFFFFFFF)) | int64_t(0x3FF0000000000000);
  double e, m;
  memcpy(&e, &eb, sizeof e);
  memcpy(&m, &mb, sizeof m);
  e = e - (4503599627370496.0 + 1023.0);
  const bool big = m > 1.4142135623730951;
  m = big ? 0.5 * m : m;
  e = big ? e + 1.0 : e;
  const double s = (m - 1.0) / (m + 1.0), s2 = s * s, s4 = s2 * s2, s8 = s4 * s4;
  const double p =
      (1.0 + s2 * (1.0 / 3)) + s4 * (1.0 / 5 + s2 * (1.0 / 7)) + s8 * ((1.0 / 9 + s2 * (1.0 / 11)) + s4 * (1.0 / 13));
  return e + (2.0 * 1.4426950408889634) * s * p;
}

/// Degree of the polynomial u(s) behind the double-precision float32 general-q shrink
/// (shrink_lq_vec). The polynomial alone is within 5e-13 of the root up to q = 0.9 (2.2e-9 at 0.99,
/// 9.7e-9 at 0.995, 5.8e-7 at 0.999, 4e-6 as q → 1); shrink_lq_vec adds one Halley step, which
/// brings every q to the output's own rounding.
constexpr int kLqDeg = 12;

/// Monomial coefficients in y = x − x0 of the Chebyshev interpolant of f on [lo, hi] (deg + 1
/// nodes; deg ≤ 15): the host-side fitting of the general-q constants (LqConst, LqConstF).
template <class F>
PB_HD void cheb_fit(const F& f, double lo, double hi, int deg, double x0, double* out) {
  constexpr double kPi = 3.14159265358979323846;
  const int n = deg + 1;
  double fk[16], c[16], t0[16] = {}, t1[16] = {}, t2[16];
  for (int k = 0; k < n; ++k) fk[k] = f(0.5 * (hi + lo) + 0.5 * (hi - lo) * std::cos(kPi * (k + 0.5) / n));
  for (int j = 0; j < n; ++j) {
    double sum = 0;
    for (int k = 0; k < n; ++k) sum += fk[k] * std::cos(kPi * j * (k + 0.5) / n);
    c[j] = sum * (j == 0 ? 1.0 : 2.0) / n;
  }
  // T_j(ξ), ξ = al·y + be, as polynomials in y (T_{j+1} = 2ξ T_j − T_{j−1})
  const double al = 2 / (hi - lo), be = (2 * x0 - hi - lo) / (hi - lo);
  t0[0] = 1, t1[0] = be, t1[1] = al;
  for (int i = 0; i < n; ++i) out[i] = c[0] * t0[i] + (n > 1 ? c[1] * t1[i] : 0.0);
  for (int j = 2; j < n; ++j) {
    for (int i = 0; i < n; ++i) t2[i] = 2 * (be * t1[i] + (i > 0 ? al * t1[i - 1] : 0.0)) - t0[i];
    for (int i = 0; i < n; ++i) out[i] += c[j] * t2[i], t0[i] = t1[i], t1[i] = t2[i];
  }
}

/// The scale-free general-q root (below): the largest u ∈ [u_f, 1] with u + β u^{q−1} = 1, by
/// Newton from u = 1 (g is convex and increasing on [u_f, 1] and g(1) = β ≥ 0, so the iterates
/// decrease monotonically; clamped at u_f; stops when an iterate no longer decreases).
PB_HD inline double lq_unit_root(double beta, double qm1, double uf) {
  double u = 1;
  for (int it = 0; it < 200; ++it) {
    const double w = beta * std::pow(u, qm1);
    double un = u - (u + w - 1) / (1 + qm1 * w / u);
    un = un > uf ? un : uf;
    if (!(un < u)) break;
    u = un;
  }
  return u;
}

/// The general-q magnitude problem  min_{y≥0} ½(y − a)² + τ y^q, 0 < q ≤ 1, in scale-free form
/// (prox-reference.md §1(e)): y = a·u with u the largest root of
///   g(u) = u + β u^{q−1} − 1 = 0,   β = qτ a^{q−2},
/// which lies in [u_thr, 1], u_thr = 2(1−q)/(2−q) (= x_thr/z_thr); the prox is nonzero iff
/// β < β_thr = (1 − u_thr)·u_thr^{1−q} (⟺ a > z_thr). u depends on β alone; it has a square-root
/// branch point at the fold β_f = u_f^{2−q}/(1−q), u_f = (1−q)/(2−q) (where g' = 0), which lies
/// beyond β_thr (β_f/β_thr = 1/(q·2^{1−q}), → 1 as q → 1). In s = √(β_f − β) the root is analytic
/// on the whole branch, and a Chebyshev interpolant of degree kLqDeg in s over
/// [√(β_f − β_thr), √β_f] gives it (errors: kLqDeg). Built once per q on the host (13 monotone
/// Newton solves at the Chebyshev nodes, a few µs; a one-entry cache per thread makes the repeated
/// construction of the same op per step free) and stored as monomial coefficients in ξ ∈ [−1, 1],
/// ξ = xa·s + xb. q = 1 is the soft threshold: β_f = β_thr = 1, u = s² exactly.
struct LqConst {
  double q = 0, qm1 = 0, qm2 = 0;  ///< q, q − 1, q − 2
  double bthr = 0, bf = 0;         ///< β_thr, β_f
  double xa = 0, xb = 0;           ///< ξ = xa·s + xb maps [s_lo, s_hi] onto [−1, 1]
  double p[kLqDeg + 1] = {};       ///< u ≈ Σ p_j ξ^j
  LqConst() = default;
  PB_HD explicit LqConst(double q_) {
#if defined(__CUDA_ARCH__)
    fit(q_);
#else
    thread_local LqConst cached;  // q = 0 marks it empty (q = 0 is never a valid exponent)
    if (!(cached.q == q_)) cached.fit(q_);
    *this = cached;
#endif
  }
  PB_HD void fit(double q_) {
    q = q_, qm1 = q_ - 1, qm2 = q_ - 2;
    const double omq = 1 - q_, uf = omq / (2 - q_), uthr = 2 * uf;
    bthr = (1 - uthr) * std::pow(uthr, omq);
    bf = omq > 0 ? std::pow(uf, 2 - q_) / omq : 1.0;
    const double slo = std::sqrt(bf > bthr ? bf - bthr : 0.0), shi = std::sqrt(bf);
    xa = 2 / (shi - slo), xb = -(shi + slo) / (shi - slo);
    // u(s) at the Chebyshev nodes of [s_lo, s_hi], as monomials in ξ ∈ [−1, 1]
    cheb_fit(
        [&](double xi) {
          const double s = 0.5 * (shi + slo) + 0.5 * (shi - slo) * xi;
          return lq_unit_root(bf - s * s, qm1, uf);
        },
        -1.0, 1.0, kLqDeg, 0.0, p);
  }
};

/// General-q shrink in float32 (prox-reference.md §1(e)), branch-free and vectorizable (no libm
/// call), in double: β = qτ a^{q−2} (exp2_vec, log2_vec: (q−2)·log2 a reaches ±300, beyond float's
/// range, and u's sensitivity to β needs β to ~1e-9), then u = Σ p_j ξ^j, ξ = xa·√(β_f − β) + xb
/// (LqConst; Estrin's scheme: short dependency chains), one Halley step in double (one more
/// exp2/log2 pair), d = a·(1 − u). Measured against the float64 Newton map on float32 inputs:
/// ≤ 9.3e-8·max(x, a) over q ∈ [0.02, 0.999] (2M draws): the output's own rounding. The lq op takes
/// it for q > kLqFloatMaxQ (the all-float shrink_lq_f32 below takes a fifth of its time but loses
/// accuracy as q → 1). Lanes below the threshold compute finite garbage or NaN, discarded by the caller's select.
PB_INLINE bool shrink_lq_vec(float a_in, float tau_in, const LqConst& c, float& d_out) {
  static_assert(kLqDeg == 12, "the Estrin evaluation below is written for degree 12");
  const double a = a_in, tau = tau_in;
  const double beta = c.q * tau * exp2_vec(c.qm2 * log2_vec(a));
  const bool above = beta < c.bthr;
  const double t = c.bf - beta;
  const double xi = c.xa * std::sqrt(t > 0.0 ? t : 0.0) + c.xb;
  const double* p = c.p;
  const double x2 = xi * xi, x4 = x2 * x2, x8 = x4 * x4;
  const double e01 = p[0] + p[1] * xi, e23 = p[2] + p[3] * xi, e45 = p[4] + p[5] * xi, e67 = p[6] + p[7] * xi,
               e89 = p[8] + p[9] * xi, e1011 = p[10] + p[11] * xi;
  double u = ((e01 + e23 * x2) + (e45 + e67 * x2) * x4) + ((e89 + e1011 * x2) + p[12] * x4) * x8;
  // Halley on g: with bp = β u^{q−1}: g = u + bp − 1, u·g' = u + (q−1)bp, u²·g'' = (q−1)(q−2)bp
  const double bp = beta * exp2_vec(c.qm1 * log2_vec(u));
  const double g = u + bp - 1.0, g1 = u + c.qm1 * bp, g2 = c.qm1 * c.qm2 * bp;
  u = u - 2.0 * g * g1 * u / (2.0 * g1 * g1 - g * g2);
  d_out = float(a * (1.0 - u));
  return above;
}

// ---- the all-float32 general-q shrink ------------------------------------------------------------

/// Largest q for which the lq op takes the all-float shrink_lq_f32 on float32 data (above it:
/// shrink_lq_vec). Worst error measured against the float64 Newton map on float32 inputs
/// (400k draws per q, τ from 1e-30 to 1e3, |z| from 0.1 to 1000 thresholds, two draws): 6e-8 of
/// max(|x|, |z|) at q = 0.02, 9e-8 at 0.3, 1.4–1.5e-7 at 0.5, 2.1–2.3e-7 at 0.7, 2.6e-7 at 0.8
/// (4.4 float32 ulps); 3.2e-7 at 0.9, 3.3e-6 at 0.99. The float32 tolerance of every map is 5e-7
/// (tests/test_prox_float32.cpp).
constexpr double kLqFloatMaxQ = 0.8;
constexpr int kLqFDegP = 10;  ///< degree of q·m^{q−2} on m ∈ [½, 1] (shrink_lq_f32)
constexpr int kLqFDegR = 7;   ///< degree of R(ξ) = (1 − u)/β (shrink_lq_f32)

/// Constants of shrink_lq_f32 for one q ∈ (0, 1), all float32 (LqConst's scale-free problem):
/// β = qτ a^{q−2} is assembled from a = 2^e·m, m ∈ [½, 1): q·m^{q−2} by a degree-kLqFDegP
/// polynomial P in t = m − 1 (all its terms have one sign on t ≤ 0: no cancellation), and
/// 2^{(q−2)e} = 2^N·2^f with (q−2) = h + lo, h a multiple of 2^−12 (h·e exact in float32). The
/// prox is then d = a·β·R(ξ), ξ = xa·√(β_f − β) + xb, R = (1 − u)/β by a degree-kLqFDegR polynomial
/// (R ∈ [1, 1.25]; d is computed with a relative error, never as a − a·u). The interpolation nodes
/// are mapped back through the float32 xa, xb and β_f, so the rounding of those constants is in
/// the fit. Built on the host like LqConst (a few µs; a one-entry cache per thread).
struct LqConstF {
  double q = 0;
  float bthr = 0, bf = 0, xa = 0, xb = 0, h = 0, lo = 0;
  float p[kLqFDegP + 1] = {}, r[kLqFDegR + 1] = {};
  LqConstF() = default;
  PB_HD explicit LqConstF(double q_) {
#if defined(__CUDA_ARCH__)
    fit(q_);
#else
    thread_local LqConstF cached;  // q = 0 marks it empty
    if (!(cached.q == q_)) cached.fit(q_);
    *this = cached;
#endif
  }
  PB_HD void fit(double q_) {
    q = q_;
    const double omq = 1 - q_, uf = omq / (2 - q_), uthr = 2 * uf, qm1 = q_ - 1;
    const double bthr_d = (1 - uthr) * std::pow(uthr, omq);
    bthr = float(bthr_d), bf = float(std::pow(uf, 2 - q_) / omq);
    const double slo = std::sqrt(double(bf) - bthr_d), shi = std::sqrt(double(bf));
    xa = float(2 / (shi - slo)), xb = float(-(shi + slo) / (shi - slo));
    double pd[16], rd[16];
    cheb_fit([&](double m) { return q_ * std::pow(m, q_ - 2); }, 0.5, 1.0, kLqFDegP, 1.0, pd);
    auto rfun = [&](double xi) {
      const double s = (xi - double(xb)) / double(xa), beta = double(bf) - s * s;
      return beta > 1e-300 ? (1 - lq_unit_root(beta, qm1, uf)) / beta : 1.0;
    };
    cheb_fit(rfun, -1.0, 1.0, kLqFDegR, 0.0, rd);
    for (int i = 0; i <= kLqFDegP; ++i) p[i] = float(pd[i]);
    for (int i = 0; i <= kLqFDegR; ++i) r[i] = float(rd[i]);
    h = float(std::floor((q_ - 2) * 4096 + 0.5) / 4096);  // q − 2 to a multiple of 2^−12
    lo = float((q_ - 2) - double(h));
  }
};

/// 2^n as a float32 bit pattern, n ∈ [−126, 127], over a lane set L (ScalarLanes).
template <class L>
PB_CORE_INLINE typename L::F pow2i_f(typename L::I n) {
  return L::from_bits(L::i2u(n + 127) << 23);
}

/// General-q shrink entirely in float32 (prox-reference.md §1(e); LqConstF has the algorithm):
/// 8 (AVX2) or 16 (AVX-512) lanes per instruction, no division, one square root, integer and
/// bit operations that every x86 vector width has, and IEEE float operations only, so every
/// instruction set and the CUDA kernels (built with --fmad=false) give the same bits. Subnormal a
/// is normalized exactly through its integer significand; τ enters only by multiplications by
/// powers of two and one rounding product (subnormal τ is exact, and an intermediate that
/// over- or underflows is one whose β is far from the threshold). Accuracy: kLqFloatMaxQ. Lanes
/// below the threshold (or with a = 0) compute finite garbage or inf/NaN, discarded by the caller.
/// Written once over a lane set L (ScalarLanes; the lockstep vector lanes of core/kernels_lanes.h):
/// returns the mask a > threshold (β < β_thr) and sets d_out.
template <class L>
PB_CORE_INLINE auto lq_f32_core(typename L::F a, const typename L::F tau, const LqConstF& c, typename L::F& d_out) {
  using F = typename L::F;
  using I = typename L::I;
  using U = typename L::U;
  U b = L::bits(a);
  const auto sub = b < 0x00800000u;  // subnormal (or 0): k·2^−149 with k = b, exact as a float
  const F k = L::to_f(L::u2i(b));
  b = L::sel(sub, L::bits(k), b);
  const I e = L::u2i(b >> 23) - L::sel(sub, L::i(275), L::i(126));  // a = 2^e·m
  const F m = L::from_bits((b & 0x007FFFFFu) | 0x3F000000u);
  const F t = m - 1.0f;  // exact, in [−½, 0)
  const float* p = c.p;
  const F t2 = t * t, t4 = t2 * t2, t8 = t4 * t4;
  const F P =
      p[0] + t * ((((p[1] + p[2] * t) + (p[3] + p[4] * t) * t2) + ((p[5] + p[6] * t) + (p[7] + p[8] * t) * t2) * t4) +
                  (p[9] + p[10] * t) * t8);  // q·m^{q−2}
  const F ef = L::to_f(e), E = c.h * ef;     // exact: a multiple of 2^−12 below 2^11
  constexpr float kMagic = 12582912.0f;      // 1.5·2^23: (E + kMagic) − kMagic = round(E)
  const F Nf = (E + kMagic) - kMagic;
  const F f = (E - Nf) + c.lo * ef;  // |f| ≤ 0.52
  // 2^f: Chebyshev interpolant of degree 6 on [−0.53, 0.53] (its constant term is 1 to 2e-16;
  // relative error 2e-9, 1.8 float32 ulps as evaluated), as 1 + f·(…)
  const F f2 = f * f, f4 = f2 * f2;
  const F e2 = 1.0f + f * (((0.69314722f + 0.24022651f * f) + (0.055503052f + 0.0096180376f * f) * f2) +
                           (0.0013408713f + 1.5468616e-4f * f) * f4);
  I n = L::to_i(Nf);
  n = L::sel(n < -252, L::i(-252), L::sel(n > 252, L::i(252), n));  // beyond: β ≪ 2^−100 or ≫ 1
  const I n1 = n >> 1, n2 = n - n1;                                 // each in [−126, 126] (>>: arithmetic shift)
  const F beta = ((tau * pow2i_f<L>(n1)) * (e2 * P)) * pow2i_f<L>(n2);
  const auto above = beta < c.bthr;
  const F tt = c.bf - beta;
  const F xi = c.xa * L::sqrt(L::sel(tt > 0.0f, tt, L::f(0.0f))) + c.xb;
  const float* r = c.r;
  const F x2 = xi * xi, x4 = x2 * x2;
  const F R = ((r[0] + r[1] * xi) + (r[2] + r[3] * xi) * x2) + ((r[4] + r[5] * xi) + (r[6] + r[7] * xi) * x2) * x4;
  d_out = a * (beta * R);
  return above;
}

/// The scalar form of lq_f32_core.
PB_INLINE bool shrink_lq_f32(float a, float tau, const LqConstF& c, float& d_out) {
  return lq_f32_core<ScalarLanes>(a, tau, c, d_out);
}

/// Dispatch of the magnitude problem on q: 1 → l1, ½ → half thresholding, 2/3 → Cardano,
/// otherwise Newton. q is compared in double, so 2/3 means the double nearest to 2/3.
template <class T>
PB_INLINE bool shrink_pow(T a, T tau, double q, T& d) {
  if (q == 1.0) return shrink_l1(a, tau, d);
  if (q == 0.5) return shrink_l12(a, tau, d);
  if (q == 2.0 / 3.0) return shrink_l23(a, tau, d);
  return shrink_lq(a, tau, q, d);
}

/// sign(x)·q·max(|x|, kSubgradEps)^{q−1}, and 0 at x = 0 (0 ∈ ∂r(0) for every l_q, q ≤ 1).
template <class T>
PB_INLINE T pow_subgrad(T x, T q) {
  if (x == T(0)) return T(0);
  const T g = q * std::pow(max_(std::fabs(x), T(kSubgradEps)), q - T(1));
  return x < T(0) ? -g : g;
}

/// r(x) = |x|^{1/2}: half thresholding (prox-reference.md §1(c)); jump from 0 to ±τ^{2/3} at
/// |z| = (3/2)τ^{2/3}. Subgradient: sign(x)/(2 sqrt(max(|x|, kSubgradEps))), 0 at x = 0.
struct L12Op {
  template <class T>
  PB_INLINE T prox(T z, T tau) const {
    const T a = std::fabs(z);
    T d;
    const bool nz = shrink_l12(a, tau, d);
    const T x = nz ? copysign_(a - d, z) : T(0);
    return tau == T(0) ? z : x;  // selects: vectorizable
  }
  template <class T>
  PB_INLINE T value(T x) const {
    return std::sqrt(std::fabs(x));
  }
  template <class T>
  PB_INLINE T subgrad(T x) const {
    return pow_subgrad(x, T(0.5));
  }
};

/// The ProxGen authors' l1/2 map (AdamL12 of their code): x = 0 for |z| ≤ 1.5 τ^{2/3}, else
/// x = (2/3) z (1 + cos(2π/3 − (2/3) φ)), φ = arccos((τ/4) ((|z| + c)/3)^{−3/2}), c = shift (1e-4
/// in their code; c = 0 is Xu et al.'s exact half thresholding). Value and subgradient are l1/2's.
struct L12ShiftOp {
  double shift = 1e-4;
  template <class T>
  PB_INLINE T prox(T z, T tau) const {
    const T a = std::fabs(z);
    const T thr = T(1.5) * std::cbrt(tau * tau);
    const T arg = (tau / T(4)) * std::pow((a + T(shift)) / T(3), T(-1.5));
    const T phi = std::acos(arg < T(1) ? arg : T(1));
    const T x = T(2) / T(3) * z * (T(1) + std::cos(T(2.0943951023931954923) - T(2) / T(3) * phi));
    return tau == T(0) ? z : (a > thr ? x : T(0));
  }
  template <class T>
  PB_INLINE T value(T x) const {
    return std::sqrt(std::fabs(x));
  }
  template <class T>
  PB_INLINE T subgrad(T x) const {
    return pow_subgrad(x, T(0.5));
  }
};

/// r(x) = |x|^{2/3} (evaluated as cbrt(|x|)², never pow of a signed x): Cardano form
/// (prox-reference.md §1(d)); jump from 0 to ±(2τ/3)^{3/4} at |z| = 2(2τ/3)^{3/4}.
/// Subgradient: sign(x)·(2/3)·max(|x|, kSubgradEps)^{−1/3}, 0 at x = 0.
struct L23Op {
  template <class T>
  PB_INLINE T prox(T z, T tau) const {
    const T a = std::fabs(z);
    T d;
    const bool nz = shrink_l23(a, tau, d);
    const T x = nz ? copysign_(a - d, z) : T(0);
    return tau == T(0) ? z : x;  // selects: vectorizable
  }
  template <class T>
  PB_INLINE T value(T x) const {
    const T c = std::cbrt(std::fabs(x));
    return c * c;
  }
  template <class T>
  PB_INLINE T subgrad(T x) const {
    return pow_subgrad(x, T(2) / T(3));
  }
};

/// r(x) = |x|^q, 0 < q < 1 (any q; l12/l23 have their own closed forms). float64: the monotone
/// Newton of shrink_lq. float32: F32 = true, shrink_lq_f32 (all float: visit_separable picks it
/// for q ≤ kLqFloatMaxQ); F32 = false, shrink_lq_vec (double, exact to the output's rounding for
/// every q). Threshold (2−q)/(2(1−q))·(2τ(1−q))^{1/(2−q)} (prox-reference.md §1(e)).
/// Subgradient: sign(x)·q·max(|x|, kSubgradEps)^{q−1}, 0 at x = 0.
template <bool F32>
struct LqOpT {
  double q = 0.5;
  std::conditional_t<F32, LqConstF, LqConst> c;  ///< the float32 shrink's constants
  LqOpT() : LqOpT(0.5) {}
  PB_HD explicit LqOpT(double q_) : q(q_), c(q_) {}
  template <class T>
  PB_INLINE T prox(T z, T tau) const {
    const T a = std::fabs(z);
    T d;
    if constexpr (sizeof(T) == 4) {  // vectorizable (selects only)
      bool nz;
      if constexpr (F32)
        nz = shrink_lq_f32(a, tau, c, d);
      else
        nz = shrink_lq_vec(a, tau, c, d);
      const T x = nz ? copysign_(a - d, z) : T(0);
      return tau == T(0) ? z : x;
    } else {
      if (tau == T(0)) return z;
      return shrink_lq(a, tau, q, d) ? copysign_(a - d, z) : T(0);
    }
  }
  template <class T>
  PB_INLINE T value(T x) const {
    return std::pow(std::fabs(x), T(q));
  }
  template <class T>
  PB_INLINE T subgrad(T x) const {
    return pow_subgrad(x, T(q));
  }
};
/// The lq op that is exact (to the output's rounding) for every q in (0, 1].
using LqOp = LqOpT<false>;

/// MCP (Zhang, Ann. Statist. 38(2) 2010): P(x) = λp|x| − x²/(2γ) for |x| ≤ γλp, γλp²/2 beyond.
/// With κ = τλp and b = γλp (prox-reference.md §1(f)):
///   τ < γ  (convex, firm thresholding): x = z if |z| > b, else sign(z)·min(b, γ(|z| − κ)₊/(γ − τ));
///   τ ≥ γ  (nonconvex — happens in ProxGen when C_i is small): x = z·[|z| > λp·sqrt(τγ)] (tie → 0).
/// Subgradient: sign(x)·max(λp − |x|/γ, 0), 0 at x = 0 (Clarke subdifferential at 0 is [−λp, λp]).
struct McpOp {
  double lam_p = 1.0;
  double gamma = 3.0;
  template <class T>
  PB_INLINE T prox(T z, T tau) const {
    // all branches are evaluated and selected (branch-free; the unselected ones may be inf/NaN)
    const T lp = T(lam_p), gm = T(gamma), a = std::fabs(z);
    const T b = gm * lp;
    const T firm = min_(b, gm * max_(a - tau * lp, T(0)) / (gm - tau));
    const T convex = a > b ? a : firm;
    const T hard = a > lp * std::sqrt(tau * gm) ? a : T(0);
    const T y = tau < gm ? convex : hard;
    const T x = copysign_(y, z);
    return tau == T(0) ? z : (y > T(0) ? x : T(0));
  }
  template <class T>
  PB_INLINE T value(T x) const {
    const T lp = T(lam_p), gm = T(gamma), a = std::fabs(x);
    return a <= gm * lp ? lp * a - a * a / (T(2) * gm) : gm * lp * lp / T(2);
  }
  template <class T>
  PB_INLINE T subgrad(T x) const {
    if (x == T(0)) return T(0);
    const T g = max_(T(lam_p) - std::fabs(x) / T(gamma), T(0));
    return x < T(0) ? -g : g;
  }
};

/// SCAD (Fan & Li, JASA 96 2001), a > 2: P = λp|x| (|x| ≤ λp), (2aλp|x| − x² − λp²)/(2(a−1))
/// (λp < |x| ≤ aλp), (a+1)λp²/2 beyond. With κ = τλp (prox-reference.md §1(g)):
///   τ < a−1 (convex): sign(z)(|z| − κ)₊ for |z| ≤ (1+τ)λp; sign(z)((a−1)|z| − τaλp)/(a−1−τ) clamped
///          to [λp, aλp] for |z| ≤ aλp; z beyond;
///   τ ≥ a−1 (nonconvex): z if |z| > T else sign(z)(|z| − κ)₊, T = λp(a+1+τ)/2 for τ < a+1 and
///          λp·sqrt(τ(a+1)) otherwise (tie → the smaller-magnitude branch).
/// Subgradient: sign(x)·{λp for |x| ≤ λp; (aλp − |x|)/(a−1) up to aλp; 0 beyond}, 0 at x = 0.
struct ScadOp {
  double lam_p = 1.0;
  double a = 3.7;
  template <class T>
  PB_INLINE T prox(T z, T tau) const {
    // all branches are evaluated and selected (branch-free; the unselected ones may be inf/NaN)
    // Only selects of values (never of bools nor nested conditions), so that GCC's vectorizer
    // if-converts the whole map: with `c ? (x > y) : (u > v)` it emitted scalar branches (8x the l1 step).
    const T lp = T(lam_p), aa = T(a), az = std::fabs(z);
    const T soft = max_(az - tau * lp, T(0));
    const T mid = min_(aa * lp, max_(lp, ((aa - T(1)) * az - tau * aa * lp) / (aa - T(1) - tau)));
    const T inner = az > (T(1) + tau) * lp ? mid : soft;
    const T convex = az > aa * lp ? az : inner;
    // threshold λp(a+1+τ)/2 (τ < a+1) or λp·sqrt(τ(a+1)); float32 compares squares in the second case
    // (no square root: the decision moves only within an ulp or two of the threshold)
    const bool small_tau = tau < aa + T(1);
    const T thr_a = lp * (aa + T(1) + tau) * T(0.5);
    T lhs, rhs;
    if constexpr (sizeof(T) <= 4) {
      lhs = small_tau ? az : az * az;
      rhs = small_tau ? thr_a : lp * lp * (tau * (aa + T(1)));
    } else {
      lhs = az;
      rhs = small_tau ? thr_a : lp * std::sqrt(tau * (aa + T(1)));
    }
    const T nonconvex = lhs > rhs ? az : soft;
    const T y = tau < aa - T(1) ? convex : nonconvex;
    const T x = copysign_(y, z);
    return tau == T(0) ? z : (y > T(0) ? x : T(0));
  }
  template <class T>
  PB_INLINE T value(T x) const {
    const T lp = T(lam_p), aa = T(a), ax = std::fabs(x);
    if (ax <= lp) return lp * ax;
    if (ax <= aa * lp) return (T(2) * aa * lp * ax - ax * ax - lp * lp) / (T(2) * (aa - T(1)));
    return (aa + T(1)) * lp * lp / T(2);
  }
  template <class T>
  PB_INLINE T subgrad(T x) const {
    if (x == T(0)) return T(0);
    const T lp = T(lam_p), aa = T(a), ax = std::fabs(x);
    const T g = ax <= lp ? lp : (ax <= aa * lp ? (aa * lp - ax) / (aa - T(1)) : T(0));
    return x < T(0) ? -g : g;
  }
};

/// W-shaped binary-quantization penalty r(x) = ||x| − 1|^q, 0 < q ≤ 1 (q = 1: ProxQuant's binary
/// regularizer, Bai, Wang, Liberty, ICLR 2019; q < 1: the l_q version used by "revised ProxQuant"
/// in ProxGen §4). prox-reference.md §1(i): with s = sign(z) (sign(0) := +1, never 0) and
/// w = |z| − 1, the minimizer is s·(1 + prox_{τ|·|^q}(w)), evaluated in shrink form:
/// x = s if |w| ≤ thr_q(τ) (snap to the quantized point; ties snap), else s·(|z| − sign(w)·d).
/// Subgradient: sign(x)·sign(|x|−1)·q·max(||x|−1|, kSubgradEps)^{q−1}; 0 at |x| = 1 (the minima);
/// at x = 0 (the central peak) sign(0) := +1 gives −q·1 = −q, which a descent step moves toward +1.
/// Shape of the magnitude problem inside the W-shaped map, fixed at compile time so that the fused
/// loops see a branch-free body: 1 → q = 1 (soft threshold), 2 → q = ½ (shrink_l12), 3 → q = 2/3
/// (shrink_l23), 0 → any q (the runtime dispatch of shrink_pow, scalar Newton, in float32 too).
/// All give the same values (to float rounding).
template <int Shape>
struct BinaryQuantOpT {
  double q = 1.0;
  BinaryQuantOpT() = default;
  PB_HD explicit BinaryQuantOpT(double q_) : q(q_) {}
  template <class T>
  PB_INLINE bool shrink(T w, T tau, T& d) const {
    if constexpr (Shape == 1)
      return shrink_l1(w, tau, d);
    else if constexpr (Shape == 2)
      return shrink_l12(w, tau, d);
    else if constexpr (Shape == 3)
      return shrink_l23(w, tau, d);
    else
      // general q: the scalar Newton of shrink_pow in float32 too (an earlier vectorized
      // shrink_lq_vec failed ProxFloat32's 5e-7 near |z| = 1 for the W-shaped map)
      return shrink_pow(w, tau, q, d);
  }
  template <class T>
  PB_INLINE T prox(T z, T tau) const {
    const T az = std::fabs(z), s = z < T(0) ? T(-1) : T(1);
    const T w = az - T(1);
    T d;
    const bool moved = shrink(std::fabs(w), tau, d);
    const T x = moved ? s * (w < T(0) ? az + d : az - d) : s;
    return tau == T(0) ? z : x;  // selects
  }
  template <class T>
  PB_INLINE T value(T x) const {
    const T e = std::fabs(std::fabs(x) - T(1));
    if constexpr (Shape == 1)
      return e;
    else if constexpr (Shape == 2)
      return std::sqrt(e);
    else
      return q == 1.0 ? e : std::pow(e, T(q));
  }
  template <class T>
  PB_INLINE T subgrad(T x) const {
    const T w = std::fabs(x) - T(1);
    if (w == T(0)) return T(0);
    const T g = q == 1.0 ? T(1) : T(q) * std::pow(max_(std::fabs(w), T(kSubgradEps)), T(q) - T(1));
    const T gw = w < T(0) ? -g : g;
    return x < T(0) ? -gw : gw;
  }
};
using BinaryQuantOp = BinaryQuantOpT<0>;

}  // namespace scalar

/// Calls f(op) with the scalar op of a separable built-in regularizer, parameters taken from s:
/// None, L0, L1, L12, L23, Lq{q}, Mcp{lam_p, gamma}, Scad{lam_p, a}, BinaryQuant{q}. Every branch
/// calls the same f, so f must return the same type for every op (a generic lambda returning
/// void or a fixed type). Host and device callable.
///
/// Under nvcc, pass a functor or a `__host__ __device__` lambda; a plain lambda defined inside a
/// kernel needs `--expt-relaxed-constexpr` (as PyTorch's own CUDA build uses).
///
/// CALLERS MUST HANDLE RegKind::GroupL21 AND RegKind::Custom BEFORE CALLING: they are not
/// separable scalar maps (group l2,1 → group_l21_prox below; Custom → the virtual
/// Regularizer::prox_). For those two kinds (and any unknown value) this function calls
/// f(scalar::NoneOp{}), i.e. the identity map — it does not and cannot (device code) report it.
template <class F>
PB_INLINE decltype(auto) visit_separable(const RegSpec& s, F&& f) {
  switch (s.kind) {
    case RegKind::L0:
      return f(scalar::L0Op{});
    case RegKind::L1:
      return f(scalar::L1Op{});
    case RegKind::L12:
      if (s.l12_shift != 0.0) return f(scalar::L12ShiftOp{s.l12_shift});
      return f(scalar::L12Op{});
    case RegKind::L23:
      return f(scalar::L23Op{});
    case RegKind::Lq:
      if (s.q <= scalar::kLqFloatMaxQ) return f(scalar::LqOpT<true>{s.q});
      return f(scalar::LqOpT<false>{s.q});
    case RegKind::Mcp:
      return f(scalar::McpOp{s.lam_p, s.gamma});
    case RegKind::Scad:
      return f(scalar::ScadOp{s.lam_p, s.a});
    case RegKind::BinaryQuant:
      if (s.q == 1.0) return f(scalar::BinaryQuantOpT<1>{s.q});
      if (s.q == 0.5) return f(scalar::BinaryQuantOpT<2>{s.q});
      if (s.q == 2.0 / 3.0) return f(scalar::BinaryQuantOpT<3>{s.q});
      return f(scalar::BinaryQuantOp{s.q});
    case RegKind::None:
    default:
      return f(scalar::NoneOp{});
  }
}

/// Offset of the k-th element of a group with a constant stride.
struct StrideIndex {
  int64_t stride;
  PB_INLINE int64_t operator()(int64_t k) const { return k * stride; }
};

/// Offset of the k-th element of a group whose members are `inner` contiguous values repeated every
/// `outer_stride` (e.g. input channel j of a (out, in, kh, kw) weight: inner = kh·kw,
/// outer_stride = in·kh·kw, base pointer at j·kh·kw).
struct BlockIndex {
  int64_t inner;
  int64_t outer_stride;
  PB_INLINE int64_t operator()(int64_t k) const { return (k / inner) * outer_stride + k % inner; }
};

/// Newton's stopping tolerance for the group l2,1 secular equation (group_l21_prox): Newton stops
/// after a step d ≤ kGroupStopRel·s' from s'. Φ is increasing and concave with
/// |Φ''|/Φ' = ψ''/|ψ'| − 3|ψ'|/(2ψ) ≤ 3 Σz²(s+τ)^−4 / Σz²(s+τ)^−3 ≤ 3/s for τ ≥ 0, so the error
/// left after that step is e ≤ (3/(2s'))·(d + e)², i.e. e/s' ≤ 1.5·kGroupStopRel²·(1 + O(kGroupStopRel)):
/// below 1e-18 (double) and 1e-11 (float32 data, 1/6000 of a float ulp), and x_k = z_k·s/(s+τ_k)
/// moves by at most e/s relative.
template <class T>
constexpr double kGroupStopRel = sizeof(T) <= 4 ? 2.5e-6 : 8e-10;
/// The stop of kGroupStopRel: the Newton step from s_prev to s_next is below kGroupStopRel·s_prev.
template <class T>
PB_INLINE bool group_l21_converged(double s_prev, double s_next) {
  return s_next - s_prev <= kGroupStopRel<T> * s_prev;
}

/// Newton's start for group_l21_prox: max(‖z‖ − max τ, max_k(|z_k| − τ_k), ‖z‖ − τ_w, 0), where
/// τ_w = Σ z_k²τ_k / ‖z‖² (`tw`). Each is a lower bound of the root: the last because 1/(s+τ)² is
/// convex, so ψ(s) = Σ z_k²/(s+τ_k)² ≥ ‖z‖²/(s+τ_w)² = 1 at s = ‖z‖ − τ_w (Jensen). It is the
/// root to first order in the spread of τ: with τ_k ≪ ‖z‖ (small λ, a group far from zero) one
/// Newton step meets kGroupStopRel. A NaN bound is skipped (lo_k ≥ 0 is never NaN for finite input).
PB_INLINE double group_l21_start(double nz, double tw, double tmax, double lo_k) {
  double s = nz - tmax > lo_k ? nz - tmax : lo_k;
  return nz - tw > s ? nz - tw : s;
}

/// Group l2,1 prox of one group, in place: the n values z[k·stride] (z[idx(k)] for
/// group_l21_prox_indexed), k = 0..n−1, are replaced by
///     argmin_x  Σ_k (x_k − z_k)² / (2τ_k) + ‖x‖₂,
/// τ_k = tau[k·stride] (tau[idx(k)]), or tau[0] for all k when tau_scalar (prox-reference.md §1(h); ProxGen eq. (3)
/// with a diagonal preconditioner inside a group, τ_k = αλ/(C_k+δ)).
///   * Common τ (tau_scalar, or all τ_k equal): block soft threshold x = (1 − τ/‖z‖)₊ z, x = 0 when
///     ‖z‖ ≤ τ (this also covers ‖z‖ = 0 = τ: no 0/0).
///   * Per-coordinate τ: x = 0 iff Σ (z_k/τ_k)² ≤ 1 (0/0 := 0, z/0 := ∞). Otherwise s = ‖x‖ is the root
///     of Φ(s) = (Σ z_k²/(s+τ_k)²)^{−1/2} = 1; Φ is increasing and concave, so Newton from a lower
///     bound (group_l21_start) increases monotonically; it stops after a step below kGroupStopRel·s
///     (the error left is then below rounding: see there), when Φ(s) ≥ 1, when s stops increasing,
///     or after kNewtonCap steps. Then x_k = z_k·s/(s+τ_k).
/// Sums are accumulated in double. τ_k = 0 everywhere returns z. Host and device callable.
///
/// The same group prox over an arbitrary element map: the k-th member is z[idx(k)], its step
/// tau[idx(k)] (tau[0] when tau_scalar). Idx is a functor such as StrideIndex or BlockIndex.
template <class T, class Idx>
PB_INLINE void group_l21_prox_indexed(T* z, const T* tau, bool tau_scalar, int64_t n, Idx idx) {
  if (n <= 0) return;
  bool equal = true;
  const double t0 = double(tau[0]);
  double nz2 = 0, tz2 = 0, zt2 = 0, tmax = t0, lo_k = 0;
  for (int64_t k = 0; k < n; ++k) {
    const double zk = double(z[idx(k)]);
    const double tk = tau_scalar ? t0 : double(tau[idx(k)]);
    nz2 += zk * zk;
    tz2 += zk * zk * tk;
    if (tk != t0) equal = false;
    tmax = tk > tmax ? tk : tmax;
    const double r = zk == 0 ? 0.0 : zk / tk;  // z/0 = ±inf; 0/0 := 0
    zt2 += r * r;
    lo_k = std::fabs(zk) - tk > lo_k ? std::fabs(zk) - tk : lo_k;
  }
  const double nz = std::sqrt(nz2);
  if (equal) {  // block soft threshold
    if (!(nz > t0)) {
      for (int64_t k = 0; k < n; ++k) z[idx(k)] = T(0);
    } else if (t0 != 0) {
      const double f = 1.0 - t0 / nz;
      for (int64_t k = 0; k < n; ++k) z[idx(k)] = T(double(z[idx(k)]) * f);
    }
    return;
  }
  if (!(zt2 > 1.0)) {
    for (int64_t k = 0; k < n; ++k) z[idx(k)] = T(0);
    return;
  }
  double s = group_l21_start(nz, tz2 / nz2, tmax, lo_k);
  for (int it = 0; it < scalar::kNewtonCap; ++it) {
    double psi = 0, psi3 = 0;
    for (int64_t k = 0; k < n; ++k) {
      const double zk = double(z[idx(k)]);
      if (zk == 0) continue;
      const double den = s + double(tau[idx(k)]);
      const double inv = 1.0 / den;  // one division per member and iteration
      const double r = zk * inv;
      psi += r * r;
      psi3 += r * r * inv;
    }
    const double phi = 1.0 / std::sqrt(psi);
    if (!(phi < 1.0)) break;
    const double dphi = psi3 / (psi * std::sqrt(psi));
    const double sn = s + (1.0 - phi) / dphi;
    if (!(sn > s)) break;
    const bool done = group_l21_converged<T>(s, sn);
    s = sn;
    if (done) break;
  }
  for (int64_t k = 0; k < n; ++k) {
    const double tk = double(tau[idx(k)]);
    z[idx(k)] = T(double(z[idx(k)]) * (s / (s + tk)));
  }
}

/// See group_l21_prox_indexed; the n members are z[k·stride].
template <class T>
PB_INLINE void group_l21_prox(T* z, const T* tau, bool tau_scalar, int64_t n, int64_t stride) {
  group_l21_prox_indexed(z, tau, tau_scalar, n, StrideIndex{stride});
}

}  // namespace proxbench::core
