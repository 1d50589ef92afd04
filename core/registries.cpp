// The single instances of every registry (one per process, shared with plugins).
#include "core/optimizer.h"
#include "core/problem.h"
#include "core/regularizer.h"

namespace proxbench {
namespace core {
RegularizerRegistry& regularizer_registry() {
  static RegularizerRegistry r("regularizer");
  return r;
}
OptimizerRegistry& optimizer_registry() {
  static OptimizerRegistry r("optimizer");
  return r;
}
ProblemRegistry& problem_registry() {
  static ProblemRegistry r("problem");
  return r;
}
ProblemValidatorRegistry& problem_validator_registry() {
  static ProblemValidatorRegistry r("problem validator");
  return r;
}
}  // namespace core
}  // namespace proxbench
