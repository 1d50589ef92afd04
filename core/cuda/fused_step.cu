// CUDA kernels of the fused optimizer steps; see core/cuda/fused_step.h. Compiled by nvcc without
// LibTorch (flags: -std=c++17 --expt-relaxed-constexpr --fmad=false). The per-coordinate math is NOT written
// here: every kernel calls kernels::diag_update / the scalar ops of core/prox_scalar.h, exactly the
// functions the CPU loops of core/kernels.cpp call.
#include "core/cuda/fused_step.h"

#include <cuda_runtime.h>

#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>

namespace proxbench::core::cuda {
namespace {

using kernels::DiagCoeffs;
using kernels::Mode;
using kernels::Precond;

constexpr int kThreads = 256;  // every kernel runs 256-thread blocks (the reductions assume it)
constexpr int kWarps = kThreads / 32;
constexpr unsigned kFull = 0xffffffffu;
constexpr int kMaxDevices = 64;
constexpr int kProbeSlots = 4096;  // per device; the glue fetches early if a step needs more

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw std::runtime_error(std::string("proxbench CUDA ") + what + ": " + cudaGetErrorString(e));
}

// ---- per-device workspace: block partials (max_blocks slots), the step's probe slots (device) and
// their pinned host mirror ------------------------------------------------------------------------
struct Workspace {
  DeviceProbes* partials = nullptr;
  DeviceProbes* slots = nullptr;  ///< one per launch with probes since the last fetch_probes
  DeviceProbes* host = nullptr;   ///< pinned, kProbeSlots
  int max_blocks = 0;
  int used = 0;   ///< slots used since the last fetch_probes
  std::mutex mu;  // serializes use of the partials / slots between host threads
};

Workspace& workspace() {
  static Workspace ws[kMaxDevices];
  static std::mutex init_mu;
  int dev = 0;
  check(cudaGetDevice(&dev), "cudaGetDevice");
  if (dev < 0 || dev >= kMaxDevices) throw std::runtime_error("proxbench CUDA: device index out of range");
  Workspace& w = ws[dev];
  std::lock_guard<std::mutex> lk(init_mu);
  if (w.max_blocks == 0) {
    int sms = 0;
    check(cudaDeviceGetAttribute(&sms, cudaDevAttrMultiProcessorCount, dev), "cudaDeviceGetAttribute");
    const int mb = (sms > 0 ? sms : 1) * 8;
    check(cudaMalloc(reinterpret_cast<void**>(&w.partials), sizeof(DeviceProbes) * size_t(mb)), "cudaMalloc(partials)");
    check(cudaMalloc(reinterpret_cast<void**>(&w.slots), sizeof(DeviceProbes) * size_t(kProbeSlots)),
          "cudaMalloc(slots)");
    check(cudaMallocHost(reinterpret_cast<void**>(&w.host), sizeof(DeviceProbes) * size_t(kProbeSlots)),
          "cudaMallocHost(probes)");
    w.max_blocks = mb;
  }
  return w;
}

int grid_for(int64_t work, const Workspace& w) {
  const int64_t b = (work + kThreads - 1) / kThreads;
  return int(b < 1 ? 1 : (b > w.max_blocks ? w.max_blocks : b));
}

// ---- reductions ------------------------------------------------------------------------------
__device__ __forceinline__ void merge(DeviceProbes& a, const DeviceProbes& b) {
  a.dtheta_sq += b.dtheta_sq;
  a.grad_sq += b.grad_sq;
  a.dmax = fmax(a.dmax, b.dmax);
  a.dmin = fmin(a.dmin, b.dmin);
  a.nnz += b.nnz;
  a.n_small += b.n_small;
  a.nnz_aux += b.nnz_aux;
  a.e0 += b.e0;
  a.e1 += b.e1;
  a.e2 += b.e2;
}

__device__ __forceinline__ void warp_reduce(DeviceProbes& a) {
  for (int o = 16; o > 0; o >>= 1) {
    DeviceProbes b;
    b.dtheta_sq = __shfl_down_sync(kFull, a.dtheta_sq, o);
    b.grad_sq = __shfl_down_sync(kFull, a.grad_sq, o);
    b.dmax = __shfl_down_sync(kFull, a.dmax, o);
    b.dmin = __shfl_down_sync(kFull, a.dmin, o);
    b.nnz = __shfl_down_sync(kFull, a.nnz, o);
    b.n_small = __shfl_down_sync(kFull, a.n_small, o);
    b.nnz_aux = __shfl_down_sync(kFull, a.nnz_aux, o);
    b.e0 = __shfl_down_sync(kFull, a.e0, o);
    b.e1 = __shfl_down_sync(kFull, a.e1, o);
    b.e2 = __shfl_down_sync(kFull, a.e2, o);
    merge(a, b);
  }
}

/// Reduces a over the block (warp shuffles, then the warp leaders through shared memory) and
/// stores the block total in *slot (thread 0).
__device__ void block_reduce_store(DeviceProbes a, DeviceProbes* slot) {
  __shared__ alignas(DeviceProbes) unsigned char raw[sizeof(DeviceProbes) * kWarps];
  DeviceProbes* sh = reinterpret_cast<DeviceProbes*>(raw);
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  warp_reduce(a);
  __syncthreads();
  if (lane == 0) sh[w] = a;
  __syncthreads();
  if (w == 0) {
    DeviceProbes b;
    if (lane < kWarps) b = sh[lane];
    warp_reduce(b);
    if (lane == 0) *slot = b;
  }
}

struct SumF {
  __device__ double operator()(double a, double b) const { return a + b; }
};
struct MaxF {
  __device__ double operator()(double a, double b) const { return fmax(a, b); }
};
struct MinF {
  __device__ double operator()(double a, double b) const { return fmin(a, b); }
};

/// Block-wide reduction of one double, result returned to every thread.
template <class F>
__device__ double block_all(double v, double identity, F f) {
  __shared__ double sh[kWarps + 1];
  const int lane = threadIdx.x & 31, w = threadIdx.x >> 5;
  for (int o = 16; o > 0; o >>= 1) v = f(v, __shfl_down_sync(kFull, v, o));
  __syncthreads();  // earlier readers of sh are done
  if (lane == 0) sh[w] = v;
  __syncthreads();
  if (w == 0) {
    double b = lane < kWarps ? sh[lane] : identity;
    for (int o = 16; o > 0; o >>= 1) b = f(b, __shfl_down_sync(kFull, b, o));
    if (lane == 0) sh[kWarps] = b;
  }
  __syncthreads();
  return sh[kWarps];
}

__global__ void __launch_bounds__(kThreads)
    final_reduce_kernel(const DeviceProbes* partials, int nblocks, DeviceProbes* out) {
  DeviceProbes a;
  for (int i = threadIdx.x; i < nblocks; i += blockDim.x) merge(a, partials[i]);
  block_reduce_store(a, out);
}

/// Next free step slot (throws when full: the glue fetches before that, see probe_slots_free).
int next_slot(Workspace& w) {
  if (w.used >= kProbeSlots) throw std::runtime_error("proxbench CUDA: probe slots exhausted (fetch_probes missing)");
  return w.used++;
}

/// Final reduction of `blocks` partials into the next step slot; no copy (fetch_probes copies).
void collect(Workspace& w, int blocks, cudaStream_t s, int* slot) {
  const int k = next_slot(w);
  final_reduce_kernel<<<1, kThreads, 0, s>>>(w.partials, blocks, w.slots + k);
  check(cudaGetLastError(), "final reduction launch");
  if (slot) *slot = k;
}

/// The θ probes of one coordinate (the fused pass and phase 3): ‖θ_{t+1} − θ_t‖², non-zeros, |θ| ≤ 1e-3, x̂ ≠ 0.
template <class T>
__device__ __forceinline__ void theta_probes(DeviceProbes& a, T old, T nw, T x, bool count, bool write_aux) {
  const double d = double(nw) - double(old);
  a.dtheta_sq += d * d;
  if (count) {
    a.nnz += nw != T(0);
    a.n_small += std::fabs(nw) <= T(1e-3);
    if (write_aux) a.nnz_aux += x != T(0);
  }
}

// ---- the fused diagonal step (kernels.cpp diag_range, one coordinate per grid-stride index) -----
// `probes` is a runtime flag (uniform branch; the kernel is memory-bound) to halve the number of
// instantiations; with probes off there is no block reduction and no copy.
template <Mode M, Precond P, class Op, class T>
__global__ void __launch_bounds__(kThreads)
    diag_kernel(Op op, DiagCoeffs c, bool probes, bool count, DiagPtrs<T> p, DeviceProbes* partials) {
  DeviceProbes a;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < p.n; i += stride) {
    T D, x, t;
    const T old = p.theta[i], gi = p.grad[i];
    T mi = p.m[i];
    T vi = P == Precond::Identity ? T(0) : p.v[i];
    const T nw = kernels::diag_update<M, P>(op, c, old, gi, mi, P == Precond::Identity ? nullptr : &vi, D, x, t);
    p.m[i] = mi;
    if constexpr (P != Precond::Identity) p.v[i] = vi;
    if constexpr (M == Mode::ZTau) {
      p.aux[i] = x;
      p.tau[i] = t;
    } else {
      p.theta[i] = nw;
      if (p.aux) p.aux[i] = x;
    }
    if (probes) {
      a.grad_sq += double(gi) * double(gi);
      a.dmax = fmax(a.dmax, double(D));
      a.dmin = fmin(a.dmin, double(D));
      if constexpr (M != Mode::ZTau) {
        theta_probes(a, old, nw, x, count, p.aux != nullptr);
      }
    }
  }
  if (probes) block_reduce_store(a, partials + blockIdx.x);
}

