#include "core/regularizer.h"

#include <ATen/Parallel.h>

#include <atomic>
#include <cmath>
#include <limits>
#include <sstream>

namespace proxbench::core {
namespace {

constexpr int64_t kGrain = 1 << 13;

/// Groups of a tensor under a layout: n_groups groups of size `size`; group g starts at
/// g·base_step and its members follow BlockIndex{inner, outer_stride}.
struct GroupGeometry {
  int64_t n_groups, size, base_step, inner, outer_stride;
};

GroupGeometry geometry(const torch::Tensor& t, GroupLayout layout) {
  const int64_t n = t.numel();
  if (layout == GroupLayout::Whole || t.dim() < 2 || n == 0) return {n == 0 ? 0 : 1, n, 0, n == 0 ? 1 : n, 0};
  if (layout == GroupLayout::Rows) {
    const int64_t g = t.size(0), m = n / g;
    return {g, m, m, m, 0};
  }
  const int64_t d0 = t.size(0), d1 = t.size(1), r = n / (d0 * d1);  // Columns
  return {d1, d0 * r, r, r, d1 * r};
}

void check_cpu_float(const torch::Tensor& t, const std::string& reg, const char* what) {
  if (!t.device().is_cpu())
    throw Error("regularizer '" + reg + "': " + what + " must be a CPU tensor (the CUDA path lives in the optimizer kernels)");
  if (t.scalar_type() != torch::kFloat && t.scalar_type() != torch::kDouble)
    throw Error("regularizer '" + reg + "': " + what + " must be float32 or float64, got " +
                std::string(c10::toString(t.scalar_type())));
}

[[noreturn]] void bad_tau(const std::string& reg, double t) {
  throw Error("regularizer '" + reg + "': prox step tau = " + format_double(t) +
              " must be finite and >= 0 (tau = alpha*lambda/(C+delta); require delta > 0)");
}

/// z ← prox(z) over contiguous data with τ given by pointer (scalar or per-coordinate).
/// Returns false if a per-coordinate τ was negative or NaN (flag set inside the same pass).
template <class T>
bool prox_data(const RegSpec& spec, GroupLayout layout, const torch::Tensor& shape, T* z, const T* tau, bool ts) {
  const int64_t n = shape.numel();
  bool ok = true;
  if (spec.kind == RegKind::GroupL21) {
    const auto g = geometry(shape, layout);
    if (!ts) {
      // the group solver reads τ several times; validate it in one cheap pass first
      for (int64_t i = 0; i < n; ++i) ok &= (tau[i] >= T(0)) & (tau[i] < std::numeric_limits<T>::infinity());
      if (!ok) return false;
    }
    const int64_t grain = std::max<int64_t>(1, kGrain / std::max<int64_t>(1, g.size));
    at::parallel_for(0, g.n_groups, grain, [&](int64_t b, int64_t e) {
      for (int64_t k = b; k < e; ++k) {
        const int64_t off = k * g.base_step;
        group_l21_prox_indexed(z + off, ts ? tau : tau + off, ts, g.size, BlockIndex{g.inner, g.outer_stride});
      }
    });
    return true;
  }
  std::atomic<bool> all_ok{true};
  visit_separable(spec, [&](auto op) {
    at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
      bool good = true;
      if (ts) {
        const T t = tau[0];
        for (int64_t i = b; i < e; ++i) z[i] = op.prox(z[i], t);
      } else {
        for (int64_t i = b; i < e; ++i) {
          const T t = tau[i];
          good &= (t >= T(0)) & (t < std::numeric_limits<T>::infinity());  // false for NaN, < 0, inf
          z[i] = op.prox(z[i], t);
        }
      }
      if (!good) all_ok = false;
    });
    return 0;
  });
  return all_ok;
}

}  // namespace

Regularizer::Regularizer(std::string name, RegSpec spec, nlohmann::json params)
    : name_(std::move(name)), spec_(spec), params_(std::move(params)) {}

nlohmann::json Regularizer::to_json() const {
  nlohmann::json j = params_.is_object() ? params_ : nlohmann::json::object();
  j["name"] = name_;
  return j;
}

