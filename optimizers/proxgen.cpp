#include "optimizers/proxgen.h"

#include <cmath>

namespace proxbench::optimizers {

using core::kernels::Precond;

ProxGenOptions ProxGenOptions::from_map(const core::OptionMap& in, const std::string& owner) {
  core::OptionMap o = in;
  o.set_owner(owner);
  ProxGenOptions r;
  r.form = o.get_string("form", r.form);
  if (r.form == "authors") {
    r.bias_correction = true;
    r.official_threshold_without_bias_correction1 = true;
    r.decoupled_weight_decay = 0.01;
    r.prox_min_dim = 2;
    r.l12_shift = 1e-4;
  } else if (r.form != "paper") {
    throw Error(owner + ": option 'form' = '" + r.form + "' must be one of paper, authors");
  }
  r.preconditioner = o.get_string("preconditioner", r.preconditioner);
  r.lr = o.get_double("lr", r.lr);
  r.beta1 = o.get_double("beta1", r.beta1);
  r.beta2 = o.get_double("beta2", r.beta2);
  r.delta = o.get_double("delta", r.delta);
  r.bias_correction = o.get_bool("bias_correction", r.bias_correction);
  r.official_threshold_without_bias_correction1 =
      o.get_bool("official_threshold_without_bias_correction1", r.official_threshold_without_bias_correction1);
  r.decoupled_weight_decay = o.get_double("decoupled_weight_decay", r.decoupled_weight_decay);
  r.prox_min_dim = o.get_int("prox_min_dim", r.prox_min_dim);
  r.l12_shift = o.get_double("l12_shift", r.l12_shift);
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
  check_in(owner, "prox_min_dim", double(prox_min_dim), 0, 8, false, false);
  check_in(owner, "l12_shift", l12_shift, 0, INFINITY, false, true);
}

ProxGen::ProxGen(const std::vector<core::ParamGroupSpec>& groups, ProxGenOptions options)
    : DiagOptimizer(groups, options.lr), opt_(std::move(options)) {
  opt_.validate();
  prox_min_dim_ = opt_.prox_min_dim;
  precond_ = opt_.preconditioner == "identity"  ? Precond::Identity
             : opt_.preconditioner == "adagrad" ? Precond::Sum
                                                : Precond::Ema;
  adam_ = opt_.preconditioner == "adam";
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
  const bool bc = adam_ && opt_.bias_correction;
  c.s_v = bc ? 1.0 / (1.0 - std::pow(opt_.beta2, double(t))) : 1.0;
  const double alpha = bc ? lr / (1.0 - std::pow(opt_.beta1, double(t))) : lr;
  c.a = alpha;
  c.b = (bc && opt_.official_threshold_without_bias_correction1 ? lr : alpha) * go.lambda;
  c.tau_precond = true;
  c.eps = 1.0;
  s.l12_shift = opt_.l12_shift;
  return alpha;
}

namespace {
using core::ParamDoc;
const std::vector<ParamDoc> kDocs = {
    {"form", "paper",
     "paper = Algorithm 1 / §4 (no bias correction); authors = the official AdamL0/L1/L12/L23: bias correction, "
     "threshold lr*lambda/D, wd 0.01 on all params, prox only on tensors of 2+ dims, biased l1/2 map (1e-4)"},
    {"preconditioner", "adam",
     "C_t of Algorithm 1 line 7: adam | rmsprop | adagrad | identity (prox-SGD with momentum)"},
    {"lr", "1e-3", "alpha in [0, inf); ProxGen §4 / App.: 1e-3 for Adam on CIFAR-10"},
    {"beta1", "0.9", "rho of Algorithm 1 line 6, in [0, 1); §4: constant 0.9"},
    {"beta2", "0.999", "second-moment decay (adam, rmsprop), in [0, 1); §4: 0.999"},
    {"delta", "1e-8", "delta of Algorithm 1, in (0, inf); 0 < delta << 1"},
    {"bias_correction", "false",
     "adam: alpha_t = lr/(1-beta1^t), C = sqrt(v/(1-beta2^t)) (Adam, official code); false = §4 form; form authors: "
     "true"},
    {"official_threshold_without_bias_correction1", "false",
     "form authors: true. Authors' code: prox threshold lr*lambda/D without 1/(1-beta1^t) while the step has it"},
    {"decoupled_weight_decay", "0",
     "authors' code: theta <- theta(1 - lr*wd) on all params before the step (official wd = 0.01); in [0, inf)"},
    {"prox_min_dim", "0", "tensors with fewer dimensions get no prox (plain step); form authors: 2; in [0, 8]"},
    {"l12_shift", "0", "l1/2 only: the authors' biased map with |z| + shift inside the arccos; form authors: 1e-4"},
};
PROXBENCH_REGISTER(core::optimizer_registry(),
                   (core::OptimizerRegistry::Entry{
                       "proxgen",
                       "ProxGen (NeurIPS 2021) Algorithm 1 / eq. (2)-(4): preconditioned prox step; revised ProxQuant "
                       "with binary_quant",
                       kDocs, "paper: ProxGen Alg. 1",
                       [](std::vector<core::ParamGroupSpec> g,
                          const core::OptionMap& o) -> std::unique_ptr<core::ProxOptimizer> {
                         return std::make_unique<ProxGen>(g, ProxGenOptions::from_map(o));
                       }}));
}  // namespace

}  // namespace proxbench::optimizers