/// f(mode, precond) with compile-time constants, as kernels.cpp dispatch_mpp.
template <class F>
void dispatch_mp(const DiagLaunch& L, F&& f) {
  auto with_precond = [&](auto mode) {
    switch (L.precond) {
      case Precond::Identity:
        return f(mode, std::integral_constant<Precond, Precond::Identity>{});
      case Precond::Ema:
        return f(mode, std::integral_constant<Precond, Precond::Ema>{});
      case Precond::Sum:
        return f(mode, std::integral_constant<Precond, Precond::Sum>{});
    }
    throw std::runtime_error("proxbench CUDA: unknown preconditioner");
  };
  switch (L.mode) {
    case Mode::Prox:
      return with_precond(std::integral_constant<Mode, Mode::Prox>{});
    case Mode::Subgrad:
      return with_precond(std::integral_constant<Mode, Mode::Subgrad>{});
    case Mode::ZTau:
      return with_precond(std::integral_constant<Mode, Mode::ZTau>{});
  }
  throw std::runtime_error("proxbench CUDA: unknown mode");
}

/// Calls f(op) with the scalar op of a separable spec (host side of visit_separable).
template <class F>
void host_visit(const RegSpec& spec, F&& f) {
  if (spec.kind == RegKind::GroupL21 || spec.kind == RegKind::Custom)
    throw std::runtime_error("proxbench CUDA: group / custom regularizers have no scalar op (two-phase path)");
  visit_separable(spec, [&](auto op) { f(op); });
}

