// Behaviour of the optimizers beyond one step: float32 vs float64 trajectories, SR2's ratio test
// and σ rules with the exact closure call count, Prox-SGD's convex combination (no exact zeros in θ,
// exact zeros in x̂), ProxGen's exact zeros, save → load → continue bit for bit, probes on/off,
// the σ0 estimate, and the option validation messages.
#include <gtest/gtest.h>

#include <sstream>

#include "core/optimizer.h"
#include "optimizers/prox_sgd.h"
#include "optimizers/sr2.h"

using namespace proxbench;

namespace {

/// f(θ) = mean_i ½ a_i (θ_i − c_i)²; the closure sets the gradient and counts its calls.
struct Quadratic {
  torch::Tensor a, c;
  int calls = 0;
  Quadratic(int64_t n, torch::ScalarType dt, uint64_t seed) {
    torch::manual_seed(seed);
    a = (torch::rand({n}, torch::kDouble) + 0.5).to(dt);
    c = torch::randn({n}, torch::kDouble).to(dt);
  }
  torch::optim::Optimizer::LossClosure closure(torch::Tensor p) {
    return [this, p]() mutable {
      ++calls;
      torch::NoGradGuard ng;
      auto d = p.detach() - c;
      p.mutable_grad() = a * d / double(p.numel());
      return (0.5 * a * d * d).mean();
    };
  }
};

torch::Tensor start_point(int64_t n, torch::ScalarType dt, uint64_t seed) {
  torch::manual_seed(seed);
  return torch::randn({n}, torch::kDouble).to(dt).requires_grad_(true);
}

std::unique_ptr<core::ProxOptimizer> make(const std::string& opt, torch::Tensor p, const std::string& reg, double lam,
                                          nlohmann::json o = nlohmann::json::object()) {
  core::ParamGroupSpec g{{p}, core::make_regularizer(reg, core::OptionMap()), lam};
  return core::make_optimizer(opt, {g}, core::OptionMap(o));
}

nlohmann::json small_lr(const std::string& opt) {
  if (opt == "sr2") return {{"sigma0", 1.0}};
  if (opt == "prox_sgd") return {{"lr", 0.5}};
  if (opt == "subgradient_sgd") return {{"lr", 0.5}};
  return {{"lr", 0.05}};
}

class OptimEach : public ::testing::TestWithParam<std::string> {};

TEST_P(OptimEach, Float32TrajectoryFollowsFloat64) {
  const std::string opt = GetParam();
  if (opt.rfind("test_", 0) == 0) GTEST_SKIP() << "'" << opt << "' is a test-only optimizer of the harness tests";
  const int64_t n = 200;
  torch::Tensor res[2];
  torch::ScalarType dts[2] = {torch::kFloat, torch::kDouble};
  for (int k = 0; k < 2; ++k) {
    Quadratic q(n, dts[k], 7);
    auto p = start_point(n, dts[k], 8);
    auto o = make(opt, p, "l1", 0.05, small_lr(opt));
    for (int s = 0; s < 20; ++s) o->step(q.closure(p));
    res[k] = p.detach().to(torch::kDouble);
  }
  const double err = (res[0] - res[1]).abs().max().item<double>();
  const double scale = std::max(1.0, res[1].abs().max().item<double>());
  EXPECT_LE(err, 2e-5 * scale) << opt << ": float32 vs float64 after 20 steps";
}

TEST_P(OptimEach, SaveLoadContinueIsBitForBit) {
  const std::string opt = GetParam();
  if (opt.rfind("test_", 0) == 0) GTEST_SKIP() << "'" << opt << "' is a test-only optimizer of the harness tests";
  const int64_t n = 100;
  Quadratic q(n, torch::kFloat, 3);
  auto p = start_point(n, torch::kFloat, 4);
  auto o = make(opt, p, "l1", 0.05, small_lr(opt));
  for (int s = 0; s < 4; ++s) o->step(q.closure(p));
  std::stringstream ckpt;
  {
    torch::serialize::OutputArchive a;
    o->save(a);
    a.save_to(ckpt);
  }
  auto snapshot = p.detach().clone();
  for (int s = 0; s < 4; ++s) o->step(q.closure(p));

  auto p2 = snapshot.clone().requires_grad_(true);
  auto o2 = make(opt, p2, "l1", 0.05, small_lr(opt));
  {
    torch::serialize::InputArchive a;
    a.load_from(ckpt);
    o2->load(a);
  }
  for (int s = 0; s < 4; ++s) o2->step(q.closure(p2));
  EXPECT_TRUE(torch::equal(p.detach(), p2.detach())) << opt << ": resumed trajectory differs";
  EXPECT_EQ(o->counters().steps, o2->counters().steps);
  EXPECT_EQ(o->last_stats().step, o2->last_stats().step);
  EXPECT_EQ(o->last_stats().dtheta_sq, o2->last_stats().dtheta_sq);
}

TEST_P(OptimEach, ProbesOffGiveSameIterates) {
  const std::string opt = GetParam();
  if (opt.rfind("test_", 0) == 0) GTEST_SKIP() << "'" << opt << "' is a test-only optimizer of the harness tests";
  const int64_t n = 100;
  torch::Tensor res[2];
  for (int k = 0; k < 2; ++k) {
    Quadratic q(n, torch::kFloat, 5);
    auto p = start_point(n, torch::kFloat, 6);
    auto o = make(opt, p, "l1", 0.05, small_lr(opt));
    o->set_probes(k == 0);
    for (int s = 0; s < 3; ++s) o->step(q.closure(p));
    res[k] = p.detach().clone();
    if (k == 0) {
      EXPECT_TRUE(std::isfinite(o->last_stats().dtheta_sq));
      EXPECT_GE(o->last_stats().nnz, 0);
    } else {
      EXPECT_TRUE(std::isnan(o->last_stats().dtheta_sq));
    }
  }
  EXPECT_TRUE(torch::equal(res[0], res[1]));
}

INSTANTIATE_TEST_SUITE_P(Registry, OptimEach, ::testing::ValuesIn(core::optimizer_registry().names()));

// ---- SR2 --------------------------------------------------------------------------------------

TEST(OptimSr2, StepIncreasingFIsRejectedThetaUnchangedSigmaTimesGamma1) {
  auto p = start_point(50, torch::kDouble, 11);
  auto o = make("sr2", p, "l1", 0.1, {{"sigma0", 3.0}});
  auto* sr = dynamic_cast<optimizers::Sr2*>(o.get());
  int calls = 0;
  auto closure = [&]() {
    ++calls;
    torch::NoGradGuard ng;
    p.mutable_grad() = torch::ones_like(p);
    // a loss that is 100 higher at the trial point than at θ_t
    return torch::tensor(calls % 2 == 1 ? 1.0 : 101.0, torch::kDouble);
  };
  auto before = p.detach().clone();
  o->step(closure);
  EXPECT_EQ(calls, 2);
  EXPECT_FALSE(o->last_stats().accepted);
  EXPECT_LT(o->last_stats().rho, 7.5e-4);
  EXPECT_TRUE(torch::equal(p.detach(), before)) << "rejected step must restore theta bit for bit";
  EXPECT_DOUBLE_EQ(sr->sigma(), 3.0 * 5.56);
  EXPECT_EQ(o->last_stats().sigma, 3.0);
  EXPECT_EQ(o->last_stats().dtheta_sq, 0.0);
  EXPECT_EQ(o->counters().rejected, 1);
  EXPECT_EQ(o->counters().accepted, 0);
}

TEST(OptimSr2, VerySuccessfulStepsShrinkSigmaByGamma3DownToSigmaMin) {
  // Linear f(θ) = mean(w θ), R = none: ΔF = Δψ exactly, ρ = 1 ≥ η2.
  auto p = start_point(40, torch::kDouble, 12);
  torch::manual_seed(13);
  auto w = torch::randn({40}, torch::kDouble);
  auto o = make("sr2", p, "none", 0.0, {{"sigma0", 1.0}, {"sigma_min", 0.5}});
  auto* sr = dynamic_cast<optimizers::Sr2*>(o.get());
  int calls = 0;
  auto closure = [&]() {
    ++calls;
    torch::NoGradGuard ng;
    p.mutable_grad() = w / 40.0;
    return (w * p.detach()).mean();
  };
  const double expected[] = {0.8, 0.8 * 0.8, 0.8 * 0.8 * 0.8, 0.5, 0.5};
  for (int s = 0; s < 5; ++s) {
    o->step(closure);
    EXPECT_TRUE(o->last_stats().accepted);
    EXPECT_NEAR(o->last_stats().rho, 1.0, 1e-9);
    EXPECT_DOUBLE_EQ(sr->sigma(), expected[s]) << "step " << s;
    EXPECT_DOUBLE_EQ(o->last_stats().lambda_min, 1.0 / o->last_stats().sigma);
  }
  EXPECT_EQ(calls, 10);
  EXPECT_EQ(o->counters().loss_evals, 10);
  EXPECT_EQ(o->counters().grad_evals, 10);
  EXPECT_EQ(o->counters().accepted, 5);
}

TEST(OptimSr2, SuccessfulButNotVerySuccessfulKeepsSigma) {
  // Quadratic f = ½ a θ² (mean), σ = a/mean-scale: step halves the model's accuracy, ρ ≈ 0.5.
  auto p = torch::full({10}, 1.0, torch::kDouble).requires_grad_(true);
  // f(θ) = Σ θ²/2 · (1/10)·10 with gradient θ; s = −θ/σ; ΔF = θ²(1/σ − 1/(2σ²)); Δψ = θ²/σ; ρ = 1 − 1/(2σ)
  auto o = make("sr2", p, "none", 0.0, {{"sigma0", 1.0}});
  auto* sr = dynamic_cast<optimizers::Sr2*>(o.get());
  auto closure = [&]() {
    torch::NoGradGuard ng;
    p.mutable_grad() = p.detach().clone();
    return (0.5 * p.detach() * p.detach()).sum();
  };
  o->step(closure);
  EXPECT_NEAR(o->last_stats().rho, 0.5, 1e-12);
  EXPECT_TRUE(o->last_stats().accepted);
  EXPECT_EQ(sr->sigma(), 1.0);
}

TEST(OptimSr2, RequiresClosure) {
  auto p = start_point(5, torch::kDouble, 1);
  auto o = make("sr2", p, "l1", 0.1);
  p.mutable_grad() = torch::ones_like(p);
  try {
    o->step();
    FAIL() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("closure"), std::string::npos) << e.what();
  }
}

