// `proxbench run ... --nproc W`: starts W local processes (ranks) of this executable with the
// environment torchrun would give them (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE,
// MASTER_ADDR=127.0.0.1, MASTER_PORT = a free port; OMP_NUM_THREADS = cores / W unless set), and
// waits for them. They meet through c10d (core/distributed.h) and train each run together.
#pragma once

namespace proxbench::harness {

/// Re-executes this process's command line without `--nproc` as W ranks; returns the exit code
/// of the launch: 0 when every rank exited 0, else the first non-zero status (a rank killed by a
/// signal counts as 128 + signal). When one rank ends abnormally, the others get
/// PROXBENCH_DIST_TIMEOUT (+30 s) to end with their own error before they are terminated.
/// Throws proxbench::Error when W < 1 or the processes cannot be started.
int launch_local_ranks(int nproc);

}  // namespace proxbench::harness
