// The harness: YAML → JSON typing, --set overrides, expansion and stable run ids, errors naming
// file/key/line, the runner (files, summary fields, diverged and error runs, restart skipping
// finished runs, checkpoint/resume equality), and the CLI end to end.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "core/optimizer.h"
#include "harness/experiment.h"
#include "harness/io.h"
#include "harness/runner.h"
#include "tests/test_harness_support.h"

using namespace proxbench;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const char* kTiny = R"(
name: tiny
description: a tiny Lasso sweep
problem: {name: lasso, n: 40, p: 8, k: 2, batch_size: 10}
init: [random, zero]
regularizer: {name: l1}
lambda: 0.05
optimizers:
  - name: test_prox_gd
    label: PGD
    options: {lr: 0.05}
    grid: {lr: [0.05, 0.1]}
seeds: 2
budget: {epochs: 3}
)";

harness::Experiment tiny(std::vector<std::string> sets = {}) {
  return test_util::experiment_from_yaml(kTiny, "tiny.yaml", sets);
}
using test_util::error_of;
using test_util::quiet;

}  // namespace

TEST(HarnessSpec, YamlScalarsAreTyped) {
  json j = harness::yaml_to_json("a: 1\nb: 0.5\nc: 1e-3\nd: true\ne: hello\nf: '1'\ng: ~\nh: [1, x]\n", "t.yaml");
  EXPECT_TRUE(j["a"].is_number_integer());
  EXPECT_EQ(j["b"].get<double>(), 0.5);
  EXPECT_EQ(j["c"].get<double>(), 1e-3);
  EXPECT_EQ(j["d"], true);
  EXPECT_EQ(j["e"], "hello");
  EXPECT_TRUE(j["f"].is_string());
  EXPECT_TRUE(j["g"].is_null());
  EXPECT_EQ(j["h"][1], "x");
  json doc = j;
  harness::apply_override(doc, "h.0=7");
  harness::apply_override(doc, "new.key=[1, 2]");
  EXPECT_EQ(doc["h"][0], 7);
  EXPECT_EQ(doc["new"]["key"].size(), 2u);
  EXPECT_THROW(harness::apply_override(doc, "h.5=1"), Error);
  EXPECT_THROW(harness::apply_override(doc, "novalue"), Error);
}

TEST(HarnessSpec, ExpansionAndStableRunIds) {
  auto ex = tiny();
  ASSERT_EQ(ex.runs.size(), 2u * 2u * 2u);  // init × lr grid × seeds
  // golden: FNV-1a 64 of the canonical dump
  EXPECT_EQ(harness::run_id(json::parse(R"({"b":[0.5,"x"],"a":1})")), "c4f7e6530d82fbc0");
  auto again = tiny();
  for (size_t i = 0; i < ex.runs.size(); ++i) {
    EXPECT_EQ(ex.runs[i].id, again.runs[i].id);
    EXPECT_EQ(ex.runs[i].id, harness::run_id(ex.runs[i].spec));
    EXPECT_EQ(ex.runs[i].index, i);
  }
  const auto& s = ex.runs[0].spec;
  EXPECT_EQ(s["problem"]["options"]["init"], "random");
  EXPECT_EQ(s["optimizer"]["options"]["lr"], 0.05);
  EXPECT_EQ(s["seed"], 1);
  EXPECT_EQ(ex.runs[1].spec["seed"], 2);
  // a change anywhere changes the id of the runs it touches, only those
  auto changed = tiny({"optimizers.0.grid.lr=[0.05, 0.2]"});
  EXPECT_EQ(changed.runs[0].id, ex.runs[0].id);
  EXPECT_NE(changed.runs[2].id, ex.runs[2].id);
}