TEST(OptimSr2, Sigma0EstimateIsLargestHessianEigenvalue) {
  auto p = torch::randn({3}, torch::kDouble).requires_grad_(true);
  auto a = torch::tensor({1.0, 2.0, 5.0}, torch::kDouble);
  auto loss = [&]() { return (0.5 * a * p * p).sum(); };
  double e = optimizers::Sr2::estimate_sigma0({p}, loss, 60);
  EXPECT_NEAR(e, 5.0, 1e-6);
}

// ---- sparsity ---------------------------------------------------------------------------------

TEST(OptimSparsity, ProxSgdIterateHasNoExactZerosWhileXHatDoes) {
  const int64_t n = 500;
  Quadratic q(n, torch::kDouble, 21);
  auto p = start_point(n, torch::kDouble, 22);
  auto o = make("prox_sgd", p, "l1", 0.5, {{"lr", 0.5}});
  auto* ps = dynamic_cast<optimizers::ProxSgd*>(o.get());
  for (int s = 0; s < 30; ++s) o->step(q.closure(p));
  const auto& st = o->last_stats();
  EXPECT_EQ(p.detach().eq(0).sum().item<int64_t>(), 0) << "theta_{t+1} is a convex combination: no exact zeros";
  EXPECT_EQ(st.nnz, n);
  auto xh = ps->x_hat(p);
  ASSERT_TRUE(xh.defined());
  const int64_t zeros = xh.eq(0).sum().item<int64_t>();
  EXPECT_GT(zeros, 0) << "x_hat carries the sparsity";
  EXPECT_EQ(st.nnz_aux, n - zeros);
}

