#include "harness/prox_lines.h"

#include <cmath>
#include <string>
#include <vector>

#include "core/common.h"

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
    if (!std::isfinite(v))
      throw Error("stdin line " + std::to_string(line_no) + ": " + what + " = " + tok + " must be finite");
    if (nonneg && v < 0)
      throw Error("stdin line " + std::to_string(line_no) + ": " + what + " = " + tok + " must be >= 0");
    out.push_back(v);
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return out;
}

}  // namespace

void apply_prox_lines(const core::Regularizer& reg, const std::string& reg_name, std::istream& in, std::ostream& out) {
  const bool group = !reg.separable();
  std::string line;
  int64_t line_no = 0;
  std::vector<double> zs, ts;  // separable lines are batched into one fused prox_ call
  while (std::getline(in, line)) {
    ++line_no;
    const std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    const auto comma = t.find(',');
    if (comma == std::string::npos || t.find(',', comma + 1) != std::string::npos)
      throw Error("stdin line " + std::to_string(line_no) + ": expected '" +
                  (group ? "z1;z2;...,tau1;tau2;..." : "z,tau") + "', got '" + t + "'");
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
    reg.prox_(zt, torch::tensor(tau, torch::kDouble));
    const double* x = zt.data_ptr<double>();
    for (size_t i = 0; i < z.size(); ++i) out << (i ? ";" : "") << format_double(x[i]);
    out << "\n";
  }
  if (!group && !zs.empty()) {
    auto zt = torch::tensor(zs, torch::kDouble);
    reg.prox_(zt, torch::tensor(ts, torch::kDouble));
    const double* x = zt.data_ptr<double>();
    for (size_t i = 0; i < zs.size(); ++i) out << format_double(x[i]) << "\n";
  }
  out.flush();
}

}  // namespace proxbench::harness
