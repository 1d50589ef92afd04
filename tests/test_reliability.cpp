// Regression tests of issue 17 (the hostile-user audit): each defect it lists, in its order.
//   1 alias bomb · 2/4 disk full and unwritable folders with --jobs 1 and 2 · 3 checkpoint disk full
//   5 --out '' · 6 per-run locks (two processes on one sweep) · 7 truncated checkpoint set aside
//   8 plan-size limit · 9 duplicate keys · 10 problem options checked at plan time · 11 divergence
//   bound · 12 data files (non-regular files, sizes against headers, expected shapes)
// Disk-full cases use the write-failure injection hook of harness/io.h
// (PROXBENCH_INJECT_WRITE_FAILURE), which behaves like ENOSPC on any machine.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>

#include "core/optimizer.h"
#include "core/problem.h"
#include "harness/checkpoint.h"
#include "harness/experiment.h"
#include "harness/io.h"
#include "harness/run_lock.h"
#include "harness/runner.h"
#include "problems/classification.h"
#include "problems/datasets/image_data.h"
#include "tests/test_harness_support.h"

using namespace proxbench;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kSweep = R"(name: rel
problem: {name: lasso, n: 40, p: 8, k: 2, batch_size: 10}
regularizer: {name: l1}
lambda: 0.05
optimizers:
  - name: test_prox_gd
    grid: {lr: [0.05, 0.1]}
seeds: 2
budget: {epochs: 3}
)";

harness::Experiment sweep(std::vector<std::string> sets = {}) {
  return test_util::experiment_from_yaml(kSweep, "rel.yaml", sets);
}
using test_util::error_of;
using test_util::quiet;

/// Files under `dir` whose name contains ".tmp" (partial writes).
std::vector<std::string> temp_files(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir))
    if (e.path().filename().string().find(".tmp") != std::string::npos) out.push_back(e.path().string());
  return out;
}

struct ScopedEnv {
  std::string name;
  ScopedEnv(const std::string& n, const std::string& v) : name(n) { ::setenv(n.c_str(), v.c_str(), 1); }
  ~ScopedEnv() { ::unsetenv(name.c_str()); }
};

std::string load_error(const test_util::TempDir& tmp, const std::string& yaml) {
  auto file = tmp.path / "e.yaml";
  test_util::write_file(file, yaml);
  return error_of([&] { harness::load_experiment(file.string()); });
}

}  // namespace

// ---- 1, 9: the YAML reader --------------------------------------------------------------------

