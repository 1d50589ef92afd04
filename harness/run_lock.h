// Per-run locks: several `proxbench run` processes (or Slurm array tasks, or hosts sharing a
// results folder) can work on one sweep without running a run twice or breaking one another's
// checkpoints (issue 17).
//
// The lock of a run is an exclusive flock(2) on `<run-dir>/run.lock`, taken without waiting. The
// kernel drops it when the holder's file descriptor is closed — also when the process dies (SIGKILL,
// OOM, node reboot) — so a stale lock of a dead process never needs cleaning: the next process
// simply gets it. The lock file itself stays in the folder (unlinking it would race with a process
// that opened it but has not locked it yet); it is empty and harmless. The descriptor is opened
// O_CLOEXEC, so child processes (git, gnuplot) do not inherit the lock.
//
// On Linux NFS clients flock is mapped to POSIX byte-range locks on the server (since 2.6.12), so
// the locks also hold between hosts on a shared NFS results folder; on file systems without lock
// support try_lock_run throws (naming the folder and the system error) instead of running unlocked.
//
// Usage (the runner does exactly this for each run):
//   if (auto lock = try_lock_run(run_dir)) { if (!finished(run_dir)) run_one(...); }  // released here
//   else { /* in progress in another process: skip it */ }
#pragma once
#include <memory>
#include <string>

namespace proxbench::harness {

/// An exclusive lock on one run folder; released by the destructor (movable, not copyable).
class RunLock {
 public:
  explicit RunLock(int fd) : fd_(fd) {}
  RunLock(RunLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  RunLock& operator=(RunLock&&) = delete;
  RunLock(const RunLock&) = delete;
  ~RunLock();

 private:
  int fd_;
};

/// Creates `run_dir` if needed and takes the exclusive lock on `<run_dir>/run.lock` without
/// blocking. Returns nullptr when another process (or another open of the same file) holds it;
/// throws proxbench::Error naming the file when the folder or lock file cannot be created or the
/// file system refuses locks.
std::unique_ptr<RunLock> try_lock_run(const std::string& run_dir);

/// File name of the lock inside a run folder ("run.lock").
const char* run_lock_file_name();

}  // namespace proxbench::harness
