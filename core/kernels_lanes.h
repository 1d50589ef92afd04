// Lockstep vector lanes for the heaviest float32 maps of the fused CPU loops (core/kernels_cpu_impl.h).
//
// GCC's loop vectorizer turns one scalar iteration of diag_loop into one native vector per step
// of the loop, and the step of l2/3 or general lq is a dependency chain of ~150 instructions
// (moments, square root, division, the map's polynomials, a second square root). Zen 4 (and
// llvm-mca's Zen 3 model) then keeps barely one iteration in flight: the FP scheduler fills with
// instructions that wait on the chain, and the loop runs at ~1.6 instructions per cycle. Two
// independent vectors whose instructions alternate in program order (lockstep) fill the same
// window with twice the independent work. Unrolling does not give that order (GCC emits one
// iteration's chain after the other, measured: no gain), so here the map is written once over a
// "lane set" (core/prox_scalar.h ScalarLanes: l23_f32_core, lq_f32_core) and this header supplies
// the lane set Lanes<K>: K native vectors of this instruction set per value, every operation
// applied to the K vectors one after the other.
//
// Bits: the maps are the same templates as the scalar forms, with the same IEEE operations in the
// same order, and lockstep_tile performs diag_update's operations for Mode::Prox without x̂; θ,
// m and v are therefore the bits of the scalar loop and of every other instruction set (checked by
// tests/test_kernel_isa.cpp). The sums of squares follow this loop's lane order (2·W lanes), within
// kernels_cpu_impl.h's documented bound.
//
// Included by core/kernels_cpu_impl.h inside no namespace, after PB_KERNEL_ISA is defined: every
// type here lives in that instruction set's namespace (the native vector width differs per
// translation unit, so nothing may be shared between them).
#pragma once
#ifndef PB_KERNEL_ISA
#error "define PB_KERNEL_ISA before including core/kernels_lanes.h"
#endif
#include <immintrin.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/kernels_coord.h"
#include "core/prox_scalar.h"

