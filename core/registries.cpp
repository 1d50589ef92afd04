// The single instances of every registry (one per process, shared with plugins).
#include "core/optimizer.h"
#include "core/problem.h"
#include "core/regularizer.h"
#include "harness/command.h"

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
}  // namespace core
namespace harness {
CommandRegistry& command_registry() {
  static CommandRegistry r("command");
  return r;
}
ListTopicRegistry& list_topic_registry() {
  static ListTopicRegistry r("list topic");
  return r;
}
}  // namespace harness
}  // namespace proxbench
