#include "core/cuda/torch_glue.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "core/cuda/fused_step.h"

namespace proxbench::core::kernels {
namespace {

void merge_dev(const cuda::DeviceProbes& d, ProbeAcc& acc) {
  ProbeAcc a;
  a.dtheta_sq = d.dtheta_sq;
  a.grad_sq = d.grad_sq;
  a.dmax = d.dmax;
  a.dmin = d.dmin;
  a.nnz = d.nnz;
  a.n_small = d.n_small;
  a.nnz_aux = d.nnz_aux;
  a.e0 = d.e0;
  a.e1 = d.e1;
  a.e2 = d.e2;
  acc.merge(a);
}

void* stream_of(const torch::Tensor& t) { return c10::cuda::getCurrentCUDAStream(t.device().index()).stream(); }

template <class T>
T* ptr(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

void check_cuda(const torch::Tensor& ref, const torch::Tensor& t, const char* what) {
  if (!t.defined()) return;
  TORCH_CHECK(t.is_cuda() && t.device() == ref.device(), "proxbench fused step: ", what, " is on ", t.device(),
              ", the parameter on ", ref.device());
  TORCH_CHECK(t.is_contiguous(), "proxbench fused step: ", what, " must be contiguous");
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), "proxbench fused step: ", what, " has dtype ", t.scalar_type(),
              ", the parameter ", ref.scalar_type());
  TORCH_CHECK(t.numel() == ref.numel(), "proxbench fused step: ", what, " has ", t.numel(), " elements, the parameter ",
              ref.numel());
}

void check_dtype(const torch::Tensor& t) {
  TORCH_CHECK(t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble,
              "proxbench fused step: parameters must be float32 or float64, got ", t.scalar_type());
}

}  // namespace

int64_t cuda_diag_step(const DiagStep& s, DiagBuffers& b, ProbeAcc& acc) {
  check_dtype(b.theta);
  for (auto* t : {&b.theta, &b.grad, &b.m, &b.v, &b.aux, &b.tau}) check_cuda(b.theta, *t, "buffer");
  TORCH_CHECK(s.precond == Precond::Identity || b.v.defined(), "proxbench fused step: missing v buffer");
  const c10::cuda::CUDAGuard guard(b.theta.device());
  void* stream = stream_of(b.theta);
  const int64_t n = b.theta.numel();
  if (s.count_sparsity) acc.numel += n;
  const bool has_reg = s.reg && s.reg->spec().kind != RegKind::None;
  cuda::DiagLaunch L;
  L.mode = s.mode;
  L.precond = s.precond;
  L.c = s.c;
  L.probes = s.probes;
  L.count_sparsity = s.count_sparsity;
  int64_t prox_evals = 0;
  AT_DISPATCH_FLOATING_TYPES(b.theta.scalar_type(), "proxbench_cuda_diag_step", [&] {
    using T = scalar_t;
    cuda::DiagPtrs<T> p;
    p.theta = ptr<T>(b.theta);
    p.grad = ptr<T>(b.grad);
    p.m = ptr<T>(b.m);
    p.v = s.precond == Precond::Identity ? nullptr : ptr<T>(b.v);
    p.n = n;
    cuda::DeviceProbes d;
    if (fused_separable(s.reg)) {
      if (s.mode == Mode::ZTau) return;  // as the CPU one-pass path: ZTau is internal to two-phase steps
      L.reg = s.reg ? s.reg->spec() : RegSpec{};
      if (L.reg.kind == RegKind::L12) L.reg.l12_shift = s.l12_shift;
      p.aux = s.write_aux ? ptr<T>(b.aux) : nullptr;
      cuda::diag_step(L, p, stream, &d);
      if (s.probes) merge_dev(d, acc);
      prox_evals = (has_reg && s.mode == Mode::Prox) ? 1 : 0;
      return;
    }
    TORCH_CHECK(b.aux.defined() && b.tau.defined(), "proxbench fused step: two-phase path needs z and tau buffers");
    L.reg = RegSpec{};
    int64_t gsize = 0;
    if (s.mode == Mode::Prox && contiguous_groups(s.reg, b.theta, gsize) && gsize > 0) {
      p.aux = ptr<T>(b.aux);
      p.tau = ptr<T>(b.tau);
      cuda::group_l21_step(L, s.write_aux, gsize, p, stream, &d);
      if (s.probes) merge_dev(d, acc);
      prox_evals = 1;
      return;
    }
    if (s.mode == Mode::Subgrad) {
      s.reg->subgradient(b.theta, b.aux);
      b.tau.copy_(b.grad).add_(b.aux, s.c.sub_lambda);
      L.c.sub_lambda = 0;
      p.grad = ptr<T>(b.tau);
      cuda::diag_step(L, p, stream, &d);
      if (s.probes) {
        d.grad_sq = b.grad.to(torch::kDouble).pow(2).sum().item<double>();
        merge_dev(d, acc);
      }
      return;
    }
    cuda::DiagLaunch L1 = L;
    L1.mode = Mode::ZTau;
    p.aux = ptr<T>(b.aux);
    p.tau = ptr<T>(b.tau);
    cuda::diag_step(L1, p, stream, &d);
    if (s.probes) merge_dev(d, acc);
    s.reg->prox_(b.aux, b.tau);
    prox_evals = 1;
    cuda::finish_step(L, s.write_aux, p, stream, &d);
    if (s.probes) merge_dev(d, acc);
  });
  return prox_evals;
}

