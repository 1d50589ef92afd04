// Inner loops of the CPU fused steps (core/kernels_cpu.h). Included by kernels_cpu_base.cpp and
// kernels_cpu_avx2.cpp, each after defining PB_KERNEL_ISA to its namespace (isa_base / isa_avx2):
// the templates below are instantiated once per instruction set, in that namespace.
//
// diag_range walks tiles of kTile coordinates. Per tile: (1) the update, a plain loop that GCC's
// loop vectorizer turns into straight vector code (the scalar ops of core/prox_scalar.h are
// branch-free selects); (2) with probes, the reductions over the tile, in explicit vectors, from the
// data step (1) has just written and that is still in L1: the step remains one pass over memory.
// The reductions keep kLanes<T> lanes (32 bytes) whatever the vector width, so no reassociation
// (no -ffast-math) and the same bits from every instruction set. Per-tile accumulators are T
// (counts: integer lanes) and are added into the double/int64 ProbeAcc after each tile.
#pragma once
#ifndef PB_KERNEL_ISA
#error "define PB_KERNEL_ISA (isa_base or isa_avx2) before including core/kernels_cpu_impl.h"
#endif
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "core/kernels_cpu.h"
#include "core/prox_scalar.h"

namespace proxbench::core::kernels::PB_KERNEL_ISA {
namespace {

constexpr int64_t kTile = 1024;
template <class T>
constexpr int kLanes = int(32 / sizeof(T));  // float: 8, double: 4 (one AVX register per accumulator)

// Explicit vectors (GCC/Clang vector extensions) of the native width: 32 bytes with AVX, else 16.
// The probe accumulators are kLanes<T> lanes wide (32 bytes) in every build: kParts native vectors,
// part k holding lanes [k·W, (k+1)·W). So lane l always sums the same coordinates in the same order.
#if defined(__AVX__)
constexpr int kVecBytes = 32;
#else
constexpr int kVecBytes = 16;
#endif
constexpr int kParts = 32 / kVecBytes;

/// Native vector of T (V), the integer vector a compare of two V yields (I, −1 = true), and the
/// mask that clears the sign bit.
template <class T>
struct Vec {
  using Int = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  typedef T V __attribute__((vector_size(kVecBytes)));
  typedef Int I __attribute__((vector_size(kVecBytes)));
  static constexpr int W = kVecBytes / int(sizeof(T));
  static constexpr Int kAbs = std::numeric_limits<Int>::max();
};
template <class V, class T>
inline V vload(const T* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

template <Mode M, Precond P, bool Probes, bool Aux, class Op, class T>
void diag_loop(const Op& op, const CpuJob& s, int64_t i0, int64_t i1, ProbeAcc& out) {
  using V = typename Vec<T>::V;
  using VI = typename Vec<T>::I;
  constexpr int L = kLanes<T>;
  constexpr bool Theta = M != Mode::ZTau, HasV = P != Precond::Identity;
  ProbeAcc acc;  // local: the chunks' slots share cache lines (no false sharing per tile)
  const DiagCoeffs c = s.c;
  T* __restrict th = static_cast<T*>(s.theta);
  const T* __restrict g = static_cast<const T*>(s.grad);
  T* __restrict m = static_cast<T*>(s.m);
  T* __restrict v = static_cast<T*>(s.v);
  T* const aux_buf = static_cast<T*>(s.aux);
  T* __restrict tauo = static_cast<T*>(s.tau);
  T scratch[Aux ? kTile : 1];                // x̂ when ε ≠ 1 but no x̂ buffer is wanted
  T old_theta[Probes && Theta ? kTile : 1];  // θ_t of the tile, for ‖θ_{t+1} − θ_t‖²
  const T inf = std::numeric_limits<T>::infinity(), small_thr = T(1e-3);
  const VI abs_mask = VI{} + Vec<T>::kAbs;
  constexpr int W = Vec<T>::W;
  const V zero = {}, thr = zero + small_thr;
  V vmax[kParts], vmin[kParts];  // over the whole range: D = precond_of_v(max v) once, at the end
  for (int k = 0; k < kParts; ++k) {
    vmax[k] = zero - inf;
    vmin[k] = zero + inf;
  }
  for (int64_t t0 = i0; t0 < i1; t0 += kTile) {
    const int64_t t1 = std::min(i1, t0 + kTile);
    // x̂ / z go to aux[i - ao]: the buffer (ao = 0) or this tile's scratch (ao = t0)
    const bool own = aux_buf != nullptr || M == Mode::ZTau;
    T* __restrict aux = own ? aux_buf : scratch;
    const int64_t ao = own ? 0 : t0;
    // 1. The update of the tile: a plain loop for the loop vectorizer (the scalar ops are
    //    branch-free selects). With probes it also keeps θ_t in L1 scratch.
    for (int64_t i = t0; i < t1; ++i) {
      const T old = th[i], gv = g[i];
      T mm = m[i], vv = HasV ? v[i] : T(0), D, x, tv;
      const T nw = diag_update<M, P, Op, T, Aux>(op, c, old, gv, mm, &vv, D, x, tv);
      m[i] = mm;
      if constexpr (HasV) v[i] = vv;
      if constexpr (M == Mode::ZTau) {
        aux[i - ao] = x;
        tauo[i] = tv;
      } else {
        th[i] = nw;
        if constexpr (Aux) aux[i - ao] = x;
      }
      if constexpr (Probes && Theta) old_theta[i - t0] = old;
    }
    if constexpr (Probes) {
      // 2. The probes of the tile, from what step 1 just wrote (still in L1: the step stays one pass
      //    over memory), in explicit vectors: per-lane sums in a fixed order, so every instruction
      //    set gives the same bits; counts in exact integer lanes. max/min of D = C + δ are taken on
      //    v (D is non-decreasing in v, precond_of_v).
      V g2[kParts], dth[kParts];
      VI nz[kParts], sm[kParts], nza[kParts];
      for (int k = 0; k < kParts; ++k) {
        g2[k] = dth[k] = zero;
        nz[k] = sm[k] = nza[k] = VI{};
      }
      int64_t i = t0;
      for (; i + L <= t1; i += L) {
        for (int k = 0; k < kParts; ++k) {
          const int64_t j = i + k * W;
          const V gv = vload<V>(g + j);
          g2[k] += gv * gv;
          if constexpr (HasV) {
            const V vv = vload<V>(v + j);
            vmax[k] = vmax[k] > vv ? vmax[k] : vv;
            vmin[k] = vmin[k] < vv ? vmin[k] : vv;
          }
          if constexpr (Theta) {
            const V nw = vload<V>(th + j), d = nw - vload<V>(old_theta + (j - t0));
            dth[k] += d * d;
            nz[k] -= nw != zero;
            sm[k] -= (V)((VI)nw & abs_mask) <= thr;
            if constexpr (Aux) nza[k] -= vload<V>(aux + (j - ao)) != zero;
          }
        }
      }
      for (; i < t1; ++i) {  // the tail, into lane 0
        const T gv = g[i];
        g2[0][0] += gv * gv;
        if constexpr (HasV) {
          vmax[0][0] = vmax[0][0] > v[i] ? vmax[0][0] : v[i];
          vmin[0][0] = vmin[0][0] < v[i] ? vmin[0][0] : v[i];
        }
        if constexpr (Theta) {
          const T nw = th[i], d = nw - old_theta[i - t0];
          dth[0][0] += d * d;
          nz[0][0] += nw != T(0);
          sm[0][0] += std::fabs(nw) <= small_thr;
          if constexpr (Aux) nza[0][0] += aux[i - ao] != T(0);
        }
      }
      for (int l = 0; l < L; ++l) {
        const int k = l / W, w = l % W;
        acc.grad_sq += double(g2[k][w]);
        if constexpr (Theta) {
          acc.dtheta_sq += double(dth[k][w]);
          if (s.count_sparsity) {
            acc.nnz += int64_t(nz[k][w]);
            acc.n_small += int64_t(sm[k][w]);
            if (aux_buf != nullptr) acc.nnz_aux += int64_t(nza[k][w]);
          }
        }
      }
    }
  }
  if constexpr (Probes) {
    if constexpr (HasV) {
      for (int l = 0; l < L; ++l) {
        const int k = l / W, w = l % W;
        if (vmin[k][w] <= vmax[k][w]) {  // a lane that saw no (non-NaN) v stays (+∞, −∞)
          acc.dmax = std::max(acc.dmax, double(precond_of_v<P>(c, T(vmax[k][w]))));
          acc.dmin = std::min(acc.dmin, double(precond_of_v<P>(c, T(vmin[k][w]))));
        }
      }
    } else {
      acc.dmax = acc.dmin = 1.0;  // C + δ := I
    }
    out.merge(acc);
  }
}

template <bool Probes, class Op, class T>
void sr2_loop(const Op& op, const CpuSr2Job& s, int64_t i0, int64_t i1, ProbeAcc& out) {
  ProbeAcc acc;
  constexpr int L = kLanes<T>;
  T* __restrict th = static_cast<T*>(s.theta);
  const T* __restrict g = static_cast<const T*>(s.grad);
  T* __restrict prev = static_cast<T*>(s.prev);
  const T ls = T(s.lam_sig), is = T(s.inv_sigma), small_thr = T(1e-3);
  for (int64_t t0 = i0; t0 < i1; t0 += kTile) {
    const int64_t t1 = std::min(i1, t0 + kTile);
    double gs[L], r0[L], r1[L], s2[L], g2[L];
    T nz[L], sm[L];
    for (int l = 0; l < L; ++l) gs[l] = r0[l] = r1[l] = s2[l] = g2[l] = nz[l] = sm[l] = 0;
    auto body = [&](int64_t i, int l) __attribute__((always_inline)) {
      const T t = th[i], gi = g[i];
      const T x = op.prox(t - gi * is, ls);
      const T st = x - t;
      prev[i] = t;
      th[i] = x;
      gs[l] += double(gi) * double(st);
      r0[l] += double(op.value(t));
      r1[l] += double(op.value(x));
      s2[l] += double(st) * double(st);
      g2[l] += double(gi) * double(gi);
      if constexpr (Probes) {
        nz[l] += x != T(0) ? T(1) : T(0);
        sm[l] += std::fabs(x) <= small_thr ? T(1) : T(0);
      }
    };
    int64_t i = t0;
    for (; i + L <= t1; i += L)
      for (int l = 0; l < L; ++l) body(i + l, l);
    for (; i < t1; ++i) body(i, 0);
    for (int l = 0; l < L; ++l) {
      acc.e0 += gs[l];
      acc.e1 += r0[l];
      acc.e2 += r1[l];
      acc.dtheta_sq += s2[l];
      acc.grad_sq += g2[l];
      if (Probes && s.count_sparsity) {
        acc.nnz += int64_t(nz[l]);
        acc.n_small += int64_t(sm[l]);
      }
    }
  }
  out.merge(acc);
}

template <class T>
void diag_dispatch(const CpuJob& s, int64_t i0, int64_t i1, ProbeAcc& acc) {
  visit_separable(s.spec, [&](auto op) {
    auto go = [&](auto mode, auto pc) {
      constexpr Mode M = decltype(mode)::value;
      constexpr Precond P = decltype(pc)::value;
      // The Aux instantiation is Prox-SGD's (x̂ stored, θ ← θ + ε(x̂ − θ)); the others assume ε = 1.
      const bool aux = M == Mode::Prox && (s.aux != nullptr || s.c.eps != 1.0);
      if (s.probes) {
        if (aux)
          diag_loop<M, P, true, true, decltype(op), T>(op, s, i0, i1, acc);
        else
          diag_loop<M, P, true, false, decltype(op), T>(op, s, i0, i1, acc);
      } else {
        if (aux)
          diag_loop<M, P, false, true, decltype(op), T>(op, s, i0, i1, acc);
        else
          diag_loop<M, P, false, false, decltype(op), T>(op, s, i0, i1, acc);
      }
    };
    auto with_precond = [&](auto mode) {
      switch (s.precond) {
        case Precond::Identity:
          return go(mode, std::integral_constant<Precond, Precond::Identity>{});
        case Precond::Ema:
          return go(mode, std::integral_constant<Precond, Precond::Ema>{});
        case Precond::Sum:
          return go(mode, std::integral_constant<Precond, Precond::Sum>{});
      }
    };
    switch (s.mode) {
      case Mode::Prox:
        return with_precond(std::integral_constant<Mode, Mode::Prox>{});
      case Mode::Subgrad:
        return with_precond(std::integral_constant<Mode, Mode::Subgrad>{});
      case Mode::ZTau:  // phase 1 of the two-phase paths: no prox, the op is irrelevant
        if constexpr (std::is_same_v<decltype(op), scalar::NoneOp>)
          return with_precond(std::integral_constant<Mode, Mode::ZTau>{});
        return;
    }
  });
}

}  // namespace

void diag_range(const CpuJob& job, int64_t i0, int64_t i1, ProbeAcc& acc) {
  if (job.dbl)
    diag_dispatch<double>(job, i0, i1, acc);
  else
    diag_dispatch<float>(job, i0, i1, acc);
}

void sr2_range(const CpuSr2Job& job, int64_t i0, int64_t i1, ProbeAcc& acc) {
  visit_separable(job.spec, [&](auto op) {
    if (job.dbl) {
      if (job.probes)
        sr2_loop<true, decltype(op), double>(op, job, i0, i1, acc);
      else
        sr2_loop<false, decltype(op), double>(op, job, i0, i1, acc);
    } else {
      if (job.probes)
        sr2_loop<true, decltype(op), float>(op, job, i0, i1, acc);
      else
        sr2_loop<false, decltype(op), float>(op, job, i0, i1, acc);
    }
  });
}

}  // namespace proxbench::core::kernels::PB_KERNEL_ISA
