// Data parallelism through c10d Gloo over loopback (core/distributed.h, issue 16).
//  - In one test process, 2 ranks (threads, each with its own process group, problem and optimizer)
//    train N steps: the parameters of both ranks are bitwise identical, and equal (to round-off)
//    those of one process over the same global minibatches, for ProxGen, Prox-SGD, SR2 (the same
//    accept/reject sequence) and subgradient Adam on the Lasso, and ProxGen on the classification
//    problem (BatchNorm frozen in eval mode: per-slice batch statistics would differ from the
//    global batch's by design). BatchNorm buffers are equal on both ranks after evaluate().
//  - Bucketing: many tensors in small buckets sum exactly like one call per tensor.
//  - The CLI: `proxbench run --nproc 2` writes the same store as one process (rank 0 only), and a
//    rank killed mid-run ends the other with a data-parallel error in summary.json, no hang.
#include <gtest/gtest.h>
#include <torch/version.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "core/distributed.h"
#include "core/optimizer.h"
#include "core/problem.h"
#include "core/regularizer.h"
#include "harness/io.h"
#include "problems/classification.h"
#include "tests/test_harness_support.h"

using namespace proxbench;
using nlohmann::json;
namespace fs = std::filesystem;

// Without c10d Gloo: a failure in the CPU build (Debian's LibTorch 1.13 + libgloo-dev, where the
// ctest must not pass silently), a visible skip in the CUDA build against a LibTorch 2.x wheel,
// which is configured without Gloo (CMakeLists.txt: PROXBENCH_GLOO; NCCL there needs a GPU).
#if TORCH_VERSION_MAJOR >= 2
#define REQUIRE_GLOO() \
  if (!core::have_c10d_gloo()) GTEST_SKIP() << "this CUDA/LibTorch 2.x build has no c10d Gloo (PROXBENCH_GLOO=OFF)"
#else
#define REQUIRE_GLOO() \
  if (!core::have_c10d_gloo()) GTEST_FAIL() << "this build has no c10d Gloo (install libgloo-dev and reconfigure)"
#endif