template <class T>
void diag_step_t(const DiagLaunch& L, const DiagPtrs<T>& p, void* stream, int* slot) {
  if (slot) *slot = -1;
  if (p.n <= 0) return;
  Workspace& w = workspace();
  const int blocks = grid_for(p.n, w);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  std::unique_lock<std::mutex> lk(w.mu, std::defer_lock);
  if (L.probes) lk.lock();
  host_visit(L.reg, [&](auto op) {
    dispatch_mp(L, [&](auto mode, auto pc) {
      constexpr Mode M = decltype(mode)::value;
      constexpr Precond P = decltype(pc)::value;
      if constexpr (M == Mode::ZTau && !std::is_same_v<decltype(op), scalar::NoneOp>) {
        throw std::runtime_error("proxbench CUDA: ZTau mode takes no regularizer (two-phase phase 1)");
      } else {
        diag_kernel<M, P>
            <<<blocks, kThreads, 0, s>>>(op, L.c, L.probes, L.count_sparsity, p, L.probes ? w.partials : nullptr);
      }
    });
  });
  check(cudaGetLastError(), "diag_step launch");
  if (L.probes) collect(w, blocks, s, slot);
}

// ---- phase 3 of the two-phase form (kernels.cpp finish_range) ----------------------------------
template <bool Probes, class T>
__global__ void __launch_bounds__(kThreads) finish_kernel(DiagCoeffs c, bool plain, bool count, bool write_aux, T* th,
                                                          const T* aux, int64_t n, DeviceProbes* partials) {
  DeviceProbes a;
  const T wd = T(c.wd), eps = T(c.eps);
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const T old = th[i], x = kernels::apply_clip(c, aux[i]);
    const T thw = wd * old;
    const T nw = plain ? x : thw + eps * (x - thw);
    th[i] = nw;
    if constexpr (Probes) {
      theta_probes(a, old, nw, x, count, write_aux);
    }
  }
  if constexpr (Probes) block_reduce_store(a, partials + blockIdx.x);
}

