// The line protocol of `proxbench prox` (harness/cmd_prox.cpp), apart from the command so that
// tests and the fuzz target (tests/fuzz/fuzz_prox_lines.cpp) drive it on any stream.
//
//   separable regularizer:  `z,tau` → `x`                      (x = argmin ½(x−z)² + tau·r(x))
//   group regularizer:      `z1;z2;...,tau1;tau2;...` → `x1;x2;...` (one group per line; one tau
//                           for the whole group or one per z)
// Blank lines and lines starting with '#' are skipped; values are printed with 17 significant
// digits. A malformed line, a non-finite value or a negative tau throws proxbench::Error naming
// the line number.
#pragma once
#include <istream>
#include <ostream>
#include <string>

#include "core/regularizer.h"

namespace proxbench::harness {

/// Reads `in` to its end, writes one output line per input line of data to `out`.
void apply_prox_lines(const core::Regularizer& reg, const std::string& reg_name, std::istream& in, std::ostream& out);

}  // namespace proxbench::harness
