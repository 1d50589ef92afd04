#include "optimizers/proxgen.h"

#include <cmath>

namespace proxbench::optimizers {

using core::kernels::Precond;

ProxGenOptions ProxGenOptions::from_map(const core::OptionMap& in, const std::string& owner) {
  core::OptionMap o = in;
  o.set_owner(owner);
  ProxGenOptions r;
  r.preconditioner = o.get_string("preconditioner", r.preconditioner);
  r.lr = o.get_double("lr", r.lr);
  r.beta1 = o.get_double("beta1", r.beta1);
  r.beta2 = o.get_double("beta2", r.beta2);
  r.delta = o.get_double("delta", r.delta);
  r.bias_correction = o.get_bool("bias_correction", r.bias_correction);
  r.official_threshold_without_bias_correction1 =
      o.get_bool("official_threshold_without_bias_correction1", r.official_threshold_without_bias_correction1);
  r.decoupled_weight_decay = o.get_double("decoupled_weight_decay", r.decoupled_weight_decay);
  o.check_unused();
  r.validate(owner);
  return r;
}

void ProxGenOptions::validate(const std::string& owner) const {
  if (preconditioner != "adam" && preconditioner != "rmsprop" && preconditioner != "adagrad" &&
      preconditioner != "identity")
    throw Error(owner + ": option 'preconditioner' = '" + preconditioner +
                "' must be one of adam, rmsprop, adagrad, identity");
  check_in(owner, "lr", lr, 0, INFINITY, false, true);
  check_in(owner, "beta1", beta1, 0, 1, false, true);
  check_in(owner, "beta2", beta2, 0, 1, false, true);
  check_in(owner, "delta", delta, 0, INFINITY, true, true);
  check_in(owner, "decoupled_weight_decay", decoupled_weight_decay, 0, INFINITY, false, true);
}

ProxGen::ProxGen(const std::vector<core::ParamGroupSpec>& groups, ProxGenOptions options)
    : DiagOptimizer(groups, options.lr), opt_(std::move(options)) {
  opt_.validate();
  precond_ = opt_.preconditioner == "identity"  ? Precond::Identity
             : opt_.preconditioner == "adagrad" ? Precond::Sum
                                                : Precond::Ema;
}

double ProxGen::plan(size_t group, int64_t t, core::kernels::DiagStep& s) const {
  const auto& go = group_options(group);
  const double lr = go.lr;
  auto& c = s.c;
  s.mode = core::kernels::Mode::Prox;
  s.precond = precond_;
  c.c_m = opt_.beta1;
  c.c_g = 1.0 - opt_.beta1;
  c.c_v = precond_ == Precond::Sum ? 1.0 : opt_.beta2;
  c.c_vg = precond_ == Precond::Sum ? 1.0 : 1.0 - opt_.beta2;
  c.delta = opt_.delta;
  c.wd = 1.0 - lr * opt_.decoupled_weight_decay;
  const bool adam = opt_.preconditioner == "adam";
  const bool bc = adam && opt_.bias_correction;
  c.s_v = bc ? 1.0 / (1.0 - std::pow(opt_.beta2, double(t))) : 1.0;
  const double alpha = bc ? lr / (1.0 - std::pow(opt_.beta1, double(t))) : lr;
  c.a = alpha;
  c.b = (bc && opt_.official_threshold_without_bias_correction1 ? lr : alpha) * go.lambda;
  c.tau_precond = true;
  c.eps = 1.0;
  return alpha;
}

namespace {
using core::ParamDoc;
const std::vector<ParamDoc> kDocs = {
    {"preconditioner", "adam", "C_t of Algorithm 1 line 7: adam | rmsprop | adagrad | identity (prox-SGD with momentum)"},
    {"lr", "1e-3", "alpha in [0, inf); ProxGen §4 / App.: 1e-3 for Adam on CIFAR-10"},
    {"beta1", "0.9", "rho of Algorithm 1 line 6, in [0, 1); §4: constant 0.9"},
    {"beta2", "0.999", "second-moment decay (adam, rmsprop), in [0, 1); §4: 0.999"},
    {"delta", "1e-8", "delta of Algorithm 1, in (0, inf); 0 < delta << 1"},
    {"bias_correction", "true", "adam: alpha_t = lr/(1-beta1^t), C = sqrt(v/(1-beta2^t)) (Adam, official code); false = §4 form"},
    {"official_threshold_without_bias_correction1", "false",
     "authors' code: prox threshold lr*lambda/D without 1/(1-beta1^t) while the step has it"},
    {"decoupled_weight_decay", "0",
     "authors' code: theta <- theta(1 - lr*wd) on all params before the step (official wd = 0.01); in [0, inf)"},
};
PROXBENCH_REGISTER(core::optimizer_registry(),
                   (core::OptimizerRegistry::Entry{
                       "proxgen",
                       "ProxGen (NeurIPS 2021) Algorithm 1 / eq. (2)-(4): preconditioned prox step; revised ProxQuant "
                       "with binary_quant",
                       kDocs, "paper: ProxGen Alg. 1",
                       [](std::vector<core::ParamGroupSpec> g, const core::OptionMap& o) -> std::unique_ptr<core::ProxOptimizer> {
                         return std::make_unique<ProxGen>(g, ProxGenOptions::from_map(o));
                       }}));
}  // namespace

}  // namespace proxbench::optimizers