template <class T>
void finish_step_t(const DiagLaunch& L, bool write_aux, const DiagPtrs<T>& p, void* stream, int* slot) {
  if (slot) *slot = -1;
  if (p.n <= 0) return;
  Workspace& w = workspace();
  const int blocks = grid_for(p.n, w);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  const bool plain = L.c.eps == 1.0 && L.mode != Mode::Subgrad;
  std::unique_lock<std::mutex> lk(w.mu, std::defer_lock);
  if (L.probes) {
    lk.lock();
    finish_kernel<true>
        <<<blocks, kThreads, 0, s>>>(L.c, plain, L.count_sparsity, write_aux, p.theta, p.aux, p.n, w.partials);
  } else {
    finish_kernel<false>
        <<<blocks, kThreads, 0, s>>>(L.c, plain, L.count_sparsity, write_aux, p.theta, p.aux, p.n, nullptr);
  }
  check(cudaGetLastError(), "finish_step launch");
  if (L.probes) collect(w, blocks, s, slot);
}

// ---- group l2,1 prox of one group by one block (every thread gets the same result) -------------
// The sums of group_l21_prox_indexed (core/prox_scalar.h, tau_scalar = false) as block reductions;
// same branches, same Newton iteration (start group_l21_start, stop group_l21_converged<T>, T the
// data's type). z(k), tau(k): member k's values.
struct GroupProx {
  int kind = 2;  ///< 0 → x = 0, 1 → x = z·f, 2 → x = z (identity), 3 → x = z·s/(s + τ_k)
  double f = 1.0, s = 0.0;
};

template <class T, class Z, class Tau>
__device__ GroupProx group_prox_block(int64_t gsize, Z z, Tau tau) {
  const double t0 = tau(0);
  double nz2 = 0, tz2 = 0, zt2 = 0, tmax = t0, tmin = t0, lo = 0;
  for (int64_t k = threadIdx.x; k < gsize; k += blockDim.x) {
    const double zk = z(k), tk = tau(k);
    nz2 += zk * zk;
    tz2 += zk * zk * tk;
    tmax = tk > tmax ? tk : tmax;
    tmin = tk < tmin ? tk : tmin;
    const double r = zk == 0 ? 0.0 : zk / tk;
    zt2 += r * r;
    lo = std::fabs(zk) - tk > lo ? std::fabs(zk) - tk : lo;
  }
  nz2 = block_all(nz2, 0.0, SumF{});
  tz2 = block_all(tz2, 0.0, SumF{});
  zt2 = block_all(zt2, 0.0, SumF{});
  tmax = block_all(tmax, -std::numeric_limits<double>::infinity(), MaxF{});
  tmin = block_all(tmin, std::numeric_limits<double>::infinity(), MinF{});
  lo = block_all(lo, 0.0, MaxF{});
  const double nz = std::sqrt(nz2);
  GroupProx g;
  if (tmin == tmax) {  // all τ_k equal: block soft threshold
    if (!(nz > t0))
      g.kind = 0;
    else if (t0 != 0) {
      g.kind = 1;
      g.f = 1.0 - t0 / nz;
    }
  } else if (!(zt2 > 1.0)) {
    g.kind = 0;
  } else {
    g.kind = 3;
    double s = group_l21_start(nz, tz2 / nz2, tmax, lo);
    for (int it = 0; it < scalar::kNewtonCap; ++it) {
      double psi = 0, psi3 = 0;
      for (int64_t k = threadIdx.x; k < gsize; k += blockDim.x) {
        const double zk = z(k);
        if (zk == 0) continue;
        const double inv = 1.0 / (s + tau(k));  // one division per member and iteration
        const double r = zk * inv;
        psi += r * r;
        psi3 += r * r * inv;
      }
      psi = block_all(psi, 0.0, SumF{});
      psi3 = block_all(psi3, 0.0, SumF{});
      const double phi = 1.0 / std::sqrt(psi);
      if (!(phi < 1.0)) break;
      const double dphi = psi3 / (psi * std::sqrt(psi));
      const double sn = s + (1.0 - phi) / dphi;
      if (!(sn > s)) break;
      const bool done = group_l21_converged<T>(s, sn);
      s = sn;
      if (done) break;
    }
    g.s = s;
  }
  return g;
}

template <class T>
__device__ __forceinline__ T group_x(const GroupProx& g, T zk, double tk) {
  return g.kind == 0 ? T(0) : g.kind == 1 ? T(double(zk) * g.f) : g.kind == 2 ? zk : T(double(zk) * (g.s / (g.s + tk)));
}

