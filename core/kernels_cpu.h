// The CPU inner loops of the fused optimizer steps (core/kernels.h), torch-free, compiled once per
// instruction set: core/kernels_cpu_base.cpp for the baseline of the build (x86-64: SSE2) and, on
// x86-64 with GCC or Clang, core/kernels_cpu_avx2.cpp with -mavx2 and core/kernels_cpu_avx512.cpp
// with -mavx512f/bw/dq/vl. The instantiations live in distinct namespaces (kernels::isa_base,
// isa_avx2, isa_avx512), so the copies never meet at link time; kernels.cpp picks one at run time
// (cpu_isa(): the widest the CPU supports).
//
// All copies compute the SAME bits for θ and every state buffer: no FMA contraction
// (-ffp-contract=off, no -mfma), IEEE division and square root. So are the probe counts and max/min
// (exact in any order). The two probe sums of squares are per-lane `omp simd` reductions whose lane
// order follows the vector width, so they agree to float rounding (1024·ε relative at most), and
// SR2's sums run over a fixed number of lanes (kLanes) and give the same bits. The test suite
// checks this (KernelIsa.*) for every regularizer × preconditioner × mode × dtype.
#pragma once
#include <cstdint>

#include "core/kernels_coord.h"  // Mode, Precond, DiagCoeffs, ProbeAcc
#include "core/prox_scalar.h"    // RegSpec

namespace proxbench::core::kernels {

/// One fused diagonal pass over one contiguous tensor (raw pointers; see kernels.h DiagStep).
struct CpuJob {
  Mode mode = Mode::Prox;
  Precond precond = Precond::Ema;
  DiagCoeffs c;
  RegSpec spec;  ///< separable built-in op (kind None: no prox); never GroupL21/Custom
  bool probes = true;
  bool count_sparsity = true;
  bool dbl = false;  ///< float64 (else float32)
  void* theta = nullptr;
  const void* grad = nullptr;
  void* m = nullptr;
  void* v = nullptr;    ///< unused for Precond::Identity
  void* aux = nullptr;  ///< Prox: x̂ out (Prox-SGD) or nullptr; ZTau: z out
  void* tau = nullptr;  ///< ZTau: τ out
};

/// One SR2 trial step over one contiguous tensor (SR2 paper eq. (8); see kernels.h sr2_trial).
struct CpuSr2Job {
  RegSpec spec;
  double lam_sig = 0, inv_sigma = 0;  ///< λ/σ and 1/σ
  bool probes = true, count_sparsity = true, dbl = false;
  void* theta = nullptr;
  const void* grad = nullptr;
  void* prev = nullptr;
};

/// The instruction sets the inner loops are compiled for.
enum class CpuIsa : int32_t { Base = 0, Avx2 = 1, Avx512 = 2 };

/// Every instruction set, baseline first.
constexpr CpuIsa kAllCpuIsas[] = {CpuIsa::Base, CpuIsa::Avx2, CpuIsa::Avx512};

/// The set in use: the widest one compiled in that the CPU supports (AVX-512, then AVX2), unless
/// the environment variable PROXBENCH_KERNEL_ISA=base|avx2|avx512 asks for one (an unavailable one
/// is refused with a proxbench::Error naming it) or set_cpu_isa was called.
CpuIsa cpu_isa();
/// Forces an instruction set (tests, benchmarks). Throws proxbench::Error when it is not
/// available on this build or CPU. Not thread-safe against concurrent steps.
void set_cpu_isa(CpuIsa isa);
/// True when `isa` is compiled in and supported by this CPU.
bool cpu_isa_available(CpuIsa isa);
/// "base" / "avx2" / "avx512".
const char* cpu_isa_name(CpuIsa isa);

// Per-ISA entry points over coordinates [i0, i1); probes are added into acc. group_l21_range: the
// group l2,1 prox of one contiguous group of n members, z in place, per-member τ (sums over 8
// fixed lanes: the same bits from every instruction set). finish_range: phase 3 of the two-phase
// paths, θ ← x (or θ' + ε(x − θ'), θ' = wd·θ, when c.eps ≠ 1 or job.mode is Subgrad) with x =
// clip(job.aux[i]) read, probes of θ (‖Δθ‖², counts; nnz(x) when count_aux).
namespace isa_base {
void diag_range(const CpuJob& job, int64_t i0, int64_t i1, ProbeAcc& acc);
void finish_range(const CpuJob& job, int64_t i0, int64_t i1, bool count_aux, ProbeAcc& acc);
void sr2_range(const CpuSr2Job& job, int64_t i0, int64_t i1, ProbeAcc& acc);
void group_l21_range(bool dbl, void* z, const void* tau, int64_t n);
}  // namespace isa_base
namespace isa_avx2 {
void diag_range(const CpuJob& job, int64_t i0, int64_t i1, ProbeAcc& acc);
void finish_range(const CpuJob& job, int64_t i0, int64_t i1, bool count_aux, ProbeAcc& acc);
void sr2_range(const CpuSr2Job& job, int64_t i0, int64_t i1, ProbeAcc& acc);
void group_l21_range(bool dbl, void* z, const void* tau, int64_t n);
}  // namespace isa_avx2
namespace isa_avx512 {
void diag_range(const CpuJob& job, int64_t i0, int64_t i1, ProbeAcc& acc);
void finish_range(const CpuJob& job, int64_t i0, int64_t i1, bool count_aux, ProbeAcc& acc);
void sr2_range(const CpuSr2Job& job, int64_t i0, int64_t i1, ProbeAcc& acc);
void group_l21_range(bool dbl, void* z, const void* tau, int64_t n);
}  // namespace isa_avx512

}  // namespace proxbench::core::kernels
