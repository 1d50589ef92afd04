// `proxbench prox --reg NAME [--param KEY=VALUE ...]`: applies a registered regularizer's prox
// to (z, tau) pairs read from standard input, so anyone can cross-check our maps with other tools.
//
//   separable:  one line `z,tau` → one line `x`           (x = argmin ½(x−z)² + tau·r(x))
//   group_l21:  one line `z1;z2;...,tau1;tau2;...` → `x1;x2;...` (one group per line; tau may be
//               a single value for the whole group)
// Values are printed with 17 significant digits; blank lines and lines starting with '#' are
// skipped. A malformed line, a non-finite value or a negative tau is an error naming the line.
#include <CLI/CLI.hpp>

#include <cmath>
#include <iostream>
#include <string>
#include <vector>

#include "core/regularizer.h"
#include "harness/command.h"
#include "harness/prox_lines.h"

namespace proxbench::harness {
namespace {

void run(const std::string& reg_name, const std::vector<std::string>& kvs) {
  auto reg = core::make_regularizer(reg_name, core::OptionMap::from_key_values(kvs, "regularizer '" + reg_name + "'"));
  apply_prox_lines(*reg, reg_name, std::cin, std::cout);
}

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("prox", "Apply a regularizer's prox to 'z,tau' lines from stdin (x = argmin 1/2(x-z)^2 + tau r(x))");
  auto reg = std::make_shared<std::string>();
  auto kvs = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--reg", *reg, "regularizer name (see `proxbench list regularizers`)")->required();
  cmd->add_option("--param", *kvs, "regularizer parameter KEY=VALUE (repeatable)");
  cmd->callback([reg, kvs] { run(*reg, *kvs); });
}

PROXBENCH_REGISTER(command_registry(),
                   (CommandRegistry::Entry{"prox", "apply a regularizer's prox to stdin lines", {}, "", setup}));

}  // namespace
}  // namespace proxbench::harness
