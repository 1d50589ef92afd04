// `proxbench slurm` (issue 16) without a cluster: the exact text of the generated sbatch scripts,
// the array of a resubmission (only shards with unfinished runs), option errors, and the
// submission path through a stand-in `sbatch` on PATH (job id parsing, the afterany dependency,
// sbatch missing or failing). The real-Slurm round trip is the SlurmRoundTrip ctest (slurm_test.sh).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/common.h"
#include "harness/experiment.h"
#include "harness/io.h"
#include "harness/slurm.h"
#include "tests/test_harness_support.h"

using namespace proxbench;
namespace fs = std::filesystem;

namespace {

const char* kSweep = R"(name: sl
problem: {name: lasso, n: 40, p: 8, k: 2, batch_size: 10}
regularizer: {name: l1}
lambda: [0.05, 0.1]
optimizers:
  - {name: proxgen, options: {lr: 0.01}}
seeds: 2
budget: {epochs: 2}
)";

using test_util::error_of;

struct Fixture {
  test_util::TempDir tmp;
  fs::path yaml = tmp.path / "sl.yaml";
  Fixture() { test_util::write_file(yaml, kSweep); }
  harness::Experiment ex() { return harness::load_experiment(yaml.string()); }
  harness::SlurmOptions opts() {
    harness::SlurmOptions o;
    o.out_dir = (tmp.path / "res").string();
    o.proxbench_exe = "/opt/pb/bin/proxbench";
    return o;
  }
  /// A stand-in sbatch: appends its arguments to calls.txt, prints `reply` and exits with `rc`.
  std::string fake_sbatch(const std::string& reply, int rc) {
    fs::create_directories(tmp.path / "bin");
    test_util::write_file(tmp.path / "bin" / "sbatch", "#!/bin/sh\necho \"$@\" >> '" +
                                                           (tmp.path / "calls.txt").string() + "'\nn=$(wc -l < '" +
                                                           (tmp.path / "calls.txt").string() + "')\n" + reply +
                                                           "\nexit " + std::to_string(rc) + "\n");
    fs::permissions(tmp.path / "bin" / "sbatch", fs::perms::owner_all);
    return "PATH='" + (tmp.path / "bin").string() + ":/usr/bin:/bin'";
  }
};

}  // namespace