TEST(HarnessSpec, ErrorsNameFileKeyAndLine) {
  std::string e = error_of([] { harness::make_experiment(harness::yaml_to_json("name: x\nbogus: 1\n", "f.yaml"), "f.yaml"); });
  EXPECT_NE(e.find("f.yaml"), std::string::npos) << e;
  EXPECT_NE(e.find("bogus"), std::string::npos) << e;
  test_util::TempDir tmp;
  auto file = tmp.path / "bad.yaml";
  test_util::write_file(file, std::string(kTiny) + "optimizer_typo: 1\n");
  e = error_of([&] { harness::load_experiment(file.string()); });
  EXPECT_NE(e.find(file.string() + ":15"), std::string::npos) << e;
  EXPECT_NE(e.find("optimizer_typo"), std::string::npos) << e;
  test_util::write_file(file, "name: x\nproblem: {name: lasso\n");
  e = error_of([&] { harness::load_experiment(file.string()); });
  EXPECT_NE(e.find("invalid YAML"), std::string::npos) << e;
  e = error_of([] { tiny({"optimizers.0.name=no_such_opt"}); });
  EXPECT_NE(e.find("unknown optimizer 'no_such_opt'"), std::string::npos) << e;
  e = error_of([] { tiny({"optimizers.0.options.lrr=1"}); });
  EXPECT_NE(e.find("optimizers[0]"), std::string::npos) << e;
  EXPECT_NE(e.find("lrr"), std::string::npos) << e;
  e = error_of([] { tiny({"problem.pp=3"}); });
  EXPECT_NE(e.find("'pp'"), std::string::npos) << e;
  e = error_of([] { tiny({"regularizer.name=l7"}); });
  EXPECT_NE(e.find("unknown regularizer 'l7'"), std::string::npos) << e;
  e = error_of([] { tiny({"lambda=-1"}); });
  EXPECT_NE(e.find("lambda"), std::string::npos) << e;
  e = error_of([] { tiny({"budget.epochs=0"}); });
  EXPECT_NE(e.find("budget.epochs"), std::string::npos) << e;
}

TEST(HarnessRunner, WritesTheStoreAndSkipsFinishedRuns) {
  test_util::TempDir tmp;
  auto ex = tiny();
  auto res = harness::run_experiment(ex, quiet(tmp.path, 2));
  EXPECT_EQ(res.total, 8);
  EXPECT_EQ(res.completed, 8);
  EXPECT_EQ(res.errors, 0);
  fs::path root = tmp.path / "tiny";
  ASSERT_TRUE(fs::exists(root / "experiment.json"));
  std::map<std::string, fs::file_time_type> mtimes;
  for (const auto& r : ex.runs) {
    fs::path d = root / r.id;
    for (const char* f : {"spec.json", "trajectory.csv", "summary.json", "estimate.csv"})
      ASSERT_TRUE(fs::exists(d / f)) << d / f;
    auto s = json::parse(harness::read_text((d / "summary.json").string()));
    EXPECT_EQ(s["status"], "completed");
    EXPECT_EQ(s["message"], "");
    for (const char* k : {"metrics", "timings", "context", "counters", "conditions", "problem", "optimizer"})
      EXPECT_TRUE(s.contains(k)) << k;
    EXPECT_TRUE(s["metrics"]["support_f1"].is_number());
    EXPECT_GT(s["timings"]["optimizer_seconds"].get<double>(), 0);
    EXPECT_TRUE(s["timings"]["evaluation_seconds"].is_number());
    for (const char* k : {"git_commit", "torch", "eigen", "threads", "device", "seed"})
      EXPECT_TRUE(s["context"].contains(k)) << k;
    EXPECT_EQ(s["context"]["seed"], r.spec["seed"]);
    EXPECT_EQ(s["counters"]["steps"], 12);  // 3 epochs × 4 batches
    EXPECT_EQ(s["final"]["step"], 12);
    EXPECT_GT(s["conditions"]["D"].get<double>(), 0);
    EXPECT_EQ(s["conditions"]["gamma"], r.spec["optimizer"]["options"]["lr"]);
    EXPECT_EQ(json::parse(harness::read_text((d / "spec.json").string())), r.spec);
    auto t = harness::read_csv((d / "trajectory.csv").string());
    ASSERT_EQ(t.rows.size(), 4u);  // initial + one per epoch
    EXPECT_EQ(t.values("step").back(), 12);
    EXPECT_EQ(t.values("epoch").back(), 3);
    EXPECT_TRUE(std::isnan(t.values("dtheta_norm")[0]));
    EXPECT_GT(t.values("dtheta_norm")[1], 0);
    EXPECT_NE(t.column("objective"), -1);
    EXPECT_NE(t.column("stationarity"), -1);
    EXPECT_EQ(t.values("objective").back(), s["metrics"]["objective"].get<double>());
    mtimes[r.id] = fs::last_write_time(d / "summary.json");
  }
  // a second invocation finds everything finished and rewrites nothing
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  auto again = harness::run_experiment(ex, quiet(tmp.path));
  EXPECT_EQ(again.skipped, 8);
  EXPECT_EQ(again.completed, 0);
  for (const auto& r : ex.runs) EXPECT_EQ(fs::last_write_time(root / r.id / "summary.json"), mtimes[r.id]);
  // shards partition the runs
  test_util::TempDir tmp2;
  int total = 0;
  for (int i = 0; i < 3; ++i) {
    auto o = quiet(tmp2.path);
    o.shard_index = i, o.shard_count = 3;
    total += harness::run_experiment(ex, o).total;
  }
  EXPECT_EQ(total, 8);
}