namespace proxbench::core::kernels::PB_KERNEL_ISA::lanes {

#define PB_LANE_INLINE __attribute__((always_inline)) inline

#if defined(__AVX512F__)
constexpr int kW = 16;  ///< float lanes of one native vector
#elif defined(__AVX__)
constexpr int kW = 8;
#else
constexpr int kW = 4;
#endif
/// The lockstep loop runs on AVX2 and AVX-512 only; the baseline loops stay the scalar form's
/// auto-vectorized reference.
constexpr bool kEnabled = kW >= 8;

typedef float NF __attribute__((vector_size(4 * kW)));
typedef int32_t NI __attribute__((vector_size(4 * kW)));
typedef uint32_t NU __attribute__((vector_size(4 * kW)));

/// K native vectors processed in lockstep. Arithmetic, bit and comparison operators apply to
/// element k of both operands for k = 0..K−1, in that order; a scalar operand is broadcast.
/// Comparisons give Pk<NI, K> masks (−1 / 0 per lane).
template <class V, int K>
struct Pk {
  V v[K];
};

#define PB_LANE_BIN(op)                                                                 \
  template <class V, int K>                                                             \
  PB_LANE_INLINE Pk<V, K> operator op(const Pk<V, K>& x, const Pk<V, K>& y) {           \
    Pk<V, K> r;                                                                         \
    for (int k = 0; k < K; ++k) r.v[k] = x.v[k] op y.v[k];                              \
    return r;                                                                           \
  }                                                                                     \
  template <class V, int K, class S, class = std::enable_if_t<std::is_arithmetic_v<S>>> \
  PB_LANE_INLINE Pk<V, K> operator op(const Pk<V, K>& x, S y) {                         \
    Pk<V, K> r;                                                                         \
    for (int k = 0; k < K; ++k) r.v[k] = x.v[k] op y;                                   \
    return r;                                                                           \
  }                                                                                     \
  template <class V, int K, class S, class = std::enable_if_t<std::is_arithmetic_v<S>>> \
  PB_LANE_INLINE Pk<V, K> operator op(S x, const Pk<V, K>& y) {                         \
    Pk<V, K> r;                                                                         \
    for (int k = 0; k < K; ++k) r.v[k] = x op y.v[k];                                   \
    return r;                                                                           \
  }
PB_LANE_BIN(+)
PB_LANE_BIN(-)
PB_LANE_BIN(*)
PB_LANE_BIN(/)
PB_LANE_BIN(&)
PB_LANE_BIN(|)
PB_LANE_BIN(>>)
PB_LANE_BIN(<<)
#undef PB_LANE_BIN

#define PB_LANE_CMP(op)                                                                 \
  template <class V, int K>                                                             \
  PB_LANE_INLINE Pk<NI, K> operator op(const Pk<V, K>& x, const Pk<V, K>& y) {          \
    Pk<NI, K> r;                                                                        \
    for (int k = 0; k < K; ++k) r.v[k] = (NI)(x.v[k] op y.v[k]);                        \
    return r;                                                                           \
  }                                                                                     \
  template <class V, int K, class S, class = std::enable_if_t<std::is_arithmetic_v<S>>> \
  PB_LANE_INLINE Pk<NI, K> operator op(const Pk<V, K>& x, S y) {                        \
    Pk<NI, K> r;                                                                        \
    for (int k = 0; k < K; ++k) r.v[k] = (NI)(x.v[k] op y);                             \
    return r;                                                                           \
  }
PB_LANE_CMP(<)
PB_LANE_CMP(>)
PB_LANE_CMP(<=)
PB_LANE_CMP(==)
PB_LANE_CMP(!=)
#undef PB_LANE_CMP

PB_LANE_INLINE NF native_sqrt(NF x) {
#if defined(__AVX512F__)
  return (NF)_mm512_sqrt_ps((__m512)x);
#elif defined(__AVX__)
  return (NF)_mm256_sqrt_ps((__m256)x);
#else
  return (NF)_mm_sqrt_ps((__m128)x);
#endif
}

/// The lane set of K native vectors: the static members of core/prox_scalar.h ScalarLanes, lane-wise.
template <int K>
struct Lanes {
  static constexpr int kN = K * kW;  ///< floats per value
  using F = Pk<NF, K>;
  using I = Pk<NI, K>;
  using U = Pk<NU, K>;
  template <class To, class From>
  PB_LANE_INLINE static To cast(const From& x) {  // bit cast per native vector
    To r;
    for (int k = 0; k < K; ++k) r.v[k] = (std::remove_reference_t<decltype(r.v[0])>)x.v[k];
    return r;
  }
  PB_LANE_INLINE static U bits(const F& x) { return cast<U>(x); }
  PB_LANE_INLINE static F from_bits(const U& x) { return cast<F>(x); }
  PB_LANE_INLINE static I u2i(const U& x) { return cast<I>(x); }
  PB_LANE_INLINE static U i2u(const I& x) { return cast<U>(x); }
  PB_LANE_INLINE static F to_f(const I& x) {
    F r;
    for (int k = 0; k < K; ++k) r.v[k] = __builtin_convertvector(x.v[k], NF);
    return r;
  }
  PB_LANE_INLINE static I to_i(const F& x) {  // truncates, as int32_t(float)
    I r;
    for (int k = 0; k < K; ++k) r.v[k] = __builtin_convertvector(x.v[k], NI);
    return r;
  }
  PB_LANE_INLINE static F sqrt(const F& x) {
    F r;
    for (int k = 0; k < K; ++k) r.v[k] = native_sqrt(x.v[k]);
    return r;
  }
  PB_LANE_INLINE static F f(float s) {
    F r;
    for (int k = 0; k < K; ++k) r.v[k] = NF{} + s;
    return r;
  }
  PB_LANE_INLINE static I i(int32_t s) {
    I r;
    for (int k = 0; k < K; ++k) r.v[k] = NI{} + s;
    return r;
  }
  template <class T>
  PB_LANE_INLINE static T sel(const I& m, const T& a, const T& b) {
    T r;
    for (int k = 0; k < K; ++k) r.v[k] = m.v[k] ? a.v[k] : b.v[k];
    return r;
  }
  PB_LANE_INLINE static F abs(const F& x) { return from_bits(bits(x) & 0x7FFFFFFFu); }
  /// std::copysign: the magnitude of mag with the sign bit of z.
  PB_LANE_INLINE static F copysign(const F& mag, const F& z) {
    return from_bits((bits(mag) & 0x7FFFFFFFu) | (bits(z) & 0x80000000u));
  }
  PB_LANE_INLINE static F load(const float* p) {
    F r;
    for (int k = 0; k < K; ++k) std::memcpy(&r.v[k], p + k * kW, sizeof(NF));
    return r;
  }
  PB_LANE_INLINE static void store(float* p, const F& x) {
    for (int k = 0; k < K; ++k) std::memcpy(p + k * kW, &x.v[k], sizeof(NF));
  }
  /// x's lanes folded in order (vector 0 lane 0 first): acc = fn(acc, lane).
  template <class V, class T, class Fn>
  PB_LANE_INLINE static T fold(const Pk<V, K>& x, T acc, Fn fn) {
    for (int k = 0; k < K; ++k)
      for (int l = 0; l < kW; ++l) acc = fn(acc, T(x.v[k][l]));
    return acc;
  }
  /// Σ of the lanes in order, in the lanes' type (float or int32).
  template <class V>
  PB_LANE_INLINE static auto sum(const Pk<V, K>& x) {
    using T = std::remove_cv_t<std::remove_reference_t<decltype(x.v[0][0])>>;
    return fold(x, T(0), [](T a, T b) { return a + b; });
  }
};

/// Which ops have a lockstep form (LaneProx<Op>::prox, the op's float32 prox over a lane set).
template <class Op>
struct LaneProx {
  static constexpr bool kHas = false;
};

/// The op's prox around a shrink core, as the scalar ops write it: a = |z|, x = sign(z)·(a − d)
/// where the core's mask is set, else 0; τ = 0 returns z. core(a, d) returns the mask and sets d.
template <class L, class Core>
PB_LANE_INLINE typename L::F shrink_prox(const typename L::F& z, const typename L::F& tau, Core core) {
  using F = typename L::F;
  const F a = L::abs(z);
  F d;
  const auto nz = core(a, d);
  const F x = L::sel(nz, L::copysign(a - d, z), L::f(0.0f));
  return L::sel(tau == 0.0f, z, x);
}

/// scalar::L23Op::prox for float32 data.
template <>
struct LaneProx<scalar::L23Op> {
  static constexpr bool kHas = true;
  template <class L>
  PB_LANE_INLINE static typename L::F prox(const scalar::L23Op&, const typename L::F& z, const typename L::F& tau) {
    return shrink_prox<L>(
        z, tau, [&](const typename L::F& a, typename L::F& d) __attribute__((always_inline)) {
          return scalar::l23_f32_core<L>(a, tau, d);
        });
  }
};

/// scalar::LqOpT<true>::prox for float32 data (shrink_lq_f32).
template <>
struct LaneProx<scalar::LqOpT<true>> {
  static constexpr bool kHas = true;
  template <class L>
  PB_LANE_INLINE static typename L::F prox(const scalar::LqOpT<true>& op, const typename L::F& z,
                                           const typename L::F& tau) {
    return shrink_prox<L>(
        z, tau, [&](const typename L::F& a, typename L::F& d) __attribute__((always_inline)) {
          return scalar::lq_f32_core<L>(a, tau, op.c, d);
        });
  }
};

/// Per-tile partial results of lockstep_tile, added into diag_loop's reductions.
struct TileSums {
  float g2 = 0, dth = 0;
  float vmax = -std::numeric_limits<float>::infinity(), vmin = std::numeric_limits<float>::infinity();
  int32_t nz = 0, sm = 0;
};

/// diag_update<Mode::Prox, P, Op, float, Avg = false> (θ ← x, no x̂) and diag_loop's probes over
/// the largest multiple of 2·kW coordinates in [t0, t1), two native vectors in lockstep. Returns
/// the first coordinate it did not do (the caller's scalar-form loop does the rest of the tile).
template <Precond P, bool Probes, bool Count, class Op>
PB_LANE_INLINE int64_t lockstep_tile(const Op& op, const DiagCoeffs& c, float* __restrict th, const float* __restrict g,
                                     float* __restrict m, float* __restrict v, int64_t t0, int64_t t1, TileSums& out) {
  using L = Lanes<2>;
  using F = L::F;
  using I = L::I;
  constexpr bool HasV = P != Precond::Identity;
  const int64_t end = t0 + (t1 - t0) / L::kN * L::kN;
  // the loop-invariant factors, converted as diag_update converts them (T(c.x))
  const float wd = float(c.wd), cm = float(c.c_m), cg = float(c.c_g), cv = float(c.c_v), cvg = float(c.c_vg);
  const float sv = float(c.s_v), delta = float(c.delta), ca = float(c.a);
  const float b1 = float(c.tau_precond ? c.b : 0.0), b0 = float(c.tau_precond ? 0.0 : c.b);
  const float clip = float(c.clip), small_thr = 1e-3f;
  F g2 = L::f(0.0f), dth = L::f(0.0f), vmax = L::f(out.vmax), vmin = L::f(out.vmin);
  I nz = L::i(0), sm = L::i(0);
  for (int64_t i = t0; i < end; i += L::kN) {
    const F old = L::load(th + i), gv = L::load(g + i);
    const F thw = wd * old;
    F mm = L::load(m + i);
    mm = cm * mm + cg * gv;
    F D = L::f(1.0f), vv = L::f(0.0f);
    if constexpr (P == Precond::Ema) {
      vv = L::load(v + i);
      vv = cv * vv + cvg * (gv * gv);
      D = L::sqrt(sv * vv) + delta;
    } else if constexpr (P == Precond::Sum) {
      vv = L::load(v + i);
      vv = vv + gv * gv;
      D = L::sqrt(vv) + delta;
    }
    const F inv_d = 1.0f / D;
    const F z = thw - ca * mm * inv_d;
    const F tau = b1 * inv_d + b0;
    F x = LaneProx<Op>::template prox<L>(op, z, tau);
    x = L::sel(x < -clip, L::f(-clip), x);  // apply_clip
    x = L::sel(x > clip, L::f(clip), x);
    L::store(m + i, mm);
    if constexpr (HasV) L::store(v + i, vv);
    L::store(th + i, x);
    if constexpr (Probes) {
      g2 = g2 + gv * gv;
      if constexpr (HasV) {
        vmax = L::sel(vmax > vv, vmax, vv);
        vmin = L::sel(vmin < vv, vmin, vv);
      }
      const F d = x - old;
      dth = dth + d * d;
      if constexpr (Count) {
        nz = nz - (x != 0.0f);  // masks are −1
        sm = sm - (L::abs(x) <= small_thr);
      }
    }
  }
  if constexpr (Probes) {
    out.g2 = L::sum(g2);
    out.dth = L::sum(dth);
    if constexpr (HasV) {
      out.vmax = L::fold(vmax, out.vmax, [](float a, float b) { return a > b ? a : b; });
      out.vmin = L::fold(vmin, out.vmin, [](float a, float b) { return a < b ? a : b; });
    }
    if constexpr (Count) {
      out.nz = L::sum(nz);
      out.sm = L::sum(sm);
    }
  }
  return end;
}

#undef PB_LANE_INLINE

}  // namespace proxbench::core::kernels::PB_KERNEL_ISA::lanes
