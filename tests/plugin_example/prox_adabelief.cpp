// Proximal AdaBelief: an instance of ProxGen's framework (ProxGen paper, Algorithm 1 and eq. (2))
// with AdaBelief's preconditioner (Zhuang et al., NeurIPS 2020), shipped as a run-time plugin.
//
// Per coordinate, with g_t the minibatch gradient and t ≥ 1:
//   m_t = β1 m_{t−1} + (1 − β1) g_t
//   s_t = β2 s_{t−1} + (1 − β2) (g_t − m_t)² + ε          (the "belief" in g_t)
//   C_t = sqrt(s_t / (1 − β2^t)),  D = C_t + δ,  m̂_t = m_t / (1 − β1^t)
//   θ_{t+1} = prox_{τ r}(θ_t − α m̂_t / D),  τ = α λ / D   (prox-reference §0 reduction)
// for every separable regularizer proxbench has (the scalar ops of core/prox_scalar.h), so l0,
// l1, l1/2, MCP, ... work unchanged. The probes of the theory (‖Δθ‖², ‖g‖², max/min D, λ_min =
// α / max D, non-zeros) are taken in the same loop, exactly like the built-in optimizers, and
// reported through ProxOptimizer::record_step, so experiments, checkpoints and reports treat this
// optimizer like any built-in one.
#include <ATen/Parallel.h>

#include <cmath>
#include <limits>

#include "core/optimizer.h"
#include "core/prox_scalar.h"
#include "harness/plugin.h"

namespace {

using namespace proxbench;

class ProxAdaBelief : public core::ProxOptimizer {
 public:
  ProxAdaBelief(const std::vector<core::ParamGroupSpec>& groups, const core::OptionMap& o)
      : core::ProxOptimizer(groups, o.get_double_in("lr", 1e-3, 0, 1e3, true, false)),
        beta1_(o.get_double_in("beta1", 0.9, 0, 1, false, true)),
        beta2_(o.get_double_in("beta2", 0.999, 0, 1, false, true)),
        eps_(o.get_double_in("eps", 1e-16, 0, 1, false, false)),
        delta_(o.get_double_in("delta", 1e-8, 0, 1, true, false)) {
    o.check_unused();
    for (size_t i = 0; i < param_groups().size(); ++i) {
      auto reg = group_regularizer(i);
      if (reg && !reg->separable())
        throw Error("optimizer 'prox_adabelief': regularizer '" + reg->name() + "' is not separable");
    }
  }

  std::string name() const override { return "prox_adabelief"; }

  torch::Tensor step(LossClosure closure) override {
    core::StepStats s;
    torch::Tensor loss = begin_step(closure, s);  // closure, counts, step_count_
    torch::NoGradGuard no_grad;
    Acc total;
    double alpha0 = std::numeric_limits<double>::quiet_NaN(), dmax_all = -1;
    for (size_t gi = 0; gi < param_groups().size(); ++gi) {
      const auto& go = group_options(gi);
      const bool regd = go.regularized();
      core::RegSpec spec;  // kind None unless the group is regularized
      if (regd) spec = go.regularizer->spec();
      for (auto& p : param_groups()[gi].params()) {
        if (!p.grad().defined()) continue;
        auto& st = param_state(p);
        st.step += 1;
        const double t = double(st.step);
        const double alpha = go.lr, bc1 = 1 - std::pow(beta1_, t), bc2 = 1 - std::pow(beta2_, t);
        if (std::isnan(alpha0)) alpha0 = alpha;
        torch::Tensor& m = buffer(st, "m", p);
        torch::Tensor& v = buffer(st, "s", p);
        TORCH_CHECK(p.is_contiguous() && p.device().is_cpu(), "prox_adabelief: CPU contiguous parameters only");
        auto g = p.grad().contiguous();
        AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "prox_adabelief", [&] {
          core::visit_separable(spec, [&](auto op) {
            run<scalar_t>(op, p.data_ptr<scalar_t>(), g.data_ptr<scalar_t>(), m.data_ptr<scalar_t>(),
                          v.data_ptr<scalar_t>(), p.numel(), alpha, go.lambda * alpha, bc1, bc2, regd, total);
            return 0;
          });
        });
        s.prox_evals += regd ? 1 : 0;
        dmax_all = std::max(dmax_all, total.dmax);
      }
    }
    if (probes_) {
      s.dtheta_sq = total.dth;
      s.grad_sq = total.g2;
      s.precond_max = total.dmax;
      s.precond_min = total.dmin;
      s.lambda_min = alpha0 / total.dmax;  // λ_min(α (C+δI)^{-1}) = α / max_i D_i
      s.nnz = total.nnz;
      s.n_small = total.small;
      s.numel = total.numel;
    }
    record_step(s);
    return loss;
  }

