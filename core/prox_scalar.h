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

#include "core/common.h"

namespace proxbench::core {

/// Which regularizer a RegSpec describes. `Custom` is a plugin regularizer (no scalar op; the
/// optimizers fall back to the virtual tensor-level Regularizer::prox_).
enum class RegKind : int32_t { None, L0, L1, L12, L23, Lq, Mcp, Scad, BinaryQuant, GroupL21, Custom };

/// Plain-old-data description of a regularizer: what a CPU loop or a CUDA kernel needs.
struct RegSpec {
  RegKind kind = RegKind::None;
  double q = 1.0;       ///< exponent: lq (0<q<1), W-shaped (0<q<=1)
  double lam_p = 1.0;   ///< MCP / SCAD inner λ (the penalty's own scale, λp in prox-reference.md)
  double gamma = 3.0;   ///< MCP concavity γ > 0
  double a = 3.7;       ///< SCAD a > 2 (Fan & Li's default 3.7)
};

namespace scalar {

template <class T>
PB_INLINE T copysign_(T mag, T z) {
  return z < T(0) ? -mag : mag;
}

/// r(x) = 0.
struct NoneOp {
  template <class T> PB_INLINE T prox(T z, T) const { return z; }
  template <class T> PB_INLINE T value(T) const { return T(0); }
  template <class T> PB_INLINE T subgrad(T) const { return T(0); }
};

/// r(x) = |x|: soft thresholding x = sign(z) max(|z| − τ, 0). Subgradient: sign(x), 0 at 0.
struct L1Op {
  template <class T> PB_INLINE T prox(T z, T tau) const {
    T m = std::fabs(z) - tau;
    return m > T(0) ? copysign_(m, z) : T(0);
  }
  template <class T> PB_INLINE T value(T x) const { return std::fabs(x); }
  template <class T> PB_INLINE T subgrad(T x) const { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : T(0)); }
};

/// r(x) = [x ≠ 0]: hard thresholding, x = z if |z| > sqrt(2τ) else 0 (tie → 0).
/// Has no subgradient (subgrad returns 0; Regularizer::has_subgradient() is false).
struct L0Op {
  template <class T> PB_INLINE T prox(T z, T tau) const { return std::fabs(z) > std::sqrt(T(2) * tau) ? z : T(0); }
  template <class T> PB_INLINE T value(T x) const { return x != T(0) ? T(1) : T(0); }
  template <class T> PB_INLINE T subgrad(T) const { return T(0); }
};

// The ops below are declared here and completed in this header by the regularizer work:
// L12Op (r = |x|^{1/2}), L23Op (r = |x|^{2/3}), LqOp{q}, McpOp{lam_p, gamma}, ScadOp{lam_p, a},
// BinaryQuantOp{q} (r = ||x| − 1|^q).
struct L12Op;
struct L23Op;
struct LqOp;
struct McpOp;
struct ScadOp;
struct BinaryQuantOp;

}  // namespace scalar
}  // namespace proxbench::core