// ---- group l2,1: one block per group (grid-stride over groups) --------------------------------
// Phase 1 = kernels::diag_update<ZTau> per coordinate; the group prox = group_l21_prox_indexed
// (core/prox_scalar.h) with its per-group sums done as block reductions (same branches, same
// Newton iteration, sums in another order); phase 3 = finish_range.
template <Precond P, bool Probes, class T>
__global__ void __launch_bounds__(kThreads) group_kernel(DiagCoeffs c, bool count, bool write_aux, DiagPtrs<T> p,
                                                         int64_t gsize, int64_t ngroups, DeviceProbes* partials) {
  DeviceProbes a;
  const bool plain = c.eps == 1.0;
  const T wd = T(c.wd), eps = T(c.eps);
  for (int64_t gi = blockIdx.x; gi < ngroups; gi += gridDim.x) {
    const int64_t i0 = gi * gsize;
    T* z = p.aux + i0;
    T* tau = p.tau + i0;
    // phase 1
    for (int64_t k = threadIdx.x; k < gsize; k += blockDim.x) {
      const int64_t i = i0 + k;
      T D, x, t;
      const T gi_ = p.grad[i];
      T mi = p.m[i];
      T vi = P == Precond::Identity ? T(0) : p.v[i];
      kernels::diag_update<Mode::ZTau, P>(scalar::NoneOp{}, c, p.theta[i], gi_, mi,
                                          P == Precond::Identity ? nullptr : &vi, D, x, t);
      p.m[i] = mi;
      if constexpr (P != Precond::Identity) p.v[i] = vi;
      z[k] = x;
      tau[k] = t;
      if constexpr (Probes) {
        a.grad_sq += double(gi_) * double(gi_);
        a.dmax = fmax(a.dmax, double(D));
        a.dmin = fmin(a.dmin, double(D));
      }
    }
    __syncthreads();
    const GroupProx gp = group_prox_block<T>(
        gsize, [&](int64_t k) { return double(z[k]); }, [&](int64_t k) { return double(tau[k]); });
    // x into the z scratch, then phase 3
    for (int64_t k = threadIdx.x; k < gsize; k += blockDim.x) {
      const int64_t i = i0 + k;
      const T x = kernels::apply_clip(c, group_x(gp, z[k], double(tau[k])));
      z[k] = x;
      const T old = p.theta[i];
      const T thw = wd * old;
      const T nw = plain ? x : thw + eps * (x - thw);
      p.theta[i] = nw;
      if constexpr (Probes) {
        theta_probes(a, old, nw, x, count, write_aux);
      }
    }
    __syncthreads();  // the next group's phase 1 must not overtake this group's readers of tau[0]
  }
  if constexpr (Probes) block_reduce_store(a, partials + blockIdx.x);
}

template <class T>
void group_step_t(const DiagLaunch& L, bool write_aux, int64_t gsize, const DiagPtrs<T>& p, void* stream, int* slot) {
  if (slot) *slot = -1;
  if (L.mode != Mode::Prox) throw std::runtime_error("proxbench CUDA: group_l21_step needs Mode::Prox");
  if (p.n <= 0 || gsize <= 0) return;
  if (p.n % gsize != 0) throw std::runtime_error("proxbench CUDA: group size does not divide the tensor size");
  Workspace& w = workspace();
  const int64_t ng = p.n / gsize;
  const int blocks = int(ng < w.max_blocks ? ng : w.max_blocks);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  std::unique_lock<std::mutex> lk(w.mu, std::defer_lock);
  if (L.probes) lk.lock();
  dispatch_mp(L, [&](auto, auto pc) {
    constexpr Precond P = decltype(pc)::value;
    if (L.probes)
      group_kernel<P, true><<<blocks, kThreads, 0, s>>>(L.c, L.count_sparsity, write_aux, p, gsize, ng, w.partials);
    else
      group_kernel<P, false><<<blocks, kThreads, 0, s>>>(L.c, L.count_sparsity, write_aux, p, gsize, ng, nullptr);
  });
  check(cudaGetLastError(), "group_l21_step launch");
  if (L.probes) collect(w, blocks, s, slot);
}

// ---- SR2 trial step (kernels.cpp sr2_range) and restore --------------------------------------
template <bool Count, class Op, class T>
__global__ void __launch_bounds__(kThreads)
    sr2_kernel(Op op, T lam_sig, T inv_sigma, T* th, const T* g, T* prev, int64_t n, DeviceProbes* partials) {
  DeviceProbes a;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const T t = th[i], gi = g[i];
    const T x = op.prox(t - gi * inv_sigma, lam_sig);
    const T sd = x - t;
    prev[i] = t;
    th[i] = x;
    a.e0 += double(gi) * double(sd);
    a.e1 += double(op.value(t));
    a.e2 += double(op.value(x));
    a.dtheta_sq += double(sd) * double(sd);
    a.grad_sq += double(gi) * double(gi);
    if constexpr (Count) {
      a.nnz += x != T(0);
      a.n_small += std::fabs(x) <= T(1e-3);
    }
  }
  block_reduce_store(a, partials + blockIdx.x);
}

