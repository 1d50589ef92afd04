#include "optimizers/prox_sgd.h"

#include <cmath>

namespace proxbench::optimizers {

ProxSgdOptions ProxSgdOptions::from_map(const core::OptionMap& in, const std::string& owner) {
  core::OptionMap o = in;
  o.set_owner(owner);
  ProxSgdOptions r;
  r.form = o.get_string("form", r.form);
  if (r.form == "authors") {
    r.official_bias_correction_off_by_one = true;
  } else if (r.form == "proxgen_code") {
    r.lr = 1e-3;
    r.weight_decay = 0.01;
  } else if (r.form != "paper") {
    throw Error(owner + ": option 'form' = '" + r.form + "' must be one of paper, authors, proxgen_code");
  }
  r.lr = o.get_double("lr", r.lr);
  r.beta = o.get_double("beta", r.beta);
  r.delta = o.get_double("delta", r.delta);
  if (r.form == "proxgen_code") {
    r.beta1 = o.get_double("beta1", r.beta1);
    r.weight_decay = o.get_double("weight_decay", r.weight_decay);
  } else {
    r.preconditioner = o.get_string("preconditioner", r.preconditioner);
    r.epsilon_decay = o.get_double("epsilon_decay", r.epsilon_decay);
    r.rho0 = o.get_double("rho0", r.rho0);
    r.rho_decay = o.get_double("rho_decay", r.rho_decay);
    r.bias_correction = o.get_bool("bias_correction", r.bias_correction);
    r.official_bias_correction_off_by_one =
        o.get_bool("official_bias_correction_off_by_one", r.official_bias_correction_off_by_one);
  }
  o.check_unused();
  r.validate(owner);
  return r;
}

void ProxSgdOptions::validate(const std::string& owner) const {
  if (form != "paper" && form != "authors" && form != "proxgen_code")
    throw Error(owner + ": option 'form' = '" + form + "' must be one of paper, authors, proxgen_code");
  if (preconditioner != "ema" && preconditioner != "identity")
    throw Error(owner + ": option 'preconditioner' = '" + preconditioner + "' must be one of ema, identity");
  check_in(owner, "beta1", beta1, 0, 1, false, true);
  check_in(owner, "weight_decay", weight_decay, 0, INFINITY, false, true);
  check_in(owner, "lr", lr, 0, INFINITY, false, true);
  check_in(owner, "epsilon_decay", epsilon_decay, 0, INFINITY, false, true);
  check_in(owner, "rho0", rho0, 0, 1, true, false);
  check_in(owner, "rho_decay", rho_decay, 0, INFINITY, false, true);
  check_in(owner, "beta", beta, 0, 1, false, true);
  check_in(owner, "delta", delta, 0, INFINITY, true, true);
}

ProxSgd::ProxSgd(const std::vector<core::ParamGroupSpec>& groups, ProxSgdOptions options)
    : DiagOptimizer(groups, options.lr), opt_(std::move(options)) {
  opt_.validate();
  if (opt_.form == "proxgen_code") prox_min_dim_ = 2;
}

torch::Tensor ProxSgd::x_hat(const torch::Tensor& p) {
  auto& st = param_state(p);
  auto it = st.buffers.find("x_hat");
  return it == st.buffers.end() ? torch::Tensor() : it->second;
}

double ProxSgd::plan(size_t group, int64_t t, core::kernels::DiagStep& s) const {
  const auto& go = group_options(group);
  if (opt_.form == "proxgen_code") {  // ProxSGDL1 of the ProxGen code (see prox_sgd.h)
    auto& c = s.c;
    s.mode = core::kernels::Mode::Prox;
    s.precond = core::kernels::Precond::Ema;
    s.write_aux = true;
    c.wd = 1.0 - go.lr * opt_.weight_decay;
    c.c_m = opt_.beta1;
    c.c_g = 1.0 - opt_.beta1;
    c.c_v = opt_.beta;
    c.c_vg = 1.0 - opt_.beta;
    c.s_v = 1.0 / (1.0 - std::pow(opt_.beta, double(t)));
    c.delta = opt_.delta;
    c.a = 1.0;
    c.b = go.lambda;
    c.tau_precond = true;
    c.eps = go.lr / (1.0 - std::pow(opt_.beta1, double(t)));
    return c.eps;
  }
  const double tt = double(t) + 4.0;
  const double eps_t = go.lr / std::pow(tt, opt_.epsilon_decay);
  const double rho_t = opt_.rho0 / std::pow(tt, opt_.rho_decay);
  auto& c = s.c;
  s.mode = core::kernels::Mode::Prox;
  s.precond = opt_.preconditioner == "identity" ? core::kernels::Precond::Identity : core::kernels::Precond::Ema;
  s.write_aux = true;
  c.c_m = 1.0 - rho_t;
  c.c_g = rho_t;
  c.c_v = opt_.beta;
  c.c_vg = 1.0 - opt_.beta;
  const double e = opt_.official_bias_correction_off_by_one ? double(t + 1) : double(t);
  c.s_v = opt_.bias_correction ? 1.0 / (1.0 - std::pow(opt_.beta, e)) : 1.0;
  c.delta = opt_.delta;
  c.a = 1.0;
  c.b = go.lambda;
  c.tau_precond = true;
  c.eps = eps_t;
  c.wd = 1.0;
  return eps_t;
}

namespace {
using core::ParamDoc;
const std::vector<ParamDoc> kDocs = {
    {"form", "paper",
     "paper = ProxGen eq. (5)-(6) with Prox-SGD's schedules; authors = the Prox-SGD authors' code (bias-correction "
     "exponent t+1); proxgen_code = the ProxGen authors' ProxSGDL1 (Adam moments, rho = 0.9 on the old momentum, "
     "step lr/(1-beta1^t) following the lr schedule, wd 0.01, prox on 2+-dim tensors)"},
    {"preconditioner", "ema",
     "ema (D = sqrt(r_hat) + delta) | identity (D = I, no r state; SR2 §5 baseline with "
     "rho0 1, rho_decay 0, epsilon_decay 0); not with proxgen_code"},
    {"lr", "0.06", "eps0 of eps_t = eps0/(t+4)^eps_decay, in [0, inf); authors' code default"},
    {"epsilon_decay", "0.5", "eps_decay in [0, inf); authors' code default"},
    {"rho0", "0.9", "rho0 of rho_t = rho0/(t+4)^rho_decay, in (0, 1]; v <- (1-rho_t)v + rho_t g; authors' code"},
    {"rho_decay", "0.5", "rho_decay in [0, inf); authors' code default"},
    {"beta", "0.999", "second-moment decay in [0, 1); authors' code default"},
    {"delta", "1e-8", "delta in (0, inf); D = sqrt(r_hat) + delta; authors' code default"},
    {"bias_correction", "true", "r / (1 - beta^t)"},
    {"official_bias_correction_off_by_one", "false", "authors' code: r / (1 - beta^(t+1)); form authors: true"},
    {"beta1", "0.9", "proxgen_code only: m <- beta1 m + (1-beta1) g, in [0, 1)"},
    {"weight_decay", "0.01", "proxgen_code only: decoupled theta <- theta(1 - lr*wd) on every parameter, in [0, inf)"},
};
PROXBENCH_REGISTER(core::optimizer_registry(),
                   (core::OptimizerRegistry::Entry{
                       "prox_sgd",
                       "Prox-SGD (ICLR 2020) as ProxGen eq. (5)-(6): x_hat = prox without lr, theta += eps_t(x_hat - "
                       "theta)",
                       kDocs, "paper: ProxGen eq. (5)-(6)",
                       [](std::vector<core::ParamGroupSpec> g,
                          const core::OptionMap& o) -> std::unique_ptr<core::ProxOptimizer> {
                         return std::make_unique<ProxSgd>(g, ProxSgdOptions::from_map(o));
                       }}));
}  // namespace

}  // namespace proxbench::optimizers