bool Regularizer::convex() const {
  return spec_.kind == RegKind::None || spec_.kind == RegKind::L1 || spec_.kind == RegKind::GroupL21;
}
bool Regularizer::separable() const { return spec_.kind != RegKind::GroupL21; }
bool Regularizer::has_subgradient() const { return spec_.kind != RegKind::L0; }

double Regularizer::value(const torch::Tensor& x_in) const {
  if (spec_.kind == RegKind::Custom) throw Error("regularizer '" + name_ + "': a Custom regularizer must override value()");
  check_cpu_float(x_in, name_, "x");
  const auto x = x_in.detach().contiguous();
  double total = 0;
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "Regularizer::value", [&] {
    const scalar_t* p = x.data_ptr<scalar_t>();
    if (spec_.kind == RegKind::GroupL21) {
      const auto g = geometry(x, layout_);
      const BlockIndex idx{g.inner, g.outer_stride};
      total = at::parallel_reduce(
          0, g.n_groups, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, g.size)), 0.0,
          [&](int64_t b, int64_t e, double acc) {
            for (int64_t k = b; k < e; ++k) {
              const scalar_t* q = p + k * g.base_step;
              double s = 0;
              for (int64_t i = 0; i < g.size; ++i) {
                const double v = double(q[idx(i)]);
                s += v * v;
              }
              acc += std::sqrt(s);
            }
            return acc;
          },
          std::plus<double>());
      return;
    }
    visit_separable(spec_, [&](auto op) {
      total = at::parallel_reduce(
          0, x.numel(), kGrain, 0.0,
          [&](int64_t b, int64_t e, double acc) {
            for (int64_t i = b; i < e; ++i) acc += double(op.value(p[i]));
            return acc;
          },
          std::plus<double>());
      return 0;
    });
  });
  return total;
}

void Regularizer::prox_(torch::Tensor& z, const torch::Tensor& tau_in) const {
  if (spec_.kind == RegKind::Custom) throw Error("regularizer '" + name_ + "': a Custom regularizer must override prox_()");
  check_cpu_float(z, name_, "z");
  check_cpu_float(tau_in, name_, "tau");
  const bool ts = tau_in.numel() == 1;
  if (!ts && tau_in.numel() != z.numel())
    throw Error("regularizer '" + name_ + "': tau has " + std::to_string(tau_in.numel()) + " elements, z has " +
                std::to_string(z.numel()) + " (tau must be one value or one per coordinate)");
  if (ts) {
    const double t = tau_in.item<double>();
    if (!(t >= 0) || std::isinf(t)) bad_tau(name_, t);
  }
  // Converts only when needed (a different dtype or a non-contiguous view).
  const auto tau = tau_in.detach().to(z.scalar_type()).contiguous();
  torch::NoGradGuard no_grad;
  auto zc = z.is_contiguous() ? z : z.contiguous();
  bool ok = true;
  AT_DISPATCH_FLOATING_TYPES(z.scalar_type(), "Regularizer::prox_", [&] {
    ok = prox_data<scalar_t>(spec_, layout_, zc, zc.data_ptr<scalar_t>(), tau.data_ptr<scalar_t>(), ts);
  });
  if (!ok) {
    const auto badmask = ~(tau >= 0) | tau.isinf();
    bad_tau(name_, tau.masked_select(badmask)[0].item<double>());
  }
  if (!z.is_contiguous()) z.copy_(zc);
}

void Regularizer::prox_(torch::Tensor& z, double tau) const {
  if (!(tau >= 0) || std::isinf(tau)) bad_tau(name_, tau);
  prox_(z, torch::full({1}, tau, torch::TensorOptions().dtype(z.scalar_type())));
}

