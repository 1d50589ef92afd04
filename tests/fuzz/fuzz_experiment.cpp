// Fuzz target: the experiment parser (YAML → JSON → validated plan), harness/experiment.cpp.
// Input: the text of an experiment file. The plan limit is lowered to 1000 runs per input.
#include "harness/experiment.h"
#include "tests/fuzz/fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  proxbench::fuzz::expect_clean([&] {
    std::map<std::string, int> lines;
    auto doc = proxbench::harness::yaml_to_json(text, "fuzz.yaml", &lines);
    proxbench::harness::make_experiment(doc, "fuzz.yaml", lines, 1000);
  });
  return 0;
}
