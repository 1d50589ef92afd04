// Run checkpoints (`checkpoint_every: N`, DESIGN.md §3): everything a killed run needs to resume
// exactly where it stopped, so that a resumed sweep equals an uninterrupted one.
//
// A checkpoint is a LibTorch archive: the parameters of Problem::parameter_groups(), the
// optimizer state (ProxOptimizer::save), the problem state (Problem::save_state), the global CPU
// torch RNG, and the loop state below (epoch, step, D/G/γ maxima, timings, trajectory so far).
//
// Files of a run folder: `checkpoint.pt` (the latest) and `checkpoint.prev.pt` (the one before).
// save_checkpoint renames the latest to `.prev` and then writes the new one atomically (temp file +
// rename, temp removed on failure, WriteError naming the file on a full disk). A checkpoint that
// cannot be read (truncated, corrupted, written by another problem) is set aside as
// `checkpoint.pt.corrupt-<n>` with a warning naming it, and the run resumes from the previous good
// checkpoint, or restarts from scratch when there is none (issue 17, defect 7).
#pragma once
#include <cstdint>
#include <istream>
#include <limits>
#include <string>

#include "core/optimizer.h"
#include "core/problem.h"

namespace proxbench::harness {

/// State of one run's loop (what a checkpoint holds besides tensors).
struct LoopState {
  int64_t epoch = 0;  ///< next epoch to run
  int64_t step = 0;
  double D = 0, G = 0, gamma = std::numeric_limits<double>::infinity();
  double t_opt = 0, t_eval = 0;
  std::string trajectory;
};

/// Names of the two checkpoint files of a run folder.
std::string checkpoint_path(const std::string& run_dir);
std::string previous_checkpoint_path(const std::string& run_dir);

/// Writes the checkpoint of `run_dir` (the former one becomes checkpoint.prev.pt). Throws
/// WriteError (file named, temp removed) when it cannot be written.
void save_checkpoint(const std::string& run_dir, core::Problem& problem, core::ProxOptimizer& opt, const LoopState& s);

/// Restores problem, optimizer, torch RNG and loop state from a checkpoint stream. Throws
/// proxbench::Error (LibTorch errors included, as their message) when it is malformed; the
/// problem and optimizer may then be partly overwritten and must be rebuilt by the caller.
void load_checkpoint(std::istream& in, core::Problem& problem, core::ProxOptimizer& opt, LoopState& s);
/// Same from a file; errors name the file.
void load_checkpoint(const std::string& path, core::Problem& problem, core::ProxOptimizer& opt, LoopState& s);

/// Renames an unreadable checkpoint to `<path>.corrupt-<n>` (first free n >= 1) and returns the
/// new name ("" if the rename failed too).
std::string set_aside_checkpoint(const std::string& path);

/// Deletes both checkpoint files of a finished run.
void remove_checkpoints(const std::string& run_dir);

}  // namespace proxbench::harness