TEST(OptimSparsity, ProxGenGivesExactZerosWithL1AndL0) {
  for (const char* reg : {"l1", "l0"}) {
    const int64_t n = 500;
    Quadratic q(n, torch::kDouble, 31);
    auto p = start_point(n, torch::kDouble, 32);
    auto o = make("proxgen", p, reg, 0.5, {{"lr", 0.05}});
    for (int s = 0; s < 30; ++s) o->step(q.closure(p));
    const int64_t zeros = p.detach().eq(0).sum().item<int64_t>();
    EXPECT_GT(zeros, n / 10) << reg;
    EXPECT_EQ(o->last_stats().nnz, n - zeros) << reg;
    EXPECT_EQ(o->last_stats().numel, n);
  }
}

TEST(OptimProxQuant, OfficialClipKeepsThetaInUnitIntervalOnlyWhenAsked) {
  // c ~ N(0,1)·3 pulls many coordinates beyond ±1; the W-shaped prox alone does not stop them.
  for (bool clip : {false, true}) {
    const int64_t n = 400;
    Quadratic q(n, torch::kDouble, 51);
    q.c = q.c * 3.0;
    auto p = start_point(n, torch::kDouble, 52);
    nlohmann::json o = {{"lr", 0.05}};
    if (clip) o["official_clip_to_unit"] = true;
    auto opt = make("proxquant", p, "binary_quant", 1e-3, o);
    for (int s = 0; s < 40; ++s) opt->step(q.closure(p));
    const double mx = p.detach().abs().max().item<double>();
    if (clip)
      EXPECT_LE(mx, 1.0);
    else
      EXPECT_GT(mx, 1.5);
  }
}

