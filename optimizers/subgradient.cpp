#include "optimizers/subgradient.h"

#include <cmath>

namespace proxbench::optimizers {

using core::kernels::Precond;

SubgradientOptions SubgradientOptions::from_map(const core::OptionMap& in, bool adam, const std::string& owner) {
  core::OptionMap o = in;
  o.set_owner(owner);
  SubgradientOptions r;
  const std::string form = o.get_string("form", "paper");
  if (form != "paper" && form != "authors")
    throw Error(owner + ": option 'form' = '" + form + "' must be one of paper, authors");
  if (adam && form == "authors") r.decoupled_weight_decay = 0.01;  // ProxGen's baselines: AdamW, wd 0.01
  if (!adam) {
    r.lr = 1e-2;
    r.beta1 = 0.0;
  }
  r.lr = o.get_double("lr", r.lr);
  if (adam) {
    r.beta1 = o.get_double("beta1", r.beta1);
    r.beta2 = o.get_double("beta2", r.beta2);
    r.delta = o.get_double("delta", r.delta);
    r.bias_correction = o.get_bool("bias_correction", r.bias_correction);
    r.decoupled_weight_decay = o.get_double("decoupled_weight_decay", r.decoupled_weight_decay);
  } else {
    r.beta1 = o.get_double("momentum", r.beta1);
  }
  o.check_unused();
  r.validate(owner);
  return r;
}

void SubgradientOptions::validate(const std::string& owner) const {
  check_in(owner, "lr", lr, 0, INFINITY, false, true);
  check_in(owner, "beta1", beta1, 0, 1, false, true);
  check_in(owner, "beta2", beta2, 0, 1, false, true);
  check_in(owner, "delta", delta, 0, INFINITY, true, true);
  check_in(owner, "decoupled_weight_decay", decoupled_weight_decay, 0, INFINITY, false, true);
}

Subgradient::Subgradient(const std::vector<core::ParamGroupSpec>& groups, SubgradientOptions options, bool adam)
    : DiagOptimizer(groups, options.lr), opt_(std::move(options)), adam_(adam) {
  const std::string owner = "optimizer '" + name() + "'";
  opt_.validate(owner);
  for (size_t i = 0; i < groups.size(); ++i) {
    const auto& r = groups[i].regularizer;
    if (r && !r->has_subgradient())
      throw Error(owner + ": param group " + std::to_string(i) + ": regularizer '" + r->name() +
                  "' has no subgradient (a subgradient method cannot use it; use proxgen)");
  }
}

double Subgradient::plan(size_t group, int64_t t, core::kernels::DiagStep& s) const {
  const auto& go = group_options(group);
  const double lr = go.lr;
  auto& c = s.c;
  s.mode = core::kernels::Mode::Subgrad;
  s.precond = adam_ ? Precond::Ema : Precond::Identity;
  c.sub_lambda = go.lambda;
  c.c_m = opt_.beta1;
  c.c_g = 1.0 - opt_.beta1;
  c.c_v = opt_.beta2;
  c.c_vg = 1.0 - opt_.beta2;
  c.delta = opt_.delta;
  const bool bc = adam_ && opt_.bias_correction;
  c.s_v = bc ? 1.0 / (1.0 - std::pow(opt_.beta2, double(t))) : 1.0;
  const double alpha = bc ? lr / (1.0 - std::pow(opt_.beta1, double(t))) : lr;
  c.a = alpha;
  c.b = 0.0;
  c.wd = 1.0 - lr * opt_.decoupled_weight_decay;
  return alpha;
}

namespace {
using core::ParamDoc;
const std::vector<ParamDoc> kAdamDocs = {
    {"form", "paper", "paper = Adam on the subgradient; authors = ProxGen's code baseline: AdamW (decoupled wd 0.01)"},
    {"lr", "1e-3", "in [0, inf); ProxGen §4 baselines use Adam with 1e-3"},
    {"beta1", "0.9", "in [0, 1); Adam"},
    {"beta2", "0.999", "in [0, 1); Adam"},
    {"delta", "1e-8", "in (0, inf); Adam epsilon"},
    {"bias_correction", "true", "Adam's 1/(1-beta^t) corrections"},
    {"decoupled_weight_decay", "0", "AdamW-style theta <- theta(1 - lr*wd), in [0, inf) (authors' baseline: AdamW)"},
};
const std::vector<ParamDoc> kSgdDocs = {
    {"form", "paper", "one form (paper and authors are the same update)"},
    {"lr", "1e-2", "in [0, inf)"},
    {"momentum", "0", "mu in [0, 1): m <- mu m + (1-mu) g_hat (ProxGen's momentum form; 0 = plain SGD)"},
};
PROXBENCH_REGISTER(core::optimizer_registry(),
                   (core::OptimizerRegistry::Entry{
                       "subgradient_adam", "Adam on grad f + lambda * subgradient of R (baseline; refuses l0)",
                       kAdamDocs, "baseline: ProxGen §4",
                       [](std::vector<core::ParamGroupSpec> g,
                          const core::OptionMap& o) -> std::unique_ptr<core::ProxOptimizer> {
                         return std::make_unique<Subgradient>(
                             g, SubgradientOptions::from_map(o, true, "optimizer 'subgradient_adam'"), true);
                       }}));
PROXBENCH_REGISTER(
    core::optimizer_registry(),
    (core::OptimizerRegistry::Entry{
        "subgradient_sgd", "SGD on grad f + lambda * subgradient of R (baseline; refuses l0)", kSgdDocs, "baseline",
        [](std::vector<core::ParamGroupSpec> g, const core::OptionMap& o) -> std::unique_ptr<core::ProxOptimizer> {
          return std::make_unique<Subgradient>(g, SubgradientOptions::from_map(o, false, "optimizer 'subgradient_sgd'"),
                                               false);
        }}));
}  // namespace

}  // namespace proxbench::optimizers
