// The single instances of the harness registries (CLI subcommands, `list` topics).
#include "harness/command.h"

namespace proxbench::harness {
CommandRegistry& command_registry() {
  static CommandRegistry r("command");
  return r;
}
ListTopicRegistry& list_topic_registry() {
  static ListTopicRegistry r("list topic");
  return r;
}
}  // namespace proxbench::harness
