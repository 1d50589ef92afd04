#include "harness/checkpoint.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <mutex>
#include <sstream>

#include "core/common.h"
#include "core/rng.h"
#include "harness/io.h"
#include "harness/zip_check.h"

namespace proxbench::harness {

std::string checkpoint_path(const std::string& run_dir) { return run_dir + "/checkpoint.pt"; }
std::string previous_checkpoint_path(const std::string& run_dir) { return run_dir + "/checkpoint.prev.pt"; }

void save_checkpoint(const std::string& run_dir, core::Problem& problem, core::ProxOptimizer& opt, const LoopState& s) {
  torch::serialize::OutputArchive a;
  auto groups = problem.parameter_groups();
  for (size_t g = 0; g < groups.size(); ++g)
    for (size_t i = 0; i < groups[g].params.size(); ++i)
      a.write("param_" + std::to_string(g) + "_" + std::to_string(i), groups[g].params[i].detach(), true);
  torch::serialize::OutputArchive oa, pa;
  opt.save(oa);
  a.write("optimizer", oa);
  problem.save_state(pa);
  a.write("problem", pa);
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    a.write("rng", gen.get_state(), true);
  }
  a.write("epoch", c10::IValue(s.epoch));
  a.write("step", c10::IValue(s.step));
  a.write("D", c10::IValue(s.D));
  a.write("G", c10::IValue(s.G));
  a.write("gamma", c10::IValue(s.gamma));
  a.write("t_opt", c10::IValue(s.t_opt));
  a.write("t_eval", c10::IValue(s.t_eval));
  a.write("trajectory", c10::IValue(s.trajectory));
  std::ostringstream bytes;
  try {
    a.save_to(bytes);
  } catch (const c10::Error& e) {
    throw Error("cannot serialize checkpoint '" + checkpoint_path(run_dir) + "': " + e.what_without_backtrace());
  }
  const std::string path = checkpoint_path(run_dir), prev = previous_checkpoint_path(run_dir);
  if (file_exists(path)) std::rename(path.c_str(), prev.c_str());  // keep the last good one
  const std::string data = bytes.str();
  write_bytes_atomic(path, data.data(), data.size());
}


void load_checkpoint(std::istream& in, core::Problem& problem, core::ProxOptimizer& opt, LoopState& s) {
  try {
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) throw Error("read error");
    verify_zip_crcs(bytes);
    torch::serialize::InputArchive a;
    a.load_from(bytes.data(), bytes.size());  // from the checked bytes themselves: one copy in memory
    auto groups = problem.parameter_groups();
    {
      torch::NoGradGuard ng;
      for (size_t g = 0; g < groups.size(); ++g)
        for (size_t i = 0; i < groups[g].params.size(); ++i) {
          const std::string key = "param_" + std::to_string(g) + "_" + std::to_string(i);
          torch::Tensor t;
          a.read(key, t, true);
          if (!t.defined() || t.sizes() != groups[g].params[i].sizes() ||
              t.scalar_type() != groups[g].params[i].scalar_type())
            throw Error("parameter '" + key + "' has another shape or type than this run's");
          groups[g].params[i].copy_(t);
        }
    }
    torch::serialize::InputArchive oa, pa;
    a.read("optimizer", oa);
    opt.load(oa);
    a.read("problem", pa);
    problem.load_state(pa);
    torch::Tensor rng;
    a.read("rng", rng, true);
    c10::IValue v;
    auto get = [&](const char* key) -> const c10::IValue& {
      a.read(key, v);
      return v;
    };
    LoopState t;
    auto want_int = [&](const char* key) {
      if (!get(key).isInt()) throw Error(std::string("'") + key + "' is not an integer");
      return v.toInt();
    };
    auto want_double = [&](const char* key) {
      if (!get(key).isDouble()) throw Error(std::string("'") + key + "' is not a number");
      return v.toDouble();
    };
    t.epoch = want_int("epoch");
    t.step = want_int("step");
    if (t.epoch < 0 || t.step < 0) throw Error("negative epoch or step");
    t.D = want_double("D");
    t.G = want_double("G");
    t.gamma = want_double("gamma");
    t.t_opt = want_double("t_opt");
    t.t_eval = want_double("t_eval");
    if (!get("trajectory").isString()) throw Error("'trajectory' is not a string");
    t.trajectory = v.toStringRef();
    {
      std::lock_guard<std::mutex> rng_lock(core::global_rng_mutex());  // other runs' threads (--jobs)
      auto gen = at::detail::getDefaultCPUGenerator();
      std::lock_guard<std::mutex> lock(gen.mutex());
      // LibTorch's set_state trusts its argument (a damaged state crashed it: fuzz_checkpoint):
      // a CPU byte tensor of exactly the size get_state() gives, contiguous, or an error.
      const torch::Tensor want = gen.get_state();
      if (!rng.defined() || rng.device() != torch::kCPU || rng.scalar_type() != torch::kByte ||
          rng.numel() != want.numel() || !rng.is_contiguous())
        throw Error("'rng' is not a CPU generator state of " + std::to_string(want.numel()) + " bytes");
      gen.set_state(rng);
    }
    s = std::move(t);
  } catch (const Error&) {
    throw;
  } catch (const c10::Error& e) {
    throw Error(e.what_without_backtrace());
  } catch (const std::exception& e) {
    // e.g. torch::jit::ErrorReport from the archive's TorchScript parser (found by fuzz_checkpoint),
    // whose message quotes the damaged bytes: keep its first line
    const std::string w = e.what();
    throw Error(w.substr(0, std::min<size_t>(w.find('\n'), 200)));
  }
}

void load_checkpoint(const std::string& path, core::Problem& problem, core::ProxOptimizer& opt, LoopState& s) {
  if (!file_exists(path)) throw Error("checkpoint '" + path + "' is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read checkpoint '" + path + "'");
  try {
    load_checkpoint(in, problem, opt, s);
  } catch (const Error& e) {
    throw Error("checkpoint '" + path + "' is unreadable: " + e.what());
  } catch (const std::exception& e) {
    throw Error("checkpoint '" + path + "' is unreadable: " + e.what());
  }
}

std::string set_aside_checkpoint(const std::string& path) {
  for (int n = 1; n < 10000; ++n) {
    const std::string to = path + ".corrupt-" + std::to_string(n);
    if (::access(to.c_str(), F_OK) == 0) continue;
    return std::rename(path.c_str(), to.c_str()) == 0 ? to : "";
  }
  return "";
}

void remove_checkpoints(const std::string& run_dir) {
  std::remove(checkpoint_path(run_dir).c_str());
  std::remove(previous_checkpoint_path(run_dir).c_str());
}

}  // namespace proxbench::harness
