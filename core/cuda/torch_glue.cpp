#include "core/cuda/torch_glue.h"

#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <vector>

#include "core/cuda/fused_step.h"

namespace proxbench::core::kernels {
namespace {

// Deferred probes (issue 13): every launch with probes leaves its sums in a device step slot; the
// ProbeAcc it belongs to is recorded here and filled by cuda_sync_probes with ONE copy per device.
enum : unsigned { kAll = 0, kCountsOnly = 1, kNoGradSq = 2 };
struct Pending {
  ProbeAcc* acc;
  int dev;
  int slot;
  unsigned flags;
};
thread_local std::vector<Pending> g_pending;

void merge_dev(const cuda::DeviceProbes& d, unsigned flags, ProbeAcc& acc) {
  ProbeAcc a;
  a.nnz = d.nnz;
  a.n_small = d.n_small;
  if (!(flags & kCountsOnly)) {
    a.dtheta_sq = d.dtheta_sq;
    a.grad_sq = (flags & kNoGradSq) ? 0.0 : d.grad_sq;
    a.dmax = d.dmax;
    a.dmin = d.dmin;
    a.nnz_aux = d.nnz_aux;
    a.e0 = d.e0;
    a.e1 = d.e1;
    a.e2 = d.e2;
  }
  acc.merge(a);
}

void* stream_of_device(c10::DeviceIndex dev) { return c10::cuda::getCurrentCUDAStream(dev).stream(); }
void* stream_of(const torch::Tensor& t) { return stream_of_device(t.device().index()); }

void defer(const torch::Tensor& t, int slot, unsigned flags, ProbeAcc& acc) {
  if (slot >= 0) g_pending.push_back({&acc, int(t.device().index()), slot, flags});
}

/// Room for k more slots on the current device (fetching early costs one more copy; only a step
/// with more than ~4000 tensors needs it).
void reserve_slots(int k) {
  if (cuda::probe_slots_free() < k) cuda_sync_probes();
}

template <class T>
T* ptr(const torch::Tensor& t) {
  return t.defined() ? t.data_ptr<T>() : nullptr;
}

void check_cuda(const torch::Tensor& ref, const torch::Tensor& t, const char* what) {
  if (!t.defined()) return;
  TORCH_CHECK(t.is_cuda() && t.device() == ref.device(), "proxbench fused step: ", what, " is on ", t.device(),
              ", the parameter on ", ref.device());
  // Elementwise kernels need dense memory laid out like θ's (contiguous, or channels-last θ with
  // channels-last buffers: the optimizers' buffers preserve θ's memory format).
  TORCH_CHECK(t.is_non_overlapping_and_dense() && t.strides() == ref.strides(), "proxbench fused step: ", what,
              " must be dense with the parameter's strides (got ", t.strides(), ", the parameter ", ref.strides(), ")");
  TORCH_CHECK(t.scalar_type() == ref.scalar_type(), "proxbench fused step: ", what, " has dtype ", t.scalar_type(),
              ", the parameter ", ref.scalar_type());
  TORCH_CHECK(t.numel() == ref.numel(), "proxbench fused step: ", what, " has ", t.numel(), " elements, the parameter ",
              ref.numel());
}

void check_dtype(const torch::Tensor& t) {
  TORCH_CHECK(t.scalar_type() == torch::kFloat || t.scalar_type() == torch::kDouble,
              "proxbench fused step: parameters must be float32 or float64, got ", t.scalar_type());
}

bool is_group(const Regularizer* reg) { return reg && reg->spec().kind == RegKind::GroupL21; }

/// The groups of t under reg's layout (as core/regularizer.cpp's geometry).
cuda::GroupGeom geom_of(const Regularizer* reg, const torch::Tensor& t) {
  const int64_t n = t.numel();
  cuda::GroupGeom g;
  if (n == 0) return g;
  const GroupLayout l = reg->group_layout();
  if (l == GroupLayout::Whole || t.dim() < 2) {
    g.n_groups = 1;
    g.size = g.inner = n;
  } else if (l == GroupLayout::Rows) {
    g.n_groups = t.size(0);
    g.size = g.base_step = g.inner = n / g.n_groups;
  } else {
    const int64_t d0 = t.size(0), d1 = t.size(1), r = n / (d0 * d1);
    g.n_groups = d1;
    g.size = d0 * r;
    g.base_step = g.inner = r;
    g.outer_stride = d1 * r;
  }
  return g;
}

}  // namespace

void cuda_sync_probes() {
  if (g_pending.empty()) return;
  std::vector<int> devs;
  for (const auto& p : g_pending)
    if (std::find(devs.begin(), devs.end(), p.dev) == devs.end()) devs.push_back(p.dev);
  for (const int dev : devs) {
    const c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(dev));
    int count = 0;
    const cuda::DeviceProbes* h = cuda::fetch_probes(stream_of_device(static_cast<c10::DeviceIndex>(dev)), &count);
    for (const auto& p : g_pending) {
      if (p.dev != dev) continue;
      TORCH_CHECK(p.slot < count, "proxbench CUDA: probe slot ", p.slot, " not filled (", count, " used)");
      merge_dev(h[p.slot], p.flags, *p.acc);
    }
  }
  g_pending.clear();
}