void Regularizer::subgradient(const torch::Tensor& x_in, torch::Tensor& out) const {
  if (!has_subgradient())
    throw Error("regularizer '" + name_ + "' has no subgradient (use a proximal optimizer, not a subgradient method)");
  if (spec_.kind == RegKind::Custom)
    throw Error("regularizer '" + name_ + "': a Custom regularizer must override subgradient()");
  check_cpu_float(x_in, name_, "x");
  const auto x = x_in.detach().contiguous();
  if (!out.defined() || out.sizes() != x.sizes() || out.scalar_type() != x.scalar_type())
    throw Error("regularizer '" + name_ + "': subgradient output must have the shape and dtype of x");
  torch::NoGradGuard no_grad;
  auto oc = out.is_contiguous() ? out : torch::empty_like(x);
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "Regularizer::subgradient", [&] {
    const scalar_t* p = x.data_ptr<scalar_t>();
    scalar_t* o = oc.data_ptr<scalar_t>();
    if (spec_.kind == RegKind::GroupL21) {
      // ∂‖x_g‖₂ ∋ x_g/‖x_g‖₂, and 0 for x_g = 0
      const auto g = geometry(x, layout_);
      const BlockIndex idx{g.inner, g.outer_stride};
      at::parallel_for(0, g.n_groups, std::max<int64_t>(1, kGrain / std::max<int64_t>(1, g.size)), [&](int64_t b, int64_t e) {
        for (int64_t k = b; k < e; ++k) {
          const int64_t off = k * g.base_step;
          double s = 0;
          for (int64_t i = 0; i < g.size; ++i) s += double(p[off + idx(i)]) * double(p[off + idx(i)]);
          const double inv = s > 0 ? 1.0 / std::sqrt(s) : 0.0;
          for (int64_t i = 0; i < g.size; ++i) o[off + idx(i)] = scalar_t(double(p[off + idx(i)]) * inv);
        }
      });
      return;
    }
    visit_separable(spec_, [&](auto op) {
      at::parallel_for(0, x.numel(), kGrain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) o[i] = op.subgrad(p[i]);
      });
      return 0;
    });
  });
  if (!out.is_contiguous()) out.copy_(oc);
}

RegularizerPtr make_regularizer(const std::string& name, const OptionMap& params) {
  OptionMap p = params;
  p.set_owner("regularizer '" + name + "'");
  return regularizer_registry().get(name).make(p);
}

RegularizerPtr make_regularizer(const nlohmann::json& j) {
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string())
    throw Error("regularizer spec must be a map with a string 'name': " + j.dump());
  auto p = j;
  std::string name = p["name"].get<std::string>();
  p.erase("name");
  return make_regularizer(name, OptionMap(p, "regularizer '" + name + "'"));
}

GroupLayout parse_group_layout(const std::string& s) {
  if (s == "rows") return GroupLayout::Rows;
  if (s == "columns") return GroupLayout::Columns;
  if (s == "whole") return GroupLayout::Whole;
  throw Error("group layout '" + s + "' must be one of rows, columns, whole");
}

const char* to_string(GroupLayout l) {
  switch (l) {
    case GroupLayout::Rows: return "rows";
    case GroupLayout::Columns: return "columns";
    case GroupLayout::Whole: return "whole";
  }
  return "rows";
}

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

/// get_double_in whose every failure (NaN and non-numbers included) states the valid range.
double param_in(const OptionMap& o, const std::string& key, double def, double lo, double hi, bool lo_open, bool hi_open) {
  try {
    return o.get_double_in(key, def, lo, hi, lo_open, hi_open);
  } catch (const Error& e) {
    const std::string m = e.what();
    if (m.find("must be in") != std::string::npos) throw;
    throw Error(m + " (must be in " + (lo_open ? "(" : "[") + format_double(lo) + ", " + format_double(hi) +
                (hi_open ? ")" : "]") + ")");
  }
}

RegularizerPtr build(const std::string& name, RegKind kind, const OptionMap& o) {
  RegSpec s;
  s.kind = kind;
  nlohmann::json params = nlohmann::json::object();
  GroupLayout layout = GroupLayout::Rows;
  switch (kind) {
    case RegKind::Lq:
      s.q = param_in(o, "q", 0.5, 0.0, 1.0, true, true);
      params["q"] = s.q;
      break;
    case RegKind::BinaryQuant:
      s.q = param_in(o, "q", 1.0, 0.0, 1.0, true, false);
      params["q"] = s.q;
      break;
    case RegKind::Mcp:
      s.lam_p = param_in(o, "lam_p", 1.0, 0.0, kInf, true, true);
      s.gamma = param_in(o, "gamma", 3.0, 0.0, kInf, true, true);
      params["lam_p"] = s.lam_p;
      params["gamma"] = s.gamma;
      break;
    case RegKind::Scad:
      s.lam_p = param_in(o, "lam_p", 1.0, 0.0, kInf, true, true);
      s.a = param_in(o, "a", 3.7, 2.0, kInf, true, true);
      params["lam_p"] = s.lam_p;
      params["a"] = s.a;
      break;
    case RegKind::GroupL21: {
      const auto l = o.get_string("layout", "rows");
      if (l != "rows" && l != "columns" && l != "whole")
        o.fail("option 'layout' = '" + l + "' must be one of rows, columns, whole");
      layout = parse_group_layout(l);
      params["layout"] = l;
      break;
    }
    default: break;
  }
  o.check_unused();
  auto r = std::make_shared<Regularizer>(name, s, params);
  r->set_group_layout(layout);
  return r;
}

