// CUDA launchers of the fused optimizer steps (issue 7). Torch-free and CUDA-header-free: the
// kernels (core/cuda/fused_step.cu, compiled by nvcc) work on raw device pointers, and the LibTorch
// glue (core/cuda/torch_glue.cpp, compiled only with -DPROXBENCH_CUDA=ON) maps tensors to them.
//
// Each launcher runs ONE kernel over a tensor that executes, per coordinate, the same PB_HD function
// as the CPU pass (core/kernels_coord.h: kernels::diag_update / precond_update; the scalar prox maps
// of core/prox_scalar.h selected by visit_separable on the host), so a CUDA step and a CPU step agree
// to rounding (the probe sums are reduced in a different order). Memory traffic of one ProxGen-Adam
// step: read θ, g, m, v, write θ, m, v — 7 words per coordinate, nothing else.
//
// Probe reductions (ProxGen (C-3)/(C-4) diagnostics, see kernels::ProbeAcc) are fused: each block
// reduces its partial sums with warp shuffles and shared memory into one slot of a per-device
// partials buffer (allocated once), and a one-block kernel reduces those into the next free STEP
// SLOT of the device (kProbeSlots = 4096 of them) — no copy, no synchronization. After the last
// tensor of an optimizer step the LibTorch glue calls fetch_probes: ONE small device-to-host copy
// (into pinned memory) of all the slots the step used (issue 13: one copy per step, not per
// tensor). With probes off nothing is reduced and nothing is copied (SR2's acceptance test always
// needs its three sums, so sr2_trial always takes a slot). The grid size depends only on the device
// and n, so the reductions are deterministic run to run. The slots of one step must be produced on
// one stream (the one passed to fetch_probes), as every proxbench optimizer does.
//
// Group l2,1 (contiguous groups: rows layout or whole tensor) has a kernel of its own with one
// block per group: phase 1 (moments, z, τ into scratch), the group prox as a block-parallel version
// of core::group_l21_prox_indexed (block reductions of ‖z‖², Σ(z/τ)², max τ, the Newton lower
// bracket, and of ψ, ψ₃ at each step of the secular-equation Newton; prox-reference.md §1(h)), and
// phase 3 (θ, probes) in the same kernel.
//
// Group l2,1 in the columns layout (strided groups, GroupGeom) runs the fused phase 1 (ZTau), the
// strided group prox kernel and the phase-3 kernel; the group subgradient and SR2 with groups have
// one-block-per-group kernels of their own (no CPU Regularizer method is called on device data).
//
// Every launcher is asynchronous on the given stream (a cudaStream_t passed as void*); only
// fetch_probes synchronizes. A launcher with probes returns its slot index in *slot (-1 when it
// took none). CUDA errors throw std::runtime_error.
// STATUS: compiled with nvcc 13 (sm_90) in CI; NOT yet run on a GPU (see README "GPU").
#pragma once
#include <cstdint>
#include <limits>

#include "core/kernels_coord.h"
#include "core/prox_scalar.h"