TEST(HarnessRunner, DivergedAndErrorRunsDoNotStopTheSweep) {
  test_util::TempDir tmp;
  json doc = harness::yaml_to_json(kTiny, "tiny.yaml");
  doc.erase("init");
  doc["seeds"] = 1;
  doc["budget"]["epochs"] = 40;
  doc["optimizers"][0]["grid"]["lr"] = json::array({0.05, 1e6});  // 1e6 ≫ 2/L: blows up
  doc["problem"] = json::array({doc["problem"], {{"name", "test_failing"}}});  // fails when its runs start
  auto ex = harness::make_experiment(doc, "d.yaml");
  ASSERT_EQ(ex.runs.size(), 4u);
  auto res = harness::run_experiment(ex, quiet(tmp.path));
  EXPECT_EQ(res.completed, 1);
  EXPECT_EQ(res.diverged, 1);
  EXPECT_EQ(res.errors, 2);
  auto s1 = json::parse(harness::read_text((tmp.path / "tiny" / ex.runs[1].id / "summary.json").string()));
  EXPECT_EQ(s1["status"], "diverged");
  EXPECT_NE(s1["message"].get<std::string>().find("divergence_factor"), std::string::npos) << s1["message"];
  auto s2 = json::parse(harness::read_text((tmp.path / "tiny" / ex.runs[2].id / "summary.json").string()));
  EXPECT_EQ(s2["status"], "error");
  EXPECT_NE(s2["message"].get<std::string>().find("test_failing"), std::string::npos) << s2["message"];
  // errors are retried on restart, finished runs are not
  auto again = harness::run_experiment(ex, quiet(tmp.path));
  EXPECT_EQ(again.skipped, 2);
  EXPECT_EQ(again.errors, 2);
}

TEST(HarnessRunner, StepsBudgetLogEveryAndScheduleAreApplied) {
  test_util::TempDir tmp;
  auto ex = tiny({"budget={steps: 10}", "log_every=3", "init=zero", "seeds=[4]",
                  "optimizers.0.grid.lr=[0.1]", "optimizers.0.schedule={type: step, milestones: [1, 2], factor: 0.5}"});
  ASSERT_EQ(ex.runs.size(), 1u);
  harness::run_experiment(ex, quiet(tmp.path));
  auto t = harness::read_csv((tmp.path / "tiny" / ex.runs[0].id / "trajectory.csv").string());
  EXPECT_EQ(t.values("step"), (std::vector<double>{0, 3, 6, 9, 10}));
  auto lr = t.values("lr");
  EXPECT_EQ(lr[1], 0.1);    // epoch 0 (steps 1-4)
  EXPECT_EQ(lr[2], 0.05);   // epoch 1 (steps 5-8)
  EXPECT_EQ(lr[4], 0.025);  // epoch 2
}