TEST(Slurm, ScriptsAreExactAndReadable) {
  Fixture f;
  auto o = f.opts();
  o.partition = "gpu";
  o.time = "1-00:00:00";
  o.gpus_per_task = 1;
  o.cpus_per_task = 8;
  o.parallelism = 2;
  o.sbatch_args = {"--account=abc", "qos=high"};
  o.sets = {"budget.epochs=3"};
  auto plan = harness::plan_slurm(f.ex(), o);
  const std::string dir = (f.tmp.path / "res" / "sl" / "slurm").string();
  const std::string res = (f.tmp.path / "res").string();
  EXPECT_EQ(plan.dir, dir);
  EXPECT_EQ(plan.tasks, 4);
  EXPECT_EQ(plan.runs, 4);
  EXPECT_EQ(plan.finished, 0);
  EXPECT_EQ(
      plan.sweep_script,
      "#!/bin/bash\n"
      "# proxbench sweep of experiment 'sl' (4 runs) as a Slurm job array,\n"
      "# written by `proxbench slurm`. Task i runs the runs whose index = i mod 4 (`--shard i/4`);\n"
      "# finished runs are skipped, so resubmitting this script resumes the sweep. Results: " +
          res +
          "/sl\n"
          "# The report job (report.sbatch) is submitted with --dependency=afterany:<this job's id>.\n"
          "#SBATCH --job-name=proxbench-sl\n"
          "#SBATCH --ntasks=1\n"
          "#SBATCH --output=" +
          dir +
          "/task-%a.log\n"
          "#SBATCH --open-mode=append\n"
          "#SBATCH --partition=gpu\n"
          "#SBATCH --time=1-00:00:00\n"
          "#SBATCH --array=0-3%2\n"
          "#SBATCH --cpus-per-task=8\n"
          "#SBATCH --gpus-per-task=1\n"
          "#SBATCH --account=abc\n"
          "#SBATCH --qos=high\n"
          "set -euo pipefail\n"
          "echo \"== proxbench task ${SLURM_ARRAY_TASK_ID} of 4, job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on "
          "$(hostname) at $(date -u +%FT%TZ)\"\n"
          "# torch threads = the CPUs Slurm gave this task (else the runner uses all cores of the node)\n"
          "if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ]; then export OMP_NUM_THREADS=\"$SLURM_CPUS_PER_TASK\"; fi\n"
          "exec '/opt/pb/bin/proxbench' run '" +
          f.yaml.string() + "' --out '" + res +
          "' --shard \"${SLURM_ARRAY_TASK_ID}/4\" --jobs 1 --set 'budget.epochs=3'\n");
  EXPECT_EQ(plan.report_script,
            "#!/bin/bash\n"
            "# proxbench report of experiment 'sl', written by `proxbench slurm`. Submitted with\n"
            "# --dependency=afterany:<sweep job id>: it runs once every array task has ended, failed ones too,\n"
            "# and reports what finished.\n"
            "#SBATCH --job-name=proxbench-sl-report\n"
            "#SBATCH --ntasks=1\n"
            "#SBATCH --output=" +
                dir +
                "/report.log\n"
                "#SBATCH --open-mode=append\n"
                "#SBATCH --partition=gpu\n"
                "#SBATCH --time=1-00:00:00\n"
                "#SBATCH --account=abc\n"
                "#SBATCH --qos=high\n"
                "set -euo pipefail\n"
                "echo \"== proxbench report, job ${SLURM_JOB_ID} on $(hostname) at $(date -u +%FT%TZ)\"\n"
                "exec '/opt/pb/bin/proxbench' report '" +
                res + "/sl'\n");
  // a name with a quote survives bash quoting
  o.sets = {"description=it's"};
  EXPECT_NE(harness::plan_slurm(f.ex(), o).sweep_script.find("--set 'description=it'\\''s'"), std::string::npos);
}

TEST(Slurm, ResubmissionArraysOnlyUnfinishedShards) {
  Fixture f;
  auto ex = f.ex();
  auto o = f.opts();
  o.tasks = 3;  // shards {0,3}, {1}, {2}
  auto finish = [&](size_t i, const std::string& status) {
    fs::path d = f.tmp.path / "res" / "sl" / ex.runs[i].id;
    fs::create_directories(d);
    test_util::write_file(d / "summary.json", "{\"status\": \"" + status + "\"}");
  };
  EXPECT_EQ(harness::slurm_index_list(harness::plan_slurm(ex, o).pending), "0-2");
  finish(1, "completed");
  finish(0, "diverged");
  finish(2, "error");  // runs ended in error are retried
  auto plan = harness::plan_slurm(ex, o);
  EXPECT_EQ(plan.finished, 2);
  EXPECT_EQ(harness::slurm_index_list(plan.pending), "0,2");
  EXPECT_NE(plan.sweep_script.find("#SBATCH --array=0,2\n"), std::string::npos) << plan.sweep_script;
  finish(2, "completed");
  finish(3, "budget");
  plan = harness::plan_slurm(ex, o);
  EXPECT_TRUE(plan.pending.empty());
  EXPECT_TRUE(plan.sweep_script.empty());
  EXPECT_FALSE(plan.report_script.empty());
  EXPECT_EQ(harness::slurm_index_list({0, 1, 2, 5, 7, 8}), "0-2,5,7-8");
}

TEST(Slurm, BadOptionsAreClearErrors) {
  Fixture f;
  auto o = f.opts();
  o.parallelism = -1;
  EXPECT_EQ(error_of([&] { harness::plan_slurm(f.ex(), o); }), "--parallelism -1: must be >= 0");
  o = f.opts();
  o.time = "1 h";
  EXPECT_EQ(error_of([&] { harness::plan_slurm(f.ex(), o); }), "--time '1 h': expected one word without spaces or quotes");
  o = f.opts();
  o.sbatch_args = {"--comment=a\nb"};
  EXPECT_NE(error_of([&] { harness::plan_slurm(f.ex(), o); }).find("--sbatch-arg"), std::string::npos);
}