TEST(ReliabilityYaml, AliasBombIsRefusedNamingTheFile) {
  std::string y = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
  for (int i = 1; i <= 8; ++i) {  // 10^9 nodes once expanded
    std::string prev = "*a" + std::to_string(i - 1);
    y += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [";
    for (int k = 0; k < 10; ++k) y += (k ? ", " : "") + prev;
    y += "]\n";
  }
  std::map<std::string, int> lines;
  const std::string e = error_of([&] { harness::yaml_to_json(y, "bomb.yaml", &lines); });
  EXPECT_NE(e.find("bomb.yaml:"), std::string::npos) << e;
  EXPECT_NE(e.find("expands to more than"), std::string::npos) << e;
  // a document with ordinary aliases is fine
  json ok = harness::yaml_to_json("a: &x [1, 2]\nb: *x\n", "ok.yaml");
  EXPECT_EQ(ok["b"], json::array({1, 2}));
}

TEST(ReliabilityYaml, DuplicateAndNonScalarKeysAreRejectedWithLine) {
  std::string e = error_of([] { harness::yaml_to_json("name: a\nseeds: 1\nname: b\n", "d.yaml"); });
  EXPECT_NE(e.find("d.yaml:3"), std::string::npos) << e;
  EXPECT_NE(e.find("duplicate key 'name'"), std::string::npos) << e;
  EXPECT_NE(e.find("first at line 1"), std::string::npos) << e;
  e = error_of([] { harness::yaml_to_json("problem:\n  name: lasso\n  n: 10\n  n: 20\n", "d.yaml"); });
  EXPECT_NE(e.find("d.yaml:4"), std::string::npos) << e;
  EXPECT_NE(e.find("'problem.n'"), std::string::npos) << e;
  e = error_of([] { harness::yaml_to_json("a: {x: 1, x: 2}\n", "d.yaml"); });
  EXPECT_NE(e.find("duplicate key 'a.x'"), std::string::npos) << e;
  e = error_of([] { harness::yaml_to_json("? [a, b]\n: 1\n", "d.yaml"); });
  EXPECT_NE(e.find("d.yaml:1"), std::string::npos) << e;
  EXPECT_NE(e.find("plain string"), std::string::npos) << e;
}

TEST(ReliabilityYaml, InvalidUtf8IsRejectedWithLine) {  // found by fuzz_experiment (JSON needs UTF-8)
  const std::string e = error_of([] { harness::yaml_to_json("name: a\nlabel: Pr\x8f\xffx\n", "u.yaml"); });
  EXPECT_NE(e.find("u.yaml:2: not valid UTF-8"), std::string::npos) << e;
  EXPECT_EQ(harness::yaml_to_json("label: \xc3\xa9t\xc3\xa9\n", "u.yaml")["label"], "\xc3\xa9t\xc3\xa9");
}

// ---- 8: plan size -----------------------------------------------------------------------------

TEST(ReliabilityPlan, HugePlansAreRefusedBeforeAllocation) {
  std::string e = error_of([] { sweep({"seeds=1000000000"}); });
  EXPECT_NE(e.find("'seeds'"), std::string::npos) << e;
  EXPECT_NE(e.find("--max-runs"), std::string::npos) << e;
  // a grid of 100^4 = 10^8 combinations: refused from its sizes, without expanding it
  std::string vals = "[";
  for (int i = 0; i < 100; ++i) vals += (i ? ", " : "") + std::to_string(0.001 * (i + 1));
  vals += "]";
  e = error_of(
      [&] { sweep({"optimizers.0.grid={lr: " + vals + ", a: " + vals + ", b: " + vals + ", c: " + vals + "}"}); });
  EXPECT_NE(e.find("optimizers[0].grid"), std::string::npos) << e;
  EXPECT_NE(e.find("--max-runs"), std::string::npos) << e;
  // the product over the axes: 2 lr x 2 seeds x 3 lambdas = 12 runs
  json doc = harness::yaml_to_json(kSweep, "rel.yaml");
  doc["lambda"] = json::array({0.01, 0.02, 0.03});
  e = error_of([&] { harness::make_experiment(doc, "rel.yaml", {}, 11); });
  EXPECT_NE(e.find("the plan has 12 runs"), std::string::npos) << e;
  EXPECT_EQ(harness::make_experiment(doc, "rel.yaml", {}, 12).runs.size(), 12u);
}

// ---- 10: problem options at plan time ----------------------------------------------------------

TEST(ReliabilityPlan, ProblemOptionsAreCheckedWhenPlannedWithFileAndLine) {
  test_util::TempDir tmp;
  const std::string head = "name: p\nproblem:\n  name: lasso\n";
  const std::string tail = "optimizers: [{name: test_prox_gd}]\n";
  struct Case {
    std::string opts, expect;
  };
  for (const auto& c : std::vector<Case>{{"  n: 100.5\n", "'n' = 100.5 is not an integer"},
                                         {"  p: -5\n", "'p' = -5"},
                                         {"  p: 5\n  k: 6\n", "'k' = 6"},
                                         {"  n: 20\n  batch_size: 30\n", "'batch_size' = 30"},
                                         {"  init: ones\n", "'init' = 'ones'"},
                                         {"  p: 1e8\n", "too large"}}) {
    const std::string e = load_error(tmp, head + c.opts + tail);
    EXPECT_NE(e.find((tmp.path / "e.yaml").string() + ":3"), std::string::npos) << e;  // the problem map
    EXPECT_NE(e.find(c.expect), std::string::npos) << e;
  }
  const std::string cls = "name: c\nproblem:\n  name: classification\n";
  for (const auto& c : std::vector<Case>{{"  model: resnet9000\n", "'model' = 'resnet9000'"},
                                         {"  dataset: mnist\n", "'dataset' = 'mnist'"},
                                         {"  dataset: cifar10\n", "needs data_dir"},
                                         {"  dataset: cifar10\n  data_dir: /nonexistent\n", "/nonexistent"}}) {
    const std::string e = load_error(tmp, cls + c.opts + tail);
    EXPECT_NE(e.find((tmp.path / "e.yaml").string() + ":3"), std::string::npos) << e;  // the problem map
    EXPECT_NE(e.find(c.expect), std::string::npos) << e;
  }
  if (!torch::cuda::is_available()) {
    const std::string e = load_error(tmp, cls + "  dataset: synthetic\n  device: cuda\n" + tail);
    EXPECT_NE(e.find("no CUDA device"), std::string::npos) << e;
  }
  // a grid value is checked too, with its path
  const std::string e = load_error(tmp, head + "  n: 20\n  grid: {batch_size: [10, 40]}\n" + tail);
  EXPECT_NE(e.find("'batch_size' = 40"), std::string::npos) << e;
}

// ---- 11: divergence bound ----------------------------------------------------------------------

TEST(ReliabilityRunner, ObjectiveFarAboveItsInitialValueIsDiverged) {
  test_util::TempDir tmp;
  auto ex = sweep({"seeds=1", "budget.epochs=40", "optimizers.0.grid.lr=[0.05, 1.0e+6]"});
  ASSERT_FALSE(ex.runs[0].spec.contains("divergence_factor"));  // ids of existing experiments unchanged
  auto res = harness::run_experiment(ex, quiet(tmp.path));
  EXPECT_EQ(res.completed, 1);
  EXPECT_EQ(res.diverged, 1);
  auto s = json::parse(harness::read_text((tmp.path / "rel" / ex.runs[1].id / "summary.json").string()));
  EXPECT_EQ(s["status"], "diverged");
  EXPECT_NE(s["message"].get<std::string>().find("exceeds divergence_factor 1000000"), std::string::npos)
      << s["message"];
  // a bound of 10: lr = 3 (> 2/L) runs away and is stopped by it at its first logged row
  auto tight = sweep({"seeds=1", "budget.epochs=40", "optimizers.0.grid.lr=[3.0]", "divergence_factor=10"});
  EXPECT_EQ(tight.runs[0].spec["divergence_factor"], 10);
  res = harness::run_experiment(tight, quiet(tmp.path));
  EXPECT_EQ(res.diverged, 1);
  EXPECT_NE(error_of([] { sweep({"divergence_factor=-1"}); }).find("divergence_factor"), std::string::npos);
}

// ---- 2, 4: disk full, unwritable run folder, --jobs 1 and 2 -----------------------------------

TEST(ReliabilityRunner, DiskFullStopsCleanlyAndLeavesNoTempFiles) {
  for (int jobs : {1, 2}) {
    test_util::TempDir tmp;
    auto ex = sweep();
    harness::SweepResult res;
    {
      ScopedEnv env("PROXBENCH_INJECT_WRITE_FAILURE", "summary.json");
      res = harness::run_experiment(ex, quiet(tmp.path, jobs));  // must not terminate
    }
    EXPECT_GE(res.unsaved, 1) << jobs;
    EXPECT_EQ(res.errors, res.unsaved);
    EXPECT_GE(res.not_started, 4 - 2 * jobs) << jobs;  // a full disk starts no further runs
    EXPECT_EQ(res.completed, 0);
    EXPECT_TRUE(temp_files(tmp.path).empty()) << temp_files(tmp.path)[0];
    // space again: the same sweep finishes, nothing lost
    res = harness::run_experiment(ex, quiet(tmp.path, jobs));
    EXPECT_EQ(res.completed, 4) << jobs;
    EXPECT_EQ(res.errors, 0);
  }
}

TEST(ReliabilityRunner, UnwritableRunFolderFailsThatRunOnly) {
  for (int jobs : {1, 2}) {
    test_util::TempDir tmp;
    auto ex = sweep();
    fs::create_directories(tmp.path / "rel");
    test_util::write_file(tmp.path / "rel" / ex.runs[0].id, "a file where the run folder should be\n");
    auto res = harness::run_experiment(ex, quiet(tmp.path, jobs));
    EXPECT_EQ(res.unsaved, 1) << jobs;
    EXPECT_EQ(res.errors, 1);
    EXPECT_EQ(res.completed, 3) << jobs;  // the rest of the sweep ran
    EXPECT_EQ(res.not_started, 0);
  }
  // the store's own atomic write: temp removed, errno kept
  test_util::TempDir tmp;
  ScopedEnv env("PROXBENCH_INJECT_WRITE_FAILURE", "x.json");
  try {
    harness::write_text_atomic((tmp.path / "x.json").string(), std::string(1000, 'x'));
    ADD_FAILURE() << "no error";
  } catch (const harness::WriteError& e) {
    EXPECT_TRUE(e.disk_full());
    EXPECT_NE(std::string(e.what()).find("x.json.tmp."), std::string::npos) << e.what();
  }
  EXPECT_TRUE(temp_files(tmp.path).empty());
  EXPECT_FALSE(fs::exists(tmp.path / "x.json"));
}

// ---- 3: checkpoint on a full disk ------------------------------------------------------------------

TEST(ReliabilityRunner, CheckpointWriteFailureIsARunErrorNamingTheFile) {
  test_util::TempDir tmp;
  auto ex = sweep({"seeds=1", "optimizers.0.grid.lr=[0.05]", "checkpoint_every=1"});
  harness::SweepResult res;
  {
    ScopedEnv env("PROXBENCH_INJECT_WRITE_FAILURE", "checkpoint.pt");
    res = harness::run_experiment(ex, quiet(tmp.path));
  }
  EXPECT_EQ(res.errors, 1);
  EXPECT_EQ(res.unsaved, 0);  // summary.json could be written
  auto s = json::parse(harness::read_text((tmp.path / "rel" / ex.runs[0].id / "summary.json").string()));
  EXPECT_EQ(s["status"], "error");
  EXPECT_NE(s["message"].get<std::string>().find("checkpoint.pt.tmp."), std::string::npos) << s["message"];
  EXPECT_NE(s["message"].get<std::string>().find("No space left"), std::string::npos) << s["message"];
  EXPECT_TRUE(temp_files(tmp.path).empty());
  res = harness::run_experiment(ex, quiet(tmp.path));
  EXPECT_EQ(res.completed, 1);
  EXPECT_FALSE(fs::exists(tmp.path / "rel" / ex.runs[0].id / "checkpoint.pt"));
  EXPECT_FALSE(fs::exists(tmp.path / "rel" / ex.runs[0].id / "checkpoint.prev.pt"));
}

// ---- 6: per-run locks ----------------------------------------------------------------------------

TEST(ReliabilityRunner, RunLockedElsewhereIsSkippedAndReported) {
  test_util::TempDir tmp;
  auto ex = sweep();
  const std::string dir = (tmp.path / "rel" / ex.runs[2].id).string();
  {
    auto lock = harness::try_lock_run(dir);
    ASSERT_TRUE(lock);
    EXPECT_FALSE(harness::try_lock_run(dir));  // a second open of the lock file conflicts
    auto res = harness::run_experiment(ex, quiet(tmp.path, 2));
    EXPECT_EQ(res.elsewhere, 1);
    EXPECT_EQ(res.completed, 3);
    EXPECT_FALSE(fs::exists(dir + "/summary.json"));
  }
  // released (as by the death of its holder): the next sweep takes it over, and only it
  auto res = harness::run_experiment(ex, quiet(tmp.path));
  EXPECT_EQ(res.skipped, 3);
  EXPECT_EQ(res.completed, 1);
  EXPECT_EQ(res.elsewhere, 0);
}

TEST(ReliabilityCli, TwoProcessesShareOneSweepWithoutDuplicates) {
  if (!core::optimizer_registry().contains("proxgen")) GTEST_SKIP() << "proxgen is not registered";
  test_util::TempDir tmp;
  auto yaml = tmp.path / "two.yaml";
  test_util::write_file(yaml,
                        "name: two\nproblem: {name: lasso, n: 200, p: 20, k: 3, batch_size: 10}\n"
                        "regularizer: {name: l1}\nlambda: 0.05\noptimizers:\n  - name: proxgen\n"
                        "    grid: {lr: [0.01, 0.003]}\nseeds: 6\nbudget: {epochs: 8}\ncheckpoint_every: 1\n");
  const std::string cmd = "run '" + yaml.string() + "' --out '" + tmp.path.string() + "/out'";
  // both processes at once (the shell runs the first in the background)
  std::string out;
  const std::string both = "sh -c \"'" PROXBENCH_CLI_PATH "' " + cmd + " > '" + tmp.path.string() + "/a.log' 2>&1 & '" +
                           PROXBENCH_CLI_PATH "' " + cmd + " > '" + tmp.path.string() + "/b.log' 2>&1; wait\"";
  ASSERT_EQ(std::system(both.c_str()), 0);
  const std::string logs =
      harness::read_text((tmp.path / "a.log").string()) + harness::read_text((tmp.path / "b.log").string());
  std::regex done(R"(\] ([0-9a-f]{16}) .*: completed)");
  std::map<std::string, int> times;
  for (std::sregex_iterator it(logs.begin(), logs.end(), done), end; it != end; ++it) times[(*it)[1]]++;
  EXPECT_EQ(times.size(), 12u) << logs;
  for (const auto& [id, n] : times) EXPECT_EQ(n, 1) << id << " ran twice\n" << logs;
  size_t errors = 0, zero_errors = 0;  // no false errors (checkpoint renames): only "0 error" in the summaries
  for (size_t at = logs.find("error"); at != std::string::npos; at = logs.find("error", at + 1)) ++errors;
  for (size_t at = logs.find(" 0 error"); at != std::string::npos; at = logs.find(" 0 error", at + 1)) ++zero_errors;
  EXPECT_EQ(errors, zero_errors) << logs;
  EXPECT_EQ(logs.find("cannot rename"), std::string::npos) << logs;
}

// ---- 5: --out '' ---------------------------------------------------------------------------------

TEST(ReliabilityCli, EmptyOutIsRefused) {
  test_util::TempDir tmp;
  auto yaml = tmp.path / "o.yaml";
  test_util::write_file(yaml, kSweep);
  std::string out;
  EXPECT_EQ(test_util::run_cli("run '" + yaml.string() + "' --out ''", &out), 2) << out;
  EXPECT_NE(out.find("--out ''"), std::string::npos) << out;
  EXPECT_NE(test_util::run_cli("run '" + yaml.string() + "' --max-runs 0", &out), 0) << out;
  EXPECT_THROW(harness::run_experiment(sweep(), quiet("")), Error);
}

// ---- 7: truncated checkpoint ---------------------------------------------------------------------

TEST(ReliabilityCli, TruncatedCheckpointIsSetAsideAndTheRunResumesEqual) {
  if (!core::optimizer_registry().contains("proxgen")) GTEST_SKIP() << "proxgen is not registered";
  test_util::TempDir tmp;
  auto yaml = tmp.path / "c.yaml";
  test_util::write_file(yaml,
                        "name: ck\nproblem: {name: lasso, n: 60, p: 10, k: 3, batch_size: 15}\n"
                        "regularizer: {name: l1}\nlambda: 0.05\noptimizers:\n  - name: proxgen\n"
                        "    options: {lr: 0.01}\nseeds: 1\nbudget: {epochs: 5}\ncheckpoint_every: 1\n");
  const std::string base = "run '" + yaml.string() + "' --out '" + tmp.path.string();
  std::string out;
  ASSERT_EQ(test_util::run_cli(base + "/a'", &out), 0) << out;
  fs::path a;
  for (const auto& e : fs::directory_iterator(tmp.path / "a" / "ck"))
    if (fs::is_directory(e.path())) a = e.path();
  const auto ta = harness::read_text((a / "trajectory.csv").string());
  for (int corrupt_both = 0; corrupt_both < 2; ++corrupt_both) {
    const std::string out_dir = "/b" + std::to_string(corrupt_both);
    EXPECT_EQ(test_util::run_cli(base + out_dir + "'", &out, "PROXBENCH_ABORT_AFTER_EPOCHS=3"), 86) << out;
    const fs::path b = tmp.path / ("b" + std::to_string(corrupt_both)) / "ck" / a.filename();
    ASSERT_TRUE(fs::exists(b / "checkpoint.pt"));
    ASSERT_TRUE(fs::exists(b / "checkpoint.prev.pt"));
    fs::resize_file(b / "checkpoint.pt", fs::file_size(b / "checkpoint.pt") / 2);
    if (corrupt_both) test_util::write_file(b / "checkpoint.prev.pt", "not a zip archive");
    ASSERT_EQ(test_util::run_cli(base + out_dir + "'", &out), 0) << out;
    EXPECT_NE(out.find((b / "checkpoint.pt").string()), std::string::npos) << out;
    EXPECT_NE(out.find(corrupt_both ? "restarted from scratch" : "resumed from"), std::string::npos) << out;
    EXPECT_TRUE(fs::exists(b / "checkpoint.pt.corrupt-1")) << out;
    EXPECT_EQ(fs::exists(b / "checkpoint.prev.pt.corrupt-1"), corrupt_both == 1) << out;
    auto sb = json::parse(harness::read_text((b / "summary.json").string()));
    EXPECT_EQ(sb["status"], "completed");
    EXPECT_TRUE(sb.contains("warnings"));
    // the same trajectory as the uninterrupted run, up to the timing column
    auto strip = [](const std::string& csv) {
      std::istringstream in(csv);
      std::string line, out;
      while (std::getline(in, line)) {
        auto c1 = line.find(','), c2 = line.find(',', c1 + 1), c3 = line.find(',', c2 + 1);
        out += line.substr(0, c2) + line.substr(c3) + "\n";
      }
      return out;
    };
    EXPECT_EQ(strip(harness::read_text((b / "trajectory.csv").string())), strip(ta));
  }
}

// ---- 12: data files ------------------------------------------------------------------------------

namespace {
void put_be32(std::vector<uint8_t>& b, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) b.push_back(uint8_t(v >> s));
}
std::vector<uint8_t> idx(uint32_t magic, std::vector<uint32_t> dims, size_t payload) {
  std::vector<uint8_t> b;
  put_be32(b, magic);
  for (auto d : dims) put_be32(b, d);
  b.resize(b.size() + payload, 3);
  return b;
}
void write_bytes(const fs::path& p, const std::vector<uint8_t>& b) {
  std::ofstream o(p, std::ios::binary);
  o.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}
}  // namespace

