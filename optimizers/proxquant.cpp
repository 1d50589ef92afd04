#include "optimizers/proxquant.h"

#include <cmath>

namespace proxbench::optimizers {

ProxQuantOptions ProxQuantOptions::from_map(const core::OptionMap& in, const std::string& owner) {
  core::OptionMap o = in;
  o.set_owner(owner);
  ProxQuantOptions r;
  r.form = o.get_string("form", r.form);
  if (r.form == "authors") {
    r.official_clip_to_unit = true;
    r.reg_rate = 1e-4;
    r.reset_moments_each_epoch = true;
  } else if (r.form != "paper") {
    throw Error(owner + ": option 'form' = '" + r.form + "' must be one of paper, authors");
  }
  r.lr = o.get_double("lr", r.lr);
  r.beta1 = o.get_double("beta1", r.beta1);
  r.beta2 = o.get_double("beta2", r.beta2);
  r.delta = o.get_double("delta", r.delta);
  r.bias_correction = o.get_bool("bias_correction", r.bias_correction);
  r.official_clip_to_unit = o.get_bool("official_clip_to_unit", r.official_clip_to_unit);
  r.reg_rate = o.get_double("reg_rate", r.reg_rate);
  r.reset_moments_each_epoch = o.get_bool("reset_moments_each_epoch", r.reset_moments_each_epoch);
  r.binarize_epoch = o.get_int("binarize_epoch", r.binarize_epoch);
  o.check_unused();
  r.validate(owner);
  return r;
}

void ProxQuantOptions::validate(const std::string& owner) const {
  if (form != "paper" && form != "authors")
    throw Error(owner + ": option 'form' = '" + form + "' must be one of paper, authors");
  check_in(owner, "lr", lr, 0, INFINITY, false, true);
  check_in(owner, "beta1", beta1, 0, 1, false, true);
  check_in(owner, "beta2", beta2, 0, 1, false, true);
  check_in(owner, "delta", delta, 0, INFINITY, true, true);
  check_in(owner, "reg_rate", reg_rate, 0, INFINITY, false, true);
  check_in(owner, "binarize_epoch", double(binarize_epoch), -1, INFINITY, false, true);
}

ProxQuant::ProxQuant(const std::vector<core::ParamGroupSpec>& groups, ProxQuantOptions options)
    : DiagOptimizer(groups, options.lr), opt_(std::move(options)) {
  opt_.validate();
}

bool ProxQuant::quantized(size_t group) const {
  const auto& go = group_options(group);
  return go.regularizer && go.regularizer->spec().kind != core::RegKind::None;
}

bool ProxQuant::prox_tensor(size_t group, const torch::Tensor&) const {
  return quantized(group) && (group_options(group).lambda != 0.0 || opt_.reg_rate > 0);
}

void ProxQuant::on_epoch_begin(int64_t epoch) {
  torch::NoGradGuard ng;
  if (opt_.reg_rate > 0)
    for (size_t g = 0; g < param_groups().size(); ++g)
      if (quantized(g)) group_options(g).lambda = opt_.reg_rate * double(epoch);
  if (opt_.reset_moments_each_epoch)
    for (auto& kv : state_) {
      auto& st = static_cast<core::ProxParamState&>(*kv.second);
      st.step = 0;
      for (auto& b : st.buffers)
        if (b.second.defined()) b.second.zero_();
    }
  if (opt_.binarize_epoch >= 0 && epoch >= opt_.binarize_epoch && !binarized_) {
    for (auto& pb : binarized_params()) pb.first.detach().copy_(pb.second);
    binarized_ = true;
  }
}

std::vector<std::pair<torch::Tensor, torch::Tensor>> ProxQuant::binarized_params() const {
  torch::NoGradGuard ng;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> out;
  for (size_t g = 0; g < param_groups().size(); ++g)
    if (quantized(g))
      for (const auto& p : param_groups()[g].params()) out.emplace_back(p, p.detach().sign());
  return out;
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
  c.clip = opt_.official_clip_to_unit && quantized(group) ? 1.0 : INFINITY;
  return alpha;
}

void ProxQuant::save_extra(torch::serialize::OutputArchive& a) const {
  a.write("proxbench/proxquant/binarized", c10::IValue(binarized_));
}

void ProxQuant::load_extra(torch::serialize::InputArchive& a) {
  c10::IValue v;
  a.read("proxbench/proxquant/binarized", v);
  binarized_ = v.toBool();
}

namespace {
using core::ParamDoc;
const std::vector<ParamDoc> kDocs = {
    {"form", "paper",
     "paper = Adam step + prox with tau = lr*lambda; authors = its official code: clip to [-1, 1] on the quantized "
     "params, lambda ramp reg_rate*epoch (1e-4), Adam moments restarted every epoch"},
    {"lr", "1e-2", "in [0, inf); ProxQuant binary runs: Adam lr 0.01"},
    {"beta1", "0.9", "in [0, 1); Adam"},
    {"beta2", "0.999", "in [0, 1); Adam"},
    {"delta", "1e-8", "in (0, inf); Adam epsilon"},
    {"bias_correction", "true", "Adam's 1/(1-beta^t) corrections on the gradient step"},
    {"official_clip_to_unit", "false",
     "clip theta to [-1, 1] after the prox, quantized (regularized) params only; form authors: true"},
    {"reg_rate", "0",
     "lambda_e = reg_rate*epoch (0-based) replaces lambda (prox step lr*reg_rate*epoch); 0 = off; form authors: 1e-4"},
    {"reset_moments_each_epoch", "false", "Adam's m, v and step count restart every epoch; form authors: true"},
    {"binarize_epoch", "-1",
     "at this epoch (0-based) theta <- sign(theta) on the quantized params, frozen after; -1 = never"},
};
PROXBENCH_REGISTER(core::optimizer_registry(),
                   (core::OptimizerRegistry::Entry{
                       "proxquant",
                       "original ProxQuant (ICLR 2019): Adam step, then prox with tau = lr*lambda (no preconditioner); "
                       "revised ProxQuant = proxgen + binary_quant",
                       kDocs, "paper: ProxQuant; ProxGen §2",
                       [](std::vector<core::ParamGroupSpec> g,
                          const core::OptionMap& o) -> std::unique_ptr<core::ProxOptimizer> {
                         return std::make_unique<ProxQuant>(g, ProxQuantOptions::from_map(o));
                       }}));
}  // namespace

}  // namespace proxbench::optimizers
