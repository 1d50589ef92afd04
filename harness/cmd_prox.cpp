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

namespace proxbench::harness {
namespace {

std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return "";
  const auto e = s.find_last_not_of(" \t\r");
  return s.substr(b, e - b + 1);
}

std::vector<double> parse_list(const std::string& field, const char* what, int64_t line_no, bool nonneg) {
  std::vector<double> out;
  size_t start = 0;
  while (true) {
    const auto end = field.find(';', start);
    const std::string tok = trim(field.substr(start, end == std::string::npos ? std::string::npos : end - start));
    char* stop = nullptr;
    const double v = std::strtod(tok.c_str(), &stop);
    if (tok.empty() || *stop != '\0')
      throw Error("stdin line " + std::to_string(line_no) + ": " + what + " '" + tok + "' is not a number");
    if (!std::isfinite(v)) throw Error("stdin line " + std::to_string(line_no) + ": " + what + " = " + tok + " must be finite");
    if (nonneg && v < 0)
      throw Error("stdin line " + std::to_string(line_no) + ": " + what + " = " + tok + " must be >= 0");
    out.push_back(v);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

void run(const std::string& reg_name, const std::vector<std::string>& kvs) {
  auto reg = core::make_regularizer(reg_name, core::OptionMap::from_key_values(kvs, "regularizer '" + reg_name + "'"));
  const bool group = !reg->separable();
  std::string line;
  int64_t line_no = 0;
  std::vector<double> zs, ts;  // separable lines are batched into one fused prox_ call
  while (std::getline(std::cin, line)) {
    ++line_no;
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    const auto comma = t.find(',');
    if (comma == std::string::npos || t.find(',', comma + 1) != std::string::npos)
      throw Error("stdin line " + std::to_string(line_no) + ": expected '" + (group ? "z1;z2;...,tau1;tau2;..." : "z,tau") +
                  "', got '" + t + "'");
    auto z = parse_list(t.substr(0, comma), "z", line_no, false);
    auto tau = parse_list(t.substr(comma + 1), "tau", line_no, true);
    if (!group) {
      if (z.size() != 1 || tau.size() != 1)
        throw Error("stdin line " + std::to_string(line_no) + ": regularizer '" + reg_name +
                    "' is separable: expected one z and one tau, got '" + t + "'");
      zs.push_back(z[0]);
      ts.push_back(tau[0]);
      continue;
    }
    if (tau.size() != 1 && tau.size() != z.size())
      throw Error("stdin line " + std::to_string(line_no) + ": " + std::to_string(z.size()) + " z values but " +
                  std::to_string(tau.size()) + " tau values (give one tau or one per z)");
    auto zt = torch::tensor(z, torch::kDouble);
    reg->prox_(zt, torch::tensor(tau, torch::kDouble));
    const double* x = zt.data_ptr<double>();
    for (size_t i = 0; i < z.size(); ++i) std::cout << (i ? ";" : "") << format_double(x[i]);
    std::cout << "\n";
  }
  if (!group && !zs.empty()) {
    auto zt = torch::tensor(zs, torch::kDouble);
    reg->prox_(zt, torch::tensor(ts, torch::kDouble));
    const double* x = zt.data_ptr<double>();
    for (size_t i = 0; i < zs.size(); ++i) std::cout << format_double(x[i]) << "\n";
  }
  std::cout.flush();
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