namespace {

core::DistributedEnv env_of(int rank, int world, int port) {
  core::DistributedEnv e;
  e.rank = rank, e.world = world, e.master_port = port, e.timeout_s = 60;
  return e;
}

/// Runs f(rank, comm) on `world` threads, each with its own c10d process group.
void on_ranks(int world, const std::function<void(int, core::Communicator&)>& f) {
  const int port = core::free_local_port();
  std::vector<std::thread> ts;
  std::vector<std::string> errors(world);
  for (int r = 0; r < world; ++r)
    ts.emplace_back([&, r] {
      try {
        auto c = core::make_c10d_communicator(env_of(r, world, port));
        f(r, *c);
        c->barrier();
      } catch (const std::exception& e) {
        errors[r] = e.what();
      }
    });
  for (auto& t : ts) t.join();
  for (int r = 0; r < world; ++r) EXPECT_EQ(errors[r], "") << "rank " << r;
}

struct Trained {
  std::vector<torch::Tensor> params;
  std::vector<bool> accepted;
  std::vector<double> losses;
};

using MakeProblem = std::function<std::unique_ptr<core::Problem>()>;

/// `steps` steps of optimizer `name` (l1, λ) over the problem's epochs; comm may be nullptr.
Trained train(core::Problem& p, const std::string& name, const json& options, double lambda, int steps,
              core::Communicator* comm, bool eval_mode) {
  if (comm) dynamic_cast<core::DataParallelProblem&>(p).set_data_parallel(comm);
  auto reg = core::make_regularizer("l1", core::OptionMap(json::object(), "l1"));
  std::vector<core::ParamGroupSpec> groups;
  for (auto& g : p.parameter_groups())
    groups.push_back({g.params, g.regularized ? reg : nullptr, g.regularized ? lambda : 0.0});
  auto opt = core::make_optimizer(name, groups, core::OptionMap(options, name));
  auto closure = core::data_parallel_closure(p, comm);
  p.set_training(!eval_mode);
  Trained out;
  for (int64_t e = 0, s = 0; s < steps; ++e) {
    p.begin_epoch(e, 7);
    for (int64_t b = 0; b < p.batches_per_epoch() && s < steps; ++b, ++s) {
      p.select_batch(b);
      opt->step(closure);
      out.accepted.push_back(opt->last_stats().accepted);
      out.losses.push_back(opt->last_stats().loss);
    }
  }
  for (auto& g : p.parameter_groups())
    for (auto& t : g.params) out.params.push_back(t.detach().clone());
  return out;
}

void check_data_parallel(const MakeProblem& make, const std::string& name, const json& options, double lambda,
                         int steps, double rtol, double atol, bool eval_mode = false) {
  SCOPED_TRACE(name);
  auto single_problem = make();
  Trained single = train(*single_problem, name, options, lambda, steps, nullptr, eval_mode);
  std::vector<std::unique_ptr<core::Problem>> problems;
  for (int r = 0; r < 2; ++r) problems.push_back(make());  // built here: model init uses the global RNG
  std::vector<Trained> ranks(2);
  on_ranks(2, [&](int r, core::Communicator& c) {
    ranks[r] = train(*problems[r], name, options, lambda, steps, &c, eval_mode);
  });
  ASSERT_EQ(ranks[0].params.size(), single.params.size());
  ASSERT_EQ(ranks[1].params.size(), single.params.size());
  for (size_t i = 0; i < single.params.size(); ++i) {
    EXPECT_TRUE(torch::equal(ranks[0].params[i], ranks[1].params[i])) << "tensor " << i << " differs between ranks";
    EXPECT_TRUE(torch::allclose(ranks[0].params[i], single.params[i], rtol, atol))
        << "tensor " << i
        << ": max |2 ranks - 1 process| = " << (ranks[0].params[i] - single.params[i]).abs().max().item<double>();
  }
  EXPECT_EQ(ranks[0].accepted, single.accepted);
  EXPECT_EQ(ranks[1].accepted, single.accepted);
  EXPECT_EQ(ranks[0].losses, ranks[1].losses);  // the reduced minibatch loss is the same on both ranks
  for (size_t i = 0; i < single.losses.size(); ++i)
    EXPECT_NEAR(ranks[0].losses[i], single.losses[i], 1e-6 * (1 + std::abs(single.losses[i])));
}

MakeProblem lasso(int64_t batch = 15) {
  return [batch] {
    json o = {{"n", 90}, {"p", 24}, {"k", 4}, {"batch_size", batch}};
    return core::problem_registry().get("lasso").make(core::OptionMap(o, "lasso"), 3);
  };
}

problems::ClassificationOptions tiny_net() {
  problems::ClassificationOptions o;
  o.dataset = "synthetic";
  o.model = "resnet20";
  o.synthetic_train = 64;
  o.synthetic_test = 32;
  o.synthetic_size = 8;
  o.synthetic_channels = 1;
  o.synthetic_classes = 4;
  o.batch_size = 16;
  o.augment = true;
  return o;
}

}  // namespace

TEST(DataParallel, LassoTwoRanksEqualOneProcess) {
  REQUIRE_GLOO();
  // an odd batch (15 = 7 + 8) and a short last batch (90 = 6 x 15): unequal slices
  check_data_parallel(lasso(), "proxgen", {{"lr", 0.02}}, 0.05, 12, 1e-9, 1e-12);
  check_data_parallel(lasso(), "prox_sgd", {{"lr", 0.05}}, 0.05, 12, 1e-9, 1e-12);
  check_data_parallel(lasso(), "subgradient_adam", {{"lr", 0.02}}, 0.05, 12, 1e-9, 1e-12);
  check_data_parallel(lasso(), "sr2", json::object(), 0.05, 12, 1e-9, 1e-12);
}

TEST(DataParallel, Sr2RejectsAlikeOnBothRanks) {
  REQUIRE_GLOO();
  // sigma_0 small: the first steps are too long and get rejected, then accepted
  auto p = lasso()();
  Trained t = train(*p, "sr2", {{"sigma0", 1e-3}}, 0.05, 10, nullptr, false);
  ASSERT_NE(std::count(t.accepted.begin(), t.accepted.end(), false), 0) << "no rejection to compare";
  check_data_parallel(lasso(), "sr2", {{"sigma0", 1e-3}}, 0.05, 10, 1e-9, 1e-12);
}