template <class T>
void sr2_trial_t(const RegSpec& reg, double lambda, double inv_sigma, T* th, const T* g, T* prev, int64_t n,
                 bool probes, bool count, void* stream, int* slot) {
  if (slot) *slot = -1;
  if (n <= 0) return;
  Workspace& w = workspace();
  const int blocks = grid_for(n, w);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  std::lock_guard<std::mutex> lk(w.mu);
  const T ls = T(lambda * inv_sigma), is = T(inv_sigma);
  host_visit(reg, [&](auto op) {
    if (probes && count)
      sr2_kernel<true><<<blocks, kThreads, 0, s>>>(op, ls, is, th, g, prev, n, w.partials);
    else
      sr2_kernel<false><<<blocks, kThreads, 0, s>>>(op, ls, is, th, g, prev, n, w.partials);
  });
  check(cudaGetLastError(), "sr2_trial launch");
  collect(w, blocks, s, slot);
}

template <bool Count, class T>
__global__ void __launch_bounds__(kThreads) restore_kernel(T* th, const T* prev, int64_t n, DeviceProbes* partials) {
  DeviceProbes a;
  const int64_t stride = int64_t(gridDim.x) * blockDim.x;
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
    const T x = prev[i];
    th[i] = x;
    if constexpr (Count) {
      a.nnz += x != T(0);
      a.n_small += std::fabs(x) <= T(1e-3);
    }
  }
  if constexpr (Count) block_reduce_store(a, partials + blockIdx.x);
}

template <class T>
void restore_t(T* th, const T* prev, int64_t n, bool count, void* stream, int* slot) {
  if (slot) *slot = -1;
  if (n <= 0) return;
  Workspace& w = workspace();
  const int blocks = grid_for(n, w);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  std::unique_lock<std::mutex> lk(w.mu, std::defer_lock);
  if (count) {
    lk.lock();
    restore_kernel<true><<<blocks, kThreads, 0, s>>>(th, prev, n, w.partials);
  } else {
    restore_kernel<false><<<blocks, kThreads, 0, s>>>(th, prev, n, nullptr);
  }
  check(cudaGetLastError(), "restore launch");
  if (count) collect(w, blocks, s, slot);
}

// ---- group l2,1 with strided groups (columns layout), the group subgradient, SR2 with groups ----
__device__ __forceinline__ int64_t member(const GroupGeom& g, int64_t gi, int64_t k) {
  return gi * g.base_step + (k / g.inner) * g.outer_stride + k % g.inner;
}

template <class T>
__global__ void __launch_bounds__(kThreads) group_prox_kernel(T* z, const T* tau, GroupGeom g) {
  for (int64_t gi = blockIdx.x; gi < g.n_groups; gi += gridDim.x) {
    const GroupProx gp = group_prox_block<T>(
        g.size, [&](int64_t k) { return double(z[member(g, gi, k)]); },
        [&](int64_t k) { return double(tau[member(g, gi, k)]); });
    for (int64_t k = threadIdx.x; k < g.size; k += blockDim.x) {
      const int64_t i = member(g, gi, k);
      z[i] = group_x(gp, z[i], double(tau[i]));
    }
    __syncthreads();  // the next group's reductions reuse the shared slots
  }
}

template <class T>
void group_prox_t(T* z, const T* tau, const GroupGeom& g, void* stream) {
  if (g.n_groups <= 0 || g.size <= 0) return;
  Workspace& w = workspace();
  const int blocks = int(g.n_groups < w.max_blocks ? g.n_groups : w.max_blocks);
  group_prox_kernel<<<blocks, kThreads, 0, static_cast<cudaStream_t>(stream)>>>(z, tau, g);
  check(cudaGetLastError(), "group_l21_prox launch");
}

