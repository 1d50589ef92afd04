// Data parallelism: one run on W processes (ranks) through LibTorch's own c10d process groups
// (DESIGN.md §8, issue 16). This header is c10d-free: optimizers and problems see only the
// Communicator interface; core/distributed_c10d.cpp implements it with c10d::ProcessGroupGloo
// (CPU tensors) or c10d::ProcessGroupNCCL (CUDA tensors, compiled only with -DPROXBENCH_NCCL=ON in
// the CUDA build), the ranks meeting through a c10d::TCPStore hosted by rank 0.
//
// Semantics of a data-parallel step (what makes W ranks equal one process):
//   - the global minibatch B_t (the same on every rank: same seed, same permutation) is split into
//     W contiguous slices B_t^r; rank r computes its SHARE of the global mean loss
//         f_r = (1/|B_t|) Σ_{i∈B_t^r} ℓ_i,   g_r = ∇f_r,   so that  Σ_r f_r = f_{B_t},  Σ_r g_r = ∇f_{B_t}
//     (Problem::set_data_parallel, Problem::closure_loss);
//   - data_parallel_closure() sums f_r and g_r over the ranks (all-reduce, flattened into a few
//     buckets per dtype: never one call per tensor), so every rank holds the global mean loss and
//     gradient, bit for bit the same on every rank;
//   - every rank then applies the same fused prox step (the optimizers are unchanged), so the
//     parameters stay bitwise identical without being broadcast; the probes (‖g‖, ‖Δθ‖, λ_min, ...)
//     are computed from the reduced gradient and identical parameters, i.e. they are global;
//   - SR2 evaluates f at the trial point through the same closure, so f(θ+s) is reduced as well;
//     R(θ+s) is computed from bitwise-identical parameters, so ρ and the accept/reject decision
//     are the same on every rank;
//   - buffers that are not parameters (BatchNorm running statistics, which each rank updates from
//     its own slice) are broadcast from rank 0 before evaluation (Problem::evaluate).
// Compared with one process over the same global minibatches the gradient sum is re-associated
// (Σ over slices, then over ranks), so parameters agree to floating-point round-off.
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/optimizer.h"

namespace proxbench::core {

class Problem;

/// Where this process stands in a data-parallel run, read from the environment.
struct DistributedEnv {
  int rank = 0, world = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  /// Who set it: "torchrun" (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; also `proxbench run
  /// --nproc`), "srun" (SLURM_PROCID, SLURM_NTASKS, SLURM_LAUNCH_NODE_IPADDR; MASTER_PORT if set,
  /// else 29500 + SLURM_JOB_ID mod 20000), "" (one process).
  std::string launcher;
  /// Seconds a collective (or the rendezvous) may wait for the other ranks before failing with an
  /// error (PROXBENCH_DIST_TIMEOUT, default 300). A rank that died is usually noticed at once
  /// (its connections close); one that hangs, after this timeout.
  double timeout_s = 300;
  /// "gloo" (default) | "nccl" (PROXBENCH_DIST_BACKEND).
  std::string backend = "gloo";
};

/// Reads RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT, else SLURM_PROCID/SLURM_NTASKS/
/// SLURM_LAUNCH_NODE_IPADDR (only when SLURM_NTASKS > 1 inside a step, i.e. SLURM_STEP_ID set),
/// plus PROXBENCH_DIST_TIMEOUT and PROXBENCH_DIST_BACKEND. Throws proxbench::Error naming the
/// variable for a malformed value (rank outside [0, world), port outside [1, 65535], ...).
DistributedEnv distributed_env_from_environment();

/// Collectives over the ranks of one run. Every rank must call the same collectives in the same
/// order. A failure (a rank died, a timeout) throws proxbench::Error("data parallel: ...") and
/// marks the communicator broken(); later calls throw at once.
class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  virtual std::string backend() const = 0;
  /// Sums `tensors` over the ranks, in place. Tensors are grouped by dtype and device and
  /// flattened into buckets of at most bucket_bytes() each; one all-reduce per bucket.
  virtual void allreduce_sum(const std::vector<torch::Tensor>& tensors) = 0;
  /// Copies `tensors` of rank `root` into the same tensors of every other rank (bucketed too).
  virtual void broadcast(const std::vector<torch::Tensor>& tensors, int root = 0) = 0;
  virtual void barrier() = 0;
  bool broken() const { return broken_; }
  /// Wall seconds spent inside collectives so far and their count (the benchmark's all-reduce share).
  double comm_seconds() const { return comm_seconds_; }
  int64_t comm_calls() const { return comm_calls_; }
  size_t bucket_bytes() const { return bucket_bytes_; }
  void set_bucket_bytes(size_t b) { bucket_bytes_ = b > 0 ? b : 1; }

 protected:
  bool broken_ = false;
  double comm_seconds_ = 0;
  int64_t comm_calls_ = 0;
  size_t bucket_bytes_ = size_t(25) << 20;  ///< 25 MiB, as PyTorch DDP
};

/// Opens the process group of `env` (rank 0 hosts the TCPStore at master_addr:master_port; the
/// others connect, waiting up to timeout_s). Throws proxbench::Error with the reason: rendezvous
/// timeout, a backend this build lacks (NCCL outside the CUDA build; Gloo when LibTorch was built
/// without it), bad rank/world.
std::unique_ptr<Communicator> make_c10d_communicator(const DistributedEnv& env);
/// True when this build has the c10d Gloo backend (core/distributed_c10d.cpp).
bool have_c10d_gloo();
/// A TCP port of 127.0.0.1 that is free right now (a socket bound to it, then released): the
/// MASTER_PORT of ranks started on this machine (`--nproc`, tests, benchmarks). Drawn at random in
/// [20000, 32000), below Linux's ephemeral range, so that another process's outgoing connection
/// cannot take it before rank 0's TCPStore binds it (a bind(0) port could be); after 64 taken
/// draws, a port from bind(0). Throws proxbench::Error when no socket can be opened or bound.
int free_local_port();

/// Optional capability of a core::Problem (found with dynamic_cast): data parallelism.
/// set_data_parallel(comm): this process is rank r = comm->rank() of W = comm->world(). Afterwards
/// select_batch() keeps the same global minibatch (same order, same augmentation) but this rank
/// works on its contiguous slice [⌊r·m/W⌋, ⌊(r+1)·m/W⌋) of the batch's m examples, and
/// closure_loss() returns this rank's SHARE of the global mean loss, Σ_{i∈slice} ℓ_i / m (gradients
/// likewise), so that the sum over the ranks is the global mean (data_parallel_closure adds them
/// up). evaluate() runs on every rank at the same time and must give the same metrics on every
/// rank: buffers each rank updated from its own slice (BatchNorm running statistics) are broadcast
/// from rank 0 first, quantities measured on the slices (a running minibatch loss) are reduced.
/// Called once, before the first begin_epoch. A problem without it refuses --nproc/torchrun/srun.
class DataParallelProblem {
 public:
  virtual ~DataParallelProblem() = default;
  virtual void set_data_parallel(Communicator* comm) = 0;
};

/// The gradient closure of a data-parallel step: problem.closure_loss(true) (this rank's share of
/// the minibatch loss and gradient), then one bucketed all-reduce (sum) of the loss and of every
/// parameter's gradient (a missing gradient counts as zeros), so that it returns the global mean
/// loss and leaves the global mean gradient in .grad() on every rank. `comm` may be nullptr (one
/// process: the plain closure).
torch::optim::Optimizer::LossClosure data_parallel_closure(Problem& problem, Communicator* comm);

}  // namespace proxbench::core
