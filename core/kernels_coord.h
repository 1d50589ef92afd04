// The per-coordinate part of the fused optimizer steps (core/kernels.h), torch-free so that the
// CPU driver (core/kernels.cpp) and the CUDA kernels (core/cuda/fused_step.cu, compiled by nvcc
// without LibTorch) run the SAME update code. Every function here is PB_HD (__host__ __device__
// under nvcc) and takes plain scalars; see core/kernels.h for the math (ProxGen paper, Algorithm 1
// line 8 / eq. (2); Prox-SGD eq. (6); subgradient methods g ← g + λ r'(θ)).
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

#include "core/common.h"

namespace proxbench::core::kernels {

/// Which diagonal preconditioner C_t (ProxGen paper §2 examples).
enum class Precond : int32_t {
  Identity = 0,  ///< C_t + δI := I (proximal SGD with momentum)
  Ema = 1,       ///< v ← β v + (1−β) g², C = sqrt(s_v v) (Adam, RMSProp, Prox-SGD's r)
  Sum = 2,       ///< v ← v + g², C = sqrt(v) (AdaGrad)
};

/// What the fused pass does with z.
enum class Mode : int32_t {
  Prox = 0,      ///< ProxGen / ProxQuant: θ ← prox(z) (with ε = 1) or θ + ε(prox(z) − θ) (Prox-SGD)
  Subgrad = 1,   ///< subgradient methods: g ← g + λ r'(θ), θ ← z (no prox)
  ZTau = 2,      ///< two-phase phase 1: write z and τ into scratch buffers, θ untouched
};

/// Scalars of one step for one tensor (host-computed; the same for every coordinate).
struct DiagCoeffs {
  double wd = 1.0;        ///< θ ← wd·θ first (decoupled weight decay); 1 = off
  double c_m = 0.9;       ///< m ← c_m m + c_g g
  double c_g = 0.1;
  double c_v = 0.999;     ///< v ← c_v v + c_vg g²
  double c_vg = 0.001;
  double s_v = 1.0;       ///< D = sqrt(s_v v) + δ
  double delta = 1e-8;
  double a = 1e-3;        ///< z = θ − a m / D
  double b = 0.0;         ///< τ = b / D (tau_precond) or τ = b
  bool tau_precond = true;
  double eps = 1.0;       ///< θ ← θ + eps (x − θ); 1 = ProxGen, ε_t = Prox-SGD (6)
  double sub_lambda = 0;  ///< Subgrad mode: g ← g + sub_lambda · r'(θ)
  double clip = INFINITY;  ///< Prox mode: x ← min(max(x, −clip), clip) after the prox; +∞ = off
                           ///< (ProxQuant's official code clips to [−1, 1])
  /// The x output (Prox-SGD's x̂ buffer) receives the binarization of θ_{t+1} instead: +1 where
  /// θ_{t+1} ≥ 0, −1 where θ_{t+1} < 0 (NaN passes). BinaryConnect: θ = the latent weights, the
  /// x output = the parameter the forward pass uses (sign of the latent weights), in the same pass.
  bool aux_sign = false;
};

/// Probe sums of a fused pass (one per chunk, merged on the host): ‖θ_{t+1} − θ_t‖², ‖g_t‖², max and
/// min of C_t + δ, non-zero count, count of |θ| ≤ 1e-3, non-zeros of x̂ (Prox-SGD), SR2's sums.
struct ProbeAcc {
  double dtheta_sq = 0, grad_sq = 0;
  double dmax = -std::numeric_limits<double>::infinity();
  double dmin = std::numeric_limits<double>::infinity();
  int64_t nnz = 0, n_small = 0, nnz_aux = 0, numel = 0;
  double e0 = 0, e1 = 0, e2 = 0;  ///< SR2: gᵀs, r(θ), r(θ+s) sums
  void merge(const ProbeAcc& o) {
    dtheta_sq += o.dtheta_sq;
    grad_sq += o.grad_sq;
    dmax = o.dmax > dmax ? o.dmax : dmax;
    dmin = o.dmin < dmin ? o.dmin : dmin;
    nnz += o.nnz;
    n_small += o.n_small;
    nnz_aux += o.nnz_aux;
    numel += o.numel;
    e0 += o.e0;
    e1 += o.e1;
    e2 += o.e2;
  }
};

// ---- per-coordinate functions (PB_HD: reusable by a CUDA kernel) -------------------------------

/// D = C + δ from the (updated) second moment v. Non-decreasing in v (every rounded operation is),
/// so max_i D_i = precond_of_v(max_i v_i) exactly, and likewise for the min.
template <Precond P, class T>
PB_INLINE T precond_of_v(const DiagCoeffs& c, T v) {
  if constexpr (P == Precond::Identity) {
    (void)v;
    return T(1);
  } else if constexpr (P == Precond::Ema) {
    return std::sqrt(T(c.s_v) * v) + T(c.delta);
  } else {
    return std::sqrt(v) + T(c.delta);
  }
}

/// D = C + δ and the moment updates for one coordinate.
template <Precond P, class T>
PB_INLINE T precond_update(const DiagCoeffs& c, T g, T& m, T* v) {
  m = T(c.c_m) * m + T(c.c_g) * g;
  if constexpr (P == Precond::Identity) {
    (void)v;
    return T(1);
  } else {
    if constexpr (P == Precond::Ema)
      *v = T(c.c_v) * *v + T(c.c_vg) * (g * g);
    else
      *v = *v + g * g;
    return precond_of_v<P>(c, *v);
  }
}

/// x clipped to [−c.clip, c.clip]: two selects (max and min on a vector unit), exact and a no-op for
/// the default c.clip = +∞; NaN passes through.
template <class T>
PB_INLINE T apply_clip(const DiagCoeffs& c, T x) {
  x = x < T(-c.clip) ? T(-c.clip) : x;
  return x > T(c.clip) ? T(c.clip) : x;
}

/// The fused diagonal update of one coordinate. Returns θ_{t+1}; D receives C + δ, x the prox
/// output (x̂ for Prox-SGD), z/tau the ZTau outputs. Avg = false drops the Prox-SGD average: the
/// caller guarantees c.eps == 1 (θ ← x), and the loop carries no select on a loop-invariant bool.
/// With Avg, Tail says how the tail is known: −1 at run time (c.eps == 1, c.aux_sign: the CUDA
/// kernels), or at compile time, bit 0 = average (the caller guarantees c.eps ≠ 1), bit 1 = x̂ :=
/// sign(θ_{t+1}) (c.aux_sign) — the CPU loops, which a select between loop-variant values on a
/// loop-invariant flag kept from vectorizing (Prox-SGD and BinaryConnect ran 15-20x slower than
/// ProxGen before: scalar code).
template <Mode M, Precond P, class Op, class T, bool Avg = true, int Tail = -1>
PB_INLINE T diag_update(const Op& op, const DiagCoeffs& c, T theta, T g, T& m, T* v, T& D, T& x, T& tau) {
  const T th = T(c.wd) * theta;  // exact when wd = 1
  if constexpr (M == Mode::Subgrad) g = g + T(c.sub_lambda) * op.subgrad(th);
  D = precond_update<P>(c, g, m, v);
  const T inv_d = T(1) / D;  // one division per coordinate
  T z = th - T(c.a) * m * inv_d;
  // τ = b/D or b, as arithmetic on loop-invariant factors (b·(1/D) + 0 or 0·(1/D) + b: exact), so
  // that no select on a bool stops the CPU loops from vectorizing.
  const T b1 = T(c.tau_precond ? c.b : 0.0), b0 = T(c.tau_precond ? 0.0 : c.b);
  tau = b1 * inv_d + b0;
  if constexpr (M == Mode::Subgrad) {
    x = z;
    return z;
  } else if constexpr (M == Mode::ZTau) {
    x = z;
    return theta;
  } else {
    x = apply_clip(c, op.prox(z, tau));
    if constexpr (!Avg) {
      return x;
    } else if constexpr (Tail < 0) {
      const T nw = c.eps == 1.0 ? x : th + T(c.eps) * (x - th);
      const T sg = nw < T(0) ? T(-1) : (nw >= T(0) ? T(1) : nw);
      x = c.aux_sign ? sg : x;  // select on a loop-invariant flag
      return nw;
    } else {
      T nw = x;
      if constexpr ((Tail & 1) != 0) nw = th + T(c.eps) * (x - th);
      if constexpr ((Tail & 2) != 0) x = nw < T(0) ? T(-1) : (nw >= T(0) ? T(1) : nw);
      return nw;
    }
  }
}

}  // namespace proxbench::core::kernels