void cuda_discard_probes() noexcept {
  if (g_pending.empty()) return;
  try {
    for (const auto& p : g_pending) {
      const c10::cuda::CUDAGuard guard(static_cast<c10::DeviceIndex>(p.dev));
      int count = 0;
      cuda::fetch_probes(stream_of_device(static_cast<c10::DeviceIndex>(p.dev)), &count);  // resets the slots
    }
  } catch (...) {  // a failing device: nothing more to do here
  }
  g_pending.clear();
}

int64_t cuda_diag_step(const DiagStep& s, DiagBuffers& b, ProbeAcc& acc) {
  check_dtype(b.theta);
  for (auto* t : {&b.theta, &b.grad, &b.m, &b.v, &b.aux, &b.tau}) check_cuda(b.theta, *t, "buffer");
  TORCH_CHECK(s.precond == Precond::Identity || b.v.defined(), "proxbench fused step: missing v buffer");
  const c10::cuda::CUDAGuard guard(b.theta.device());
  void* stream = stream_of(b.theta);
  const int64_t n = b.theta.numel();
  if (s.count_sparsity) acc.numel += n;
  const bool has_reg = s.reg && s.reg->spec().kind != RegKind::None;
  if (s.probes) reserve_slots(2);
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
    int slot = -1;
    if (fused_separable(s.reg)) {
      if (s.mode == Mode::ZTau) return;  // as the CPU one-pass path: ZTau is internal to two-phase steps
      L.reg = s.reg ? s.reg->spec() : RegSpec{};
      if (L.reg.kind == RegKind::L12) L.reg.l12_shift = s.l12_shift;
      p.aux = s.write_aux ? ptr<T>(b.aux) : nullptr;
      cuda::diag_step(L, p, stream, &slot);
      defer(b.theta, slot, kAll, acc);
      prox_evals = (has_reg && s.mode == Mode::Prox) ? 1 : 0;
      return;
    }
    TORCH_CHECK(b.aux.defined() && b.tau.defined(), "proxbench fused step: two-phase path needs z and tau buffers");
    TORCH_CHECK(b.theta.is_contiguous(),
                "proxbench fused step: group / plugin regularizers need a contiguous parameter");
    L.reg = RegSpec{};
    int64_t gsize = 0;
    if (s.mode == Mode::Prox && contiguous_groups(s.reg, b.theta, gsize) && gsize > 0) {
      p.aux = ptr<T>(b.aux);
      p.tau = ptr<T>(b.tau);
      cuda::group_l21_step(L, s.write_aux, gsize, p, stream, &slot);
      defer(b.theta, slot, kAll, acc);
      prox_evals = 1;
      return;
    }
    if (s.mode == Mode::Subgrad) {
      // g_eff = g + λ r'(θ) into the tau scratch; ‖g_t‖² is the loss gradient's (as on the CPU).
      if (is_group(s.reg)) {
        cuda::group_l21_subgradient(p.theta, p.grad, ptr<T>(b.tau), s.c.sub_lambda, geom_of(s.reg, b.theta), s.probes,
                                    stream, &slot);
        defer(b.theta, slot, kAll, acc);
      } else {  // plugin: its own tensor-level subgradient, on the device
        s.reg->subgradient(b.theta, b.aux);
        b.tau.copy_(b.grad).add_(b.aux, s.c.sub_lambda);
        if (s.probes) acc.grad_sq += b.grad.to(torch::kDouble).pow(2).sum().item<double>();  // plugins: one more copy
      }
      L.c.sub_lambda = 0;
      p.grad = ptr<T>(b.tau);
      cuda::diag_step(L, p, stream, &slot);
      defer(b.theta, slot, kNoGradSq, acc);
      return;
    }
    // Columns layout (strided groups) or a plugin: phase 1, the prox of the z scratch, phase 3.
    cuda::DiagLaunch L1 = L;
    L1.mode = Mode::ZTau;
    p.aux = ptr<T>(b.aux);
    p.tau = ptr<T>(b.tau);
    cuda::diag_step(L1, p, stream, &slot);
    defer(b.theta, slot, kAll, acc);
    if (is_group(s.reg))
      cuda::group_l21_prox(p.aux, p.tau, geom_of(s.reg, b.theta), stream);
    else
      s.reg->prox_(b.aux, b.tau);  // plugin: its own tensor-level prox, on the device
    prox_evals = 1;
    cuda::finish_step(L, s.write_aux, p, stream, &slot);
    defer(b.theta, slot, kAll, acc);
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
  if (fused_separable(reg) || is_group(reg)) {
    TORCH_CHECK(!is_group(reg) || (scratch.defined() && theta.is_contiguous()),
                "sr2_trial: group l2,1 needs a contiguous parameter and the scratch buffer");
    reserve_slots(1);
    const RegSpec spec = reg && !is_group(reg) ? reg->spec() : RegSpec{};
    int slot = -1;
    AT_DISPATCH_FLOATING_TYPES(theta.scalar_type(), "proxbench_cuda_sr2_trial", [&] {
      using T = scalar_t;
      if (is_group(reg))
        cuda::sr2_group_trial(lambda, inv_sigma, ptr<T>(theta), ptr<T>(grad), ptr<T>(prev), ptr<T>(scratch),
                              geom_of(reg, theta), probes && count_sparsity, stream_of(theta), &slot);
      else
        cuda::sr2_trial(spec, lambda, inv_sigma, ptr<T>(theta), ptr<T>(grad), ptr<T>(prev), n, probes, count_sparsity,
                        stream_of(theta), &slot);
    });
    defer(theta, slot, kAll, acc);
    return has_reg ? 1 : 0;
  }
  // Plugins: the tensor-level path shared with the CPU, on the device (its own reductions copy).
  sr2_trial_two_phase(reg, lambda, inv_sigma, theta, grad, prev, scratch, probes, count_sparsity, acc);
  return has_reg ? 1 : 0;
}

void cuda_restore(torch::Tensor& theta, const torch::Tensor& prev, bool count, ProbeAcc& acc) {
  check_dtype(theta);
  check_cuda(theta, prev, "previous-iterate buffer");
  const c10::cuda::CUDAGuard guard(theta.device());
  if (count) reserve_slots(1);
  int slot = -1;
  AT_DISPATCH_FLOATING_TYPES(theta.scalar_type(), "proxbench_cuda_restore", [&] {
    using T = scalar_t;
    cuda::restore(ptr<T>(theta), ptr<T>(prev), theta.numel(), count, stream_of(theta), &slot);
  });
  defer(theta, slot, kCountsOnly, acc);
}

}  // namespace proxbench::core::kernels
