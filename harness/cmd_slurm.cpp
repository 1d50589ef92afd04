// `proxbench slurm EXPERIMENT.yaml --out DIR ...`: the sweep as a Slurm job array plus a dependent
// report job (harness/slurm.h).
#include <CLI/CLI.hpp>
#include <iostream>

#include "core/common.h"
#include "harness/command.h"
#include "harness/experiment.h"
#include "harness/plugin.h"
#include "harness/slurm.h"

namespace proxbench::harness {
namespace {

struct SlurmArgs {
  SlurmOptions o;
  std::string file;
  bool dry_run = false;
};

void do_slurm(SlurmArgs& a) {
  a.o.experiment_file = find_experiment(a.file);
  Experiment ex = load_experiment(a.o.experiment_file, a.o.sets);
  SlurmPlan plan = plan_slurm(ex, a.o);
  const std::string array =
      slurm_index_list(plan.pending) + (a.o.parallelism > 0 ? "%" + std::to_string(a.o.parallelism) : "");
  std::cout << "proxbench slurm: experiment " << ex.name << ": " << plan.runs << " runs (" << plan.finished
            << " finished) in " << plan.tasks << " shards; " << plan.pending.size() << " array tasks to run"
            << (plan.pending.empty() ? "" : " (" + array + ")") << " -> " << plan.dir << "\n";
  if (a.dry_run) {
    if (!plan.sweep_script.empty()) std::cout << "# ---- " << plan.dir << "/sweep.sbatch\n" << plan.sweep_script;
    std::cout << "# ---- " << plan.dir << "/report.sbatch\n" << plan.report_script << "# ---- dry run: would submit\n";
    if (!plan.sweep_script.empty())
      std::cout << "#   sbatch --parsable " << plan.dir << "/sweep.sbatch\n#   sbatch --parsable "
                << "--dependency=afterany:<sweep job id> " << plan.dir << "/report.sbatch\n";
    else
      std::cout << "#   sbatch --parsable " << plan.dir << "/report.sbatch   (every run is finished)\n";
    return;
  }
  SlurmJobs jobs = submit_slurm(plan);
  std::cout << "wrote " << plan.dir << "/{sweep,report}.sbatch\n";
  if (jobs.sweep >= 0)
    std::cout << "submitted sweep: job " << jobs.sweep << " (array " << array << "), logs " << plan.dir
              << "/task-<i>.log\n";
  else
    std::cout << "every run is finished: no sweep job\n";
  std::cout << "submitted report: job " << jobs.report
            << (jobs.sweep >= 0 ? " (afterany:" + std::to_string(jobs.sweep) + ")" : std::string()) << ", log "
            << plan.dir << "/report.log\n";
}

void setup_slurm(CLI::App& app) {
  auto a = std::make_shared<SlurmArgs>();
  auto* cmd = app.add_subcommand("slurm", "Submit an experiment to Slurm: a job array of shards + a report job");
  cmd->add_option("experiment", a->file, "experiment YAML file or name of a shipped experiment")->required();
  cmd->add_option("--out,-o", a->o.out_dir, "results root (default: results)");
  cmd->add_option("--partition,-p", a->o.partition, "Slurm partition (default: the cluster's)");
  cmd->add_option("--time,-t", a->o.time, "time limit of each array task (sbatch --time, e.g. 1-00:00:00)");
  cmd->add_option("--gpus-per-task", a->o.gpus_per_task, "GPUs of each array task");
  cmd->add_option("--cpus-per-task,-c", a->o.cpus_per_task, "CPUs of each array task (sets OMP_NUM_THREADS)");
  cmd->add_option("--parallelism,-K", a->o.parallelism, "at most K array tasks running at once (%K)");
  cmd->add_option("--tasks,-N", a->o.tasks, "array size N: task i runs --shard i/N (default: one per run, <= 1000)");
  cmd->add_option("--jobs,-j", a->o.jobs, "runs in parallel inside one task (proxbench run --jobs)");
  cmd->add_option("--sbatch-arg", a->o.sbatch_args,
                  "extra sbatch option for both scripts, e.g. --sbatch-arg=--account=abc (repeatable)");
  cmd->add_option("--set", a->o.sets, "override a key of the experiment: a.b.c=value (value as YAML)");
  cmd->add_option("--plugin", a->o.plugins, "plugin library, passed on to the tasks (repeatable)");
  cmd->add_flag("--dry-run,-n", a->dry_run, "print both scripts; write and submit nothing");
  cmd->callback([a] {
    load_plugins(a->o.plugins);
    do_slurm(*a);
  });
}

PROXBENCH_REGISTER(command_registry(),
                   (CommandRegistry::Entry{"slurm", "submit a sweep to Slurm", {}, "", setup_slurm}));

}  // namespace
}  // namespace proxbench::harness
