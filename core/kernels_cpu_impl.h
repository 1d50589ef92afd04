// Inner loops of the CPU fused steps (core/kernels_cpu.h). Included by kernels_cpu_base.cpp and
// kernels_cpu_avx2.cpp, each after defining PB_KERNEL_ISA to its namespace (isa_base / isa_avx2):
// the templates below are instantiated once per instruction set, in that namespace.
//
// diag_range walks tiles of kTile coordinates in one loop per tile: the update and, with probes,
// the reductions, vectorized together by GCC's loop vectorizer under `omp simd` (per-lane
// accumulators; the ops of core/prox_scalar.h are branch-free selects). θ, every state buffer, the
// counts and max/min are the same bits from every instruction set; the two sums of squares follow the
// vector width's lane order, so they agree across instruction sets to the rounding of a float sum of
// kTile terms (each tile's T sum is added into the double ProbeAcc).
#pragma once
#ifndef PB_KERNEL_ISA
#error "define PB_KERNEL_ISA (isa_base or isa_avx2) before including core/kernels_cpu_impl.h"
#endif
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "core/kernels_cpu.h"
#include "core/prox_scalar.h"
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include "core/kernels_lanes.h"
#define PB_KERNEL_LANES 1
#endif

namespace proxbench::core::kernels::PB_KERNEL_ISA {
namespace {

constexpr int64_t kTile = 1024;
template <class T>
constexpr int kLanes = int(32 / sizeof(T));  // sr2_loop's lanes: float 8, double 4

// Probes: ‖g‖², ‖θ_{t+1} − θ_t‖² and max/min of D (every step the runner takes). Count: also the
// sparsity counts nnz / n_small / nnz(x̂) (CpuJob::count_sparsity; the runner asks for them on the
// steps it logs only, since they cost about as much as the norms).
// AuxT < 0: no x̂ (θ ← x); 0..3: x̂ stored (buffer or scratch) with diag_update's compile-time tail
// (bit 0: Prox-SGD's average, c.eps ≠ 1; bit 1: x̂ := sign θ_{t+1}, BinaryConnect).
// flatten: every call in the loop is inlined, whatever GCC's unit-growth budget says — the prox maps
// are `inline` only, and with the x̂ tails' instantiations GCC stopped inlining LqOp::prox<float>,
// leaving a call in the loop and the lq step scalar (7x slower, seen 2026-12-01).
template <Mode M, Precond P, bool Probes, bool Count, int AuxT, class Op, class T>
__attribute__((flatten)) void diag_loop(const Op& op, const CpuJob& s, int64_t i0, int64_t i1, ProbeAcc& out) {
  constexpr bool Aux = AuxT >= 0;
  using Int = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;  // counts, as wide as T
  constexpr bool Theta = M != Mode::ZTau, HasV = P != Precond::Identity;
  ProbeAcc acc;  // local: the chunks' slots share cache lines (no false sharing per tile)
  const DiagCoeffs c = s.c;
  T* __restrict th = static_cast<T*>(s.theta);
  const T* __restrict g = static_cast<const T*>(s.grad);
  T* __restrict m = static_cast<T*>(s.m);
  T* __restrict v = static_cast<T*>(s.v);
  T* const aux_buf = static_cast<T*>(s.aux);
  T* __restrict tauo = static_cast<T*>(s.tau);
  T scratch[Aux ? kTile : 1];  // x̂ when ε ≠ 1 but no x̂ buffer is wanted
  const T inf = std::numeric_limits<T>::infinity(), small_thr = T(1e-3);
  T vmax = -inf, vmin = inf;  // of v over the range: D = precond_of_v(max v) once, at the end
  for (int64_t t0 = i0; t0 < i1; t0 += kTile) {
    const int64_t t1 = std::min(i1, t0 + kTile);
    // x̂ / z go to aux[i - ao]: the buffer (ao = 0) or this tile's scratch (ao = t0)
    const bool own = aux_buf != nullptr || M == Mode::ZTau;
    T* __restrict aux = own ? aux_buf : scratch;
    const int64_t ao = own ? 0 : t0;
    // One loop: the update (the scalar ops are branch-free selects) and the probe reductions, which
    // `omp simd` lets the loop vectorizer keep in per-lane accumulators. Sums are T per tile, then
    // added into the double ProbeAcc; counts are exact integer lanes; max/min of D = C + δ are taken
    // on v (D is non-decreasing in v, precond_of_v).
    T g2 = 0, dth = 0;
    Int nz = 0, sm = 0, nza = 0;
    int64_t i_scalar = t0;  // where the scalar form's loop starts
#ifdef PB_KERNEL_LANES
    // l2/3 and general lq in float32: most of the tile as two vectors in lockstep (kernels_lanes.h)
    if constexpr (lanes::kEnabled && lanes::LaneProx<Op>::kHas && std::is_same_v<T, float> && M == Mode::Prox && !Aux) {
      lanes::TileSums ts;
      i_scalar = lanes::lockstep_tile<P, Probes, Count>(op, c, th, g, m, v, t0, t1, ts);
      g2 = ts.g2;
      dth = ts.dth;
      nz = ts.nz;
      sm = ts.sm;
      vmax = vmax > ts.vmax ? vmax : ts.vmax;
      vmin = vmin < ts.vmin ? vmin : ts.vmin;
    }
#endif
#pragma omp simd reduction(+ : g2, dth, nz, sm, nza) reduction(max : vmax) reduction(min : vmin)
    for (int64_t i = i_scalar; i < t1; ++i) {
      const T old = th[i], gv = g[i];
      T mm = m[i], vv = HasV ? v[i] : T(0), D, x, tv;
      const T nw = diag_update<M, P, Op, T, Aux, AuxT>(op, c, old, gv, mm, &vv, D, x, tv);
      m[i] = mm;
      if constexpr (HasV) v[i] = vv;
      if constexpr (M == Mode::ZTau) {
        aux[i - ao] = x;
        tauo[i] = tv;
      } else {
        th[i] = nw;
        if constexpr (Aux) aux[i - ao] = x;
      }
      if constexpr (Probes) {
        g2 += gv * gv;
        if constexpr (HasV) {
          vmax = vmax > vv ? vmax : vv;
          vmin = vmin < vv ? vmin : vv;
        }
        if constexpr (Theta) {
          const T d = nw - old;
          dth += d * d;
          if constexpr (Count) {
            nz += nw != T(0);
            sm += std::fabs(nw) <= small_thr;
            if constexpr (Aux) nza += x != T(0);
          }
        }
      }
    }
    if constexpr (Probes) {
      acc.grad_sq += double(g2);
      if constexpr (Theta) {
        acc.dtheta_sq += double(dth);
        if constexpr (Count) {
          acc.nnz += int64_t(nz);
          acc.n_small += int64_t(sm);
          if (aux_buf != nullptr) acc.nnz_aux += int64_t(nza);
        }
      }
    }
  }
  if constexpr (Probes) {
    if constexpr (HasV) {
      if (vmin <= vmax) {  // a range that saw no (non-NaN) v stays (+∞, −∞)
        acc.dmax = double(precond_of_v<P>(c, vmax));
        acc.dmin = double(precond_of_v<P>(c, vmin));
      }
    } else {
      acc.dmax = acc.dmin = 1.0;  // C + δ := I
    }
    out.merge(acc);
  }
}

/// Phase 3 of the two-phase paths (kernels_cpu.h finish_range), one vectorized loop per tile like
/// diag_loop (T sums per tile into the double ProbeAcc; counts as wide as T). Plain: θ ← x.
template <bool Probes, bool Count, bool Plain, class T>
void finish_loop(const CpuJob& s, int64_t i0, int64_t i1, bool count_aux, ProbeAcc& out) {
  using Int = std::conditional_t<sizeof(T) == 4, int32_t, int64_t>;
  const DiagCoeffs c = s.c;
  const T wd = T(c.wd), eps = T(c.eps), small_thr = T(1e-3);
  T* __restrict th = static_cast<T*>(s.theta);
  const T* __restrict xs = static_cast<const T*>(s.aux);
  ProbeAcc acc;
  for (int64_t t0 = i0; t0 < i1; t0 += kTile) {
    const int64_t t1 = std::min(i1, t0 + kTile);
    T dth = 0;
    Int nz = 0, sm = 0, nza = 0;
#pragma omp simd reduction(+ : dth, nz, sm, nza)
    for (int64_t i = t0; i < t1; ++i) {
      const T old = th[i];
      const T x = apply_clip(c, xs[i]);
      T nw = x;
      if constexpr (!Plain) {
        const T thw = wd * old;
        nw = thw + eps * (x - thw);
      }
      th[i] = nw;
      if constexpr (Probes) {
        const T d = nw - old;
        dth += d * d;
        if constexpr (Count) {
          nz += nw != T(0);
          sm += std::fabs(nw) <= small_thr;
          nza += x != T(0);
        }
      }
    }
    if constexpr (Probes) {
      acc.dtheta_sq += double(dth);
      if constexpr (Count) {
        acc.nnz += int64_t(nz);
        acc.n_small += int64_t(sm);
        if (count_aux) acc.nnz_aux += int64_t(nza);
      }
    }
  }
  if constexpr (Probes) out.merge(acc);
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

/// Group l2,1 prox of one contiguous group (z, τ per member), the math of group_l21_prox
/// (core/prox_scalar.h) with its sums over kGroupLanes fixed lanes (member i in lane i mod 8, the
/// last partial block padded; lanes added in order at the end), so every instruction set gives the
/// same bits. The 8 lanes are kGroupLanes / kGW GCC vectors of the instruction set's own width
/// (per-lane IEEE operations): GCC's vectorizers left these passes scalar, both as lane loops and
/// under `omp simd`, and wider-than-native vectors were lowered lane by lane (perf, 2026-12-01).
/// Newton starts from the z²-weighted lower bound and stops on the certificate of
/// group_l21_prox (kGroupStopRel), so a typical group takes one Newton pass. Two departures from
/// the scalar form, each within rounding of it: the division pass of the zero test runs only when
/// ‖z‖ ≤ max τ, and the closing pass x = z·s/(s+τ) has no division: it reuses the 1/(s'+τ) of the
/// last Newton pass (kept per member in a per-thread buffer), s = s' + d, as
/// s/(s+τ) = s·w·(1 − dw + (dw)² − …), w = 1/(s'+τ), dw ≤ d/s' ≤ kGroupStopRel: the omitted
/// (dw)³ is below 2^−56. Every instruction set still takes the same path, so the bits agree across them.
constexpr int kGroupLanes = 8;
#if defined(__AVX512F__)
constexpr int kGW = 8;
#elif defined(__AVX__)
constexpr int kGW = 4;
#else
constexpr int kGW = 2;
#endif
constexpr int kGV = kGroupLanes / kGW;  // vectors per block of 8 lanes
using GVec = double __attribute__((vector_size(kGW * sizeof(double))));
using GMask = int64_t __attribute__((vector_size(kGW * sizeof(int64_t))));

template <class T>
inline __attribute__((always_inline)) GVec gload(const T* p) {
  T __attribute__((vector_size(kGW * sizeof(T)))) x;
  std::memcpy(&x, p, sizeof x);
  if constexpr (std::is_same_v<T, double>)
    return x;
  else
    return __builtin_convertvector(x, GVec);
}
template <class T>
inline __attribute__((always_inline)) void gstore(T* p, GVec x) {
  if constexpr (std::is_same_v<T, double>) {
    std::memcpy(p, &x, sizeof x);
  } else {
    using FVec = float __attribute__((vector_size(kGW * sizeof(float))));
    const FVec y = __builtin_convertvector(x, FVec);
    std::memcpy(p, &y, sizeof y);
  }
}
inline __attribute__((always_inline)) GVec gabs(GVec x) {
  return GVec(GMask(x) & (GMask{} + std::numeric_limits<int64_t>::max()));
}

template <class T>
void group_prox(T* __restrict z, const T* __restrict tau, int64_t n) {
  if (n <= 0) return;
  constexpr int L = kGroupLanes, V = kGV, W = kGW;
  const int64_t nv = n - n % L;  // members in full blocks of L
  const double t0 = double(tau[0]);
  // The last n − nv members, in lanes 0.. of a block padded with z = 0, τ = τ_0: a padded lane adds
  // +0 to every sum and changes no max (the sums start at +0 and never hold −0), so the bits are
  // those of the unpadded sums. Every pass runs on whole blocks: the lanes stay in registers.
  T zt[L], tt[L];
  for (int l = 0; l < L; ++l) tt[l] = nv + l < n ? tau[nv + l] : tau[0], zt[l] = nv + l < n ? z[nv + l] : T(0);
  const int64_t nb = nv < n ? nv + L : nv;  // end of the blocks, the padded one included
  // f(zp, tp) on the z and τ of each block of L members in order: the full ones in place, then the
  // padded one (every pass below walks the group this way)
  auto for_blocks = [&](auto&& f) __attribute__((always_inline)) {
    for (int64_t i = 0; i < nb; i += L) f(i < nv ? z + i : zt, i < nv ? tau + i : tt);
  };
  const GVec zero{}, one = zero + 1.0;
  // pass 1 (no division): ‖z‖², Σ z²τ, τ ≠ τ_0, max τ, max(|z| − τ, 0)
  GVec nz2[V], tz2[V], tmx[V], lok[V], neq[V];
  for (int j = 0; j < V; ++j) nz2[j] = tz2[j] = lok[j] = neq[j] = zero, tmx[j] = zero + t0;
  for_blocks([&](const T* zp, const T* tp) __attribute__((always_inline)) {
    for (int j = 0; j < V; ++j) {
      const GVec zk = gload(zp + j * W), tk = gload(tp + j * W), z2 = zk * zk;
      nz2[j] += z2;
      tz2[j] += z2 * tk;
      neq[j] = tk != t0 ? one : neq[j];
      tmx[j] = tk > tmx[j] ? tk : tmx[j];
      const GVec lo = gabs(zk) - tk;
      lok[j] = lo > lok[j] ? lo : lok[j];
    }
  });
  double nzs = 0, tzs = 0, tmax = t0, lo_k = 0;
  bool equal = true;
  for (int l = 0; l < L; ++l) {
    const int j = l / W, e = l % W;
    nzs += nz2[j][e];
    tzs += tz2[j][e];
    tmax = tmx[j][e] > tmax ? tmx[j][e] : tmax;
    lo_k = lok[j][e] > lo_k ? lok[j][e] : lo_k;
    equal = equal && neq[j][e] == 0;
  }
  const double nz = std::sqrt(nzs);
  // The zero test ‖z/τ‖² ≤ 1 (z/0 = ±inf; 0/0 := 0) needs its pass of divisions only when
  // ‖z‖ ≤ max τ: otherwise ‖z/τ‖² ≥ ‖z‖²/max τ² > 1 and x ≠ 0 (a NaN in z takes the pass).
  double zts = 2.0;
  if (!equal && !(nz > tmax)) {
    GVec zt2[V];
    for (int j = 0; j < V; ++j) zt2[j] = zero;
    for_blocks([&](const T* zp, const T* tp) __attribute__((always_inline)) {
      for (int j = 0; j < V; ++j) {
        const GVec zk = gload(zp + j * W);
        const GVec r = zk / (zk == 0 ? one : gload(tp + j * W));  // ±0/1 = ±0: r² = +0, as the scalar form's 0
        zt2[j] += r * r;
      }
    });
    zts = 0;
    for (int l = 0; l < L; ++l) zts += zt2[l / W][l % W];
  }
  if (equal || !(zts > 1.0)) {  // block soft threshold (this also covers ‖z‖ = 0 = τ), or x = 0
    const double f = equal && nz > t0 ? 1.0 - t0 / nz : 0.0;
    if (equal && t0 == 0 && nz > t0) return;
    for (int64_t k = 0; k < n; ++k) z[k] = T(double(z[k]) * f);
    return;
  }
  // Newton on φ(s) = 1/√ψ(s) = 1, ψ(s) = Σ (z/(s+τ))², ψ' ∝ Σ z²/(s+τ)³: one division per member,
  // its 1/(s+τ) kept in w for the closing pass. Start and stop as group_l21_prox.
  static thread_local std::vector<double> wbuf;  // grows to the largest group, then no allocation
  if (wbuf.size() < static_cast<size_t>(nb)) wbuf.resize(nb);
  double* __restrict w = wbuf.data();
  double s = group_l21_start(nz, tzs / nzs, tmax, lo_k), s_w = -1;  // s_w: the s of w (none yet)
  for (int it = 0; it < scalar::kNewtonCap; ++it) {
    GVec ps[V], p3[V];
    for (int j = 0; j < V; ++j) ps[j] = p3[j] = zero;
    s_w = s;
    double* wp = w;
    for_blocks([&](const T* zp, const T* tp) __attribute__((always_inline)) {
      for (int j = 0; j < V; ++j) {
        const GVec zk = gload(zp + j * W);
        const GVec inv = one / (s + gload(tp + j * W));
        std::memcpy(wp + j * W, &inv, sizeof inv);
        const GVec r = zk * inv, r2 = zk == 0 ? zero : r * r;
        ps[j] += r2;
        p3[j] += zk == 0 ? zero : r2 * inv;
      }
      wp += L;
    });
    double psi = 0, psi3 = 0;
    for (int l = 0; l < L; ++l) psi += ps[l / W][l % W], psi3 += p3[l / W][l % W];
    const double phi = 1.0 / std::sqrt(psi);
    if (!(phi < 1.0)) break;
    const double dphi = psi3 / (psi * std::sqrt(psi));
    const double sn = s + (1.0 - phi) / dphi;
    if (!(sn > s)) break;
    s = sn;
    if (group_l21_converged<T>(s_w, s)) break;
  }
  // x = z·s/(s+τ), in vectors (GCC left this loop scalar for float: a third of the group's time)
  const GVec sv = zero + s;
  int64_t k = 0;
  if (s_w >= 0 && group_l21_converged<T>(s_w, s)) {  // from w, no division (s = s_w when Newton broke)
    const double d = s - s_w;
    const GVec dv = zero + d;
    for (; k < nv; k += W) {
      GVec wk;
      std::memcpy(&wk, w + k, sizeof wk);
      const GVec u = dv * wk;
      gstore(z + k, gload(z + k) * ((sv * wk) * (one - u + u * u)));
    }
    for (; k < n; ++k) {
      const double u = d * w[k];
      z[k] = T(double(z[k]) * ((s * w[k]) * (1.0 - u + u * u)));
    }
    return;
  }
  for (; k < nv; k += W) gstore(z + k, gload(z + k) * (sv / (sv + gload(tau + k))));
  for (; k < n; ++k) z[k] = T(double(z[k]) * (s / (s + double(tau[k]))));
}

template <class T>
void diag_dispatch(const CpuJob& s, int64_t i0, int64_t i1, ProbeAcc& acc) {
  visit_separable(s.spec, [&](auto op) {
    auto go = [&](auto mode, auto pc) {
      constexpr Mode M = decltype(mode)::value;
      constexpr Precond P = decltype(pc)::value;
      // The Aux instantiation is Prox-SGD's (x̂ stored, θ ← θ + ε(x̂ − θ)), Mode::Prox only; the
      // others assume ε = 1. Counts only with probes, and only in the modes that write θ.
      auto with_aux = [&](auto probes, auto count) {
        constexpr bool Pr = decltype(probes)::value, Co = decltype(count)::value;
        if constexpr (M == Mode::Prox) {
          if (s.aux != nullptr || s.c.eps != 1.0) {
            using Op = decltype(op);
            switch ((s.c.eps != 1.0 ? 1 : 0) | (s.c.aux_sign ? 2 : 0)) {
              case 0:
                return diag_loop<M, P, Pr, Co, 0, Op, T>(op, s, i0, i1, acc);
              case 1:
                return diag_loop<M, P, Pr, Co, 1, Op, T>(op, s, i0, i1, acc);  // Prox-SGD
              case 2:
                return diag_loop<M, P, Pr, Co, 2, Op, T>(op, s, i0, i1, acc);  // BinaryConnect
              default:
                return diag_loop<M, P, Pr, Co, 3, Op, T>(op, s, i0, i1, acc);
            }
          }
        }
        diag_loop<M, P, Pr, Co, -1, decltype(op), T>(op, s, i0, i1, acc);
      };
      using True = std::true_type;
      using False = std::false_type;
      if (!s.probes)
        with_aux(False{}, False{});
      else if constexpr (M == Mode::ZTau)  // phase 1 writes no θ: no counting instantiation
        with_aux(True{}, False{});
      else if (s.count_sparsity)
        with_aux(True{}, True{});
      else
        with_aux(True{}, False{});
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

template <class T>
void finish_dispatch(const CpuJob& s, int64_t i0, int64_t i1, bool count_aux, ProbeAcc& acc) {
  const bool plain = s.c.eps == 1.0 && s.mode != Mode::Subgrad;
  auto go = [&](auto probes, auto count) {
    constexpr bool Pr = decltype(probes)::value, Co = decltype(count)::value;
    if (plain)
      finish_loop<Pr, Co, true, T>(s, i0, i1, count_aux, acc);
    else
      finish_loop<Pr, Co, false, T>(s, i0, i1, count_aux, acc);
  };
  if (!s.probes)
    go(std::false_type{}, std::false_type{});
  else if (s.count_sparsity)
    go(std::true_type{}, std::true_type{});
  else
    go(std::true_type{}, std::false_type{});
}

}  // namespace

void diag_range(const CpuJob& job, int64_t i0, int64_t i1, ProbeAcc& acc) {
  if (job.dbl)
    diag_dispatch<double>(job, i0, i1, acc);
  else
    diag_dispatch<float>(job, i0, i1, acc);
}

void finish_range(const CpuJob& job, int64_t i0, int64_t i1, bool count_aux, ProbeAcc& acc) {
  if (job.dbl)
    finish_dispatch<double>(job, i0, i1, count_aux, acc);
  else
    finish_dispatch<float>(job, i0, i1, count_aux, acc);
}

void group_l21_range(bool dbl, void* z, const void* tau, int64_t n) {
  if (dbl)
    group_prox(static_cast<double*>(z), static_cast<const double*>(tau), n);
  else
    group_prox(static_cast<float*>(z), static_cast<const float*>(tau), n);
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