TEST(HarnessRunner, BadOutputFolderIsAnError) {
  test_util::TempDir tmp;
  test_util::write_file(tmp.path / "file", "x");
  EXPECT_THROW(harness::run_experiment(tiny(), quiet(tmp.path / "file")), Error);
}

// ---- end to end through the CLI --------------------------------------------------------------

namespace {

/// The optimizer the CLI tests use (a real one, registered in the CLI binary too).
std::string cli_optimizer() {
  const char* env = std::getenv("PROXBENCH_TEST_OPTIMIZER");
  return env && *env ? env : "proxgen";
}

std::string cli_yaml(const std::string& name, const std::string& extra = "") {
  return "name: " + name + "\nproblem: {name: lasso, n: 60, p: 10, k: 3, batch_size: 15}\nregularizer: {name: l1}\n"
         "lambda: 0.05\noptimizers:\n  - name: " + cli_optimizer() + "\n    options: {lr: 0.01}\nseeds: 3\n"
         "budget: {epochs: 4}\n" + extra;
}

}  // namespace

TEST(HarnessCli, RunWritesStoreAndRestartSkipsFinishedRuns) {
  if (!core::optimizer_registry().contains(cli_optimizer())) GTEST_SKIP() << cli_optimizer() << " is not registered yet";
  test_util::TempDir tmp;
  auto yaml = tmp.path / "e.yaml";
  test_util::write_file(yaml, cli_yaml("e2e"));
  std::string out;
  // dry run lists the 3 runs and writes nothing
  ASSERT_EQ(test_util::run_cli("run '" + yaml.string() + "' --out '" + tmp.path.string() + "/res' --dry-run", &out), 0) << out;
  EXPECT_NE(out.find("3 runs"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(tmp.path / "res"));
  // killed after the first finished run
  int rc = test_util::run_cli("run '" + yaml.string() + "' --out '" + tmp.path.string() + "/res'", &out,
                            "PROXBENCH_ABORT_AFTER_RUNS=1");
  EXPECT_EQ(rc, 86) << out;
  std::vector<fs::path> finished;
  for (const auto& e : fs::directory_iterator(tmp.path / "res" / "e2e"))
    if (fs::exists(e.path() / "summary.json")) finished.push_back(e.path() / "summary.json");
  ASSERT_EQ(finished.size(), 1u) << out;
  auto mtime = fs::last_write_time(finished[0]);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(test_util::run_cli("run '" + yaml.string() + "' --out '" + tmp.path.string() + "/res' --jobs 2", &out), 0) << out;
  EXPECT_NE(out.find("1 of 3 runs already finished"), std::string::npos) << out;
  EXPECT_EQ(fs::last_write_time(finished[0]), mtime);
  int n = 0;
  for (const auto& e : fs::directory_iterator(tmp.path / "res" / "e2e")) {
    if (!fs::is_directory(e.path())) continue;
    ++n;
    auto s = json::parse(harness::read_text((e.path() / "summary.json").string()));
    EXPECT_EQ(s["status"], "completed") << s.dump();
    for (const char* k : {"status", "message", "metrics", "timings", "context", "counters"}) EXPECT_TRUE(s.contains(k)) << k;
    EXPECT_TRUE(fs::exists(e.path() / "trajectory.csv"));
    EXPECT_TRUE(fs::exists(e.path() / "spec.json"));
  }
  EXPECT_EQ(n, 3);
}

TEST(HarnessCli, DivergingRunIsMarkedAndSweepGoesOn) {
  const std::string sgd = "subgradient_sgd";
  if (!core::optimizer_registry().contains(sgd)) GTEST_SKIP() << sgd << " is not registered yet";
  test_util::TempDir tmp;
  auto yaml = tmp.path / "d.yaml";
  test_util::write_file(yaml, "name: div\nproblem: {name: lasso, n: 60, p: 10, k: 3, batch_size: 15}\nregularizer: {name: l1}\n"
                            "lambda: 0.05\noptimizers:\n  - name: " + sgd + "\n    grid: {lr: [1.0e+6, 0.01]}\n"
                            "seeds: 1\nbudget: {epochs: 30}\n");
  std::string out;
  ASSERT_EQ(test_util::run_cli("run '" + yaml.string() + "' --out '" + tmp.path.string() + "'", &out), 0) << out;
  std::map<std::string, int> st;
  for (const auto& e : fs::directory_iterator(tmp.path / "div"))
    if (fs::is_directory(e.path())) st[json::parse(harness::read_text((e.path() / "summary.json").string()))["status"].get<std::string>()]++;
  EXPECT_EQ(st["diverged"], 1) << out;
  EXPECT_EQ(st["completed"], 1) << out;
}

TEST(HarnessCli, BadInputFailsWithoutTouchingResults) {
  test_util::TempDir tmp;
  std::string out;
  auto yaml = tmp.path / "bad.yaml";
  test_util::write_file(yaml, "name: bad\nproblem: {name: lasso}\noptimizers:\n  - name: no_such_optimizer\n");
  EXPECT_NE(test_util::run_cli("run '" + yaml.string() + "' --out '" + tmp.path.string() + "'", &out), 0);
  EXPECT_NE(out.find(yaml.string()), std::string::npos) << out;
  EXPECT_NE(out.find("no_such_optimizer"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(tmp.path / "bad"));
  test_util::write_file(yaml, "name: bad\nproblem: {name: lasso}\noptimizers: [{name: x}]\ntypo_key: 3\n");
  EXPECT_NE(test_util::run_cli("run '" + yaml.string() + "'", &out), 0);
  EXPECT_NE(out.find(yaml.string() + ":4"), std::string::npos) << out;
  EXPECT_NE(out.find("typo_key"), std::string::npos) << out;
  EXPECT_NE(test_util::run_cli("run '" + yaml.string() + "' --plugin libx.so", &out), 0);
  EXPECT_NE(test_util::run_cli("run no-such-experiment", &out), 0);
  EXPECT_NE(out.find("unknown experiment"), std::string::npos) << out;
  ASSERT_EQ(test_util::run_cli("list experiments", &out), 0) << out;
  EXPECT_NE(out.find("proxgen-fig3-lasso"), std::string::npos) << out;
}

TEST(HarnessCli, CheckpointResumeGivesTheSameRun) {
  if (!core::optimizer_registry().contains(cli_optimizer())) GTEST_SKIP() << cli_optimizer() << " is not registered yet";
  test_util::TempDir tmp;
  auto yaml = tmp.path / "c.yaml";
  test_util::write_file(yaml, cli_yaml("ck", "checkpoint_every: 1\n"));
  std::string out;
  std::string base = "run '" + yaml.string() + "' --set seeds=1 --out '" + tmp.path.string();
  ASSERT_EQ(test_util::run_cli(base + "/a'", &out), 0) << out;
  EXPECT_EQ(test_util::run_cli(base + "/b'", &out, "PROXBENCH_ABORT_AFTER_EPOCHS=2"), 86) << out;
  ASSERT_EQ(test_util::run_cli(base + "/b'", &out), 0) << out;
  fs::path a, b;
  for (const auto& e : fs::directory_iterator(tmp.path / "a" / "ck"))
    if (fs::is_directory(e.path())) a = e.path();
  b = tmp.path / "b" / "ck" / a.filename();
  EXPECT_FALSE(fs::exists(b / "checkpoint.pt"));
  auto ta = harness::read_csv((a / "trajectory.csv").string()), tb = harness::read_csv((b / "trajectory.csv").string());
  ASSERT_EQ(ta.rows.size(), tb.rows.size());
  for (const char* col : {"step", "objective", "nnz", "grad_norm"}) {  // NaN (row 0 probes) equals NaN here
    auto va = ta.values(col), vb = tb.values(col);
    ASSERT_EQ(va.size(), vb.size());
    for (size_t i = 0; i < va.size(); ++i)
      if (!(std::isnan(va[i]) && std::isnan(vb[i]))) EXPECT_EQ(va[i], vb[i]) << col << " row " << i;
  }
}

TEST(HarnessRunner, EvalEveryKeepsProbesAndEvaluatesOnSchedule) {
  test_util::TempDir tmp;
  // 4 batches per epoch, 10 steps: a row per step, metrics at 0, 4, 8 (epoch) and at the last step
  auto ex = tiny({"budget={steps: 10}", "log_every=1", "eval_every=epoch", "init=zero", "seeds=[4]",
                  "optimizers.0.grid.lr=[0.1]"});
  ASSERT_EQ(ex.runs.size(), 1u);
  EXPECT_EQ(ex.runs[0].spec["eval_every"], "epoch");
  EXPECT_FALSE(tiny({"init=zero"}).runs[0].spec.contains("eval_every"));  // run ids of old files unchanged
  harness::run_experiment(ex, quiet(tmp.path));
  const auto dir = tmp.path / "tiny" / ex.runs[0].id;
  auto t = harness::read_csv((dir / "trajectory.csv").string());
  ASSERT_EQ(t.values("step").size(), 11u);
  auto obj = t.values("objective"), dth = t.values("dtheta_norm");
  for (int s = 0; s <= 10; ++s) {
    const bool evaluated = s % 4 == 0 || s == 10;
    EXPECT_EQ(std::isfinite(obj[s]), evaluated) << "step " << s;
    if (s > 0) EXPECT_TRUE(std::isfinite(dth[s])) << "step " << s;  // probes on every row
  }
  json sum = json::parse(harness::read_text((dir / "summary.json").string()));
  EXPECT_NEAR(sum["metrics"]["objective"].get<double>(), obj[10], 1e-12);
  EXPECT_NE(
      error_of([] { tiny({"eval_every=often"}); }).find("'eval_every': must be an integer >= 0 (steps) or 'epoch'"),
      std::string::npos);
}

TEST(HarnessSpec, OptimizerEntryOwnRegularizerAndProblemOptions) {
  auto ex =
      tiny({"init=zero", "seeds=1", "regularizer=[{name: l1}, {name: l12}]",
            "optimizers=[{name: test_prox_gd, label: A}, {name: test_prox_gd, label: B, regularizer: {name: none}, "
            "problem: {noise: 0.5}}]"});
  // A: 2 regularizers; B: its own one, once
  ASSERT_EQ(ex.runs.size(), 3u);
  int b_runs = 0;
  for (const auto& r : ex.runs) {
    if (r.spec["optimizer"]["label"] == "B") {
      ++b_runs;
      EXPECT_EQ(r.spec["regularizer"]["name"], "none");
      EXPECT_EQ(r.spec["problem"]["options"]["noise"], 0.5);
    } else {
      EXPECT_FALSE(r.spec["problem"]["options"].contains("noise"));
    }
  }
  EXPECT_EQ(b_runs, 1);
  EXPECT_NE(error_of([] {
              tiny({"optimizers=[{name: test_prox_gd, problem: {colour: red}}]"});
            }).find("unknown key 'colour'"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              tiny({"optimizers=[{name: test_prox_gd, regularizer: {name: l7}}]"});
            }).find("'optimizers[0].regularizer.name': unknown regularizer 'l7'"),
            std::string::npos);
}
