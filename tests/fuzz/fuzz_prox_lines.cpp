// Fuzz target: the line parser of `proxbench prox` (harness/prox_lines.cpp).
// Input: [1 byte: regularizer l1 | group_l21 | l0 | l12 | lq][stdin text].
#include <sstream>

#include "harness/prox_lines.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* names[] = {"l1", "group_l21", "l0", "l12", "lq"};
  static std::vector<proxbench::core::RegularizerPtr> regs = [] {
    std::vector<proxbench::core::RegularizerPtr> r;
    for (const char* n : names) r.push_back(proxbench::core::make_regularizer(n, proxbench::core::OptionMap()));
    return r;
  }();
  const size_t k = data[0] % 5;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  std::ostringstream out;
  proxbench::fuzz::expect_clean([&] { proxbench::harness::apply_prox_lines(*regs[k], names[k], in, out); });
  return 0;
}
