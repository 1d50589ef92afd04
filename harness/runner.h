// The runner: executes the runs of an experiment and writes the results store.
//
// Results store (DESIGN.md §3), one folder per run, every file written atomically (temp + rename):
//
//   <out>/<experiment>/experiment.json      the experiment document (after --set) + run ids
//   <out>/<experiment>/<run-id>/spec.json   the resolved run spec (its hash is the run id)
//   <out>/<experiment>/<run-id>/trajectory.csv
//        one row per logged step: step, epoch, seconds (optimizer time so far), lr, batch_loss,
//        dtheta_norm = ‖θ_{t+1}−θ_t‖, grad_norm = ‖g_t‖, lambda_min = λ_min(α_t(C_t+δI)^{-1}),
//        precond_min, precond_max, step_nnz, sigma, rho, accepted (the optimizer's probes of that
//        step; NaN when it does not measure them), then the problem's metrics (evaluate()).
//        Row 0 is the initial point (probes NaN).
//   <out>/<experiment>/<run-id>/summary.json   written last: its presence marks the run finished
//        status      completed (ran the planned epochs/steps) | diverged (NaN/Inf loss or
//                    objective) | budget (stopped by budget.seconds) | error (exception; message)
//        message, run_id, experiment, label, seed, final {step, epoch},
//        metrics     final evaluate() (NaN → null),
//        conditions  D = max‖Δθ‖, G = max‖g‖, gamma = min λ_min over all steps (ProxGen (C-3),
//                    (C-4)), L (Problem::lipschitz_constant, null if unknown),
//        optimizer   {name, label, options}: options with the registry defaults filled in,
//        timings     {setup, optimizer, evaluation, total} seconds: optimizer = time inside
//                    step() calls only (closures included), never evaluation; data parallel:
//                    + communication_seconds (inside collectives, part of the other times),
//        counters    {steps, loss_evals, grad_evals, prox_evals, accepted, rejected},
//        problem     Problem::describe() (sizes, L, F*, ...),
//        context     {git_commit, proxbench, torch, eigen, build_type, compiler, threads,
//                     device, seed, hostname, started_utc, data_parallel {world_size, backend}}.
//   <run-id>/checkpoint.pt  (checkpoint_every > 0): parameters, optimizer state, problem state,
//        torch RNG, trajectory so far; a restarted run resumes from it; removed when finished.
//
// A finished run (summary.json with a status other than error) is skipped on restart; runs that
// ended in error are retried. Each run is done under its lock (harness/run_lock.h): a run locked by
// another live process is skipped and counted as `elsewhere`, so several processes can share one
// sweep. A run whose files cannot be written (unwritable folder, disk full) counts as an error
// (`unsaved`), its temporary files removed; a full disk (ENOSPC) starts no further runs. A
// worker thread never lets an exception escape. Runs go to `jobs` worker threads (torch intra-op threads are split
// between them); `--shard I/N` keeps the runs whose index ≡ I (mod N).
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "harness/experiment.h"

namespace proxbench::core {
class Communicator;
}

namespace proxbench::harness {

struct RunnerOptions {
  std::string out_dir = "results";
  int jobs = 1;
  int shard_index = 0, shard_count = 1;
  bool progress = true;  ///< progress line on stderr
  /// Data parallel (core/distributed.h): every run of the shard is trained by all ranks together,
  /// one run after the other (jobs = 1); only rank 0 writes the store and shows progress. A
  /// failed collective (a rank died) ends the run with status error (written by the surviving
  /// ranks) and stops the sweep. nullptr: one process.
  core::Communicator* comm = nullptr;
};

struct SweepResult {
  int total = 0;      ///< runs in this shard
  int skipped = 0;    ///< finished before this invocation (or by another process meanwhile)
  int completed = 0, diverged = 0, budget = 0, errors = 0;
  int unsaved = 0;      ///< of the errors: runs whose results could not be written (disk full, unwritable folder)
  int elsewhere = 0;    ///< runs locked by another live process (run_lock.h): skipped, not waited for
  int not_started = 0;  ///< runs left out after a full disk stopped the sweep
};

/// Folder of an experiment's results: <out>/<experiment name>.
std::string experiment_dir(const std::string& out_dir, const Experiment& ex);

/// Runs (the shard of) an experiment; writes the store; never throws for a failing run (that run
/// gets status error). Throws proxbench::Error for a bad output folder.
SweepResult run_experiment(const Experiment& ex, const RunnerOptions& options);

/// Runs one run into `run_dir` (created) and returns its summary (also written). `on_step` (may
/// be empty) is called after each logged row with (step, total steps or -1, objective).
nlohmann::json run_one(const RunSpec& run, const std::string& run_dir,
                       const std::function<void(int64_t, int64_t, double)>& on_step = {},
                       core::Communicator* comm = nullptr);

/// Provenance block of summary.json (git commit via `git rev-parse` in the source tree at run
/// time, "unknown" when unavailable).
nlohmann::json run_context();

}  // namespace proxbench::harness
