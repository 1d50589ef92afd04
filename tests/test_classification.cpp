// The classification problem on small synthetic data: options, param groups, closure gradients,
// seeded batches, evaluate() metrics, pruning sweep, checkpoint round trip.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include <unistd.h>

#include "core/common.h"
#include "core/regularizer.h"
#include "problems/classification.h"

using namespace proxbench;
using namespace proxbench::problems;
namespace fs = std::filesystem;

namespace {

ClassificationOptions tiny(const std::string& model = "resnet20") {
  ClassificationOptions o;
  o.dataset = "synthetic";
  o.model = model;
  o.synthetic_train = 96;
  o.synthetic_test = 48;
  o.synthetic_size = 8;
  o.synthetic_classes = 4;
  o.batch_size = 32;
  o.augment = true;
  return o;
}

// Plain gradient steps (no optimizer object) over batches [b0, b1) of `epoch`.
void sgd_steps(ClassificationProblem& p, int64_t epoch, int64_t b0, int64_t b1, double lr, bool begin = true) {
  if (begin) p.begin_epoch(epoch, 11);
  for (int64_t b = b0; b < b1; ++b) {
    p.select_batch(b);
    p.closure_loss(true);
    torch::NoGradGuard g;
    for (auto& grp : p.parameter_groups())
      for (auto& t : grp.params) t.sub_(t.grad(), lr);
  }
}

double metric(const core::Metrics& m, const std::string& k) {
  for (const auto& kv : m)
    if (kv.first == k) return kv.second;
  ADD_FAILURE() << "metric " << k << " missing";
  return NAN;
}

std::string error_of(const nlohmann::json& j) {
  try {
    ClassificationOptions::from(core::OptionMap(j, "problem 'classification'"));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Classification, OptionErrorsNameTheKey) {
  EXPECT_NE(error_of({{"dataset", "mnist"}}).find("'dataset' = 'mnist'"), std::string::npos);
  EXPECT_NE(error_of({{"model", "resnet99"}}).find("'model'"), std::string::npos);
  EXPECT_NE(error_of({{"batch_size", 0}}).find("'batch_size' = 0 must be >= 1"), std::string::npos);
  EXPECT_NE(error_of({{"batchsize", 4}}).find("batchsize"), std::string::npos);
  if (!torch::cuda::is_available())
    EXPECT_NE(error_of({{"device", "cuda"}}).find("no CUDA device"), std::string::npos);
  auto c = ClassificationOptions::from(core::OptionMap({{"dataset", "cifar10"}}, "p"));
  EXPECT_TRUE(c.augment);  // CIFAR protocol by default
  EXPECT_FALSE(ClassificationOptions::from(core::OptionMap({{"dataset", "synthetic"}}, "p")).augment);
}

TEST(Classification, RegistryBuildsFromOptionMap) {
  core::OptionMap o({{"dataset", "synthetic"}, {"synthetic_train", 40}, {"synthetic_test", 20},
                     {"synthetic_size", 8}, {"batch_size", 16}},
                    "problem 'classification'");
  auto p = core::problem_registry().get("classification").make(o, 3);
  EXPECT_EQ(p->name(), "classification");
  EXPECT_EQ(p->batches_per_epoch(), 3);  // 40 / 16, last batch partial
}

TEST(Classification, ParamGroupsSplitConvLinearWeightsFromBiasAndBatchNorm) {
  ClassificationProblem p(tiny(), 1);
  auto g = p.parameter_groups();
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].name, "weights");
  EXPECT_TRUE(g[0].regularized);
  EXPECT_FALSE(g[1].regularized);
  int64_t n = 0;
  for (const auto& t : g[0].params) {
    EXPECT_GE(t.dim(), 2);  // conv / linear weights only
    n += t.numel();
  }
  for (const auto& t : g[1].params) {
    EXPECT_EQ(t.dim(), 1);
    n += t.numel();
  }
  EXPECT_EQ(n, count_parameters(p.model()));
  EXPECT_EQ(g[0].params.size(), 20u);  // ResNet-20: 19 convs + FC
  auto o = tiny();
  o.regularize_bias_bn = true;
  ClassificationProblem q(o, 1);
  EXPECT_EQ(q.parameter_groups().size(), 1u);
  EXPECT_EQ(q.regularized().size(), q.model().parameters().size());
}

