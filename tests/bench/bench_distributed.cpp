// Data-parallel training throughput (issue 16): ResNet-20 on synthetic 3x32x32 images, global batch
// 64, ProxGen-l1 steps through data_parallel_closure, on W = 1 and 2 ranks of c10d Gloo over
// loopback. The ranks are threads of this process with their own process groups; the machine's
// cores are split between them (torch threads = cores / W), so W = 1 and W = 2 use the same cores.
// Counters: images_per_s (global images per second) and allreduce_share (fraction of rank 0's step
// time spent inside the gradient all-reduces, bucketed at 25 MiB: ResNet-20 is one bucket).
// Run: ./build/tests/proxbench_bench --benchmark_filter=DataParallel
#include <ATen/Parallel.h>
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include "core/distributed.h"
#include "core/optimizer.h"
#include "core/regularizer.h"
#include "problems/classification.h"

namespace {

using namespace proxbench;

void BM_DataParallelResNet20(benchmark::State& state) {
  const int world = static_cast<int>(state.range(0));
  if (!core::have_c10d_gloo()) {
    state.SkipWithError("no c10d Gloo in this build");
    for (auto _ : state) {
    }
    return;
  }
  const int threads0 = at::get_num_threads();
  at::set_num_threads(std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / world));
  problems::ClassificationOptions o;
  o.dataset = "synthetic";
  o.model = "resnet20";
  o.synthetic_train = 1024;
  o.synthetic_test = 64;
  o.synthetic_size = 32;
  o.batch_size = 64;
  o.augment = true;
  std::vector<std::unique_ptr<problems::ClassificationProblem>> ps;
  std::vector<std::unique_ptr<core::Communicator>> comms(world);
  std::vector<std::unique_ptr<core::ProxOptimizer>> opts;
  for (int r = 0; r < world; ++r) ps.push_back(std::make_unique<problems::ClassificationProblem>(o, 1));
  if (world > 1) {
    const int port = core::free_local_port();
    std::vector<std::thread> ts;
    for (int r = 0; r < world; ++r)
      ts.emplace_back([&, r] {
        core::DistributedEnv e;
        e.rank = r, e.world = world, e.master_port = port, e.timeout_s = 120;
        comms[r] = core::make_c10d_communicator(e);
      });
    for (auto& t : ts) t.join();
  }
  auto reg = core::make_regularizer("l1", core::OptionMap(nlohmann::json::object(), "l1"));
  for (int r = 0; r < world; ++r) {
    ps[r]->set_data_parallel(comms[r].get());
    std::vector<core::ParamGroupSpec> groups;
    for (auto& g : ps[r]->parameter_groups())
      groups.push_back({g.params, g.regularized ? reg : nullptr, g.regularized ? 1e-4 : 0.0});
    opts.push_back(core::make_optimizer("proxgen", groups, core::OptionMap(nlohmann::json{{"lr", 1e-3}}, "proxgen")));
    ps[r]->begin_epoch(0, 1);
  }
  int64_t step = 0, images = 0;
  double total = 0, comm0 = 0;
  const int64_t nb = ps[0]->batches_per_epoch();
  bool warm = false;  // the first step (allocations, Gloo buffers) is not timed
  for (auto _ : state) {
    if (!warm) {
      state.PauseTiming();
      std::vector<std::thread> ws;
      for (int r = 1; r < world; ++r)
        ws.emplace_back(
            [&, r] { ps[r]->select_batch(0), opts[r]->step(core::data_parallel_closure(*ps[r], comms[r].get())); });
      ps[0]->select_batch(0), opts[0]->step(core::data_parallel_closure(*ps[0], comms[0].get()));
      for (auto& t : ws) t.join();
      warm = true;
      state.ResumeTiming();
    }
    const int64_t b = step % nb;
    auto t0 = std::chrono::steady_clock::now();
    const double c0 = comms[0] ? comms[0]->comm_seconds() : 0.0;
    auto one = [&](int r) {
      if (b == 0 && step > 0) ps[r]->begin_epoch(step / nb, 1);
      ps[r]->select_batch(b);
      opts[r]->step(core::data_parallel_closure(*ps[r], comms[r].get()));
    };
    std::vector<std::thread> ts;
    for (int r = 1; r < world; ++r) ts.emplace_back(one, r);
    one(0);
    for (auto& t : ts) t.join();
    total += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    comm0 += comms[0] ? comms[0]->comm_seconds() - c0 : 0.0;
    ++step;
    images += o.batch_size;
  }
  state.counters["images_per_s"] = benchmark::Counter(double(images), benchmark::Counter::kIsRate);
  state.counters["allreduce_share"] = total > 0 ? comm0 / total : 0.0;
  at::set_num_threads(threads0);
}
BENCHMARK(BM_DataParallelResNet20)->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(8);

}  // namespace
