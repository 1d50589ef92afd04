#include "core/regularizer.h"

#include <ATen/Parallel.h>

namespace proxbench::core {
namespace {

template <class F>
decltype(auto) visit_op(const RegSpec& s, F&& f) {
  switch (s.kind) {
    case RegKind::L1: return f(scalar::L1Op{});
    case RegKind::L0: return f(scalar::L0Op{});
    default: return f(scalar::NoneOp{});
  }
}

template <class Op, class T>
void prox_loop(const Op& op, T* z, const T* tau, bool tau_scalar, int64_t n) {
  at::parallel_for(0, n, 1 << 14, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) z[i] = op.prox(z[i], tau[tau_scalar ? 0 : i]);
  });
}

}  // namespace

Regularizer::Regularizer(std::string name, RegSpec spec, nlohmann::json params)
    : name_(std::move(name)), spec_(spec), params_(std::move(params)) {}

nlohmann::json Regularizer::to_json() const {
  nlohmann::json j = params_.is_object() ? params_ : nlohmann::json::object();
  j["name"] = name_;
  return j;
}

bool Regularizer::convex() const { return spec_.kind == RegKind::None || spec_.kind == RegKind::L1; }
bool Regularizer::separable() const { return spec_.kind != RegKind::GroupL21; }
bool Regularizer::has_subgradient() const { return spec_.kind != RegKind::L0; }

double Regularizer::value(const torch::Tensor& x) const {
  auto xc = x.detach().contiguous().to(torch::kDouble);
  const double* p = xc.data_ptr<double>();
  double s = 0;
  visit_op(spec_, [&](auto op) {
    for (int64_t i = 0; i < xc.numel(); ++i) s += op.value(p[i]);
    return 0;
  });
  return s;
}

void Regularizer::prox_(torch::Tensor& z, const torch::Tensor& tau) const {
  TORCH_CHECK(z.is_contiguous(), "prox_: z must be contiguous");
  auto t = tau.to(z.scalar_type()).contiguous();
  bool ts = t.numel() == 1;
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "prox_", [&] {
    visit_op(spec_, [&](auto op) {
      prox_loop(op, z.data_ptr<scalar_t>(), t.data_ptr<scalar_t>(), ts, z.numel());
      return 0;
    });
  });
}

void Regularizer::prox_(torch::Tensor& z, double tau) const {
  prox_(z, torch::full({1}, tau, torch::TensorOptions().dtype(z.scalar_type())));
}

void Regularizer::subgradient(const torch::Tensor& x, torch::Tensor& out) const {
  if (!has_subgradient()) throw Error("regularizer '" + name_ + "' has no subgradient");
  out.copy_(x.sign());
}

RegularizerPtr make_regularizer(const std::string& name, const OptionMap& params) {
  return regularizer_registry().get(name).make(params);
}

RegularizerPtr make_regularizer(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("name")) throw Error("regularizer spec must be a map with a 'name': " + j.dump());
  auto p = j;
  std::string name = p["name"].get<std::string>();
  p.erase("name");
  return make_regularizer(name, OptionMap(p, "regularizer '" + name + "'"));
}

namespace {
RegularizerPtr simple(const std::string& n, RegKind k, const OptionMap& o) {
  o.check_unused();
  RegSpec s;
  s.kind = k;
  return std::make_shared<Regularizer>(n, s, nlohmann::json::object());
}
PROXBENCH_REGISTER(regularizer_registry(), (RegularizerRegistry::Entry{"none", "no regularization", {}, "convex,separable",
                                            [](const OptionMap& o) { return simple("none", RegKind::None, o); }}));
PROXBENCH_REGISTER(regularizer_registry(), (RegularizerRegistry::Entry{"l1", "r(x)=|x|", {}, "convex,separable",
                                            [](const OptionMap& o) { return simple("l1", RegKind::L1, o); }}));
PROXBENCH_REGISTER(regularizer_registry(), (RegularizerRegistry::Entry{"l0", "r(x)=[x!=0]", {}, "nonconvex,separable",
                                            [](const OptionMap& o) { return simple("l0", RegKind::L0, o); }}));
}  // namespace

}  // namespace proxbench::core
