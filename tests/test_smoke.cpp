#include <gtest/gtest.h>

#include "core/regularizer.h"

TEST(Smoke, L1SoftThreshold) {
  auto r = proxbench::core::make_regularizer("l1", proxbench::core::OptionMap());
  auto z = torch::tensor({2.0, -0.25, -3.0}, torch::kDouble);
  r->prox_(z, 0.5);
  EXPECT_DOUBLE_EQ(z[0].item<double>(), 1.5);
  EXPECT_DOUBLE_EQ(z[1].item<double>(), 0.0);
  EXPECT_DOUBLE_EQ(z[2].item<double>(), -2.5);
}
