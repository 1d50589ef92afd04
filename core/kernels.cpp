#include "core/kernels.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/kernels_cpu.h"
#include "core/kernels_probes.h"
#include "proxbench_build_config.h"  // PROXBENCH_WITH_CUDA, PROXBENCH_HAVE_AVX2_KERNELS, ..._AVX512_KERNELS
#ifdef PROXBENCH_WITH_CUDA
#include "core/cuda/torch_glue.h"
#endif

namespace proxbench::core::kernels {
namespace {

constexpr int64_t kGrain = 1 << 15;  // coordinates below which one chunk is used

template <class T>
T* ptr(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

/// Calls f(k, i0, i1) for each of K chunks in parallel.
template <class F>
void for_chunks(int64_t n, int64_t K, F&& f) {
  if (K <= 1) {
    f(int64_t(0), int64_t(0), n);
    return;
  }
  at::parallel_for(0, K, 1, [&](int64_t kb, int64_t ke) {
    for (int64_t k = kb; k < ke; ++k) f(k, n * k / K, n * (k + 1) / K);
  });
}

/// The job of one fused diagonal pass (separable op or ZTau) over the buffers of b.
CpuJob make_job(const DiagStep& s, const DiagBuffers& b, void* aux, void* tau) {
  CpuJob j;
  j.mode = s.mode;
  j.precond = s.precond;
  j.c = s.c;
  if (s.reg && s.mode != Mode::ZTau) j.spec = s.reg->spec();
  if (j.spec.kind == RegKind::L12) j.spec.l12_shift = s.l12_shift;
  j.probes = s.probes;
  j.count_sparsity = s.count_sparsity;
  j.dbl = b.theta.scalar_type() == torch::kDouble;
  j.theta = b.theta.data_ptr();
  j.grad = b.grad.data_ptr();
  j.m = b.m.data_ptr();
  j.v = s.precond == Precond::Identity || !b.v.defined() ? nullptr : b.v.data_ptr();
  j.aux = aux;
  j.tau = tau;
  return j;
}

using DiagRangeFn = void (*)(const CpuJob&, int64_t, int64_t, ProbeAcc&);
using Sr2RangeFn = void (*)(const CpuSr2Job&, int64_t, int64_t, ProbeAcc&);

std::atomic<int> g_isa{-1};

using GroupFn = void (*)(bool, void*, const void*, int64_t);
using FinishFn = void (*)(const CpuJob&, int64_t, int64_t, bool, ProbeAcc&);

/// The entry points of one instruction set's loops (kernels_cpu.h).
struct IsaFns {
  DiagRangeFn diag;
  Sr2RangeFn sr2;
  GroupFn group;
  FinishFn finish;  ///< phase 3 of the two-phase form
};
#define PB_ISA_FNS(ns) \
  IsaFns { &ns::diag_range, &ns::sr2_range, &ns::group_l21_range, &ns::finish_range }

/// The entry points of the instruction set in use (cpu_isa()).
const IsaFns& isa_fns() {
#ifdef PROXBENCH_HAVE_AVX512_KERNELS
  static const IsaFns avx512 = PB_ISA_FNS(isa_avx512);
  if (cpu_isa() == CpuIsa::Avx512) return avx512;
#endif
#ifdef PROXBENCH_HAVE_AVX2_KERNELS
  static const IsaFns avx2 = PB_ISA_FNS(isa_avx2);
  if (cpu_isa() == CpuIsa::Avx2) return avx2;
#endif
  static const IsaFns base = PB_ISA_FNS(isa_base);
  return base;
}
#undef PB_ISA_FNS

/// One fused pass over the whole tensor, chunked over the threads; probes into pp's slots.
void run_diag(const CpuJob& job, int64_t n, ProbePartials& pp) {
  const DiagRangeFn fn = isa_fns().diag;
  const int64_t K = pp.prepare(n);
  for_chunks(n, K, [&](int64_t k, int64_t i0, int64_t i1) { fn(job, i0, i1, pp.slot(k)); });
}

void check_buffers(const DiagStep& s, const DiagBuffers& b) {
  auto chk = [&](const torch::Tensor& t, const char* what) {
    if (!t.defined()) return;
    TORCH_CHECK(t.is_cpu(), "proxbench fused step: ", what, " must be a CPU tensor (CUDA kernels not built)");
    TORCH_CHECK(t.is_contiguous(), "proxbench fused step: ", what, " must be contiguous");
    TORCH_CHECK(t.scalar_type() == b.theta.scalar_type(), "proxbench fused step: ", what, " has dtype ",
                t.scalar_type(), ", the parameter ", b.theta.scalar_type());
    TORCH_CHECK(t.numel() == b.theta.numel(), "proxbench fused step: ", what, " has ", t.numel(),
                " elements, the parameter ", b.theta.numel());
  };
  chk(b.theta, "parameter");
  chk(b.grad, "gradient");
  chk(b.m, "momentum buffer");
  chk(b.v, "second-moment buffer");
  chk(b.aux, "auxiliary buffer");
  chk(b.tau, "tau buffer");
  TORCH_CHECK(b.theta.scalar_type() == torch::kFloat || b.theta.scalar_type() == torch::kDouble,
              "proxbench fused step: parameters must be float32 or float64, got ", b.theta.scalar_type());
  TORCH_CHECK(s.precond == Precond::Identity || b.v.defined(), "proxbench fused step: missing v buffer");
}

}  // namespace

bool cpu_isa_available(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::Base:
      return true;
    case CpuIsa::Avx2:
#if defined(PROXBENCH_HAVE_AVX2_KERNELS) && (defined(__GNUC__) || defined(__clang__))
      return __builtin_cpu_supports("avx2");
#else
      return false;
#endif
    case CpuIsa::Avx512:
      // libgcc's CPU model also checks that the OS saves the zmm / mask registers (XGETBV)
#if defined(PROXBENCH_HAVE_AVX512_KERNELS) && (defined(__GNUC__) || defined(__clang__))
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
      return false;
#endif
  }
  return false;
}

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::Avx2:
      return "avx2";
    case CpuIsa::Avx512:
      return "avx512";
    default:
      return "base";
  }
}

