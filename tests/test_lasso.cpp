// The Lasso problem: gradient against finite differences and autograd, the reference F* against
// an independent solver (FISTA with restart on X vs coordinate descent on XᵀX/n), metrics on
// hand-made iterates, determinism, minibatches covering the data, artifacts.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "core/regularizer.h"
#include "harness/io.h"
#include "problems/lasso.h"
#include "tests/test_harness_support.h"

using namespace proxbench;
using problems::LassoProblem;

namespace {

std::unique_ptr<LassoProblem> make(nlohmann::json opts, uint64_t seed = 3) {
  return std::make_unique<LassoProblem>(core::OptionMap(opts, "problem 'lasso'"), seed);
}

core::EvalContext l1_ctx(double lambda) {
  return {core::make_regularizer("l1", core::OptionMap()), lambda, nullptr};
}

double metric(const core::Metrics& m, const std::string& name) {
  for (const auto& kv : m)
    if (kv.first == name) return kv.second;
  ADD_FAILURE() << "no metric " << name;
  return NAN;
}

}  // namespace

TEST(Lasso, GradientMatchesFiniteDifferencesAndAutograd) {
  auto p = make({{"n", 40}, {"p", 7}, {"k", 3}, {"batch_size", 40}, {"init", "random"}});
  p->begin_epoch(0, 1);
  p->select_batch(0);
  double loss = p->closure_loss(true).item<double>();
  auto theta = p->theta();
  auto grad = theta.grad().clone();
  // central differences
  for (int64_t j = 0; j < 7; ++j) {
    const double h = 1e-6;
    double* t = theta.data_ptr<double>();
    double old = t[j];
    t[j] = old + h;
    double fp = p->closure_loss(false).item<double>();
    t[j] = old - h;
    double fm = p->closure_loss(false).item<double>();
    t[j] = old;
    EXPECT_NEAR(grad[j].item<double>(), (fp - fm) / (2 * h), 1e-6) << "coordinate " << j;
  }
  // autograd on the full batch (the batch is all rows, in some order: the mean is the same)
  const auto& d = p->data();
  auto X = torch::from_blob(const_cast<double*>(d.X.data()), {40, 7}, torch::kDouble);
  auto y = torch::from_blob(const_cast<double*>(d.y.data()), {40}, torch::kDouble);
  auto th = theta.detach().clone().requires_grad_(true);
  auto f = 0.5 * (X.matmul(th) - y).pow(2).sum() / 40;
  f.backward();
  EXPECT_NEAR(f.item<double>(), loss, 1e-12);
  EXPECT_TRUE(torch::allclose(th.grad(), grad, 1e-10, 1e-12));
}

TEST(Lasso, MinibatchesOfAnEpochCoverTheData) {
  auto p = make({{"n", 50}, {"p", 5}, {"k", 2}, {"batch_size", 8}});
  ASSERT_EQ(p->batches_per_epoch(), 7);  // 6 of 8 and one of 2
  p->begin_epoch(2, 9);
  double weighted = 0;
  for (int64_t b = 0; b < 7; ++b) {
    p->select_batch(b);
    weighted += p->closure_loss(false).item<double>() * (b < 6 ? 8 : 2);
  }
  Eigen::VectorXd th = Eigen::Map<const Eigen::VectorXd>(p->theta().data_ptr<double>(), 5);
  EXPECT_NEAR(weighted / 50, problems::lasso_loss(p->data(), th, nullptr), 1e-12);
  EXPECT_THROW(p->select_batch(7), Error);
}

TEST(Lasso, ReferenceAgreesWithIndependentFista) {
  // coordinate descent (on XᵀX/n) vs FISTA with gradient restart (on X): n > p and p > n
  struct Case {
    int64_t n, p, k;
    double lambda, rho;
  };
  for (const Case& c : {Case{200, 50, 5, 0.05, 0.0}, Case{200, 50, 5, 0.005, 0.5}, Case{60, 120, 6, 0.1, 0.3}}) {
    problems::LassoDataOptions o;
    o.n = c.n, o.p = c.p, o.k = c.k, o.rho = c.rho;
    auto d = problems::make_lasso_data(o, 11);
    auto cd = problems::lasso_coordinate_descent(d, c.lambda, 1e-12);
    auto fi = problems::lasso_fista(d, c.lambda, 1e-11);
    SCOPED_TRACE("n=" + std::to_string(c.n) + " p=" + std::to_string(c.p) + " lambda=" + std::to_string(c.lambda));
    EXPECT_LE(cd.kkt, 1e-12);
    EXPECT_LE(fi.kkt, 1e-11);
    EXPECT_NEAR(cd.objective, fi.objective, 1e-12 * std::max(1.0, std::abs(cd.objective)));
    if (c.n > c.p) EXPECT_LE((cd.theta - fi.theta).norm(), 1e-8);  // unique minimizer
  }
}

TEST(Lasso, StationarityFormulaOnAHandMadeCase) {
  Eigen::VectorXd th(4), g(4);
  th << 1, 0, 0, -2;
  g << 0.5, 0.3, -0.05, 0.1;
  // |0.5+0.1|, max(0,|0.3|-0.1), max(0,|-0.05|-0.1), |0.1-0.1|
  EXPECT_NEAR(problems::l1_stationarity(th, g, 0.1), std::sqrt(0.36 + 0.04), 1e-15);
}