/// out = g + λ·x_g/‖x_g‖₂ (0 for x_g = 0), per group; probes: ‖g‖² of the loss gradient.
template <bool Probes, class T>
__global__ void __launch_bounds__(kThreads)
    group_subgrad_kernel(const T* x, const T* g, T* out, T lam, GroupGeom geom, DeviceProbes* partials) {
  DeviceProbes a;
  for (int64_t gi = blockIdx.x; gi < geom.n_groups; gi += gridDim.x) {
    double n2 = 0;
    for (int64_t k = threadIdx.x; k < geom.size; k += blockDim.x) {
      const double xk = double(x[member(geom, gi, k)]);
      n2 += xk * xk;
    }
    const double nrm = std::sqrt(block_all(n2, 0.0, SumF{}));
    for (int64_t k = threadIdx.x; k < geom.size; k += blockDim.x) {
      const int64_t i = member(geom, gi, k);
      const T sub = nrm > 0 ? T(double(x[i]) / nrm) : T(0);
      out[i] = g[i] + lam * sub;
      if constexpr (Probes) a.grad_sq += double(g[i]) * double(g[i]);
    }
  }
  if constexpr (Probes) block_reduce_store(a, partials + blockIdx.x);
}

template <class T>
void group_subgrad_t(const T* x, const T* g, T* out, double lam, const GroupGeom& geom, bool probes, void* stream,
                     int* slot) {
  if (slot) *slot = -1;
  if (geom.n_groups <= 0 || geom.size <= 0) return;
  Workspace& w = workspace();
  const int blocks = int(geom.n_groups < w.max_blocks ? geom.n_groups : w.max_blocks);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  std::unique_lock<std::mutex> lk(w.mu, std::defer_lock);
  if (probes) {
    lk.lock();
    group_subgrad_kernel<true><<<blocks, kThreads, 0, s>>>(x, g, out, T(lam), geom, w.partials);
  } else {
    group_subgrad_kernel<false><<<blocks, kThreads, 0, s>>>(x, g, out, T(lam), geom, nullptr);
  }
  check(cudaGetLastError(), "group_l21_subgradient launch");
  if (probes) collect(w, blocks, s, slot);
}

/// SR2 trial with group l2,1 (common τ = λ/σ: block soft threshold), one block per group:
/// z = θ − g/σ into the scratch, x = prox(z), s = x − θ, prev ← θ, θ ← x, and the sums of
/// kernels::sr2_trial_two_phase (e1 = Σ‖θ_g‖, e2 = Σ‖x_g‖).
template <bool Count, class T>
__global__ void __launch_bounds__(kThreads)
    sr2_group_kernel(T lam_sig, T inv_sigma, T* th, const T* g, T* prev, T* z, GroupGeom geom, DeviceProbes* partials) {
  DeviceProbes a;
  const double ls = double(lam_sig);
  for (int64_t gi = blockIdx.x; gi < geom.n_groups; gi += gridDim.x) {
    double nt2 = 0, nz2 = 0;
    for (int64_t k = threadIdx.x; k < geom.size; k += blockDim.x) {
      const int64_t i = member(geom, gi, k);
      const T t = th[i], zi = t - g[i] * inv_sigma;
      z[i] = zi;
      nt2 += double(t) * double(t);
      nz2 += double(zi) * double(zi);
    }
    nt2 = block_all(nt2, 0.0, SumF{});
    nz2 = block_all(nz2, 0.0, SumF{});
    const double nz = std::sqrt(nz2);
    GroupProx gp;
    if (!(nz > ls))
      gp.kind = 0;
    else if (ls != 0) {
      gp.kind = 1;
      gp.f = 1.0 - ls / nz;
    }
    double nx2 = 0;
    for (int64_t k = threadIdx.x; k < geom.size; k += blockDim.x) {
      const int64_t i = member(geom, gi, k);
      const T t = th[i], gi_ = g[i];
      const T x = group_x(gp, z[i], ls);
      const T sd = x - t;
      prev[i] = t;
      th[i] = x;
      a.e0 += double(gi_) * double(sd);
      a.dtheta_sq += double(sd) * double(sd);
      a.grad_sq += double(gi_) * double(gi_);
      nx2 += double(x) * double(x);
      if constexpr (Count) {
        a.nnz += x != T(0);
        a.n_small += std::fabs(x) <= T(1e-3);
      }
    }
    nx2 = block_all(nx2, 0.0, SumF{});
    if (threadIdx.x == 0) {
      a.e1 += std::sqrt(nt2);
      a.e2 += std::sqrt(nx2);
    }
  }
  block_reduce_store(a, partials + blockIdx.x);
}