CpuIsa cpu_isa() {
  int v = g_isa.load(std::memory_order_relaxed);
  if (v < 0) {
    CpuIsa isa = CpuIsa::Base;
    for (CpuIsa c : kAllCpuIsas)
      if (cpu_isa_available(c)) isa = c;  // the widest available
    if (const char* e = std::getenv("PROXBENCH_KERNEL_ISA"); e && *e) {
      bool known = false;
      for (CpuIsa c : kAllCpuIsas) {
        if (std::strcmp(e, cpu_isa_name(c)) != 0) continue;
        known = true;
        if (!cpu_isa_available(c))
          throw Error(std::string("PROXBENCH_KERNEL_ISA=") + e + ": the " + e +
                      " kernels are not built in or this CPU lacks " +
                      (c == CpuIsa::Avx512 ? "AVX-512 (F, BW, DQ, VL)" : "AVX2") + "; available here: " + [] {
                        std::string a;
                        for (CpuIsa k : kAllCpuIsas)
                          if (cpu_isa_available(k)) a += std::string(a.empty() ? "" : ", ") + cpu_isa_name(k);
                        return a;
                      }());
        isa = c;
      }
      if (!known) throw Error(std::string("PROXBENCH_KERNEL_ISA='") + e + "': expected 'base', 'avx2' or 'avx512'");
    }
    v = static_cast<int>(isa);
    g_isa.store(v, std::memory_order_relaxed);
  }
  return static_cast<CpuIsa>(v);
}

void set_cpu_isa(CpuIsa isa) {
  if (!cpu_isa_available(isa))
    throw Error(std::string("set_cpu_isa: '") + cpu_isa_name(isa) + "' kernels are not available on this build/CPU");
  g_isa.store(static_cast<int>(isa), std::memory_order_relaxed);
}