 private:
  struct Acc {
    double dth = 0, g2 = 0, dmax = -std::numeric_limits<double>::infinity(),
           dmin = std::numeric_limits<double>::infinity();
    int64_t nnz = 0, small = 0, numel = 0;
  };

  // The fused pass: moments, preconditioner, prox and probes of one tensor, parallel over chunks
  // with one partial per chunk (merged in chunk order: deterministic for a fixed thread count).
  template <class T, class Op>
  void run(const Op& op, T* th, const T* g, T* m, T* v, int64_t n, double alpha, double alpha_lambda, double bc1,
           double bc2, bool regd, Acc& total) {
    const int64_t K = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), n / 32768 + 1));
    std::vector<Acc> part(static_cast<size_t>(K));
    const T b1 = T(beta1_), b2 = T(beta2_), ep = T(eps_), de = T(delta_), a = T(alpha / bc1), lam = T(alpha_lambda);
    const T inv_bc2 = T(1.0 / bc2);
    const bool probes = probes_;
    at::parallel_for(0, K, 1, [&](int64_t kb, int64_t ke) {
      for (int64_t k = kb; k < ke; ++k) {
        Acc acc;
        for (int64_t i = n * k / K; i < n * (k + 1) / K; ++i) {
          const T gi = g[i], old = th[i];
          m[i] = b1 * m[i] + (T(1) - b1) * gi;
          const T r = gi - m[i];
          v[i] = b2 * v[i] + (T(1) - b2) * r * r + ep;
          const T D = std::sqrt(v[i] * inv_bc2) + de;
          const T z = old - a * m[i] / D;
          const T nw = op.prox(z, lam / D);
          th[i] = nw;
          if (probes) {
            const double d = double(nw) - double(old);
            acc.dth += d * d;
            acc.g2 += double(gi) * double(gi);
            acc.dmax = std::max(acc.dmax, double(D));
            acc.dmin = std::min(acc.dmin, double(D));
            if (regd) {
              acc.nnz += nw != T(0);
              acc.small += std::fabs(nw) <= T(1e-3);
              acc.numel += 1;
            }
          }
        }
        part[static_cast<size_t>(k)] = acc;
      }
    });
    for (const auto& p : part) {
      total.dth += p.dth;
      total.g2 += p.g2;
      total.dmax = std::max(total.dmax, p.dmax);
      total.dmin = std::min(total.dmin, p.dmin);
      total.nnz += p.nnz;
      total.small += p.small;
      total.numel += p.numel;
    }
  }

  void save_extra(torch::serialize::OutputArchive&) const override {}
  void load_extra(torch::serialize::InputArchive&) override {}

  double beta1_, beta2_, eps_, delta_;
};

void register_all() {
  core::optimizer_registry().add(
      {"prox_adabelief",
       "proximal AdaBelief (ProxGen Alg. 1 with AdaBelief's preconditioner; plugin example)",
       {{"lr", "1e-3", "step size alpha, in (0, 1e3]"},
        {"beta1", "0.9", "momentum EMA, in [0, 1)"},
        {"beta2", "0.999", "belief EMA, in [0, 1)"},
        {"eps", "1e-16", "added to s_t (AdaBelief), in [0, 1]"},
        {"delta", "1e-8", "D = C + delta, in (0, 1]"}},
       "plugin",
       [](std::vector<core::ParamGroupSpec> groups, const core::OptionMap& o) -> std::unique_ptr<core::ProxOptimizer> {
         return std::make_unique<ProxAdaBelief>(groups, o);
       }});
}

}  // namespace

PROXBENCH_PLUGIN(register_all)