template <class T>
void sr2_group_t(double lambda, double inv_sigma, T* th, const T* g, T* prev, T* z, const GroupGeom& geom, bool count,
                 void* stream, int* slot) {
  if (slot) *slot = -1;
  if (geom.n_groups <= 0 || geom.size <= 0) return;
  Workspace& w = workspace();
  const int blocks = int(geom.n_groups < w.max_blocks ? geom.n_groups : w.max_blocks);
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  std::lock_guard<std::mutex> lk(w.mu);
  const T ls = T(lambda * inv_sigma), is = T(inv_sigma);
  if (count)
    sr2_group_kernel<true><<<blocks, kThreads, 0, s>>>(ls, is, th, g, prev, z, geom, w.partials);
  else
    sr2_group_kernel<false><<<blocks, kThreads, 0, s>>>(ls, is, th, g, prev, z, geom, w.partials);
  check(cudaGetLastError(), "sr2_group_trial launch");
  collect(w, blocks, s, slot);
}

}  // namespace

int probe_slots_free() {
  Workspace& w = workspace();
  std::lock_guard<std::mutex> lk(w.mu);
  return kProbeSlots - w.used;
}

const DeviceProbes* fetch_probes(void* stream, int* count) {
  Workspace& w = workspace();
  std::lock_guard<std::mutex> lk(w.mu);
  *count = w.used;
  if (w.used == 0) return w.host;
  const cudaStream_t s = static_cast<cudaStream_t>(stream);
  check(cudaMemcpyAsync(w.host, w.slots, sizeof(DeviceProbes) * size_t(w.used), cudaMemcpyDeviceToHost, s),
        "probe copy");
  check(cudaStreamSynchronize(s), "probe copy sync");
  w.used = 0;
  return w.host;
}

void group_l21_prox(float* z, const float* tau, const GroupGeom& g, void* s) { group_prox_t(z, tau, g, s); }
void group_l21_prox(double* z, const double* tau, const GroupGeom& g, void* s) { group_prox_t(z, tau, g, s); }
void group_l21_subgradient(const float* x, const float* g, float* out, double lam, const GroupGeom& geom, bool probes,
                           void* s, int* o) {
  group_subgrad_t(x, g, out, lam, geom, probes, s, o);
}
void group_l21_subgradient(const double* x, const double* g, double* out, double lam, const GroupGeom& geom,
                           bool probes, void* s, int* o) {
  group_subgrad_t(x, g, out, lam, geom, probes, s, o);
}
void sr2_group_trial(double lam, double is, float* th, const float* g, float* pv, float* z, const GroupGeom& geom,
                     bool c, void* s, int* o) {
  sr2_group_t(lam, is, th, g, pv, z, geom, c, s, o);
}
void sr2_group_trial(double lam, double is, double* th, const double* g, double* pv, double* z, const GroupGeom& geom,
                     bool c, void* s, int* o) {
  sr2_group_t(lam, is, th, g, pv, z, geom, c, s, o);
}

void diag_step(const DiagLaunch& l, const DiagPtrs<float>& p, void* s, int* o) { diag_step_t(l, p, s, o); }
void diag_step(const DiagLaunch& l, const DiagPtrs<double>& p, void* s, int* o) { diag_step_t(l, p, s, o); }
void finish_step(const DiagLaunch& l, bool wa, const DiagPtrs<float>& p, void* s, int* o) {
  finish_step_t(l, wa, p, s, o);
}
void finish_step(const DiagLaunch& l, bool wa, const DiagPtrs<double>& p, void* s, int* o) {
  finish_step_t(l, wa, p, s, o);
}
void group_l21_step(const DiagLaunch& l, bool wa, int64_t gs, const DiagPtrs<float>& p, void* s, int* o) {
  group_step_t(l, wa, gs, p, s, o);
}
void group_l21_step(const DiagLaunch& l, bool wa, int64_t gs, const DiagPtrs<double>& p, void* s, int* o) {
  group_step_t(l, wa, gs, p, s, o);
}
void sr2_trial(const RegSpec& r, double lam, double is, float* th, const float* g, float* pv, int64_t n, bool pr,
               bool c, void* s, int* o) {
  sr2_trial_t(r, lam, is, th, g, pv, n, pr, c, s, o);
}
void sr2_trial(const RegSpec& r, double lam, double is, double* th, const double* g, double* pv, int64_t n, bool pr,
               bool c, void* s, int* o) {
  sr2_trial_t(r, lam, is, th, g, pv, n, pr, c, s, o);
}
void restore(float* th, const float* pv, int64_t n, bool c, void* s, int* o) { restore_t(th, pv, n, c, s, o); }
void restore(double* th, const double* pv, int64_t n, bool c, void* s, int* o) { restore_t(th, pv, n, c, s, o); }

}  // namespace proxbench::core::cuda