bool fused_separable(const Regularizer* reg) {
  if (!reg) return true;
  return reg->spec().kind != RegKind::GroupL21 && reg->spec().kind != RegKind::Custom;
}

bool contiguous_groups(const Regularizer* reg, const torch::Tensor& t, int64_t& size) {
  if (!reg || reg->spec().kind != RegKind::GroupL21) return false;
  const auto l = reg->group_layout();
  if (l == GroupLayout::Whole || t.dim() < 2) {
    size = t.numel();
    return true;
  }
  if (l == GroupLayout::Rows) {
    size = t.size(0) == 0 ? 0 : t.numel() / t.size(0);
    return true;
  }
  return false;
}

int64_t ProbePartials::prepare(int64_t n, int64_t max_chunks) {
  // one chunk below the grain without asking the thread pool (a fixed cost of every small step)
  const int64_t chunks = (n + kGrain - 1) / kGrain;
  int64_t K = chunks <= 1 ? 1 : std::min<int64_t>(at::get_num_threads(), chunks);
  K = std::max<int64_t>(1, std::min(K, max_chunks));
  if (static_cast<int64_t>(slots_.size()) < K) slots_.resize(static_cast<size_t>(K));
  for (int64_t k = 0; k < K; ++k) slots_[static_cast<size_t>(k)] = ProbeAcc{};
  used_ = K;
  return K;
}

void ProbePartials::reduce_into(ProbeAcc& acc) const {
  for (int64_t k = 0; k < used_; ++k) acc.merge(slots_[static_cast<size_t>(k)]);
}

bool needs_two_phase(const Regularizer* reg) { return !fused_separable(reg); }

void sync_probes() {
#ifdef PROXBENCH_WITH_CUDA
  cuda_sync_probes();
#endif
}

ProbeScope::~ProbeScope() {
#ifdef PROXBENCH_WITH_CUDA
  cuda_discard_probes();
#endif
}