TEST(Slurm, CliDryRunPrintsBothScriptsAndWritesNothing) {
  Fixture f;
  std::string out;
  ASSERT_EQ(
      test_util::run_cli("slurm '" + f.yaml.string() + "' --out '" + (f.tmp.path / "res").string() +
                             "' --parallelism 3 --sbatch-arg=--account=abc --sbatch-arg --constraint=a100 --dry-run",
                         &out),
      0)
      << out;
  EXPECT_NE(out.find("4 runs (0 finished) in 4 shards; 4 array tasks to run (0-3%3)"), std::string::npos) << out;
  EXPECT_NE(out.find("#SBATCH --array=0-3%3\n"), std::string::npos) << out;
  EXPECT_NE(out.find("#SBATCH --account=abc\n"), std::string::npos) << out;
  EXPECT_NE(out.find("#SBATCH --constraint=a100\n"), std::string::npos) << out;
  EXPECT_NE(out.find("exec '" PROXBENCH_CLI_PATH "' run"), std::string::npos) << out;
  EXPECT_NE(out.find("report.sbatch\n#!/bin/bash"), std::string::npos) << out;
  EXPECT_NE(out.find("--dependency=afterany:<sweep job id>"), std::string::npos) << out;
  EXPECT_FALSE(fs::exists(f.tmp.path / "res"));
}

TEST(Slurm, SubmitsArrayThenReportAfteranyThroughSbatch) {
  Fixture f;
  std::string env = f.fake_sbatch("echo warning: something >&2; echo $((40 + n))\\;cluster1", 0);
  std::string out;
  ASSERT_EQ(test_util::run_cli("slurm '" + f.yaml.string() + "' --out '" + (f.tmp.path / "res").string() + "' -K 2",
                               &out, env),
            0)
      << out;
  EXPECT_NE(out.find("submitted sweep: job 41 (array 0-3%2)"), std::string::npos) << out;
  EXPECT_NE(out.find("submitted report: job 42 (afterany:41)"), std::string::npos) << out;
  const fs::path dir = f.tmp.path / "res" / "sl" / "slurm";
  std::string calls = harness::read_text((f.tmp.path / "calls.txt").string());
  EXPECT_EQ(calls, "--parsable " + (dir / "sweep.sbatch").string() + "\n--parsable --dependency=afterany:41 " +
                       (dir / "report.sbatch").string() + "\n");
  EXPECT_TRUE(fs::exists(dir / "sweep.sbatch"));
  EXPECT_NE(harness::read_text((dir / "sweep.sbatch").string()).find("#SBATCH --array=0-3%2\n"), std::string::npos);
}

TEST(Slurm, MissingOrFailingSbatchIsAClearError) {
  Fixture f;
  std::string out;
  const std::string args = "slurm '" + f.yaml.string() + "' --out '" + (f.tmp.path / "res").string() + "'";
  EXPECT_EQ(test_util::run_cli(args, &out, "PATH=/nonexistent"), 2) << out;
  EXPECT_NE(out.find("proxbench: error: proxbench slurm: 'sbatch' is not on PATH"), std::string::npos) << out;
  std::string env =
      f.fake_sbatch("echo 'sbatch: error: Batch job submission failed: Invalid partition name specified' >&2", 1);
  EXPECT_EQ(test_util::run_cli(args + " -p nosuch", &out, env), 2) << out;
  EXPECT_NE(out.find("failed (exit status 1): sbatch: error: Batch job submission failed: Invalid partition name"),
            std::string::npos)
      << out;
  env = f.fake_sbatch("echo Submitted batch job", 0);
  EXPECT_EQ(test_util::run_cli(args, &out, env), 2) << out;
  EXPECT_NE(out.find("printed no job id: Submitted batch job"), std::string::npos) << out;
}