TEST(Classification, ClosureGivesFiniteGradientsAndSameLossWithoutGrad) {
  ClassificationProblem p(tiny(), 2);
  p.begin_epoch(0, 5);
  p.select_batch(1);
  auto l1 = p.closure_loss(true).item<double>();
  auto l2 = p.closure_loss(false).item<double>();
  EXPECT_TRUE(std::isfinite(l1));
  EXPECT_NEAR(l1, l2, 1e-5);
  EXPECT_NEAR(l1, std::log(4.0), 1.0);  // near chance at initialization
  double gsq = 0;
  for (const auto& t : p.model().parameters()) {
    ASSERT_TRUE(t.grad().defined());
    EXPECT_TRUE(torch::isfinite(t.grad()).all().item<bool>());
    gsq += t.grad().pow(2).sum().item<double>();
  }
  EXPECT_GT(gsq, 0);
  // the second gradient call zeroes first: the same gradient again
  auto g0 = p.model().parameters()[0].grad().clone();
  p.closure_loss(true);
  EXPECT_TRUE(torch::allclose(g0, p.model().parameters()[0].grad(), 1e-5, 1e-6));
}

TEST(Classification, BatchesArePureFunctionsOfSeedEpochIndex) {
  ClassificationProblem p(tiny(), 2);
  p.set_training(false);  // same BN path for every call
  p.begin_epoch(3, 9);
  p.select_batch(2);
  auto a = p.closure_loss(false).item<double>();
  p.begin_epoch(0, 9);
  p.select_batch(2);
  auto b = p.closure_loss(false).item<double>();
  p.begin_epoch(3, 9);
  p.select_batch(0);
  p.select_batch(2);
  auto c = p.closure_loss(false).item<double>();
  EXPECT_EQ(a, c);
  EXPECT_NE(a, b);
  EXPECT_THROW(p.select_batch(3), Error);
}

TEST(Classification, LearnsAndEvaluateReportsMetrics) {
  auto o = tiny();
  o.augment = false;
  ClassificationProblem p(o, 4);
  auto reg = core::make_regularizer("l1", core::OptionMap());
  core::EvalContext ctx{reg, 1e-3, nullptr};
  auto m0 = p.evaluate(ctx);
  for (int e = 0; e < 4; ++e) sgd_steps(p, e, 0, p.batches_per_epoch(), 0.05);
  auto m1 = p.evaluate(ctx);
  EXPECT_LT(metric(m1, "train_loss"), metric(m0, "train_loss"));
  EXPECT_GT(metric(m1, "test_accuracy"), 60.0);
  EXPECT_TRUE(std::isfinite(metric(m1, "train_loss_running")));
  double r = 0;
  for (const auto& kv : p.regularized()) r += kv.second.abs().sum().item<double>();
  EXPECT_NEAR(metric(m1, "regularizer"), r, 1e-6 * r);
  EXPECT_NEAR(metric(m1, "objective"), metric(m1, "train_loss") + 1e-3 * r, 1e-9 * r);
  EXPECT_EQ(metric(m1, "pct_zero"), 0.0);
  // zero out one layer entirely: its per-layer metric is 100 and the total follows
  auto& fc = p.regularized().back();
  EXPECT_EQ(fc.first, "fc.weight");
  {
    torch::NoGradGuard g;
    fc.second.zero_();
  }
  auto m2 = p.evaluate(ctx);
  EXPECT_EQ(metric(m2, "layer/fc/pct_zero"), 100.0);
  int64_t total = 0;
  for (const auto& kv : p.regularized()) total += kv.second.numel();
  EXPECT_NEAR(metric(m2, "pct_zero"), 100.0 * double(fc.second.numel()) / double(total), 1e-9);
  EXPECT_GE(metric(m2, "pct_small"), metric(m2, "pct_zero"));
}

TEST(Classification, PruningSweepMonotoneAndRestoresWeights) {
  ClassificationProblem p(tiny(), 5);
  sgd_steps(p, 0, 0, 2, 0.05);
  std::vector<torch::Tensor> before;
  for (const auto& kv : p.regularized()) before.push_back(kv.second.detach().clone());
  auto m = p.final_metrics(core::EvalContext{});
  ASSERT_EQ(m.size(), 17u);  // 8 × (accuracy, %zero) + test_error
  EXPECT_NEAR(metric(m, "test_error"), 100.0 - p.test_accuracy_and_loss().first, 1e-12);
  double prev = 101;
  for (int k = 1; k <= 8; ++k) {
    const double z = metric(m, "prune/1e-" + std::to_string(k) + "/pct_zero");
    EXPECT_LE(z, prev);
    prev = z;
    const double acc = metric(m, "prune/1e-" + std::to_string(k) + "/test_accuracy");
    EXPECT_GE(acc, 0.0);
    EXPECT_LE(acc, 100.0);
  }
  EXPECT_GT(metric(m, "prune/1e-1/pct_zero"), 50.0);  // He-init weights of wide layers are mostly < 0.1
  EXPECT_LT(metric(m, "prune/1e-8/pct_zero"), 1.0);
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(before[i].equal(p.regularized()[i].second));
}