TEST(OptimSparsity, UnregularizedGroupIsNotProxed) {
  Quadratic q(50, torch::kDouble, 41);
  auto w = start_point(50, torch::kDouble, 42);
  auto b = start_point(50, torch::kDouble, 43);
  std::vector<core::ParamGroupSpec> groups = {{{w}, core::make_regularizer("l1", core::OptionMap()), 2.0},
                                              {{b}, nullptr, 0.0}};
  auto o = core::make_optimizer("proxgen", groups, core::OptionMap(nlohmann::json{{"lr", 0.1}}));
  for (int s = 0; s < 10; ++s) {
    q.closure(w)();
    q.closure(b)();
    o->step();
  }
  EXPECT_GT(w.detach().eq(0).sum().item<int64_t>(), 0);
  EXPECT_EQ(b.detach().eq(0).sum().item<int64_t>(), 0);
  EXPECT_EQ(o->last_stats().numel, 50);
  EXPECT_EQ(o->group_regularizer(1), nullptr);
  EXPECT_EQ(o->group_lambda(0), 2.0);
  EXPECT_NEAR(o->regularization_value(), 2.0 * w.detach().abs().sum().item<double>(), 1e-12);
}

// ---- option validation ------------------------------------------------------------------------

void expect_error(const std::function<void()>& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected an error containing '" << parts.front() << "'";
  } catch (const Error& e) {
    for (const auto& s : parts) EXPECT_NE(std::string(e.what()).find(s), std::string::npos) << e.what();
  }
}

TEST(OptimOptions, BadOptionsFailWithClearMessages) {
  auto p = start_point(4, torch::kDouble, 1);
  expect_error([&] { make("proxgen", p, "l1", 0.1, {{"lr", -1.0}}); },
               {"optimizer 'proxgen'", "'lr'", "-1", "[0, inf)"});
  expect_error([&] { make("proxgen", p, "l1", 0.1, {{"beta1", 1.0}}); }, {"'beta1'", "= 1", "[0, 1)"});
  expect_error([&] { make("proxgen", p, "l1", 0.1, {{"beta2", 1.5}}); }, {"'beta2'", "1.5", "[0, 1)"});
  expect_error([&] { make("proxgen", p, "l1", 0.1, {{"delta", 0.0}}); }, {"'delta'", "(0, inf)"});
  expect_error([&] { make("proxgen", p, "l1", 0.1, {{"preconditioner", "kfac"}}); },
               {"'preconditioner'", "kfac", "adam, rmsprop, adagrad, identity"});
  expect_error([&] { make("proxgen", p, "l1", 0.1, {{"lrr", 0.1}}); }, {"unknown option 'lrr'"});
  expect_error([&] { make("sr2", p, "l1", 0.1, {{"eta1", 0.5}, {"eta2", 0.1}}); },
               {"optimizer 'sr2'", "'eta1'", "0.5", "eta2", "0.1"});
  expect_error([&] { make("sr2", p, "l1", 0.1, {{"gamma1", 0.9}}); }, {"'gamma1'", "(1, inf)"});
  expect_error([&] { make("sr2", p, "l1", 0.1, {{"sigma0", 1e-9}}); }, {"'sigma0'", "sigma_min"});
  expect_error([&] { make("prox_sgd", p, "l1", 0.1, {{"beta", 1.0}}); }, {"optimizer 'prox_sgd'", "'beta'"});
  expect_error([&] { make("subgradient_adam", p, "l1", 0.1, {{"lr", -0.5}}); }, {"subgradient_adam", "'lr'", "-0.5"});
  expect_error([&] { core::make_regularizer("nope", core::OptionMap()); }, {"unknown regularizer 'nope'"});
  expect_error([&] { core::make_optimizer("nope", {}, core::OptionMap()); }, {"unknown optimizer 'nope'"});
  for (const char* sg : {"subgradient_adam", "subgradient_sgd"})
    expect_error([&] { make(sg, p, "l0", 0.1); }, {sg, "regularizer 'l0'", "no subgradient"});
  expect_error([&] { make("proxgen", p, "l1", -0.1); }, {"lambda", "-0.1"});
}

}  // namespace