int64_t diag_step(const DiagStep& s, DiagBuffers& b, ProbePartials& pp, ProbeAcc& acc) {
#ifdef PROXBENCH_WITH_CUDA
  if (b.theta.is_cuda()) return cuda_diag_step(s, b, acc);
#endif
  check_buffers(s, b);
  const int64_t n = b.theta.numel();
  if (s.count_sparsity) acc.numel += n;
  const bool has_reg = s.reg && s.reg->spec().kind != RegKind::None;
  if (fused_separable(s.reg)) {
    // One pass: moments, preconditioner, prox (or subgradient), probes.
    TORCH_CHECK(s.mode != Mode::ZTau, "proxbench fused step: ZTau is internal to the two-phase paths");
    TORCH_CHECK(!s.write_aux || b.aux.defined(), "proxbench fused step: write_aux needs the aux buffer");
    run_diag(make_job(s, b, s.write_aux ? b.aux.data_ptr() : nullptr, nullptr), n, pp);
    pp.reduce_into(acc);
    return (has_reg && s.mode == Mode::Prox) ? 1 : 0;
  }
  // Two-phase path (group l2,1, plugins).
  TORCH_CHECK(b.aux.defined() && b.tau.defined(), "proxbench fused step: two-phase path needs z and tau buffers");
  DiagStep s1 = s;
  s1.mode = Mode::ZTau;
  int64_t gsize = 0;
  int64_t prox_evals = 0;
  AT_DISPATCH_FLOATING_TYPES(b.theta.scalar_type(), "proxbench_diag_step", [&] {
    using T = scalar_t;
    if (s.mode == Mode::Prox && contiguous_groups(s.reg, b.theta, gsize) && gsize > 0) {
      // Group l2,1 with contiguous groups: per group, phase 1 (z, τ into a per-chunk buffer of one
      // group, which stays in cache: the full-size scratch tensors are not touched), the group prox
      // (vectorized secular Newton, group_l21_range), phase 3 (θ, probes).
      const int64_t ng = n / gsize;
      const int64_t K = pp.prepare(n, ng);
      const CpuJob job = make_job(s1, b, nullptr, nullptr);
      const DiagRangeFn fn = isa_fns().diag;
      const GroupFn gfn = isa_fns().group;
      const FinishFn ffn = isa_fns().finish;
      T* th = ptr<T>(b.theta);
      for_chunks(ng, K, [&](int64_t k, int64_t g0, int64_t g1) {
        // One group's z and τ per thread, kept across steps: no allocation once the first step of
        // the largest group size has run.
        static thread_local std::vector<T> zbuf, tbuf;
        if (zbuf.size() < static_cast<size_t>(gsize)) zbuf.resize(gsize), tbuf.resize(gsize);
        CpuJob jg = job, jf = job;
        jf.mode = s.mode;  // phase 3 of s itself (job is phase 1's, ZTau)
        jg.aux = zbuf.data();
        jg.tau = tbuf.data();
        for (int64_t gi = g0; gi < g1; ++gi) {
          const int64_t i0 = gi * gsize;
          // the group's buffers, shifted so that the loop runs over [0, gsize)
          jg.theta = th + i0;
          jg.grad = static_cast<const T*>(job.grad) + i0;
          jg.m = static_cast<T*>(job.m) + i0;
          jg.v = job.v ? static_cast<T*>(job.v) + i0 : nullptr;
          fn(jg, 0, gsize, pp.slot(k));
          gfn(job.dbl, zbuf.data(), tbuf.data(), gsize);
          if (s.write_aux) std::copy_n(zbuf.data(), gsize, ptr<T>(b.aux) + i0);  // Prox-SGD's x̂
          jf.theta = th + i0;
          jf.aux = zbuf.data();
          ffn(jf, 0, gsize, s.write_aux, pp.slot(k));
        }
      });
      pp.reduce_into(acc);
      prox_evals = 1;
      return;
    }
    if (s.mode == Mode::Subgrad) {
      // aux ← r'(θ), then g_eff = g + λ r'(θ) in the tau scratch (the subgradient is not separable).
      s.reg->subgradient(b.theta, b.aux);
      b.tau.copy_(b.grad).add_(b.aux, s.c.sub_lambda);
      DiagBuffers b1 = b;
      b1.grad = b.tau;
      DiagStep s2 = s;
      s2.reg = nullptr;
      s2.c.sub_lambda = 0;
      run_diag(make_job(s2, b1, nullptr, nullptr), n, pp);
      ProbeAcc a;
      pp.reduce_into(a);
      // ‖g_t‖² is the loss gradient's, not ĝ's (rare path: a separate reduction).
      if (s.probes) a.grad_sq = b.grad.to(torch::kDouble).pow(2).sum().item<double>();
      acc.merge(a);
      return;
    }
    run_diag(make_job(s1, b, b.aux.data_ptr(), b.tau.data_ptr()), n, pp);
    pp.reduce_into(acc);
    s.reg->prox_(b.aux, b.tau);
    prox_evals = 1;
    T* th = ptr<T>(b.theta);
    const T* aux = ptr<T>(b.aux);
    const int64_t K = pp.prepare(n);
    CpuJob jf = make_job(s, b, const_cast<T*>(aux), nullptr);
    jf.theta = th;
    const FinishFn ffn = isa_fns().finish;
    for_chunks(n, K, [&](int64_t k, int64_t i0, int64_t i1) { ffn(jf, i0, i1, s.write_aux, pp.slot(k)); });
    pp.reduce_into(acc);
  });
  return prox_evals;
}

