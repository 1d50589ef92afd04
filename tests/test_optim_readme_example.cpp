// The README "Optimizers" example, compiled and run (so the docs cannot drift).
#include <gtest/gtest.h>

// --- README example begin ---
#include <torch/torch.h>

#include "core/optimizer.h"

int train_linear_with_proxgen() {
  using namespace proxbench::core;
  torch::manual_seed(0);
  torch::nn::Linear model(20, 1);
  auto x = torch::randn({256, 20});
  auto y = x.narrow(1, 0, 3).sum(1, true);  // only 3 inputs matter
  // Weights get l1 with lambda = 1e-3 (mean-loss scale); the bias is not regularized.
  std::vector<ParamGroupSpec> groups = {
      {{model->weight}, make_regularizer("l1", OptionMap()), 1e-3},
      {{model->bias}, nullptr, 0.0},
  };
  auto opt = make_optimizer("proxgen", groups, OptionMap(nlohmann::json{{"lr", 0.05}, {"preconditioner", "adam"}}));
  for (int step = 0; step < 300; ++step) {
    auto closure = [&] {
      opt->zero_grad();
      auto loss = torch::mse_loss(model->forward(x), y);
      loss.backward();
      return loss;
    };
    opt->step(closure);
  }
  const StepStats& s = opt->last_stats();  // probes of the last step: s.nnz, s.lambda_min, ...
  return static_cast<int>(s.nnz);        // exact non-zeros among the 20 weights
}
// --- README example end ---

TEST(OptimReadme, ProxGenExampleRecoversSparseWeights) {
  const int nnz = train_linear_with_proxgen();
  EXPECT_GE(nnz, 3);
  EXPECT_LT(nnz, 20);
}