int64_t cuda_sr2_trial(const Regularizer* reg, double lambda, double inv_sigma, torch::Tensor& theta,
                       const torch::Tensor& grad, torch::Tensor& prev, torch::Tensor& scratch, bool probes,
                       bool count_sparsity, ProbeAcc& acc) {
  check_dtype(theta);
  check_cuda(theta, grad, "gradient");
  check_cuda(theta, prev, "previous-iterate buffer");
  check_cuda(theta, scratch, "scratch buffer");
  const c10::cuda::CUDAGuard guard(theta.device());
  const int64_t n = theta.numel();
  if (count_sparsity) acc.numel += n;
  const bool has_reg = reg && reg->spec().kind != RegKind::None && lambda != 0;
  if (fused_separable(reg)) {
    const RegSpec spec = reg ? reg->spec() : RegSpec{};
    cuda::DeviceProbes d;
    AT_DISPATCH_FLOATING_TYPES(theta.scalar_type(), "proxbench_cuda_sr2_trial", [&] {
      using T = scalar_t;
      cuda::sr2_trial(spec, lambda, inv_sigma, ptr<T>(theta), ptr<T>(grad), ptr<T>(prev), n, probes, count_sparsity,
                      stream_of(theta), &d);
    });
    merge_dev(d, acc);
    return has_reg ? 1 : 0;
  }
  // Two-phase (group / plugin): the tensor-level path shared with the CPU, on the device.
  sr2_trial_two_phase(reg, lambda, inv_sigma, theta, grad, prev, scratch, probes, count_sparsity, acc);
  return has_reg ? 1 : 0;
}

void cuda_restore(torch::Tensor& theta, const torch::Tensor& prev, bool count, ProbeAcc& acc) {
  check_dtype(theta);
  check_cuda(theta, prev, "previous-iterate buffer");
  const c10::cuda::CUDAGuard guard(theta.device());
  cuda::DeviceProbes d;
  AT_DISPATCH_FLOATING_TYPES(theta.scalar_type(), "proxbench_cuda_restore", [&] {
    using T = scalar_t;
    cuda::restore(ptr<T>(theta), ptr<T>(prev), theta.numel(), count, stream_of(theta), &d);
  });
  if (count) {
    acc.nnz += d.nnz;
    acc.n_small += d.n_small;
  }
}

}  // namespace proxbench::core::kernels
