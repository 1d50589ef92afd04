// Fuzz target: the checkpoint loader (harness/checkpoint.cpp: load_checkpoint) on a small Lasso
// run with the ProxGen-Adam optimizer. Input: the bytes of a checkpoint.pt.
// With PROXBENCH_FUZZ_WRITE_SEED=FILE set, writes a valid checkpoint there (the seed corpus).
#include <cstdlib>
#include <sstream>

#include "core/optimizer.h"
#include "core/problem.h"
#include "core/regularizer.h"
#include "harness/checkpoint.h"
#include "harness/io.h"
#include "tests/fuzz/fuzz_util.h"

namespace {
using namespace proxbench;

struct Run {
  std::unique_ptr<core::Problem> problem;
  std::unique_ptr<core::ProxOptimizer> opt;
  Run() {
    problem = core::problem_registry().get("lasso").make(
        core::OptionMap({{"n", 20}, {"p", 5}, {"k", 2}, {"batch_size", 5}}), 1);
    auto reg = core::make_regularizer("l1", core::OptionMap());
    std::vector<core::ParamGroupSpec> groups;
    for (auto& g : problem->parameter_groups()) groups.push_back({g.params, reg, 0.05});
    opt = core::make_optimizer("proxgen", groups, core::OptionMap({{"lr", 0.01}}));
  }
};
}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (const char* seed = std::getenv("PROXBENCH_FUZZ_WRITE_SEED")) {
    Run r;
    r.problem->begin_epoch(0, 1);
    r.problem->select_batch(0);
    r.opt->step([&] { return r.problem->closure_loss(true); });
    harness::LoopState s;
    s.epoch = 1, s.step = 1, s.trajectory = "step,objective\n0,1\n";
    const std::string dir = seed;
    harness::make_dirs(dir);
    harness::save_checkpoint(dir, *r.problem, *r.opt, s);
    std::exit(0);
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Run r;
  std::istringstream in(std::string(reinterpret_cast<const char*>(data), size));
  harness::LoopState s;
  fuzz::expect_clean([&] { harness::load_checkpoint(in, *r.problem, *r.opt, s); });
  return 0;
}
