#include "optimizers/diag_optimizer.h"

#include <sstream>
#include <vector>

#include "core/kernels_probes.h"

namespace proxbench::optimizers {

using core::kernels::DiagBuffers;
using core::kernels::DiagStep;
using core::kernels::Precond;
using core::kernels::ProbeAcc;

void check_in(const std::string& owner, const std::string& key, double v, double lo, double hi, bool lo_open,
              bool hi_open) {
  bool ok = std::isfinite(v) || (!hi_open && std::isinf(hi) && v == hi);
  ok = ok && (lo_open ? v > lo : v >= lo) && (hi_open ? v < hi : v <= hi);
  if (ok) return;
  std::ostringstream os;
  os << owner << ": option '" << key << "' = " << format_double(v) << " must be in " << (lo_open ? "(" : "[")
     << format_double(lo) << ", " << format_double(hi) << (hi_open ? ")" : "]");
  throw Error(os.str());
}

bool DiagOptimizer::prox_tensor(size_t group, const torch::Tensor& p) const {
  return group_options(group).regularized() && p.dim() >= prox_min_dim_;
}

namespace {
// the state's buffer names, built once (a std::string per lookup was a fixed cost of small steps)
const std::string kM = "m", kV = "v", kXHat = "x_hat", kZ = "z", kTau = "tau";
}  // namespace

torch::Tensor DiagOptimizer::step(LossClosure closure) {
  core::StepStats s;
  torch::Tensor loss = begin_step(closure, s);
  torch::NoGradGuard no_grad;
  // One ProbeAcc per tensor, at stable addresses: on CUDA they are filled by sync_probes (one
  // device-to-host copy per step), after the loop.
  size_t n_params = 0;
  for (const auto& g : param_groups()) n_params += g.params().size();
  auto& accs = accs_;  // members: their capacity survives the step (no allocation after the first)
  auto& alphas = alphas_;
  accs.clear();
  alphas.clear();
  accs.reserve(n_params);  // before the loop: the ProbeAcc addresses stay stable
  alphas.reserve(n_params);
  const core::kernels::ProbeScope probe_scope;
  bool first_lr = true, any_aux = false;
  for (size_t gi = 0; gi < param_groups().size(); ++gi) {
    const auto& go = group_options(gi);
    if (frozen(gi)) continue;
    for (auto& p : param_groups()[gi].params()) {
      // the gradient by reference, without Tensor::grad()'s non-leaf warning check (two calls into
      // LibTorch and a tensor copy per parameter and step)
      const torch::Tensor& grad = p.unsafeGetTensorImpl()->grad();
      if (!grad.defined()) continue;
      auto& st = param_state(p);
      st.step += 1;
      DiagStep d;
      const bool prox = prox_tensor(gi, p);
      d.reg = prox ? go.regularizer.get() : nullptr;
      d.probes = probes_;
      d.count_sparsity = prox && count_sparsity_;
      const double alpha = plan(gi, st.step, d);
      if (first_lr) {
        s.lr = alpha;
        first_lr = false;
      }
      DiagBuffers b;
      b.theta = p;
      b.grad = grad;
      b.m = buffer(st, kM, p);
      if (d.precond != Precond::Identity) b.v = buffer(st, kV, p);
      const bool two = d.reg && core::kernels::needs_two_phase(d.reg);
      if (d.write_aux) b.aux = buffer(st, kXHat, p);
      any_aux = any_aux || d.write_aux;
      if (two) {
        if (!d.write_aux) b.aux = buffer(st, kZ, p);
        b.tau = buffer(st, kTau, p);
      }
      bind(gi, p, st, b);
      accs.emplace_back();
      alphas.push_back(alpha);
      s.prox_evals += core::kernels::diag_step(d, b, partials_, accs.back());
    }
  }
  core::kernels::sync_probes();
  ProbeAcc total;
  double lambda_min = std::numeric_limits<double>::infinity();
  for (size_t k = 0; k < accs.size(); ++k) {
    if (probes_ && std::isfinite(accs[k].dmax)) lambda_min = std::min(lambda_min, alphas[k] / accs[k].dmax);
    total.merge(accs[k]);
  }
  if (probes_) {
    s.dtheta_sq = total.dtheta_sq;
    s.grad_sq = total.grad_sq;
    if (std::isfinite(total.dmax)) {
      s.precond_max = total.dmax;
      s.precond_min = total.dmin;
      s.lambda_min = lambda_min;
    }
    if (count_sparsity_) {
      s.nnz = total.nnz;
      s.n_small = total.n_small;
      s.numel = total.numel;
      if (any_aux) s.nnz_aux = total.nnz_aux;
    }
  }
  record_step(s);
  return loss;
}

}  // namespace proxbench::optimizers
