#include "optimizers/sr2.h"

#include <ATen/CPUGeneratorImpl.h>

#include <cmath>

#include "core/kernels_probes.h"
#include "optimizers/diag_optimizer.h"

namespace proxbench::optimizers {

using core::kernels::ProbeAcc;
namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

Sr2Options Sr2Options::from_map(const core::OptionMap& in, const std::string& owner) {
  core::OptionMap o = in;
  o.set_owner(owner);
  Sr2Options r;
  r.form = o.get_string("form", r.form);
  if (r.form == "authors") {
    r.momentum = 0.9;
    r.weight_decay = 0.02;
    r.model = "authors";
    r.sigma0_from_hessian = true;
    r.eta2 = 0.999;
    r.gamma1 = 5.57;
    r.gamma3 = 0.79;
  } else if (r.form != "paper") {
    throw Error(owner + ": option 'form' = '" + r.form + "' must be one of paper, authors");
  }
  r.momentum = o.get_double("momentum", r.momentum);
  r.weight_decay = o.get_double("weight_decay", r.weight_decay);
  r.model = o.get_string("model", r.model);
  r.sigma0_from_hessian = o.get_bool("sigma0_from_hessian", r.sigma0_from_hessian);
  r.hessian_iters = o.get_int("hessian_iters", r.hessian_iters);
  r.sigma0 = o.get_double("sigma0", r.sigma0);
  r.sigma_min = o.get_double("sigma_min", r.sigma_min);
  r.eta1 = o.get_double("eta1", r.eta1);
  r.eta2 = o.get_double("eta2", r.eta2);
  r.gamma1 = o.get_double("gamma1", r.gamma1);
  r.gamma3 = o.get_double("gamma3", r.gamma3);
  o.check_unused();
  r.validate(owner);
  return r;
}

void Sr2Options::validate(const std::string& owner) const {
  if (form != "paper" && form != "authors")
    throw Error(owner + ": option 'form' = '" + form + "' must be one of paper, authors");
  if (model != "paper" && model != "authors")
    throw Error(owner + ": option 'model' = '" + model + "' must be one of paper, authors");
  check_in(owner, "momentum", momentum, 0, 1, false, true);
  check_in(owner, "weight_decay", weight_decay, 0, 1000, false, true);
  check_in(owner, "hessian_iters", double(hessian_iters), 1, 10000, false, false);
  check_in(owner, "eta1", eta1, 0, 1, true, true);
  check_in(owner, "eta2", eta2, 0, 1, true, true);
  if (eta1 > eta2)
    throw Error(owner + ": option 'eta1' = " + format_double(eta1) + " must be <= 'eta2' = " + format_double(eta2) +
                " (Algorithm 1: 0 < eta1 <= eta2 < 1)");
  check_in(owner, "gamma1", gamma1, 1, INFINITY, true, true);
  check_in(owner, "gamma3", gamma3, 0, 1, true, false);
  check_in(owner, "sigma_min", sigma_min, 0, INFINITY, true, true);
  if (!(sigma0 >= sigma_min) || !std::isfinite(sigma0))
    throw Error(owner + ": option 'sigma0' = " + format_double(sigma0) +
                " must be in [sigma_min = " + format_double(sigma_min) + ", inf)");
}

Sr2::Sr2(const std::vector<core::ParamGroupSpec>& groups, Sr2Options options)
    : ProxOptimizer(groups, 1.0 / options.sigma0), opt_(std::move(options)), sigma_(opt_.sigma0) {
  opt_.validate();
}

torch::Tensor Sr2::step(LossClosure closure) {
  TORCH_CHECK(closure, "optimizer 'sr2': step() needs a closure that re-evaluates the same minibatch (see sr2.h)");
  core::StepStats s;
  torch::Tensor loss0;
  {
    torch::AutoGradMode enable(true);
    loss0 = closure();
  }
  TORCH_CHECK(loss0.defined(), "optimizer 'sr2': the closure returned an undefined loss");
  s.loss = loss0.item<double>();
  ++step_count_;
  s.step = step_count_;
  int64_t extra_evals = 0;
  if (step_count_ == 1 && opt_.sigma0_from_hessian) {
    std::vector<torch::Tensor> ps;
    for (auto& g : param_groups())
      for (auto& p : g.params())
        if (p.grad().defined()) ps.push_back(p);
    const double e = estimate_sigma0_fd(ps, closure, int(opt_.hessian_iters));
    extra_evals = opt_.hessian_iters + 1;
    if (std::isfinite(e) && e > 0) sigma_ = e;
  }
  const bool authors_model = opt_.model == "authors";
  const double shrink = 1.0 - 0.001 * opt_.weight_decay;
  const double sigma_t = sigma_, inv_sigma = 1.0 / sigma_;

  // Trial point θ + s (eq. (8)), one fused pass per tensor; model terms accumulated.
  // One ProbeAcc per tensor at stable addresses: on CUDA sync_probes fills them (one copy).
  double gts = 0, r0 = 0, r1 = 0;
  ProbeAcc total;
  std::vector<std::pair<size_t, torch::Tensor>> touched;
  {
    size_t n_params = 0;
    for (const auto& g : param_groups()) n_params += g.params().size();
    std::vector<ProbeAcc> accs;
    std::vector<double> r_befores;  // R(θ) before the authors' shrink (NaN without it)
    accs.reserve(n_params);
    r_befores.reserve(n_params);
    const core::kernels::ProbeScope probe_scope;
    torch::NoGradGuard ng;
    for (size_t gi = 0; gi < param_groups().size(); ++gi) {
      const auto& go = group_options(gi);
      const core::Regularizer* reg = go.regularized() ? go.regularizer.get() : nullptr;
      for (auto& p : param_groups()[gi].params()) {
        if (!p.grad().defined()) continue;
        auto& st = param_state(p);
        st.step += 1;
        auto& prev = buffer(st, "prev", p);
        torch::Tensor scratch;
        if (reg && core::kernels::needs_two_phase(reg)) scratch = buffer(st, "z", p);
        double r_before = kNaN;
        if (shrink != 1.0) {  // authors' weight shrink: keep the unshrunk θ for a rejection
          buffer(st, "prev0", p).copy_(p.detach());
          if (reg) r_before = reg->value(p.detach());
          p.detach().mul_(shrink);
        }
        torch::Tensor dir = p.grad();
        if (opt_.momentum > 0) {
          auto& mom = buffer(st, "mom", p);
          mom.mul_(opt_.momentum).add_(p.grad(), 1.0 - opt_.momentum);
          dir = mom;
        }
        accs.emplace_back();
        r_befores.push_back(r_before);
        s.prox_evals += core::kernels::sr2_trial(reg, go.lambda, inv_sigma, p, dir, prev, scratch, probes_,
                                                 go.regularized() && count_sparsity_, partials_, accs.back());
        touched.emplace_back(gi, p);
      }
    }
    core::kernels::sync_probes();
    for (size_t k = 0; k < accs.size(); ++k) {
      const auto& go = group_options(touched[k].first);
      gts += accs[k].e0;
      if (go.regularized()) {
        r0 += go.lambda * (shrink != 1.0 ? r_befores[k] : accs[k].e1);
        r1 += go.lambda * accs[k].e2;
      }
      total.merge(accs[k]);
    }
  }
  const double s_sq = total.dtheta_sq;

  // Same-minibatch evaluation at the trial point.
  torch::Tensor loss1;
  {
    torch::AutoGradMode enable(true);
    loss1 = closure();
  }
  TORCH_CHECK(loss1.defined(), "optimizer 'sr2': the closure returned an undefined loss");
  s.loss_evals = 2 + extra_evals;
  s.grad_evals = 2 + extra_evals;

  // Ratio test.
  const double dF = (s.loss + r0) - (loss1.item<double>() + r1);
  const double dpsi = r0 - gts - r1;
  double rho;
  bool accept, update_sigma;
  if (authors_model) {
    update_sigma = false;
    accept = true;
    if (dpsi < -1e-4) {
      rho = kNaN;
      s.stop = true;
    } else if (dpsi <= 0) {
      rho = 0.0;
      s.stop = ++stop_counter_ > 30;
    } else {
      rho = dF / dpsi;
      stop_counter_ = 0;
      accept = rho >= opt_.eta1;
      update_sigma = true;
    }
  } else if (s_sq == 0) {
    rho = kNaN;
    accept = true;
    update_sigma = false;
  } else {
    rho = dpsi > 0 ? dF / dpsi : 0.0;
    if (!std::isfinite(dF)) rho = kNaN;
    accept = rho >= opt_.eta1;
    update_sigma = true;
  }
  ProbeAcc after = total;
  if (!accept) {
    torch::NoGradGuard ng;
    const core::kernels::ProbeScope probe_scope;
    after.nnz = 0;
    after.n_small = 0;
    for (auto& tp : touched) {
      auto& st = param_state(tp.second);
      core::kernels::restore(tp.second, st.buffers.at(shrink != 1.0 ? "prev0" : "prev"),
                             probes_ && count_sparsity_ && group_options(tp.first).regularized(), partials_, after);
    }
    core::kernels::sync_probes();
    after.dtheta_sq = 0;
  }
  if (update_sigma) {
    const double lo = authors_model ? 0.0 : opt_.sigma_min;
    if (rho >= opt_.eta2)
      sigma_ = std::max(lo, opt_.gamma3 * sigma_);
    else if (!(rho >= opt_.eta1))
      sigma_ = opt_.gamma1 * sigma_;
  }

  s.sigma = sigma_t;
  s.rho = rho;
  s.accepted = accept;
  s.lambda_min = inv_sigma;
  s.lr = inv_sigma;
  if (probes_) {
    s.dtheta_sq = after.dtheta_sq;
    s.grad_sq = after.grad_sq;
    s.precond_max = sigma_t;
    s.precond_min = sigma_t;
    if (count_sparsity_) {
      s.nnz = after.nnz;
      s.n_small = after.n_small;
      s.numel = after.numel;
    }
  }
  record_step(s);
  return loss0;
}

double Sr2::estimate_sigma0_fd(const std::vector<torch::Tensor>& params, const LossClosure& closure, int iters,
                               uint64_t seed) {
  if (iters < 1) throw Error("sr2: estimate_sigma0_fd: iters = " + std::to_string(iters) + " must be >= 1");
  torch::NoGradGuard ng;
  auto call = [&] {
    torch::AutoGradMode enable(true);
    closure();
  };
  std::vector<torch::Tensor> theta0, g0, v;
  double tn = 0, nrm = 0;
  auto gen = at::detail::createCPUGenerator(seed);
  for (const auto& p : params) {
    theta0.push_back(p.detach().clone());
    g0.push_back(p.grad().detach().clone());
    tn += p.detach().to(torch::kDouble).pow(2).sum().item<double>();
    v.push_back(at::randn(p.sizes(), gen, p.options().device(torch::kCPU).requires_grad(false)).to(p.device()));
    nrm += v.back().to(torch::kDouble).pow(2).sum().item<double>();
  }
  const double h = 1e-3 * std::max(1.0, std::sqrt(tn));
  nrm = std::sqrt(nrm);
  for (auto& x : v) x.div_(nrm);
  double eig = 0;
  for (int k = 0; k < iters; ++k) {
    for (size_t i = 0; i < params.size(); ++i) params[i].detach().copy_(theta0[i]).add_(v[i], h);
    call();
    double dot = 0, hn = 0;
    std::vector<torch::Tensor> hv;
    for (size_t i = 0; i < params.size(); ++i) {
      hv.push_back((params[i].grad().detach() - g0[i]) / h);
      dot += (hv[i].to(torch::kDouble) * v[i].to(torch::kDouble)).sum().item<double>();
      hn += hv[i].to(torch::kDouble).pow(2).sum().item<double>();
    }
    eig = dot;
    hn = std::sqrt(hn);
    if (!(hn > 0) || !std::isfinite(hn)) break;
    for (size_t i = 0; i < params.size(); ++i) v[i] = hv[i] / hn;
  }
  for (size_t i = 0; i < params.size(); ++i) params[i].detach().copy_(theta0[i]);
  call();  // the gradient at θ_0 back in .grad
  return std::fabs(eig);
}

double Sr2::estimate_sigma0(const std::vector<torch::Tensor>& params, const std::function<torch::Tensor()>& loss_fn,
                            int iters, uint64_t seed) {
  if (iters < 1) throw Error("sr2: estimate_sigma0: iters = " + std::to_string(iters) + " must be >= 1");
  torch::AutoGradMode enable(true);
  auto loss = loss_fn();
  auto grads = torch::autograd::grad({loss}, params, {}, /*retain_graph=*/true, /*create_graph=*/true);
  auto gen = at::detail::createCPUGenerator(seed);
  std::vector<torch::Tensor> v;
  double nrm = 0;
  for (const auto& p : params) {
    v.push_back(at::randn(p.sizes(), gen, p.options().requires_grad(false)));
    nrm += v.back().pow(2).sum().item<double>();
  }
  nrm = std::sqrt(nrm);
  for (auto& x : v) x.div_(nrm);
  double eig = 0;
  for (int k = 0; k < iters; ++k) {
    auto hv = torch::autograd::grad(grads, params, v, /*retain_graph=*/true, /*create_graph=*/false);
    double dot = 0, hn = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      dot += (hv[i] * v[i]).sum().item<double>();
      hn += hv[i].pow(2).sum().item<double>();
    }
    eig = dot;
    hn = std::sqrt(hn);
    if (hn == 0) break;
    for (size_t i = 0; i < v.size(); ++i) v[i] = hv[i].detach() / hn;
  }
  return std::fabs(eig);
}