TEST(DataParallel, ClassificationTwoRanksEqualOneProcess) {
  REQUIRE_GLOO();
  auto make = [] { return std::make_unique<problems::ClassificationProblem>(tiny_net(), 5); };
  // BatchNorm frozen (eval mode) so that a slice's gradient is its share of the global one
  check_data_parallel(make, "proxgen", {{"lr", 0.01}}, 1e-3, 6, 1e-4, 1e-6, /*eval_mode=*/true);
}

TEST(DataParallel, BatchNormBuffersAreBroadcastBeforeEvaluation) {
  REQUIRE_GLOO();
  std::vector<std::unique_ptr<problems::ClassificationProblem>> ps;
  for (int r = 0; r < 2; ++r) ps.push_back(std::make_unique<problems::ClassificationProblem>(tiny_net(), 5));
  std::vector<std::vector<torch::Tensor>> before(2), after(2);
  std::vector<core::Metrics> metrics(2);
  on_ranks(2, [&](int r, core::Communicator& c) {
    train(*ps[r], "proxgen", {{"lr", 0.01}}, 1e-3, 3, &c, false);  // train mode: per-slice BN statistics
    for (const auto& b : ps[r]->model().buffers()) before[r].push_back(b.clone());
    metrics[r] = ps[r]->evaluate(core::EvalContext{});
    for (const auto& b : ps[r]->model().buffers()) after[r].push_back(b.clone());
  });
  ASSERT_FALSE(before[0].empty());
  bool differed = false;
  for (size_t i = 0; i < before[0].size(); ++i) {
    differed |= !torch::equal(before[0][i], before[1][i]);
    EXPECT_TRUE(torch::equal(after[0][i], after[1][i])) << "buffer " << i;
    EXPECT_TRUE(torch::equal(after[1][i], before[0][i])) << "buffer " << i << " is not rank 0's";
  }
  EXPECT_TRUE(differed) << "the ranks' running statistics should differ before the broadcast";
  ASSERT_EQ(metrics[0].size(), metrics[1].size());
  for (size_t i = 0; i < metrics[0].size(); ++i) EXPECT_EQ(metrics[0][i], metrics[1][i]);
}

TEST(DataParallel, BucketsSumLikeOneCallPerTensor) {
  REQUIRE_GLOO();
  std::vector<std::vector<torch::Tensor>> ts(2);
  // drawn once, before the rank threads: two threads seeding and drawing from LibTorch's global
  // generator at once get interleaved draws (this test failed that way under the sanitizers)
  torch::manual_seed(0);
  const std::vector<torch::Tensor> ref = {torch::randn({17, 5}),    torch::randn({300}),
                                          torch::randn({3}, torch::kDouble),
                                          torch::randn({2, 2}).t(), torch::zeros({0}),
                                          torch::randn({}, torch::kDouble)};
  on_ranks(2, [&](int r, core::Communicator& c) {
    c.set_bucket_bytes(1000);  // several buckets; float and double tensors in separate ones
    std::vector<torch::Tensor> v;
    for (const auto& t : ref) v.push_back(t.clone().mul_(r + 1));  // clone keeps the transposed strides
    ts[r] = v;
    int64_t calls = c.comm_calls();
    c.allreduce_sum(v);
    EXPECT_GE(c.comm_calls() - calls, 3);
    EXPECT_LT(c.comm_calls() - calls, 6);
  });
  for (int r = 0; r < 2; ++r)
    for (size_t i = 0; i < ref.size(); ++i)
      EXPECT_TRUE(torch::allclose(ts[r][i], ref[i] * 3)) << "rank " << r << " tensor " << i;
}

