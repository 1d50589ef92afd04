#include "core/optimizer.h"

namespace proxbench::core {

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

std::unique_ptr<ProxOptimizer> make_optimizer(const std::string& name, std::vector<ParamGroupSpec> groups,
                                              const OptionMap& options) {
  return optimizer_registry().get(name).make(std::move(groups), options);
}

}  // namespace proxbench::core