TEST(Classification, SaveLoadStateResumeEqualsUninterrupted) {
  const auto path = (fs::temp_directory_path() / ("pb_cls_state_" + std::to_string(::getpid()) + ".pt")).string();
  ClassificationProblem a(tiny(), 6);
  sgd_steps(a, 0, 0, 2, 0.05);
  {
    torch::serialize::OutputArchive ar;
    a.save_state(ar);
    ar.save_to(path);
  }
  sgd_steps(a, 0, 2, 3, 0.05, /*begin=*/false);
  sgd_steps(a, 1, 0, 3, 0.05);
  ClassificationProblem b(tiny(), 123);  // other initialization, overwritten by the checkpoint
  auto keep = b.model().parameters()[0];
  {
    torch::serialize::InputArchive ar;
    ar.load_from(path);
    b.load_state(ar);
  }
  EXPECT_TRUE(keep.is_same(b.model().parameters()[0]));  // copied in place
  sgd_steps(b, 0, 2, 3, 0.05, /*begin=*/false);
  sgd_steps(b, 1, 0, 3, 0.05);
  auto pa = a.model().named_parameters(), pb = b.model().named_parameters();
  for (const auto& kv : pa) EXPECT_TRUE(kv.value().equal(pb[kv.key()])) << kv.key();
  auto ba = a.model().named_buffers(), bb = b.model().named_buffers();
  for (const auto& kv : ba) EXPECT_TRUE(kv.value().equal(bb[kv.key()])) << kv.key();
  // a checkpoint of another model is refused with a message naming both
  ClassificationProblem c(tiny("resnet32"), 1);
  torch::serialize::InputArchive ar;
  ar.load_from(path);
  try {
    c.load_state(ar);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("resnet20"), std::string::npos) << e.what();
  }
  fs::remove(path);
}

TEST(Classification, FashionMnistSubsetIfInstalled) {
  if (!fs::exists(std::string(default_fashion_mnist_dir()) + "/train-images-idx3-ubyte.gz"))
    GTEST_SKIP() << "Debian package dataset-fashion-mnist not installed";
  core::OptionMap o({{"subset", 256}, {"test_subset", 100}, {"batch_size", 64}}, "problem 'classification'");
  ClassificationProblem p(ClassificationOptions::from(o), 1);
  EXPECT_EQ(p.train_data().size(), 256);
  EXPECT_EQ(p.test_data().size(), 100);
  EXPECT_EQ(p.batches_per_epoch(), 4);
  EXPECT_EQ(p.train_data().channels(), 1);
  p.begin_epoch(0, 1);
  p.select_batch(0);
  EXPECT_TRUE(std::isfinite(p.closure_loss(true).item<double>()));
}

