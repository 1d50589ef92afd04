#include "optimizers/binary_connect.h"

#include <cmath>

namespace proxbench::optimizers {

using core::kernels::Precond;

BinaryConnectOptions BinaryConnectOptions::from_map(const core::OptionMap& in, const std::string& owner) {
  core::OptionMap o = in;
  o.set_owner(owner);
  BinaryConnectOptions r;
  const std::string form = o.get_string("form", "paper");  // one update: paper and authors coincide
  if (form != "paper" && form != "authors")
    throw Error(owner + ": option 'form' = '" + form + "' must be one of paper, authors");
  r.update = o.get_string("update", r.update);
  if (r.update == "sgd") r.beta1 = 0.0;
  r.lr = o.get_double("lr", r.lr);
  r.beta1 = o.get_double("beta1", r.beta1);
  if (r.update == "adam") {
    r.beta2 = o.get_double("beta2", r.beta2);
    r.delta = o.get_double("delta", r.delta);
    r.bias_correction = o.get_bool("bias_correction", r.bias_correction);
  }
  o.check_unused();
  r.validate(owner);
  return r;
}

void BinaryConnectOptions::validate(const std::string& owner) const {
  if (update != "adam" && update != "sgd")
    throw Error(owner + ": option 'update' = '" + update + "' must be one of adam, sgd");
  check_in(owner, "lr", lr, 0, INFINITY, false, true);
  check_in(owner, "beta1", beta1, 0, 1, false, true);
  check_in(owner, "beta2", beta2, 0, 1, false, true);
  check_in(owner, "delta", delta, 0, INFINITY, true, true);
}

BinaryConnect::BinaryConnect(const std::vector<core::ParamGroupSpec>& groups, BinaryConnectOptions options)
    : DiagOptimizer(groups, options.lr), opt_(std::move(options)) {
  opt_.validate();
  torch::NoGradGuard ng;
  for (size_t g = 0; g < param_groups().size(); ++g) {
    if (!quantized(g)) continue;
    for (auto& p : param_groups()[g].params()) {
      auto& w = buffer(param_state(p), "latent", p);
      w.copy_(p.detach().clamp(-1.0, 1.0));
      p.detach().copy_(torch::where(w >= 0, torch::ones_like(w), -torch::ones_like(w)));
    }
  }
}

bool BinaryConnect::quantized(size_t group) const {
  const auto& go = group_options(group);
  return go.regularizer && go.regularizer->spec().kind != core::RegKind::None;
}

torch::Tensor BinaryConnect::latent(const torch::Tensor& p) {
  auto& st = param_state(p);
  auto it = st.buffers.find("latent");
  return it == st.buffers.end() ? torch::Tensor() : it->second;
}

std::vector<std::pair<torch::Tensor, torch::Tensor>> BinaryConnect::binarized_params() const {
  torch::NoGradGuard ng;
  std::vector<std::pair<torch::Tensor, torch::Tensor>> out;
  for (size_t g = 0; g < param_groups().size(); ++g)
    if (quantized(g))
      for (const auto& p : param_groups()[g].params()) out.emplace_back(p, p.detach().clone());
  return out;
}

double BinaryConnect::plan(size_t group, int64_t t, core::kernels::DiagStep& s) const {
  const double lr = group_options(group).lr;
  const bool adam = opt_.update == "adam";
  auto& c = s.c;
  s.mode = core::kernels::Mode::Prox;
  s.precond = adam ? Precond::Ema : Precond::Identity;
  c.c_m = opt_.beta1;
  c.c_g = 1.0 - opt_.beta1;
  c.c_v = opt_.beta2;
  c.c_vg = 1.0 - opt_.beta2;
  c.delta = opt_.delta;
  const bool bc = adam && opt_.bias_correction;
  c.s_v = bc ? 1.0 / (1.0 - std::pow(opt_.beta2, double(t))) : 1.0;
  const double alpha = bc ? lr / (1.0 - std::pow(opt_.beta1, double(t))) : lr;
  c.a = alpha;
  c.b = 0.0;
  c.wd = 1.0;
  c.eps = 1.0;
  const bool q = quantized(group);
  c.clip = q ? 1.0 : INFINITY;
  c.aux_sign = q;
  s.write_aux = q;
  return alpha;
}

void BinaryConnect::bind(size_t group, torch::Tensor& p, core::ProxParamState& st, core::kernels::DiagBuffers& b) {
  if (!quantized(group)) return;
  b.theta = buffer(st, "latent", p);  // the fused pass updates w ...
  b.aux = p.detach();                 // ... and writes sign(w) into the parameter
}

namespace {
using core::ParamDoc;
const std::vector<ParamDoc> kDocs = {
    {"form", "paper", "one form (Courbariaux et al. 2015): paper and authors are the same update"},
    {"update", "adam", "update of the latent weights: adam | sgd"},
    {"lr", "1e-2", "in [0, inf)"},
    {"beta1", "0.9", "adam beta1; sgd: momentum mu (default 0), m <- mu m + (1-mu) g; in [0, 1)"},
    {"beta2", "0.999", "adam only, in [0, 1)"},
    {"delta", "1e-8", "adam only, in (0, inf)"},
    {"bias_correction", "true", "adam only: Adam's 1/(1-beta^t) corrections"},
};
PROXBENCH_REGISTER(core::optimizer_registry(),
                   (core::OptimizerRegistry::Entry{
                       "binary_connect",
                       "BinaryConnect (NeurIPS 2015): forward with sign(w), straight-through Adam/SGD step on latent "
                       "w, clip to [-1, 1]; regularized groups are the binarized ones (ProxGen Table 3 baseline)",
                       kDocs, "baseline: ProxGen Table 3",
                       [](std::vector<core::ParamGroupSpec> g,
                          const core::OptionMap& o) -> std::unique_ptr<core::ProxOptimizer> {
                         return std::make_unique<BinaryConnect>(g, BinaryConnectOptions::from_map(o));
                       }}));
}  // namespace

}  // namespace proxbench::optimizers
