#include "optimizers/proxquant.h"

#include <cmath>

namespace proxbench::optimizers {

ProxQuant::ProxQuant(const std::vector<core::ParamGroupSpec>& groups, ProxGenOptions options,
                     bool official_clip_to_unit)
    : DiagOptimizer(groups, options.lr), opt_(std::move(options)), clip_(official_clip_to_unit) {
  opt_.validate("optimizer 'proxquant'");
}

double ProxQuant::plan(size_t group, int64_t t, core::kernels::DiagStep& s) const {
  const auto& go = group_options(group);
  const double lr = go.lr;
  auto& c = s.c;
  s.mode = core::kernels::Mode::Prox;
  s.precond = core::kernels::Precond::Ema;
  c.c_m = opt_.beta1;
  c.c_g = 1.0 - opt_.beta1;
  c.c_v = opt_.beta2;
  c.c_vg = 1.0 - opt_.beta2;
  c.delta = opt_.delta;
  const bool bc = opt_.bias_correction;
  c.s_v = bc ? 1.0 / (1.0 - std::pow(opt_.beta2, double(t))) : 1.0;
  const double alpha = bc ? lr / (1.0 - std::pow(opt_.beta1, double(t))) : lr;
  c.a = alpha;
  c.b = lr * go.lambda;
  c.tau_precond = false;
  c.wd = 1.0;
  c.clip = clip_ ? 1.0 : INFINITY;
  return alpha;
}

namespace {
using core::ParamDoc;
const std::vector<ParamDoc> kDocs = {
    {"lr", "1e-2", "in [0, inf); ProxQuant binary runs: Adam lr 0.01"},
    {"beta1", "0.9", "in [0, 1); Adam"},
    {"beta2", "0.999", "in [0, 1); Adam"},
    {"delta", "1e-8", "in (0, inf); Adam epsilon"},
    {"bias_correction", "true", "Adam's 1/(1-beta^t) corrections on the gradient step"},
    {"official_clip_to_unit", "false", "authors' code: clip theta to [-1, 1] after the prox"},
};
PROXBENCH_REGISTER(core::optimizer_registry(),
                   (core::OptimizerRegistry::Entry{
                       "proxquant",
                       "original ProxQuant (ICLR 2019): Adam step, then prox with tau = lr*lambda (no preconditioner); "
                       "revised ProxQuant = proxgen + binary_quant",
                       kDocs, "paper: ProxQuant; ProxGen §2",
                       [](std::vector<core::ParamGroupSpec> g,
                          const core::OptionMap& in) -> std::unique_ptr<core::ProxOptimizer> {
                         core::OptionMap o = in;
                         o.set_owner("optimizer 'proxquant'");
                         ProxGenOptions p;
                         p.lr = o.get_double("lr", 1e-2);
                         p.beta1 = o.get_double("beta1", p.beta1);
                         p.beta2 = o.get_double("beta2", p.beta2);
                         p.delta = o.get_double("delta", p.delta);
                         p.bias_correction = o.get_bool("bias_correction", p.bias_correction);
                         const bool clip = o.get_bool("official_clip_to_unit", false);
                         o.check_unused();
                         p.validate("optimizer 'proxquant'");
                         return std::make_unique<ProxQuant>(g, p, clip);
                       }}));
}  // namespace

}  // namespace proxbench::optimizers