TEST(DataParallel, CliNprocWritesTheSameStoreAsOneProcess) {
  REQUIRE_GLOO();
  test_util::TempDir tmp;
  test_util::write_file(
      tmp.path / "dp.yaml",
      "name: dp\nproblem: {name: lasso, n: 60, p: 12, k: 3, batch_size: 15}\nregularizer: {name: l1}\n"
      "lambda: 0.05\noptimizers:\n  - {name: proxgen, options: {lr: 0.02}}\n  - {name: sr2}\n"
      "seeds: 1\nbudget: {epochs: 3}\n");
  std::string out;
  const std::string y = "'" + (tmp.path / "dp.yaml").string() + "'";
  ASSERT_EQ(test_util::run_cli("run " + y + " --quiet --out '" + (tmp.path / "one").string() + "'", &out), 0) << out;
  ASSERT_EQ(test_util::run_cli("run " + y + " --quiet --nproc 2 --out '" + (tmp.path / "two").string() + "'", &out,
                               "PROXBENCH_DIST_TIMEOUT=60"),
            0)
      << out;
  int n = 0;
  for (const auto& e : fs::directory_iterator(tmp.path / "one" / "dp")) {
    if (!e.is_directory()) continue;
    ++n;
    const fs::path other = tmp.path / "two" / "dp" / e.path().filename();
    auto a = json::parse(harness::read_text((e.path() / "summary.json").string()));
    auto b = json::parse(harness::read_text((other / "summary.json").string()));
    EXPECT_EQ(b["status"], "completed") << b.dump();
    EXPECT_EQ(b["context"]["data_parallel"]["world_size"], 2);
    EXPECT_EQ(a["counters"], b["counters"]);
    for (auto it = a["metrics"].begin(); it != a["metrics"].end(); ++it)
      if (it.value().is_number())
        EXPECT_NEAR(it.value().get<double>(), b["metrics"][it.key()].get<double>(),
                    1e-8 * (1 + std::abs(it.value().get<double>())))
            << it.key();
    auto ta = harness::read_csv((e.path() / "trajectory.csv").string());
    auto tb = harness::read_csv((other / "trajectory.csv").string());
    EXPECT_EQ(ta.rows.size(), tb.rows.size());
    EXPECT_EQ(ta.values("accepted").size(), tb.values("accepted").size());
  }
  EXPECT_EQ(n, 2);
}

TEST(DataParallel, KilledRankEndsTheOtherWithAnError) {
  REQUIRE_GLOO();
  test_util::TempDir tmp;
  test_util::write_file(tmp.path / "k.yaml",
                        "name: k\nproblem: {name: lasso, n: 60, p: 12, k: 3, batch_size: 15}\nregularizer: {name: l1}\n"
                        "lambda: 0.05\noptimizers:\n  - {name: proxgen, options: {lr: 0.02}}\nseeds: 2\n"
                        "budget: {epochs: 50}\n");
  for (const char* victim : {"1", "0"}) {
    SCOPED_TRACE(std::string("killed rank ") + victim);
    std::string out;
    const fs::path res = tmp.path / (std::string("res") + victim);
    int rc = test_util::run_cli(
        "run '" + (tmp.path / "k.yaml").string() + "' --quiet --nproc 2 --out '" + res.string() + "'", &out,
        std::string("PROXBENCH_DIST_TIMEOUT=20 PROXBENCH_DIST_DIE=") + victim + ":5");
    EXPECT_NE(rc, 0) << out;
    EXPECT_NE(out.find(std::string("rank ") + victim + " was killed by signal 9"), std::string::npos) << out;
    // the survivor recorded the failure of the first run and stopped the sweep
    int errors = 0, others = 0;
    for (const auto& e : fs::directory_iterator(res / "k")) {
      if (!e.is_directory() || !fs::exists(e.path() / "summary.json")) continue;
      auto s = json::parse(harness::read_text((e.path() / "summary.json").string()));
      if (s["status"] == "error") {
        ++errors;
        EXPECT_NE(s["message"].get<std::string>().find("data parallel: "), std::string::npos) << s["message"];
        EXPECT_EQ(s["final"]["step"], 5) << s.dump();
      } else {
        ++others;
      }
    }
    EXPECT_EQ(errors, 1) << out;
    EXPECT_EQ(others, 0) << out;
  }
}