namespace proxbench::core::cuda {

/// Probe sums of one launch: a POD mirror of kernels::ProbeAcc (without numel, counted on the host).
struct DeviceProbes {
  double dtheta_sq = 0, grad_sq = 0;
  double dmax = -std::numeric_limits<double>::infinity();  ///< max of C + δ (as kernels::ProbeAcc)
  double dmin = std::numeric_limits<double>::infinity();   ///< min of C + δ
  long long nnz = 0, n_small = 0, nnz_aux = 0;
  double e0 = 0, e1 = 0, e2 = 0;  ///< SR2: gᵀs, Σ r(θ), Σ r(θ+s)
};

/// What one fused diagonal step of one tensor does (mirrors kernels::DiagStep, torch-free).
struct DiagLaunch {
  kernels::Mode mode = kernels::Mode::Prox;
  kernels::Precond precond = kernels::Precond::Ema;
  kernels::DiagCoeffs c;
  RegSpec reg;  ///< separable kind, or None (ZTau mode / two-phase paths use None)
  bool probes = true;
  bool count_sparsity = true;
};

/// Device pointers of one parameter tensor (n coordinates, contiguous). v null for Identity; aux:
/// Prox-SGD's x̂ output (may be null) or the z scratch (ZTau, group); tau: the τ scratch (ZTau, group).
template <class T>
struct DiagPtrs {
  T* theta = nullptr;
  const T* grad = nullptr;
  T* m = nullptr;
  T* v = nullptr;
  T* aux = nullptr;
  T* tau = nullptr;
  int64_t n = 0;
};

/// One fused step (kernels::diag_step's one-pass path) of a separable regularizer (or ZTau phase 1).
/// Probes (if launch.probes) go to a step slot, its index in *slot.
void diag_step(const DiagLaunch& launch, const DiagPtrs<float>& p, void* stream, int* slot);
void diag_step(const DiagLaunch& launch, const DiagPtrs<double>& p, void* stream, int* slot);

/// Phase 3 of the two-phase form (after a tensor-level prox of aux): θ ← wd·θ + ε(x − wd·θ) (θ ← x
/// when ε = 1 and not Subgrad), x = aux; probes on θ. Mirrors kernels.cpp finish_range.
void finish_step(const DiagLaunch& launch, bool write_aux, const DiagPtrs<float>& p, void* stream, int* slot);
void finish_step(const DiagLaunch& launch, bool write_aux, const DiagPtrs<double>& p, void* stream, int* slot);

/// Group l2,1 ProxGen step (Mode::Prox) over n / group_size contiguous groups, one block per group;
/// p.aux and p.tau are the z and τ scratch buffers; write_aux: count nnz of x into nnz_aux.
void group_l21_step(const DiagLaunch& launch, bool write_aux, int64_t group_size, const DiagPtrs<float>& p,
                    void* stream, int* slot);
void group_l21_step(const DiagLaunch& launch, bool write_aux, int64_t group_size, const DiagPtrs<double>& p,
                    void* stream, int* slot);

/// SR2 trial step (SR2 paper eq. (8)) of a separable regularizer: per coordinate
/// x = prox_{(λ/σ) r}(θ − g/σ), s = x − θ, prev ← θ, θ ← x; *out gets e0 = gᵀs, e1 = Σ r(θ),
/// e2 = Σ r(x), dtheta_sq = ‖s‖², grad_sq, and (probes && count) nnz / n_small of x. Always takes a slot.
void sr2_trial(const RegSpec& reg, double lambda, double inv_sigma, float* theta, const float* grad, float* prev,
               int64_t n, bool probes, bool count, void* stream, int* slot);
void sr2_trial(const RegSpec& reg, double lambda, double inv_sigma, double* theta, const double* grad, double* prev,
               int64_t n, bool probes, bool count, void* stream, int* slot);

/// θ ← prev; counts nnz / n_small into a step slot when count.
void restore(float* theta, const float* prev, int64_t n, bool count, void* stream, int* slot);
void restore(double* theta, const double* prev, int64_t n, bool count, void* stream, int* slot);

/// Groups of a tensor (core/regularizer.cpp's geometry): n_groups groups of `size` members; member k
/// of group g is at g·base_step + (k / inner)·outer_stride + k % inner (rows / whole layouts:
/// inner = size = base_step; columns of a (d0, d1, r) tensor: base_step = inner = r, outer_stride = d1·r).
struct GroupGeom {
  int64_t n_groups = 0, size = 0, base_step = 0, inner = 1, outer_stride = 0;
};

/// z ← prox of τ·Σ_g‖·‖₂ per group, in place (per-coordinate τ of z's layout; the secular-equation
/// Newton of core::group_l21_prox_indexed), one block per group. No probes.
void group_l21_prox(float* z, const float* tau, const GroupGeom& g, void* stream);
void group_l21_prox(double* z, const double* tau, const GroupGeom& g, void* stream);

/// out ← g + λ·x_g/‖x_g‖₂ (0 for x_g = 0): the subgradient methods' effective gradient with group
/// l2,1. probes: a slot with grad_sq = ‖g‖² (the loss gradient's, as the CPU path reports).
void group_l21_subgradient(const float* x, const float* g, float* out, double lambda, const GroupGeom& geom,
                           bool probes, void* stream, int* slot);
void group_l21_subgradient(const double* x, const double* g, double* out, double lambda, const GroupGeom& geom,
                           bool probes, void* stream, int* slot);

/// SR2 trial step with group l2,1 (common τ = λ/σ): z = θ − g/σ into `scratch`, x = block soft
/// threshold of z per group, prev ← θ, θ ← x; the slot gets the sums of sr2_trial (e1 = Σ_g‖θ_g‖,
/// e2 = Σ_g‖x_g‖) and, when count, nnz / n_small of x.
void sr2_group_trial(double lambda, double inv_sigma, float* theta, const float* grad, float* prev, float* scratch,
                     const GroupGeom& geom, bool count, void* stream, int* slot);
void sr2_group_trial(double lambda, double inv_sigma, double* theta, const double* grad, double* prev, double* scratch,
                     const GroupGeom& geom, bool count, void* stream, int* slot);

/// Free step slots of the current device (the glue fetches before they run out).
int probe_slots_free();
/// ONE device-to-host copy of the slots used on the current device since the last fetch, on
/// `stream` (synchronized); *count of them; the array stays valid until the next fetch.
const DeviceProbes* fetch_probes(void* stream, int* count);

}  // namespace proxbench::core::cuda