// Hard-concrete L0 gates (Louizos et al. 2018): one gate per conv output channel / linear input,
// the expected-L0 penalty against the closed form σ(log α − β log(−γ/ζ)) written out here, the
// deterministic test-time gates in the metrics, and the rule that the run's regularizer is none.
TEST(ClassificationGates, HardConcreteGatesPenaltyAndMetrics) {
  auto o = tiny();
  o.augment = false;
  o.l0_gates = "hard_concrete";
  ClassificationProblem p(o, 6);
  auto none = core::make_regularizer("none", core::OptionMap());
  const double lambda = 1e-3;
  p.set_objective(none, lambda);
  EXPECT_THROW(p.set_objective(core::make_regularizer("l1", core::OptionMap()), lambda), Error);
  auto groups = p.parameter_groups();
  EXPECT_FALSE(groups[0].regularized);  // the gates carry the penalty
  // one gate per output channel (4-D conv weight) or input (2-D linear weight)
  const auto& la = p.gate_log_alphas();
  ASSERT_EQ(la.size(), p.regularized().size());
  long double expected = 0;
  const long double shift = (2.0L / 3.0L) * std::log(0.1L / 1.1L);
  for (size_t i = 0; i < la.size(); ++i) {
    const auto& w = p.regularized()[i].second;
    ASSERT_EQ(la[i].numel(), w.dim() == 4 ? w.size(0) : w.size(1)) << p.regularized()[i].first;
    EXPECT_LT(std::abs(la[i].mean().item<double>()), 0.05);  // log((1−0.5)/0.5) = 0, noise 0.01
    auto a = la[i].to(torch::kFloat64);
    for (int64_t g = 0; g < a.numel(); ++g)
      expected +=
          (long double)(w.numel() / la[i].numel()) / (1.0L + std::exp(-((long double)a[g].item<double>() - shift)));
  }
  EXPECT_NEAR(p.expected_l0().item<double>(), double(expected), 1e-6 * double(expected));  // float32 σ
  // the penalty's gradient reaches log α; the weights get gradients too
  p.begin_epoch(0, 6);
  p.select_batch(0);
  auto loss = p.closure_loss(true);
  EXPECT_TRUE(std::isfinite(loss.item<double>()));
  EXPECT_GT(loss.item<double>(), lambda * 0.5 * double(expected));
  for (const auto& t : la) ASSERT_TRUE(t.grad().defined() && t.grad().abs().sum().item<double>() > 0);
  EXPECT_GT(p.regularized()[0].second.grad().abs().sum().item<double>(), 0);
  // close the first conv's first two channels: z = clamp(σ(−10)·1.2 − 0.1, 0, 1) = 0
  {
    torch::NoGradGuard g;
    torch::Tensor first = la[0];  // shares the storage of the gate parameter
    first.index_put_({torch::indexing::Slice(0, 2)}, -10.0);
  }
  core::EvalContext ctx{none, lambda, nullptr};
  auto m = p.evaluate(ctx);
  int64_t nnz = 0, total = 0;
  for (size_t i = 0; i < la.size(); ++i) {
    auto z = (torch::sigmoid(la[i].detach()) * 1.2 - 0.1).clamp(0.0, 1.0);
    const auto& w = p.regularized()[i].second.detach();
    auto eff = w.dim() == 4 ? w * z.view({-1, 1, 1, 1}) : w * z.view({1, -1});
    nnz += eff.ne(0).sum().item<int64_t>();
    total += w.numel();
  }
  const int64_t closed = p.regularized()[0].second[0].numel() * 2;
  EXPECT_EQ(metric(m, "regularizer"), double(nnz));
  EXPECT_LE(nnz, total - closed);
  EXPECT_NEAR(metric(m, "objective"), metric(m, "train_loss") + lambda * double(nnz), 1e-9 * double(nnz));
  EXPECT_NEAR(metric(m, "pct_zero"), 100.0 * double(total - nnz) / double(total), 1e-9);
  EXPECT_LT(metric(m, "gates_open_pct"), 100.0);
  // the raw weights are back in the modules after evaluation: an ungated forward equals the model's
  for (const auto& mod : p.model().modules(false))
    if (auto* c = mod->as<torch::nn::Conv2d>()) {
      bool found = false;
      for (const auto& kv : p.regularized()) found = found || c->weight.is_same(kv.second);
      EXPECT_TRUE(found);
    }
  EXPECT_NE(error_of({{"l0_gates", "soft"}}).find("must be none or hard_concrete"), std::string::npos);
}

TEST(ClassificationGates, WarmStartAndBinarizedEvaluation) {
  auto o = tiny();
  o.augment = false;
  ClassificationProblem cold(o, 7);
  o.warm_start_epochs = 2;
  o.warm_start_lr = 0.01;
  o.binarize_eval = true;
  ClassificationProblem warm(o, 7);
  // same seed, same initialization; the warm start trained it
  EXPECT_FALSE(cold.regularized()[0].second.equal(warm.regularized()[0].second));
  ClassificationProblem warm2(o, 7);  // the warm start is a pure function of (options, seed)
  for (size_t i = 0; i < warm.regularized().size(); ++i)
    EXPECT_TRUE(warm.regularized()[i].second.equal(warm2.regularized()[i].second));
  core::EvalContext ctx{};
  std::vector<torch::Tensor> before;
  for (const auto& kv : warm.regularized()) before.push_back(kv.second.detach().clone());
  auto m = warm.final_metrics(ctx);
  EXPECT_NEAR(metric(m, "warm_start/test_error"), 100.0 - metric(m, "warm_start/test_accuracy"), 1e-12);
  EXPECT_NEAR(metric(m, "warm_start/test_error"), metric(m, "test_error"), 1e-12);  // no training since
  EXPECT_NEAR(metric(m, "binary/test_error"), 100.0 - metric(m, "binary/test_accuracy"), 1e-12);
  for (size_t i = 0; i < before.size(); ++i) EXPECT_TRUE(before[i].equal(warm.regularized()[i].second));
  // the binarized accuracy is the accuracy with sign(w) in place
  {
    torch::NoGradGuard g;
    for (const auto& kv : warm.regularized()) kv.second.copy_(torch::sign(kv.second));
  }
  EXPECT_NEAR(metric(m, "binary/test_accuracy"), warm.test_accuracy_and_loss().first, 1e-12);
}