TEST(Lasso, SupportMetricsOnHandMadeIterates) {
  auto p = make({{"n", 100}, {"p", 20}, {"k", 4}, {"init", "zero"}, {"signs", "alternating"}, {"support", "first"}});
  const auto& ts = p->data().theta_star;
  for (int j = 0; j < 4; ++j) EXPECT_NE(ts[j], 0);
  EXPECT_EQ((ts.array() != 0).count(), 4);
  auto ctx = l1_ctx(0.05);
  double* t = p->theta().data_ptr<double>();
  // θ = 0: nothing found
  auto m = p->evaluate(ctx);
  EXPECT_EQ(metric(m, "nnz"), 0);
  EXPECT_EQ(metric(m, "support_precision"), 0);
  EXPECT_EQ(metric(m, "support_recall"), 0);
  EXPECT_EQ(metric(m, "support_f1"), 0);
  EXPECT_DOUBLE_EQ(metric(m, "sign_accuracy"), 16.0 / 20);
  EXPECT_NEAR(metric(m, "estimation_error"), ts.norm(), 1e-14);
  // θ = θ*: perfect recovery
  for (int j = 0; j < 20; ++j) t[j] = ts[j];
  m = p->evaluate(ctx);
  EXPECT_EQ(metric(m, "nnz"), 4);
  EXPECT_EQ(metric(m, "support_f1"), 1);
  EXPECT_EQ(metric(m, "sign_accuracy"), 1);
  EXPECT_EQ(metric(m, "estimation_error"), 0);
  // one miss (j=0), one false positive (j=10), one sign flip (j=1): TP=3, nnz=4
  t[0] = 0;
  t[10] = 0.5;
  t[1] = -ts[1];
  m = p->evaluate(ctx);
  EXPECT_EQ(metric(m, "nnz"), 4);
  EXPECT_DOUBLE_EQ(metric(m, "support_precision"), 0.75);
  EXPECT_DOUBLE_EQ(metric(m, "support_recall"), 0.75);
  EXPECT_DOUBLE_EQ(metric(m, "support_f1"), 0.75);
  EXPECT_DOUBLE_EQ(metric(m, "sign_accuracy"), 17.0 / 20);
  // objective = f + λ‖θ‖₁, suboptimality against the reference, exact stationarity at θ_ref ≈ 0
  Eigen::VectorXd th = Eigen::Map<const Eigen::VectorXd>(t, 20);
  EXPECT_NEAR(metric(m, "objective"), problems::lasso_loss(p->data(), th, nullptr) + 0.05 * th.lpNorm<1>(), 1e-14);
  const auto& ref = p->reference(0.05);
  EXPECT_NEAR(metric(m, "suboptimality"), metric(m, "objective") - ref.objective, 1e-14);
  for (int j = 0; j < 20; ++j) t[j] = ref.theta[j];
  m = p->evaluate(ctx);
  EXPECT_LE(metric(m, "stationarity"), 1e-11);
  EXPECT_NEAR(metric(m, "suboptimality"), 0.0, 1e-14);
  EXPECT_NEAR(p->describe()["f_star"].get<double>(), ref.objective, 0);
}

TEST(Lasso, LipschitzIsTheTopEigenvalueOfTheGram) {
  auto p = make({{"n", 80}, {"p", 12}, {"k", 3}, {"rho", 0.6}});
  const auto& d = p->data();
  auto X = torch::from_blob(const_cast<double*>(d.X.data()), {80, 12}, torch::kDouble);
  double top = at::linalg_eigvalsh(X.t().matmul(X) / 80, "L").max().item<double>();
  EXPECT_NEAR(p->lipschitz_constant(), top, 1e-12 * top);
}

TEST(Lasso, DeterministicFromSeedsAndOptionsValidated) {
  auto a = make({{"n", 30}, {"p", 6}, {"k", 2}}, 5), b = make({{"n", 30}, {"p", 6}, {"k", 2}}, 5);
  auto c = make({{"n", 30}, {"p", 6}, {"k", 2}}, 6);
  EXPECT_EQ(a->data().X, b->data().X);
  EXPECT_TRUE(torch::equal(a->theta(), b->theta()));
  EXPECT_NE(a->data().X, c->data().X);
  auto z = make({{"n", 30}, {"p", 6}, {"k", 2}, {"init", "zero"}});
  EXPECT_EQ(z->theta().abs().sum().item<double>(), 0);
  EXPECT_THROW(make({{"n", 30}, {"p", 6}, {"k", 7}}), Error);
  EXPECT_THROW(make({{"n", 30}, {"p", 6}, {"init", "ones"}}), Error);
  EXPECT_THROW(make({{"n", 30}, {"p", 6}, {"rho", 1.0}}), Error);
  try {
    make({{"n", 30}, {"pp", 6}});
    FAIL() << "unknown option accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'pp'"), std::string::npos) << e.what();
  }
}

TEST(Lasso, SaveDataWritesCsvFiles) {
  test_util::TempDir tmp;
  auto p = make({{"n", 10}, {"p", 4}, {"k", 2}, {"save_data", true}});
  p->save_artifacts(tmp.path.string());
  for (const char* f : {"X.csv", "y.csv", "theta_star.csv", "theta_hat.csv", "estimate.csv"})
    EXPECT_TRUE(std::filesystem::exists(tmp.path / f)) << f;
  auto est = harness::read_csv((tmp.path / "estimate.csv").string());
  ASSERT_EQ(est.rows.size(), 4u);
  EXPECT_EQ(est.values("theta_hat")[2], p->theta()[2].item<double>());
  auto xs = harness::read_text((tmp.path / "X.csv").string());
  EXPECT_EQ(std::count(xs.begin(), xs.end(), '\n'), 10);
}