using E = RegularizerRegistry::Entry;
#define PB_REG(NAME, KIND, DESC, PARAMS, FLAGS)                                     \
  PROXBENCH_REGISTER(regularizer_registry(), (E{NAME, DESC, PARAMS, FLAGS, [](const OptionMap& o) { \
                       return build(NAME, KIND, o);                                  \
                     }}))

PB_REG("none", RegKind::None, "r(x) = 0 (no regularization; prox is the identity)", {}, "convex,separable");
PB_REG("l1", RegKind::L1, "r(x) = |x| (lasso); prox: soft threshold", {}, "convex,separable");
PB_REG("l0", RegKind::L0, "r(x) = [x != 0]; prox: hard threshold at sqrt(2 tau); no subgradient", {},
       "nonconvex,separable,no-subgradient");
PB_REG("l12", RegKind::L12, "r(x) = |x|^(1/2); prox: half thresholding (Xu et al. 2012), jump at 1.5 tau^(2/3)", {},
       "nonconvex,separable");
PB_REG("l23", RegKind::L23, "r(x) = |x|^(2/3); prox: Cardano closed form (Cao et al. 2013), jump at 2 (2tau/3)^(3/4)", {},
       "nonconvex,separable");
PB_REG("lq", RegKind::Lq, "r(x) = |x|^q, 0<q<1; prox: exact threshold + monotone Newton",
       (std::vector<ParamDoc>{{"q", "0.5", "exponent, in (0, 1)"}}), "nonconvex,separable");
PB_REG("mcp", RegKind::Mcp,
       "minimax concave penalty (Zhang 2010): lam_p|x| - x^2/(2 gamma) up to gamma*lam_p, then gamma*lam_p^2/2",
       (std::vector<ParamDoc>{{"lam_p", "1", "inner scale lambda_p, in (0, inf)"},
                              {"gamma", "3", "concavity gamma, in (0, inf); prox is firm thresholding for tau < gamma, "
                                             "hard thresholding at lam_p*sqrt(tau*gamma) for tau >= gamma"}}),
       "nonconvex,separable");
PB_REG("scad", RegKind::Scad, "SCAD penalty (Fan & Li 2001), linear up to lam_p, quadratic up to a*lam_p, then flat",
       (std::vector<ParamDoc>{{"lam_p", "1", "inner scale lambda_p, in (0, inf)"},
                              {"a", "3.7", "shape a, in (2, inf) (Fan & Li's default 3.7)"}}),
       "nonconvex,separable");
PB_REG("group_l21", RegKind::GroupL21,
       "group lasso sum_g ||x_g||_2; prox: block soft threshold (common tau) or secular-equation Newton "
       "(per-coordinate tau)",
       (std::vector<ParamDoc>{{"layout", "rows", "in {rows, columns, whole}: slices along dim 0, indices of dim 1, or the "
                                                 "whole tensor as one group; a 1-D tensor is one group"}}),
       "convex,group");
PB_REG("binary_quant", RegKind::BinaryQuant,
       "W-shaped binary quantization ||x|-1|^q (ProxQuant for q=1, Bai et al. 2019; revised ProxQuant for q<1)",
       (std::vector<ParamDoc>{{"q", "1", "exponent, in (0, 1]; 1 = ProxQuant's binary regularizer"}}),
       "nonconvex,separable");
#undef PB_REG

}  // namespace
}  // namespace proxbench::core
