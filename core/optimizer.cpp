#include "core/optimizer.h"

#include <sstream>
#include <typeinfo>

namespace proxbench::core {

bool ProxGroupOptions::regularized() const {
  return regularizer && regularizer->spec().kind != RegKind::None && lambda != 0.0;
}

namespace {
std::vector<torch::optim::OptimizerParamGroup> to_torch_groups(const std::vector<ParamGroupSpec>& groups, double lr) {
  std::vector<torch::optim::OptimizerParamGroup> out;
  for (const auto& g : groups) {
    auto o = std::make_unique<ProxGroupOptions>();
    o->lr = lr;
    o->regularizer = g.regularizer;
    o->lambda = g.lambda;
    out.emplace_back(g.params, std::move(o));
  }
  return out;
}

// torch::optim::Optimizer's state map is keyed by the TensorImpl address: as a string in LibTorch
// 1.x, as the void* itself in 2.x.
using StateMap = std::remove_reference_t<decltype(std::declval<torch::optim::Optimizer&>().state())>;
template <class K>
K key_of(const torch::Tensor& p) {
  if constexpr (std::is_same_v<K, std::string>) {
    std::ostringstream os;
    os << p.unsafeGetTensorImpl();
    return os.str();
  } else {
    return static_cast<K>(p.unsafeGetTensorImpl());
  }
}
StateMap::key_type state_key(const torch::Tensor& p) { return key_of<StateMap::key_type>(p); }
}  // namespace

ProxOptimizer::ProxOptimizer(const std::vector<ParamGroupSpec>& groups, double default_lr)
    : torch::optim::Optimizer(to_torch_groups(groups, default_lr), [&] {
        auto d = std::make_unique<ProxGroupOptions>();
        d->lr = default_lr;
        return d;
      }()) {
  for (size_t i = 0; i < groups.size(); ++i)
    if (groups[i].lambda < 0 || !std::isfinite(groups[i].lambda))
      throw Error("optimizer: param group " + std::to_string(i) + ": lambda = " + format_double(groups[i].lambda) +
                  " must be in [0, inf)");
}

ProxGroupOptions& ProxOptimizer::group_options(size_t i) {
  auto& base = param_groups().at(i).options();
  // the exact type without dynamic_cast (several lookups per tensor and step); subclasses below
  if (typeid(base) == typeid(ProxGroupOptions)) return static_cast<ProxGroupOptions&>(base);
  auto* o = dynamic_cast<ProxGroupOptions*>(&base);
  if (!o) throw Error("optimizer '" + name() + "': param group " + std::to_string(i) + " has no ProxGroupOptions");
  return *o;
}
const ProxGroupOptions& ProxOptimizer::group_options(size_t i) const {
  return const_cast<ProxOptimizer*>(this)->group_options(i);
}

RegularizerPtr ProxOptimizer::group_regularizer(size_t i) const { return group_options(i).regularizer; }
double ProxOptimizer::group_lambda(size_t i) const { return group_options(i).lambda; }

double ProxOptimizer::regularization_value() const {
  double total = 0;
  for (size_t i = 0; i < param_groups().size(); ++i) {
    auto reg = group_regularizer(i);
    double lam = group_lambda(i);
    if (!reg || lam == 0) continue;
    for (const auto& p : param_groups()[i].params()) total += lam * reg->value(p);
  }
  return total;
}

ProxParamState& ProxOptimizer::param_state(const torch::Tensor& p) {
  if (state_cache_size_ != state_.size()) state_cache_.clear();
  const auto c = state_cache_.find(p.unsafeGetTensorImpl());
  if (c != state_cache_.end()) return *c->second;
  auto key = state_key(p);
  auto it = state_.find(key);
  if (it == state_.end()) it = state_.emplace(key, std::make_unique<ProxParamState>()).first;
  auto& st = static_cast<ProxParamState&>(*it->second);
  state_cache_.emplace(p.unsafeGetTensorImpl(), &st);
  state_cache_size_ = state_.size();
  return st;
}

torch::Tensor& ProxOptimizer::buffer(ProxParamState& st, const std::string& name, const torch::Tensor& p) {
  auto& t = st.buffers[name];
  if (!t.defined()) t = torch::zeros_like(p, torch::MemoryFormat::Preserve).detach();
  return t;
}

torch::Tensor ProxOptimizer::begin_step(const LossClosure& closure, StepStats& s) {
  torch::Tensor loss;
  if (closure) {
    torch::AutoGradMode enable(true);
    loss = closure();
    s.loss_evals = 1;
    // the common CPU scalars read directly (item() is a dispatcher call: a fixed cost per step)
    if (loss.defined()) {
      const bool cpu_scalar = loss.is_cpu() && loss.numel() == 1 && loss.layout() == torch::kStrided;
      if (cpu_scalar && loss.scalar_type() == torch::kDouble)
        s.loss = *loss.data_ptr<double>();
      else if (cpu_scalar && loss.scalar_type() == torch::kFloat)
        s.loss = double(*loss.data_ptr<float>());
      else
        s.loss = loss.item<double>();
    }
  }
  s.grad_evals = 1;
  s.step = ++step_count_;
  return loss;
}

void ProxOptimizer::record_step(const StepStats& s) {
  stats_ = s;
  counters_.steps += 1;
  counters_.loss_evals += s.loss_evals;
  counters_.grad_evals += s.grad_evals;
  counters_.prox_evals += s.prox_evals;
  if (s.accepted)
    counters_.accepted += 1;
  else
    counters_.rejected += 1;
}

void ProxOptimizer::save(torch::serialize::OutputArchive& a) const {
  a.write("proxbench/optimizer", c10::IValue(name()));
  a.write("proxbench/step_count", c10::IValue(step_count_));
  a.write("proxbench/counters",
          c10::IValue(std::vector<int64_t>{counters_.steps, counters_.loss_evals, counters_.grad_evals,
                                           counters_.prox_evals, counters_.accepted, counters_.rejected}));
  a.write("proxbench/n_groups", c10::IValue(int64_t(param_groups().size())));
  for (size_t i = 0; i < param_groups().size(); ++i) {
    const auto& o = group_options(i);
    const std::string gk = "proxbench/g" + std::to_string(i);
    a.write(gk + "/lr", c10::IValue(o.lr));
    a.write(gk + "/lambda", c10::IValue(o.lambda));
    a.write(gk + "/regularizer", c10::IValue(o.regularizer ? o.regularizer->to_json().dump() : std::string()));
    const auto& ps = param_groups()[i].params();
    a.write(gk + "/n_params", c10::IValue(int64_t(ps.size())));
    for (size_t j = 0; j < ps.size(); ++j) {
      const std::string pk = gk + "/p" + std::to_string(j);
      auto it = state_.find(state_key(ps[j]));
      if (it == state_.end()) continue;
      const auto& st = static_cast<const ProxParamState&>(*it->second);
      a.write(pk + "/step", c10::IValue(st.step));
      std::string names;
      for (const auto& kv : st.buffers) {
        if (!kv.second.defined()) continue;
        names += (names.empty() ? "" : ",") + kv.first;
        a.write(pk + "/" + kv.first, kv.second, /*is_buffer=*/true);
      }
      a.write(pk + "/buffers", c10::IValue(names));
    }
  }
  save_extra(a);
}

void ProxOptimizer::load(torch::serialize::InputArchive& a) {
  c10::IValue v;
  a.read("proxbench/optimizer", v);
  if (v.toStringRef() != name())
    throw Error("optimizer '" + name() + "': checkpoint was written by optimizer '" + v.toStringRef() + "'");
  a.read("proxbench/n_groups", v);
  if (v.toInt() != int64_t(param_groups().size()))
    throw Error("optimizer '" + name() + "': checkpoint has " + std::to_string(v.toInt()) + " param groups, this has " +
                std::to_string(param_groups().size()));
  a.read("proxbench/step_count", v);
  step_count_ = v.toInt();
  a.read("proxbench/counters", v);
  auto c = v.toIntVector();
  counters_ = OptimizerCounters{c.at(0), c.at(1), c.at(2), c.at(3), c.at(4), c.at(5)};
  for (size_t i = 0; i < param_groups().size(); ++i) {
    auto& o = group_options(i);
    const std::string gk = "proxbench/g" + std::to_string(i);
    a.read(gk + "/lr", v);
    o.lr = v.toDouble();
    a.read(gk + "/lambda", v);
    o.lambda = v.toDouble();
    a.read(gk + "/regularizer", v);
    const auto& rj = v.toStringRef();
    if (rj.empty()) {
      o.regularizer = nullptr;
    } else {
      auto layout = o.regularizer ? o.regularizer->group_layout() : GroupLayout::Rows;
      auto r = make_regularizer(nlohmann::json::parse(rj));
      if (r->group_layout() != layout) {
        auto rw = std::const_pointer_cast<Regularizer>(r);
        rw->set_group_layout(layout);
      }
      o.regularizer = r;
    }
    auto& ps = param_groups()[i].params();
    a.read(gk + "/n_params", v);
    if (v.toInt() != int64_t(ps.size()))
      throw Error("optimizer '" + name() + "': checkpoint group " + std::to_string(i) + " has " +
                  std::to_string(v.toInt()) + " parameters, this has " + std::to_string(ps.size()));
    for (size_t j = 0; j < ps.size(); ++j) {
      const std::string pk = gk + "/p" + std::to_string(j);
      if (!a.try_read(pk + "/step", v)) continue;
      auto& st = param_state(ps[j]);
      st.step = v.toInt();
      a.read(pk + "/buffers", v);
      std::stringstream ss(v.toStringRef());
      std::string bn;
      while (std::getline(ss, bn, ',')) {
        if (bn.empty()) continue;
        torch::Tensor t;
        a.read(pk + "/" + bn, t, /*is_buffer=*/true);
        auto& b = buffer(st, bn, ps[j]);
        b.copy_(t);
      }
    }
  }
  load_extra(a);
}

ScopedBinarized::ScopedBinarized(const ProxOptimizer& opt) {
  torch::NoGradGuard ng;
  for (auto& pb : opt.binarized_params()) {
    saved_.emplace_back(pb.first, pb.first.detach().clone());
    pb.first.detach().copy_(pb.second);
  }
}

ScopedBinarized::~ScopedBinarized() {
  torch::NoGradGuard ng;
  for (auto& ps : saved_) ps.first.detach().copy_(ps.second);
}

void require_option(bool ok, const std::string& owner, const std::string& key, double value,
                    const std::string& what) {
  if (!ok) throw Error(owner + ": option '" + key + "' = " + format_double(value) + " must be " + what);
}

std::unique_ptr<ProxOptimizer> make_optimizer(const std::string& name, std::vector<ParamGroupSpec> groups,
                                              const OptionMap& options) {
  return optimizer_registry().get(name).make(std::move(groups), options);
}

}  // namespace proxbench::core
