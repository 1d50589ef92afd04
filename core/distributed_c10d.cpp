// core/distributed.h on LibTorch's c10d: TCPStore rendezvous, ProcessGroupGloo (CPU) and, in the
// CUDA build with -DPROXBENCH_NCCL=ON, ProcessGroupNCCL. Compiled without the precompiled header
// (CMakeLists.txt): the USE_C10D_* macros must precede the first LibTorch include and must not
// differ between the targets sharing the PCH.
#include "proxbench_build_config.h"
#ifdef PROXBENCH_HAVE_C10D_GLOO
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO
#endif
#endif
#ifdef PROXBENCH_WITH_NCCL
#ifndef USE_C10D_NCCL
#define USE_C10D_NCCL
#endif
#endif

#include <torch/version.h>

#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif

#include "core/distributed.h"
#ifdef PROXBENCH_HAVE_C10D_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef PROXBENCH_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>

#include "core/common.h"
#include "core/problem.h"

namespace proxbench::core {
namespace {

using Clock = std::chrono::steady_clock;
// LibTorch 2.x: ProcessGroupGloo/NCCL derive from c10d::Backend; 1.13: from c10d::ProcessGroup.
#if TORCH_VERSION_MAJOR >= 2
using PgBase = c10d::Backend;
#else
using PgBase = c10d::ProcessGroup;
#endif

int env_int(const char* name, const char* value, long lo, long hi) {
  char* end = nullptr;
  long v = std::strtol(value, &end, 10);
  if (!*value || *end || v < lo || v > hi)
    throw Error(std::string("data parallel: environment variable ") + name + "='" + value +
                "': expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) + "]");
  return static_cast<int>(v);
}

class C10dCommunicator : public Communicator {
 public:
  C10dCommunicator(const DistributedEnv& env) : env_(env) {
    auto timeout = std::chrono::milliseconds(static_cast<int64_t>(env.timeout_s * 1000));
    try {
      c10d::TCPStoreOptions so;
      so.port = static_cast<uint16_t>(env.master_port);
      so.isServer = env.rank == 0;
      so.numWorkers = env.world;
      so.waitWorkers = true;
      so.timeout = timeout;
      store_ = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
      if (env.backend == "gloo") {
#ifdef PROXBENCH_HAVE_C10D_GLOO
        auto o = c10d::ProcessGroupGloo::Options::create(timeout);
        // loopback when the master is local, else the interface that reaches the master's host
        o->devices.push_back(env.master_addr == "127.0.0.1" || env.master_addr == "localhost"
                                 ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                 : c10d::ProcessGroupGloo::createDefaultDevice());
        pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(store_, env.rank, env.world, o);
#else
        throw Error(
            "data parallel: this build has no c10d Gloo backend (LibTorch without Gloo or libgloo-dev "
            "missing at configure time)");
#endif
      } else if (env.backend == "nccl") {
#ifdef PROXBENCH_WITH_NCCL
        auto o = c10d::ProcessGroupNCCL::Options::create();
        o->timeout = timeout;
        pg_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(store_, env.rank, env.world, o);
#else
        throw Error("data parallel: backend 'nccl' needs the CUDA build configured with -DPROXBENCH_NCCL=ON");
#endif
      } else {
        throw Error("data parallel: PROXBENCH_DIST_BACKEND='" + env.backend + "': expected gloo or nccl");
      }
    } catch (const c10::Error& e) {
      throw Error("data parallel: rank " + std::to_string(env.rank) + " of " + std::to_string(env.world) +
                  " could not join the process group at " + env.master_addr + ":" + std::to_string(env.master_port) +
                  " within " + std::to_string(static_cast<int>(env.timeout_s)) + " s: " + e.what_without_backtrace());
    } catch (const std::exception& e) {
      if (dynamic_cast<const Error*>(&e)) throw;
      throw Error("data parallel: rank " + std::to_string(env.rank) + " of " + std::to_string(env.world) +
                  " could not join the process group at " + env.master_addr + ":" + std::to_string(env.master_port) +
                  ": " + e.what());
    }
  }

  int rank() const override { return env_.rank; }
  int world() const override { return env_.world; }
  std::string backend() const override { return env_.backend; }

