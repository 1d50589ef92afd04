// Every registered model: exact parameter count for CIFAR-10 (the numbers documented in
// problems/models/models.h), forward shapes for CIFAR-10/100 and Fashion-MNIST inputs.
#include <gtest/gtest.h>

#include <map>

#include "core/common.h"
#include "problems/models/models.h"

using namespace proxbench;
using namespace proxbench::problems;

namespace {

// Exact counts for 3x32x32 input, 10 classes (models.h table).
const std::map<std::string, int64_t>& documented_counts() {
  static const std::map<std::string, int64_t> m{
      {"resnet20", 269722},        {"resnet32", 464154},       {"resnet44", 658586},
      {"resnet56", 853018},        {"resnet18", 11173962},     {"resnet34", 21282122},
      {"vgg16_bn", 14728266},      {"densenet121", 6956298},   {"densenet201", 18104330},
  };
  return m;
}

class ModelsTest : public ::testing::TestWithParam<std::string> {};

}  // namespace

TEST(Models, RegistryHoldsExactlyTheDocumentedModels) {
  std::vector<std::string> want;
  for (const auto& kv : documented_counts()) want.push_back(kv.first);
  EXPECT_EQ(model_registry().names(), want);
}

TEST_P(ModelsTest, ParameterCountMatchesDocumented) {
  auto m = make_model(GetParam(), ModelShape{3, 10, 32});
  EXPECT_EQ(count_parameters(*m), documented_counts().at(GetParam()));
}

TEST_P(ModelsTest, ForwardShapesForCifarAndFashionMnist) {
  torch::manual_seed(0);
  const bool heavy = GetParam() == "densenet201" || GetParam() == "resnet34" || GetParam() == "vgg16_bn";
  auto m = make_model(GetParam(), ModelShape{3, 100, 32});
  m->eval();
  torch::NoGradGuard g;
  auto y = m->forward(torch::randn({heavy ? 1 : 2, 3, 32, 32}));
  EXPECT_EQ(y.sizes(), (std::vector<int64_t>{heavy ? 1 : 2, 100}));
  EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
  if (heavy) return;  // the 28x28 path is the same code with other pooling decisions
  auto f = make_model(GetParam(), ModelShape{1, 10, 28});
  f->eval();
  auto z = f->forward(torch::randn({2, 1, 28, 28}));
  EXPECT_EQ(z.sizes(), (std::vector<int64_t>{2, 10}));
  EXPECT_TRUE(torch::isfinite(z).all().item<bool>());
}

INSTANTIATE_TEST_SUITE_P(All, ModelsTest,
                         ::testing::Values("resnet20", "resnet32", "resnet44", "resnet56", "resnet18", "resnet34",
                                           "vgg16_bn", "densenet121", "densenet201"),
                         [](const auto& info) { return info.param; });

TEST(Models, OptionAShortcutHasNoParametersOptionBHas) {
  // ResNet-20: 19 3x3 convs + BN + FC only; no 1x1 shortcut convolutions.
  auto r20 = make_model("resnet20", ModelShape{3, 10, 32});
  for (const auto& kv : r20->named_parameters()) EXPECT_EQ(kv.key().find("shortcut"), std::string::npos) << kv.key();
  auto r18 = make_model("resnet18", ModelShape{3, 10, 32});
  int shortcuts = 0;
  for (const auto& kv : r18->named_parameters()) shortcuts += kv.key().find("shortcut_conv.weight") != std::string::npos;
  EXPECT_EQ(shortcuts, 3);
}

TEST(Models, InputChannelsAndClassesFollowTheShape) {
  auto a = make_model("resnet20", ModelShape{1, 10, 28});
  auto b = make_model("resnet20", ModelShape{3, 100, 32});
  // stem 3x3 conv: 16·C·9; FC: 64·K + K
  EXPECT_EQ(count_parameters(*b) - count_parameters(*a), 16 * 2 * 9 + 64 * 90 + 90);
  EXPECT_THROW(make_model("resnet21", ModelShape{}), Error);
  EXPECT_THROW(make_model("resnet20", ModelShape{0, 10, 32}), Error);
  EXPECT_THROW(make_resnet_cifar(21, ModelShape{}), Error);
}
