// `proxbench list [TOPIC]`: prints the registries (name, parameters with defaults, flags, one line).
#include <CLI/CLI.hpp>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "core/kernels_cpu.h"
#include "core/optimizer.h"
#include "core/problem.h"
#include "core/regularizer.h"
#include "harness/command.h"
#include "harness/plugin.h"
#include "problems/models/models.h"

namespace proxbench::harness {
namespace {

template <class R>
void print_registry(std::ostream& out, const R& reg) {
  for (const auto* e : reg.entries()) {
    out << "  " << e->name;
    if (!e->flags.empty()) out << "  [" << e->flags << "]";
    out << "\n      " << e->description << "\n";
    for (const auto& p : e->params)
      out << "      --param " << p.name << "=" << p.default_value << "   " << p.description << "\n";
  }
}

void list_models(std::ostream& out) {
  out << "  (parameter counts for CIFAR-10: 3x32x32 input, 10 classes)\n";
  for (const auto* e : problems::model_registry().entries()) {
    const int64_t n = problems::count_parameters(*e->make(problems::ModelShape{3, 10, 32}));
    std::ostringstream p;
    p << std::fixed << std::setprecision(2) << double(n) / 1e6 << "M";
    out << "  " << std::left << std::setw(12) << e->name << std::right << std::setw(12) << n << "  (" << p.str()
        << ")  " << e->description << "\n";
  }
}

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("list", "List regularizers, optimizers, problems, models, experiments");
  auto topic = std::make_shared<std::string>();
  auto plugins = std::make_shared<std::vector<std::string>>();
  cmd->add_option("topic", *topic, "what to list (default: everything)");
  cmd->add_option("--plugin", *plugins, "load a plugin first (repeatable)");
  cmd->callback([topic, plugins] {
    load_plugins(*plugins);
    auto& topics = list_topic_registry();
    if (topic->empty()) {
      for (const auto* e : topics.entries()) {
        std::cout << e->name << ":\n";
        e->make(std::cout);
        std::cout << "\n";
      }
    } else {
      topics.get(*topic).make(std::cout);
    }
  });
}

PROXBENCH_REGISTER(command_registry(), (CommandRegistry::Entry{"list", "list the registries", {}, "", setup}));
PROXBENCH_REGISTER(list_topic_registry(),
                   (ListTopicRegistry::Entry{"regularizers", "registered regularizers", {}, "", [](std::ostream& o) {
                                               print_registry(o, core::regularizer_registry());
                                             }}));
PROXBENCH_REGISTER(list_topic_registry(),
                   (ListTopicRegistry::Entry{"optimizers", "registered optimizers", {}, "", [](std::ostream& o) {
                                               print_registry(o, core::optimizer_registry());
                                             }}));
PROXBENCH_REGISTER(list_topic_registry(),
                   (ListTopicRegistry::Entry{"problems", "registered problems", {}, "", [](std::ostream& o) {
                                               print_registry(o, core::problem_registry());
                                             }}));
PROXBENCH_REGISTER(list_topic_registry(),
                   (ListTopicRegistry::Entry{
                       "models", "registered networks with parameter counts", {}, "", list_models}));
PROXBENCH_REGISTER(list_topic_registry(),
                   (ListTopicRegistry::Entry{
                       "kernels", "instruction sets of the fused CPU loops", {}, "", [](std::ostream& o) {
                         using namespace core::kernels;
                         for (CpuIsa isa : kAllCpuIsas)
                           o << "  " << cpu_isa_name(isa)
                             << (cpu_isa_available(isa) ? "  available" : "  not available")
                             << (cpu_isa() == isa ? "  [in use]" : "") << "\n";
                         o << "      PROXBENCH_KERNEL_ISA=base|avx2|avx512 chooses; all give the same θ and state bits\n";
                         o << "  threads: " << at::get_num_threads()
                           << " (at::get_num_threads; OMP_NUM_THREADS sets it)\n";
                       }}));

}  // namespace
}  // namespace proxbench::harness