  void allreduce_sum(const std::vector<torch::Tensor>& tensors) override {
    collective("all-reduce", tensors, [&](std::vector<at::Tensor>& v) { return pg_->allreduce(v); });
  }
  void broadcast(const std::vector<torch::Tensor>& tensors, int root) override {
    c10d::BroadcastOptions o;
    o.rootRank = root;
    collective("broadcast", tensors, [&](std::vector<at::Tensor>& v) { return pg_->broadcast(v, o); });
  }
  void barrier() override {
    guard("barrier", [&] { pg_->barrier()->wait(); });
  }

 private:
  template <class F>
  void guard(const char* what, F&& f) {
    if (broken_)
      throw Error("data parallel: rank " + std::to_string(env_.rank) + ": process group already failed; no " + what);
    auto t0 = Clock::now();
    try {
      f();
    } catch (const c10::Error& e) {
      fail(what, e.what_without_backtrace());
    } catch (const std::exception& e) {
      fail(what, e.what());
    }
    comm_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
    ++comm_calls_;
  }
  [[noreturn]] void fail(const char* what, const std::string& why) {
    broken_ = true;
    throw Error("data parallel: " + std::string(what) + " failed on rank " + std::to_string(env_.rank) + " of " +
                std::to_string(env_.world) + " (another rank died or is unreachable; timeout " +
                std::to_string(static_cast<int>(env_.timeout_s)) + " s): " + why);
  }

  /// Buckets per (dtype, device) of at most bucket_bytes_; flattened, one collective each.
  template <class Op>
  void collective(const char* what, const std::vector<torch::Tensor>& tensors, Op&& op) {
    std::map<std::pair<int, std::string>, std::vector<torch::Tensor>> groups;
    for (const auto& t : tensors)
      if (t.defined() && t.numel() > 0) groups[{static_cast<int>(t.scalar_type()), t.device().str()}].push_back(t);
    for (auto& kv : groups) {
      auto& ts = kv.second;
      for (size_t i = 0; i < ts.size();) {
        size_t j = i, bytes = 0;
        while (j < ts.size() && (j == i || bytes + ts[j].nbytes() <= bucket_bytes_)) bytes += ts[j++].nbytes();
        std::vector<torch::Tensor> flat_parts;
        for (size_t k = i; k < j; ++k) flat_parts.push_back(ts[k].reshape({-1}));
        std::vector<at::Tensor> buf{j - i == 1 && ts[i].is_contiguous() ? ts[i] : torch::cat(flat_parts)};
        guard(what, [&] { op(buf)->wait(); });
        if (!(j - i == 1 && ts[i].is_contiguous())) {
          int64_t off = 0;
          torch::NoGradGuard ng;
          for (size_t k = i; k < j; ++k) {
            const int64_t n = ts[k].numel();
            ts[k].copy_(buf[0].narrow(0, off, n).view_as(ts[k]));
            off += n;
          }
        }
        i = j;
      }
    }
  }

