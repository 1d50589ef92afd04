// LibTorch side of the CUDA fused steps: maps the tensors of kernels::diag_step / sr2_trial /
// restore to the raw-pointer launchers of core/cuda/fused_step.h on the tensor's current CUDA
// stream. Compiled only with -DPROXBENCH_CUDA=ON (CUDA LibTorch); core/kernels.cpp calls these
// automatically when the parameter is a CUDA tensor (PROXBENCH_WITH_CUDA in the generated
// proxbench_build_config.h). Same contracts and the same probe semantics as the CPU functions of
// core/kernels.h; group l2,1 with contiguous groups runs the one-block-per-group kernel, the other
// two-phase cases (columns layout, plugins, group subgradient) use the tensor-level virtual
// Regularizer methods on the device between two fused kernels, as the CPU path does.
// STATUS: compiles against the LibTorch headers; NOT yet run on a GPU (see README "GPU").
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

}  // namespace proxbench::core::kernels
