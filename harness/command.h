// CLI subcommands of the `proxbench` executable. Each command lives in its own harness/*.cpp and
// registers itself with PROXBENCH_REGISTER(command_registry(), ...), so adding a command touches
// no other file. `list` gathers its topics the same way (list_topic_registry()).
#pragma once
#include <functional>
#include <ostream>
#include <string>

#include "core/registry.h"

namespace CLI {
class App;
}

namespace proxbench::harness {

/// A subcommand: `setup` adds it to the CLI11 app (options + callback). The callback reports bad
/// input by throwing proxbench::Error; main() prints "proxbench: error: <message>" and exits 2.
using CommandSetup = void(CLI::App& app);
using CommandRegistry = core::Registry<CommandSetup>;
CommandRegistry& command_registry();

/// A topic of `proxbench list TOPIC` (regularizers, optimizers, problems, models, experiments).
using ListTopic = void(std::ostream& out);
using ListTopicRegistry = core::Registry<ListTopic>;
ListTopicRegistry& list_topic_registry();

}  // namespace proxbench::harness
