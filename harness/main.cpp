// proxbench — command-line entry point. Subcommands register themselves (harness/command.h).
#include <CLI/CLI.hpp>

#include <iostream>

#include "core/common.h"
#include "harness/command.h"

int main(int argc, char** argv) {
  CLI::App app{"proxbench — stochastic proximal optimizers: ProxGen, Prox-SGD, SR2 and friends"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("proxbench ") + proxbench::version());
  for (const auto* e : proxbench::harness::command_registry().entries()) e->make(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const proxbench::Error& e) {
    std::cerr << "proxbench: error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "proxbench: error: " << e.what() << "\n";
    return 3;
  }
  return 0;
}