  DistributedEnv env_;
  c10::intrusive_ptr<c10d::Store> store_;
  c10::intrusive_ptr<PgBase> pg_;
};

}  // namespace

bool have_c10d_gloo() {
#ifdef PROXBENCH_HAVE_C10D_GLOO
  return true;
#else
  return false;
#endif
}

DistributedEnv distributed_env_from_environment() {
  DistributedEnv e;
  auto get = [](const char* n) -> const char* {
    const char* v = std::getenv(n);
    return v && *v ? v : nullptr;
  };
  if (const char* t = get("PROXBENCH_DIST_TIMEOUT")) {
    char* end = nullptr;
    e.timeout_s = std::strtod(t, &end);
    if (*end || !(e.timeout_s > 0))
      throw Error(std::string("data parallel: environment variable PROXBENCH_DIST_TIMEOUT='") + t +
                  "': expected seconds > 0");
  }
  if (const char* b = get("PROXBENCH_DIST_BACKEND")) e.backend = b;
  if (get("WORLD_SIZE") || get("RANK")) {
    if (!get("WORLD_SIZE") || !get("RANK"))
      throw Error("data parallel: RANK and WORLD_SIZE must be set together (torchrun sets both)");
    e.launcher = "torchrun";
    e.world = env_int("WORLD_SIZE", get("WORLD_SIZE"), 1, 1 << 20);
    e.rank = env_int("RANK", get("RANK"), 0, e.world - 1);
    if (const char* a = get("MASTER_ADDR")) e.master_addr = a;
    if (const char* p = get("MASTER_PORT")) e.master_port = env_int("MASTER_PORT", p, 1, 65535);
  } else if (get("SLURM_NTASKS") && get("SLURM_PROCID") && get("SLURM_STEP_ID")) {
    e.world = env_int("SLURM_NTASKS", get("SLURM_NTASKS"), 1, 1 << 20);
    if (e.world > 1) {
      e.launcher = "srun";
      e.rank = env_int("SLURM_PROCID", get("SLURM_PROCID"), 0, e.world - 1);
      if (const char* a = get("SLURM_LAUNCH_NODE_IPADDR")) e.master_addr = a;
      if (const char* a = get("MASTER_ADDR")) e.master_addr = a;
      if (const char* p = get("MASTER_PORT"))
        e.master_port = env_int("MASTER_PORT", p, 1, 65535);
      else if (const char* j = get("SLURM_JOB_ID"))
        e.master_port = 29500 + env_int("SLURM_JOB_ID", j, 0, 1L << 31) % 20000;
    }
  }
  return e;
}

std::unique_ptr<Communicator> make_c10d_communicator(const DistributedEnv& env) {
  if (env.world < 1 || env.rank < 0 || env.rank >= env.world)
    throw Error("data parallel: rank " + std::to_string(env.rank) + " of world " + std::to_string(env.world) +
                ": need 0 <= rank < world");
  auto c = std::make_unique<C10dCommunicator>(env);
  if (const char* b = std::getenv("PROXBENCH_DIST_BUCKET_MB"); b && *b)
    c->set_bucket_bytes(size_t(std::atof(b) * (1 << 20)));
  return c;
}

torch::optim::Optimizer::LossClosure data_parallel_closure(Problem& problem, Communicator* comm) {
  if (!comm || comm->world() == 1) return [&problem] { return problem.closure_loss(true); };
  return [&problem, comm] {
    torch::Tensor loss = problem.closure_loss(true).detach().clone();
    std::vector<torch::Tensor> ts{loss};
    torch::NoGradGuard ng;
    for (auto& g : problem.parameter_groups())
      for (auto& p : g.params) {
        if (!p.grad().defined()) p.mutable_grad() = torch::zeros_like(p);
        ts.push_back(p.mutable_grad());
      }
    comm->allreduce_sum(ts);
    return loss;
  };
}

namespace {
/// Binds a fresh TCP socket of 127.0.0.1 to `port` (0: the kernel picks), then closes it; the port
/// bound, or −1 when the bind fails. Throws when no socket can be opened.
int try_bind_local(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw Error("data parallel: cannot open a socket to find a free port on 127.0.0.1");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(static_cast<uint16_t>(port));
  socklen_t len = sizeof a;
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  return ok ? ntohs(a.sin_port) : -1;
}
}  // namespace

int free_local_port() {
  // A port below Linux's ephemeral range (32768–60999 by default), so that no outgoing connection
  // of another process takes it as its source port between this check and the TCPStore's bind (a
  // port from bind(0) lies in that range). Random draws, so concurrent callers rarely meet.
  static std::atomic<uint64_t> calls{0};
  uint64_t x = (uint64_t(::getpid()) << 32) ^ uint64_t(std::chrono::steady_clock::now().time_since_epoch().count()) ^
               (++calls * 0x9E3779B97F4A7C15ull);
  for (int tries = 0; tries < 64; ++tries) {
    x ^= x >> 33, x *= 0xff51afd7ed558ccdull, x ^= x >> 33;  // splitmix-style scramble
    const int port = 20000 + int(x % 12000);                 // [20000, 32000)
    if (try_bind_local(port) == port) return port;
  }
  const int port = try_bind_local(0);
  if (port < 0) throw Error("data parallel: cannot bind a socket on 127.0.0.1 to find a free port");
  return port;
}

}  // namespace proxbench::core