void sr2_trial_two_phase(const Regularizer* reg, double lambda, double inv_sigma, torch::Tensor& theta,
                         const torch::Tensor& grad, torch::Tensor& prev, torch::Tensor& scratch, bool probes,
                         bool count_sparsity, ProbeAcc& acc) {
  TORCH_CHECK(scratch.defined(), "sr2_trial: scratch buffer required for non-separable regularizers");
  ProbeAcc a;
  a.e1 = reg->value(theta);
  prev.copy_(theta);
  scratch.copy_(theta).add_(grad, -inv_sigma);
  reg->prox_(scratch, torch::full({1}, lambda * inv_sigma, theta.options()));
  a.e2 = reg->value(scratch);
  torch::Tensor st = scratch - theta;  // rare path (group / plugin): temporaries accepted
  a.e0 = (grad.to(torch::kDouble) * st.to(torch::kDouble)).sum().item<double>();
  a.dtheta_sq = st.to(torch::kDouble).pow(2).sum().item<double>();
  a.grad_sq = grad.to(torch::kDouble).pow(2).sum().item<double>();
  theta.copy_(scratch);
  if (probes && count_sparsity) {
    a.nnz = theta.ne(0).sum().item<int64_t>();
    a.n_small = theta.abs().le(1e-3).sum().item<int64_t>();
  }
  acc.merge(a);
}

int64_t sr2_trial(const Regularizer* reg, double lambda, double inv_sigma, torch::Tensor& theta,
                  const torch::Tensor& grad, torch::Tensor& prev, torch::Tensor& scratch, bool probes,
                  bool count_sparsity, ProbePartials& pp, ProbeAcc& acc) {
#ifdef PROXBENCH_WITH_CUDA
  if (theta.is_cuda())
    return cuda_sr2_trial(reg, lambda, inv_sigma, theta, grad, prev, scratch, probes, count_sparsity, acc);
#endif
  DiagStep chk;
  chk.precond = Precond::Identity;
  DiagBuffers b{theta, grad, torch::Tensor(), torch::Tensor(), prev, scratch};
  check_buffers(chk, b);
  const int64_t n = theta.numel();
  if (count_sparsity) acc.numel += n;
  const bool has_reg = reg && reg->spec().kind != RegKind::None && lambda != 0;
  if (fused_separable(reg)) {
    CpuSr2Job job;
    if (reg) job.spec = reg->spec();
    job.lam_sig = lambda * inv_sigma;
    job.inv_sigma = inv_sigma;
    job.probes = probes;
    job.count_sparsity = count_sparsity;
    job.dbl = theta.scalar_type() == torch::kDouble;
    job.theta = theta.data_ptr();
    job.grad = grad.data_ptr();
    job.prev = prev.data_ptr();
    const Sr2RangeFn fn = isa_fns().sr2;
    const int64_t K = pp.prepare(n);
    for_chunks(n, K, [&](int64_t k, int64_t i0, int64_t i1) { fn(job, i0, i1, pp.slot(k)); });
    pp.reduce_into(acc);
    return has_reg ? 1 : 0;
  }
  sr2_trial_two_phase(reg, lambda, inv_sigma, theta, grad, prev, scratch, probes, count_sparsity, acc);
  return has_reg ? 1 : 0;
}

void restore(torch::Tensor& theta, const torch::Tensor& prev, bool count, ProbePartials& pp, ProbeAcc& acc) {
#ifdef PROXBENCH_WITH_CUDA
  if (theta.is_cuda()) return cuda_restore(theta, prev, count, acc);
#endif
  const int64_t n = theta.numel();
  AT_DISPATCH_FLOATING_TYPES(theta.scalar_type(), "proxbench_restore", [&] {
    using T = scalar_t;
    T* th = ptr<T>(theta);
    const T* pv = ptr<T>(prev);
    const int64_t K = pp.prepare(n);
    for_chunks(n, K, [&](int64_t k, int64_t i0, int64_t i1) {
      std::memcpy(th + i0, pv + i0, sizeof(T) * size_t(i1 - i0));
      if (!count) return;
      int64_t nnz = 0, small = 0;
      for (int64_t i = i0; i < i1; ++i) {
        nnz += pv[i] != T(0);
        small += std::fabs(pv[i]) <= T(1e-3);
      }
      pp.slot(k).nnz += nnz;
      pp.slot(k).n_small += small;
    });
    pp.reduce_into(acc);
  });
}

}  // namespace proxbench::core::kernels