void Sr2::save_extra(torch::serialize::OutputArchive& a) const {
  a.write("proxbench/sr2/sigma", c10::IValue(sigma_));
  a.write("proxbench/sr2/stop_counter", c10::IValue(stop_counter_));
}

void Sr2::load_extra(torch::serialize::InputArchive& a) {
  c10::IValue v;
  a.read("proxbench/sr2/sigma", v);
  sigma_ = v.toDouble();
  if (a.try_read("proxbench/sr2/stop_counter", v)) stop_counter_ = v.toInt();
}

namespace {
using core::ParamDoc;
const std::vector<ParamDoc> kDocs = {
    {"form", "paper",
     "paper = Algorithm 1 / Table 1; authors = the authors' code: momentum 0.9, weight shrink 0.02, their model "
     "decrease rules, eta2 0.999, gamma1 5.57, gamma3 0.79, sigma0 from the Hessian (no andrei preconditioner)"},
    {"momentum", "0", "beta of d = beta d + (1-beta) g used in the step and the model, in [0, 1); form authors: 0.9"},
    {"weight_decay", "0", "theta <- theta(1 - 0.001 wd) before the step, in [0, 1000]; form authors: 0.02"},
    {"model", "paper", "paper | authors: the authors' rules for a model decrease <= 0 (keep, rho 0 / stop)"},
    {"sigma0_from_hessian", "false",
     "sigma0 = top Hessian eigenvalue on the first batch (finite-difference power "
     "iteration through the closure); form authors: true"},
    {"hessian_iters", "20", "power iterations of sigma0_from_hessian, in [1, 10000]"},
    {"sigma0", "1", "initial sigma in [sigma_min, inf); authors: top Hessian eigenvalue (Sr2::estimate_sigma0)"},
    {"sigma_min", "1e-6", "lower bound of sigma, in (0, inf) (Algorithm 1 input; not in Table 1)"},
    {"eta1", "7.5e-4", "acceptance threshold in (0, 1), <= eta2; SR2 Table 1"},
    {"eta2", "0.99", "very-successful threshold in (0, 1); SR2 Table 1 (authors' code: 0.999)"},
    {"gamma1", "5.56", "sigma growth on failure, in (1, inf); SR2 Table 1 (its gamma2 = 2.95 < gamma1 is ignored)"},
    {"gamma3", "0.8", "sigma shrink on very successful steps, in (0, 1]; SR2 Table 1"},
};
PROXBENCH_REGISTER(core::optimizer_registry(),
                   (core::OptimizerRegistry::Entry{
                       "sr2",
                       "SR2 Algorithm 1: prox step of length 1/sigma, same-minibatch ratio test, sigma adaptation "
                       "(needs a closure)",
                       kDocs, "paper: SR2 Alg. 1, Table 1",
                       [](std::vector<core::ParamGroupSpec> g,
                          const core::OptionMap& o) -> std::unique_ptr<core::ProxOptimizer> {
                         return std::make_unique<Sr2>(g, Sr2Options::from_map(o));
                       }}));
}  // namespace

}  // namespace proxbench::optimizers