// Found by fuzz_checkpoint: LibTorch 1.13's archive reader checks no CRC, and its TorchScript
// importer crashes (SIGSEGV) on damaged code entries, as set_state did on a damaged RNG state. The
// loader now checks every zip entry's CRC-32 first. Every byte flip must be a proxbench::Error, and
// so must the crashing inputs kept in the fuzz corpus.
TEST(ReliabilityCheckpoint, DamagedBytesAreRefusedBeforeLibTorchParsesThem) {
  auto make = [] {
    auto problem = core::problem_registry().get("lasso").make(
        core::OptionMap(nlohmann::json{{"n", 20}, {"p", 5}, {"k", 2}, {"batch_size", 5}}), 1);
    auto reg = core::make_regularizer("l1", core::OptionMap());
    std::vector<core::ParamGroupSpec> groups;
    for (auto& g : problem->parameter_groups()) groups.push_back({g.params, reg, 0.05});
    auto opt = core::make_optimizer("proxgen", groups, core::OptionMap(nlohmann::json{{"lr", 0.01}}));
    return std::make_pair(std::move(problem), std::move(opt));
  };
  test_util::TempDir tmp;
  auto [problem, opt] = make();
  problem->begin_epoch(0, 1);
  problem->select_batch(0);
  opt->step([&] { return problem->closure_loss(true); });
  harness::LoopState st;
  st.epoch = 1, st.step = 1, st.trajectory = "step,objective\n";
  harness::save_checkpoint(tmp.path.string(), *problem, *opt, st);
  std::ifstream f(tmp.path / "checkpoint.pt", std::ios::binary);
  const std::string good((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_GT(good.size(), 1000u);
  auto load = [&](const std::string& bytes) {
    auto [p2, o2] = make();
    harness::LoopState s2;
    std::istringstream in(bytes);
    return error_of([&] { harness::load_checkpoint(in, *p2, *o2, s2); });
  };
  EXPECT_EQ(load(good), "(no error)");
  int refused = 0, crc = 0;
  for (size_t at = 0; at < good.size(); at += 97) {  // a byte flipped every 97 bytes, one at a time
    std::string bad = good;
    bad[at] = char(bad[at] ^ 0x5a);
    const std::string e = load(bad);
    refused += e != "(no error)";
    crc += e.find("CRC-32") != std::string::npos;
  }
  EXPECT_GT(crc, 0);
  EXPECT_GT(refused, int(good.size() / 97) * 3 / 4) << "most flips must be caught (a few hit unused header bytes)";
  const fs::path corpus = fs::path(PROXBENCH_SOURCE_DIR) / "tests/fuzz/corpus/fuzz_checkpoint";
  int crashes = 0;
  for (const auto& e : fs::directory_iterator(corpus)) {
    if (e.path().filename().string().rfind("crash-", 0) != 0) continue;
    std::ifstream cf(e.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(cf)), std::istreambuf_iterator<char>());
    EXPECT_NE(load(bytes), "(no error)") << e.path();
    ++crashes;
  }
  EXPECT_GE(crashes, 4);
  // LibTorch's reader takes the entry count from the zip64 end record: a 32-bit count of 0 must not
  // let a damaged archive through unchecked (the fuzzer found this: a string length in data.pkl
  // grown to 1.9 GB, an out-of-memory in LibTorch's unpickler)
  std::string forged = good;
  const size_t eocd = forged.rfind(std::string("PK\x05\x06", 4));
  ASSERT_NE(eocd, std::string::npos);
  forged[eocd + 8] = forged[eocd + 9] = forged[eocd + 10] = forged[eocd + 11] = 0;
  EXPECT_NE(load(forged).find("zip64 and zip end records disagree"), std::string::npos) << load(forged);
}

TEST(ReliabilityData, NonRegularFilesAreRefusedWithoutReading) {
  test_util::TempDir tmp;
  const auto d = tmp.path;
  write_bytes(d / "t10k-labels-idx1-ubyte", idx(0x801, {2}, 2));
  write_bytes(d / "t10k-images-idx3-ubyte", idx(0x803, {2, 28, 28}, 2 * 784));
  write_bytes(d / "train-labels-idx1-ubyte", idx(0x801, {2}, 2));
  // a FIFO (would block a reader forever), a directory, a /dev/zero symlink (would never end)
  ASSERT_EQ(::mkfifo((d / "train-images-idx3-ubyte").c_str(), 0644), 0);
  std::string e = error_of([&] { problems::load_fashion_mnist(d.string(), true); });
  EXPECT_NE(e.find("train-images-idx3-ubyte' is a FIFO"), std::string::npos) << e;
  fs::remove(d / "train-images-idx3-ubyte");
  fs::create_directory(d / "train-images-idx3-ubyte");
  e = error_of([&] { problems::load_fashion_mnist(d.string(), true); });
  EXPECT_NE(e.find("train-images-idx3-ubyte' is a directory"), std::string::npos) << e;
  fs::remove(d / "train-images-idx3-ubyte");
  fs::create_symlink("/dev/zero", d / "train-images-idx3-ubyte");
  e = error_of([&] { problems::load_fashion_mnist(d.string(), true); });
  EXPECT_NE(e.find("is a character device"), std::string::npos) << e;
  // at plan time too
  e = error_of([&] { problems::check_dataset_files("fashion_mnist", d.string()); });
  EXPECT_NE(e.find("train-images-idx3-ubyte"), std::string::npos) << e;
  fs::create_directories(d / "c");
  ASSERT_EQ(::mkfifo((d / "c" / "test_batch.bin").c_str(), 0644), 0);
  e = error_of([&] { problems::load_cifar10((d / "c").string(), false); });
  EXPECT_NE(e.find("test_batch.bin' is a FIFO"), std::string::npos) << e;
}

TEST(ReliabilityData, SizesAreCheckedAgainstTheHeaderAndShapesPerDataSet) {
  test_util::TempDir tmp;
  const auto d = tmp.path;
  // a header announcing 10^9 images of 28x28 in a 1 KB file: refused from the sizes, no allocation
  write_bytes(d / "big", idx(0x803, {1000000000u, 28, 28}, 1000));
  write_bytes(d / "lab", idx(0x801, {2}, 2));
  std::string e = error_of([&] { problems::read_idx_pair((d / "big").string(), (d / "lab").string(), 10, "x"); });
  EXPECT_NE(e.find("'" + (d / "big").string() + "'"), std::string::npos) << e;
  EXPECT_NE(e.find("truncated"), std::string::npos) << e;
  // the same in a gzip file: more than deflate can hold
  {
    auto b = idx(0x803, {1000000000u, 28, 28}, 100);
    gzFile f = gzopen((d / "big.gz").c_str(), "wb");
    gzwrite(f, b.data(), unsigned(b.size()));
    gzclose(f);
  }
  e = error_of([&] { problems::read_idx_pair((d / "big.gz").string(), (d / "lab").string(), 10, "x"); });
  EXPECT_NE(e.find("more than a gzip file"), std::string::npos) << e;
  // 32x32 images are not Fashion-MNIST
  write_bytes(d / "train-images-idx3-ubyte", idx(0x803, {2, 32, 32}, 2 * 1024));
  write_bytes(d / "train-labels-idx1-ubyte", idx(0x801, {2}, 2));
  e = error_of([&] { problems::load_fashion_mnist(d.string(), true); });
  EXPECT_NE(e.find("images of 32x32 pixels, expected 28x28"), std::string::npos) << e;
  // train/test of different shapes: both sources named
  auto a = problems::read_idx_pair((d / "train-images-idx3-ubyte").string(), (d / "train-labels-idx1-ubyte").string(),
                                   10, "a");
  write_bytes(d / "i2", idx(0x803, {2, 28, 28}, 2 * 784));
  auto b = problems::read_idx_pair((d / "i2").string(), (d / "train-labels-idx1-ubyte").string(), 10, "b");
  problems::ClassificationOptions o;
  o.model = "resnet20";
  e = error_of([&] { problems::ClassificationProblem p(o, a, b, 1); });
  EXPECT_NE(e.find("differ in shape"), std::string::npos) << e;
  EXPECT_NE(e.find((d / "i2").string()), std::string::npos) << e;
  write_bytes(d / "i3", idx(0x803, {2, 28, 20}, 2 * 560));
  auto c = problems::read_idx_pair((d / "i3").string(), (d / "train-labels-idx1-ubyte").string(), 10, "c");
  e = error_of([&] { problems::ClassificationProblem p(o, c, c, 1); });
  EXPECT_NE(e.find("square"), std::string::npos) << e;
  EXPECT_NE(e.find((d / "i3").string()), std::string::npos) << e;
}
