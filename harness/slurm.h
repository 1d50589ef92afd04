// Sweeps on a Slurm cluster (DESIGN.md §8, issue 16): `proxbench slurm EXPERIMENT.yaml --out DIR`.
//
// It writes two readable, editable sbatch scripts into <out>/<experiment>/slurm/:
//
//   sweep.sbatch   a job array: task i runs `proxbench run EXPERIMENT --out DIR --shard i/N`
//                  (`--array=<tasks>%K`, K = --parallelism); each task logs into
//                  slurm/task-<i>.log (appended on resubmission);
//   report.sbatch  `proxbench report <out>/<experiment>`, submitted with
//                  `--dependency=afterany:<array job id>`, so a failed task still leaves a report of
//                  what finished; logs into slurm/report.log.
//
// and submits them with `sbatch --parsable`. A resubmission of the same command resumes: the array
// lists only the shards that still have unfinished runs (the runner skips finished runs anyway), and
// when every run is finished only the report job is submitted. `--dry-run` writes nothing, submits
// nothing and prints both scripts.
#pragma once
#include <string>
#include <vector>

#include "harness/experiment.h"

namespace proxbench::harness {

struct SlurmOptions {
  std::string experiment_file;       ///< the YAML (absolute path written into the script)
  std::vector<std::string> sets;     ///< --set overrides, passed on to `proxbench run`
  std::vector<std::string> plugins;  ///< --plugin libraries, passed on
  std::string out_dir = "results";
  std::string partition, time;               ///< empty: cluster default
  int gpus_per_task = 0, cpus_per_task = 0;  ///< 0: not requested
  int parallelism = 0;                       ///< %K of the array (0: no limit)
  int tasks = 0;                             ///< array size N (0: one task per run, at most 1000)
  int jobs = 1;                              ///< `proxbench run --jobs` inside a task
  std::vector<std::string> sbatch_args;      ///< extra `#SBATCH` lines ("--account=x", "qos=y", ...)
  std::string proxbench_exe;                 ///< binary the tasks run (default: this executable)
};

/// The two scripts and the array spec, built without touching the file system (besides reading
/// which runs have a finished summary.json).
struct SlurmPlan {
  std::string dir;            ///< <out>/<experiment>/slurm (absolute)
  std::string sweep_script;   ///< text of sweep.sbatch ("" when every run is finished)
  std::string report_script;  ///< text of report.sbatch
  int tasks = 0;              ///< N of --shard i/N
  std::vector<int> pending;   ///< shard indices with unfinished runs (the array's task ids)
  int runs = 0, finished = 0;
};

/// Builds the plan. Throws proxbench::Error for bad options (naming the option and value).
SlurmPlan plan_slurm(const Experiment& ex, const SlurmOptions& o);

/// Job ids returned by submit_slurm (-1: not submitted).
struct SlurmJobs {
  long sweep = -1, report = -1;
};

/// Writes the scripts into plan.dir and submits them through `sbatch` (found on PATH). Throws a
/// proxbench::Error when sbatch is missing, fails, or prints no job id.
SlurmJobs submit_slurm(const SlurmPlan& plan);

/// "1,3,5-7": Slurm's --array index list of sorted, distinct indices.
std::string slurm_index_list(const std::vector<int>& indices);

}  // namespace proxbench::harness
