// Fused elementwise update kernels: the ONE pass over memory that each optimizer step makes.
//
// Every diagonal optimizer of proxbench (ProxGen with any diagonal preconditioner, Prox-SGD,
// subgradient Adam/SGD, original ProxQuant, SR2) updates coordinate i from (θ_i, g_i) and a few
// per-coordinate state values (m_i, v_i) with scalars that are the same for every coordinate of a
// tensor (α_t, β, δ, λ, ...). That update is written ONCE here as a PB_HD function of plain scalars
// (no torch calls inside), so the CPU driver below (at::parallel_for over raw pointers) and a CUDA
// kernel can run the same code. The probe reductions of the theory (ProxGen (C-3)/(C-4)):
// ‖θ_{t+1} − θ_t‖², ‖g_t‖², max/min of C_t + δ, the non-zero count and the count of |θ| ≤ 1e-3,
// are accumulated in the same loop into per-chunk partials (preallocated, one slot per chunk;
// the chunking depends only on the thread count, so results are deterministic for a fixed count).
//
// The per-coordinate math (ProxGen paper, Algorithm 1 line 8 / eq. (2); prox-reference.md §0):
//
//   m ← c_m·m + c_g·g                             momentum, ProxGen: c_m = ρ, c_g = 1 − ρ
//   v ← c_v·v + c_vg·g²,  D = sqrt(s_v·v) + δ     Adam/RMSProp (EMA), AdaGrad (c_v = c_vg = 1);
//                                                 s_v = 1/(1 − β2^t) under Adam bias correction
//   D = 1                                          identity preconditioner (C_t + δI := I)
//   z = θ − a·m/D,   τ = b/D  (or b)               a = α_t, b = α_t λ; τ without D: original ProxQuant
//   x = prox_{τ r}(z)                              the scalar op (core/prox_scalar.h)
//   θ ← θ + ε (x − θ)                             ε = 1 for ProxGen; Prox-SGD eq. (6): ε = ε_t, x = x̂
//
// with a decoupled weight decay θ ← w·θ applied first (w = 1 − α·wd; authors'-code option), and,
// for the subgradient methods, g ← g + λ·r'(θ) before the moments and no prox.
// Group l2,1 and plugin (Custom) regularizers use a two-phase form: the fused pass writes z and τ
// into preallocated scratch buffers, the group prox (or the virtual Regularizer::prox_) maps z to
// x in place, and a final pass writes θ and takes the probes.
#pragma once
#include <torch/torch.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/common.h"
#include "core/kernels_coord.h"  // Precond, Mode, DiagCoeffs, precond_update, diag_update
#include "core/prox_scalar.h"
#include "core/regularizer.h"

namespace proxbench::core::kernels {

/// Preallocated per-chunk partials; resized only when the thread count changes.
class ProbePartials {
 public:
  /// Number of chunks for n coordinates (≤ threads, ≤ max_chunks; 1 below a grain); slots sized to it.
  int64_t prepare(int64_t n, int64_t max_chunks = INT64_MAX);
  ProbeAcc& slot(int64_t k) { return slots_[static_cast<size_t>(k)]; }
  /// Merges the slots used by the last prepare() into acc.
  void reduce_into(ProbeAcc& acc) const;

 private:
  std::vector<ProbeAcc> slots_;
  int64_t used_ = 0;
};

/// Raw buffers of one parameter tensor (all contiguous, same dtype, same numel).
struct DiagBuffers {
  torch::Tensor theta, grad, m, v;  ///< v undefined for Identity
  torch::Tensor aux;                ///< Prox-SGD: x̂ out; two-phase: z scratch
  torch::Tensor tau;                ///< two-phase: τ scratch
};

/// Everything one fused diagonal step of one tensor needs.
struct DiagStep {
  Mode mode = Mode::Prox;
  Precond precond = Precond::Ema;
  DiagCoeffs c;
  const Regularizer* reg = nullptr;  ///< nullptr or kind None: no prox
  bool probes = true;
  bool count_sparsity = true;  ///< nnz / n_small counted (regularized groups)
  bool write_aux = false;      ///< Prox-SGD: store x̂ in buffers.aux
  double l12_shift = 0.0;      ///< l1/2: the ProxGen authors' biased map (RegSpec::l12_shift); 0 = exact
};

/// True when the one-pass fused path applies: no regularizer or a separable built-in one (not group
/// l2,1, not a plugin). Shared with the CUDA glue (core/cuda/torch_glue.cpp).
bool fused_separable(const Regularizer* reg);

/// Group l2,1 whose groups are contiguous runs of `size` values of t (rows layout, whole-tensor
/// layout, or any layout of a tensor of dim < 2).
bool contiguous_groups(const Regularizer* reg, const torch::Tensor& t, int64_t& size);

/// True when reg has no fused scalar op (group l2,1, plugins): diag_step then needs the z and τ
/// scratch buffers (DiagBuffers::aux, ::tau) and sr2_trial its scratch buffer.
bool needs_two_phase(const Regularizer* reg);

/// Fills the ProbeAcc objects of every diag_step / sr2_trial / restore on CUDA tensors since the last
/// call: on the device the probe sums stay in per-launch slots and ONE small device-to-host copy per
/// optimizer step fetches them all (issue 13). On CPU tensors acc is filled at once and this does
/// nothing. Call it after the last tensor of a step, before reading any acc; the acc objects must
/// stay alive (and at the same address) until then.
void sync_probes();

/// Runs one fused step over one tensor; probes (if on) are merged into acc (for CUDA tensors at the
/// next sync_probes). Returns the number
/// of prox applications made (0 or 1). Separable built-in regularizers: one pass. Group l2,1
/// (rows / whole layouts): one pass of two phases per chunk of groups. Others (columns layout,
/// plugins): three passes through the virtual Regularizer::prox_.
int64_t diag_step(const DiagStep& step, DiagBuffers& buf, ProbePartials& pp, ProbeAcc& acc);

/// SR2 (SR2 paper eq. (8)): per coordinate s = prox_{(λ/σ) r}(θ − g/σ) − θ, prev ← θ, θ ← θ + s.
/// Accumulates into acc: e0 = gᵀs, e1 = Σ r(θ), e2 = Σ r(θ+s) (unweighted by λ), dtheta_sq = ‖s‖²,
/// grad_sq, and (probes) nnz / n_small of θ + s. Group and plugin regularizers go through the
/// virtual prox_ and value (scratch buffer z given in `scratch`).
int64_t sr2_trial(const Regularizer* reg, double lambda, double inv_sigma, torch::Tensor& theta,
                  const torch::Tensor& grad, torch::Tensor& prev, torch::Tensor& scratch, bool probes,
                  bool count_sparsity, ProbePartials& pp, ProbeAcc& acc);

/// The tensor-level SR2 trial of the two-phase regularizers (group l2,1, plugins), on any device:
/// z = θ − g/σ in `scratch`, the virtual prox with τ = λ/σ, s = x − θ; fills the same sums as
/// sr2_trial (except numel). Temporaries are accepted on this rare path.
void sr2_trial_two_phase(const Regularizer* reg, double lambda, double inv_sigma, torch::Tensor& theta,
                         const torch::Tensor& grad, torch::Tensor& prev, torch::Tensor& scratch, bool probes,
                         bool count_sparsity, ProbeAcc& acc);

/// θ ← prev (exact restore after a rejected SR2 step), counting nnz / n_small if asked.
void restore(torch::Tensor& theta, const torch::Tensor& prev, bool count, ProbePartials& pp, ProbeAcc& acc);

}  // namespace proxbench::core::kernels
