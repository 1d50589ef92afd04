// Network training runs end to end through the CLI binary: every registered optimizer trains a
// ResNet-20 for 2 epochs on a tiny synthetic image set under l1 (run via a suite file, as the
// quickstart does), the pruning sweep lands in summary.json, `proxbench report` writes the network
// table and figures; a run killed after epoch 1 resumes from its checkpoint to the same result;
// every shipped experiment validates.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "core/optimizer.h"
#include "harness/experiment.h"
#include "harness/io.h"
#include "reports/report.h"
#include "tests/test_harness_support.h"

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace proxbench {
namespace {

std::string tiny_problem() {
  return "problem:\n  name: classification\n  dataset: synthetic\n  model: resnet20\n  synthetic_train: 64\n"
         "  synthetic_test: 32\n  synthetic_size: 8\n  synthetic_channels: 1\n  batch_size: 16\n"
         "  eval_batch_size: 64\n  train_eval_subset: 32\n";
}

std::vector<fs::path> run_dirs(const fs::path& experiment_dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(experiment_dir))
    if (fs::is_directory(e.path()) && fs::exists(e.path() / "spec.json")) out.push_back(e.path());
  return out;
}

TEST(NetworkE2E, EveryOptimizerTrainsPrunesAndReports) {
  test_util::TempDir tmp;
  std::string opts;
  std::set<std::string> names;
  for (const auto& n : core::optimizer_registry().names()) {
    if (n.rfind("test_", 0) == 0) continue;  // registered by this test binary only, unknown to the CLI
    opts += "  - name: " + n + "\n";
    names.insert(n);
  }
  ASSERT_FALSE(names.empty());
  const auto yaml = tmp.path / "net.yaml";
  test_util::write_file(yaml, "name: net\n" + tiny_problem() + "regularizer: {name: l1}\nlambda: 1.0e-3\noptimizers:\n" +
                                  opts + "seeds: 1\nbudget: {epochs: 2}\n");
  // a suite of one experiment: run + report + top-level index.html, as `reproduce quickstart`
  const auto suite = tmp.path / "suite.yaml";
  test_util::write_file(suite, "name: s\ndescription: tiny suite\nexperiments: ['" + yaml.string() + "']\n");
  std::string out;
  ASSERT_EQ(test_util::run_cli("reproduce '" + suite.string() + "' -j 2 -q --out '" + tmp.path.string() + "/res'", &out), 0)
      << out;
  EXPECT_TRUE(fs::exists(tmp.path / "res" / "index.html")) << out;
  EXPECT_NE(harness::read_text((tmp.path / "res" / "index.html").string()).find("net/report/index.html"), std::string::npos);
  EXPECT_TRUE(fs::exists(tmp.path / "res" / "net" / "report" / "index.html"));

  std::set<std::string> seen;
  for (const auto& d : run_dirs(tmp.path / "res" / "net")) {
    auto s = json::parse(harness::read_text((d / "summary.json").string()));
    const std::string name = s["optimizer"]["name"];
    seen.insert(name);
    EXPECT_EQ(s["status"], "completed") << name << ": " << s.value("message", "");
    EXPECT_EQ(s["final"]["epoch"], 2) << name;
    const json& m = s["metrics"];
    for (const char* k : {"test_accuracy", "pct_zero", "pct_small", "objective", "train_loss"})
      EXPECT_TRUE(m.contains(k) && m[k].is_number()) << name << " " << k;
    double prev_zero = -1;
    for (int k = 1; k <= 8; ++k) {
      const std::string acc = "prune/1e-" + std::to_string(k) + "/test_accuracy",
                        zero = "prune/1e-" + std::to_string(k) + "/pct_zero";
      ASSERT_TRUE(m.contains(acc) && m[acc].is_number()) << name << " " << acc;
      ASSERT_TRUE(m.contains(zero) && m[zero].is_number()) << name << " " << zero;
      // a smaller threshold never zeros more weights; pruning never un-zeros any
      if (prev_zero >= 0) EXPECT_LE(m[zero].get<double>(), prev_zero + 1e-9) << name << " k=" << k;
      EXPECT_GE(m[zero].get<double>() + 1e-9, m["pct_zero"].get<double>()) << name << " k=" << k;
      prev_zero = m[zero].get<double>();
    }
  }
  EXPECT_EQ(seen, names);

  // `proxbench report` on the experiment folder: the network recipes' table and figures
  ASSERT_EQ(test_util::run_cli("report '" + (tmp.path / "res" / "net").string() + "' --out '" + tmp.path.string() + "/rep'", &out), 0)
      << out;
  const fs::path rep = tmp.path / "rep";
  for (const char* f : {"net_table.md", "net_table.tex", "net_table.csv", "index.html"}) EXPECT_TRUE(fs::exists(rep / f)) << f;
  const std::string md = harness::read_text((rep / "net_table.md").string());
  for (const auto& n : names) EXPECT_NE(md.find(n), std::string::npos) << n << " missing from\n" << md;
  EXPECT_NE(md.find("%|w|=0"), std::string::npos) << md;
  if (reports::gnuplot_available())
    for (const char* stem : {"net_pruning", "net_objective", "net_pruned", "net_learning"}) {
      EXPECT_TRUE(fs::exists(rep / (std::string(stem) + ".png"))) << stem;
      EXPECT_TRUE(fs::exists(rep / (std::string(stem) + ".svg"))) << stem;
    }
}

TEST(NetworkE2E, KilledRunResumesFromCheckpointToTheSameResult) {
  test_util::TempDir tmp;
  const auto yaml = tmp.path / "ck.yaml";
  test_util::write_file(yaml, "name: ck\n" + tiny_problem() +
                                  "regularizer: {name: l1}\nlambda: 1.0e-3\noptimizers:\n  - name: proxgen\n"
                                  "    options: {lr: 0.01}\nseeds: 1\nbudget: {epochs: 3}\ncheckpoint_every: 1\n");
  std::string out;
  const std::string base = "run '" + yaml.string() + "' -q --out '" + tmp.path.string();
  ASSERT_EQ(test_util::run_cli(base + "/a'", &out), 0) << out;
  // the runner's testing hook exits (code 86) right after the checkpoint of epoch 1
  EXPECT_EQ(test_util::run_cli(base + "/b'", &out, "PROXBENCH_ABORT_AFTER_EPOCHS=1"), 86) << out;
  auto b_runs = run_dirs(tmp.path / "b" / "ck");
  ASSERT_EQ(b_runs.size(), 1u);
  EXPECT_TRUE(fs::exists(b_runs[0] / "checkpoint.pt"));
  EXPECT_FALSE(fs::exists(b_runs[0] / "summary.json"));
  ASSERT_EQ(test_util::run_cli(base + "/b'", &out), 0) << out;
  auto a_runs = run_dirs(tmp.path / "a" / "ck");
  ASSERT_EQ(a_runs.size(), 1u);
  ASSERT_EQ(a_runs[0].filename(), b_runs[0].filename());
  EXPECT_FALSE(fs::exists(b_runs[0] / "checkpoint.pt"));
  auto sa = json::parse(harness::read_text((a_runs[0] / "summary.json").string()));
  auto sb = json::parse(harness::read_text((b_runs[0] / "summary.json").string()));
  EXPECT_EQ(sb["status"], "completed");
  EXPECT_EQ(sa["metrics"], sb["metrics"]);  // test accuracy, sparsity, pruning sweep: bit-identical
  EXPECT_EQ(sa["counters"], sb["counters"]);
  auto ta = harness::read_csv((a_runs[0] / "trajectory.csv").string());
  auto tb = harness::read_csv((b_runs[0] / "trajectory.csv").string());
  ASSERT_EQ(ta.rows.size(), tb.rows.size());
  for (const char* col : {"epoch", "objective", "test_accuracy", "pct_zero"}) EXPECT_EQ(ta.values(col), tb.values(col)) << col;
}

TEST(NetworkE2E, RunsInParallelThreadsGiveTheSequentialResults) {
  // Found by `reproduce` (2 jobs by default): two runs starting together seeded and drew from
  // LibTorch's one global generator at once, so the first run's initial weights depended on the
  // other thread, and the hard-concrete gates drew their noise from it during training. Now: model
  // construction under core::global_rng_mutex(), gate noise from the problem's own generator
  // reseeded per batch. A and B (and C and D) are the same configuration under two labels; every
  // run must equal its -j 1 twin, and A = B, C = D, column by column (the wall time aside).
  test_util::TempDir tmp;
  const auto yaml = tmp.path / "par.yaml";
  test_util::write_file(yaml, "name: par\n" + tiny_problem() +
                                  "regularizer: {name: l1}\nlambda: 1.0e-3\noptimizers:\n"
                                  "  - {name: proxgen, label: A, options: {lr: 0.01}}\n"
                                  "  - {name: proxgen, label: B, options: {lr: 0.01}}\n"
                                  "  - {name: subgradient_adam, label: C, regularizer: {name: none}, problem: {l0_gates: hard_concrete}, options: {lr: 0.01}}\n"
                                  "  - {name: subgradient_adam, label: D, regularizer: {name: none}, problem: {l0_gates: hard_concrete}, options: {lr: 0.01}}\n"
                                  "seeds: 1\nbudget: {epochs: 2}\n");
  std::string out;
  const std::string base = "run '" + yaml.string() + "' -q --out '" + tmp.path.string();
  // one intra-op thread in both (the runner gives each of J jobs cores/J threads otherwise, and a
  // convolution's reductions may round differently with another thread count)
  ASSERT_EQ(test_util::run_cli(base + "/seq' -j 1", &out, "OMP_NUM_THREADS=1"), 0) << out;
  ASSERT_EQ(test_util::run_cli(base + "/par' -j 2", &out, "OMP_NUM_THREADS=1"), 0) << out;
  auto columns = [](const fs::path& dir) {  // column → its cells' bit patterns (NaN = NaN)
    auto t = harness::read_csv((dir / "trajectory.csv").string());
    std::map<std::string, std::vector<uint64_t>> cols;
    for (const auto& c : t.columns)
      if (c != "seconds")
        for (double v : t.values(c)) {
          uint64_t b;
          std::memcpy(&b, &v, sizeof b);
          cols[c].push_back(b);
        }
    return cols;
  };
  std::map<std::string, std::map<std::string, std::vector<uint64_t>>> by_label;
  auto seq = run_dirs(tmp.path / "seq" / "par");
  ASSERT_EQ(seq.size(), 4u);
  for (const auto& d : seq) {
    const auto label = json::parse(harness::read_text((d / "spec.json").string()))["optimizer"]["label"].get<std::string>();
    const auto twin = tmp.path / "par" / "par" / d.filename();
    ASSERT_TRUE(fs::exists(twin / "trajectory.csv")) << twin;
    EXPECT_EQ(columns(d), columns(twin)) << label << ": -j 2 differs from -j 1";
    by_label[label] = columns(twin);
  }
  EXPECT_EQ(by_label["A"], by_label["B"]);
  EXPECT_EQ(by_label["C"], by_label["D"]);
}

TEST(NetworkExperiments, ShippedExperimentsValidate) {
  auto list = harness::list_experiments();
  std::set<std::string> known;
  for (const auto& e : list) known.insert(e.name);
  for (const char* must : {"quickstart", "quickstart-fmnist-l1", "quickstart-fmnist-l0", "proxgen-fig2-resnet34-cifar10",
                           "sr2-table2-densenet121-cifar10", "sr2-fig2-pruning", "proxgen-fig4-densenet201-cifar100",
                           "proxgen-fig2-resnet34-cifar10-lq", "proxgen-fig2-resnet34-cifar10-l0", "proxgen-table3-binary"})
    EXPECT_TRUE(known.count(must)) << must;
  for (const auto& e : list) {
    json doc = harness::yaml_to_json(harness::read_text(e.path), e.path);
    if (doc.contains("experiments")) {  // a suite: every entry is a shipped experiment
      for (const auto& n : doc["experiments"]) EXPECT_TRUE(known.count(n.get<std::string>())) << e.path << ": " << n;
      continue;
    }
    harness::Experiment ex;
    ASSERT_NO_THROW(ex = harness::load_experiment(e.path)) << e.path;
    EXPECT_EQ(ex.name, e.name) << e.path;
    for (const auto& r : ex.runs)  // l0 has no subgradient: never paired with a subgradient method
      if (r.spec["regularizer"]["name"] == "l0")
        EXPECT_EQ(r.spec["optimizer"]["name"].get<std::string>().find("subgradient"), std::string::npos) << e.path;
  }
}

}  // namespace
}  // namespace proxbench
