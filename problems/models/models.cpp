// The model registry and initialization (`proxbench list models` is in harness/cmd_list.cpp).
#include "problems/models/models.h"

namespace proxbench::problems {

ModelRegistry& model_registry() {
  static ModelRegistry r("model");
  return r;
}

ImageClassifierPtr make_model(const std::string& name, const ModelShape& shape) {
  if (shape.in_channels <= 0 || shape.num_classes < 2 || shape.image_size < 4)
    throw Error("model '" + name + "': input " + std::to_string(shape.in_channels) + "x" +
                std::to_string(shape.image_size) + "x" + std::to_string(shape.image_size) + " with " +
                std::to_string(shape.num_classes) + " classes is invalid (need channels > 0, size >= 4, classes >= 2)");
  return model_registry().get(name).make(shape);
}

int64_t count_parameters(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

void init_weights(torch::nn::Module& module) {
  torch::NoGradGuard guard;
  for (auto& m : module.modules(/*include_self=*/false)) {
    if (auto* c = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(c->weight, 0.0, torch::kFanOut, torch::kReLU);
      if (c->bias.defined()) c->bias.zero_();
    } else if (auto* b = m->as<torch::nn::BatchNorm2d>()) {
      b->weight.fill_(1.0);
      b->bias.zero_();
    }
  }
}

namespace {

using Entry = ModelRegistry::Entry;

Entry entry(std::string name, std::string desc, std::function<ModelFactory> f) {
  return Entry{std::move(name), std::move(desc), {}, "", std::move(f)};
}

PROXBENCH_REGISTER(model_registry(), entry("resnet20", "ResNet-20 (He et al. 2016 §4.2, CIFAR, option A shortcuts)",
                                           [](const ModelShape& s) { return make_resnet_cifar(20, s); }));
PROXBENCH_REGISTER(model_registry(), entry("resnet32", "ResNet-32 (He et al. 2016 §4.2, CIFAR, option A shortcuts)",
                                           [](const ModelShape& s) { return make_resnet_cifar(32, s); }));
PROXBENCH_REGISTER(model_registry(), entry("resnet44", "ResNet-44 (He et al. 2016 §4.2, CIFAR, option A shortcuts)",
                                           [](const ModelShape& s) { return make_resnet_cifar(44, s); }));
PROXBENCH_REGISTER(model_registry(), entry("resnet56", "ResNet-56 (He et al. 2016 §4.2, CIFAR, option A shortcuts)",
                                           [](const ModelShape& s) { return make_resnet_cifar(56, s); }));
PROXBENCH_REGISTER(model_registry(),
                   entry("resnet18", "ResNet-18 (BasicBlock [2,2,2,2], 3x3 stem, no max-pool, option B shortcuts)",
                         [](const ModelShape& s) {
                           return make_resnet_basic({2, 2, 2, 2}, s);
                         }));
PROXBENCH_REGISTER(model_registry(),
                   entry("resnet34", "ResNet-34 (BasicBlock [3,4,6,3], 3x3 stem, no max-pool, option B shortcuts)",
                         [](const ModelShape& s) {
                           return make_resnet_basic({3, 4, 6, 3}, s);
                         }));
PROXBENCH_REGISTER(model_registry(), entry("vgg16_bn", "VGG-16 (config D) with BatchNorm, head Linear(512, classes)",
                                           [](const ModelShape& s) { return make_vgg16_bn(s); }));
PROXBENCH_REGISTER(model_registry(),
                   entry("densenet121", "DenseNet-BC-121 (growth 32, compression 0.5, 3x3 CIFAR stem)",
                         [](const ModelShape& s) {
                           return make_densenet({6, 12, 24, 16}, 32, s);
                         }));
PROXBENCH_REGISTER(model_registry(),
                   entry("densenet201", "DenseNet-BC-201 (growth 32, compression 0.5, 3x3 CIFAR stem)",
                         [](const ModelShape& s) {
                           return make_densenet({6, 12, 48, 32}, 32, s);
                         }));

}  // namespace
}  // namespace proxbench::problems
