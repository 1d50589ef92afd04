// LibTorch side of the CUDA fused steps: maps the tensors of kernels::diag_step / sr2_trial /
// restore to the raw-pointer launchers of core/cuda/fused_step.h on the tensor's current CUDA
// stream. Compiled only with -DPROXBENCH_CUDA=ON (CUDA LibTorch); core/kernels.cpp calls these
// automatically when the parameter is a CUDA tensor (PROXBENCH_WITH_CUDA in the generated
// proxbench_build_config.h). Same contracts and the same probe semantics as the CPU functions of
// core/kernels.h; group l2,1 runs one-block-per-group kernels in every layout and mode (ProxGen /
// Prox-SGD, the subgradient methods, SR2); only plugins use their tensor-level virtual Regularizer
// methods on the device between two fused kernels, as the CPU path does.
// Probes are DEFERRED: the ProbeAcc passed in is filled by cuda_sync_probes (kernels::sync_probes),
// which fetches every pending result of the step with one device-to-host copy per device.
// STATUS: compiled and linked against LibTorch 2.11 (CUDA 13.0) in CI; NOT yet run on a GPU (README "GPU").
#pragma once
#include <torch/torch.h>

#include "core/kernels.h"

namespace proxbench::core::kernels {

/// kernels::diag_step for CUDA tensors (all buffers on the parameter's device). The ProbePartials
/// of the CPU path are not used: the device partials live in core/cuda/fused_step.cu.
int64_t cuda_diag_step(const DiagStep& step, DiagBuffers& buf, ProbeAcc& acc);

/// kernels::sr2_trial for CUDA tensors.
int64_t cuda_sr2_trial(const Regularizer* reg, double lambda, double inv_sigma, torch::Tensor& theta,
                       const torch::Tensor& grad, torch::Tensor& prev, torch::Tensor& scratch, bool probes,
                       bool count_sparsity, ProbeAcc& acc);

/// kernels::restore for CUDA tensors.
void cuda_restore(torch::Tensor& theta, const torch::Tensor& prev, bool count, ProbeAcc& acc);

/// Fills the ProbeAcc of every CUDA launch since the last call (one small copy per device used);
/// the ProbeAcc objects must still be alive. kernels::sync_probes calls it.
void cuda_sync_probes();

/// Drops every pending result without writing it (kernels::ProbeScope); resets the device slots.
/// Never throws. No-op (no copy) when nothing is pending.
void cuda_discard_probes() noexcept;

}  // namespace proxbench::core::kernels
