// Image classification networks (LibTorch torch::nn modules) and their registry.
//
// Every model takes [B, C, H, W] float images and returns [B, num_classes] logits. Input channels
// and class count follow the data set; `image_size` (H = W) lets an architecture adapt its pooling
// (all end with a global average pool, so 28×28 Fashion-MNIST and 32×32 CIFAR both work).
// Convolutions are initialized He-normal (fan_out, ReLU gain) as in He et al. 2015 / torchvision;
// BatchNorm with weight 1 and bias 0; Linear layers keep LibTorch's default. The model's random
// initialization draws from torch's global generator (the classification problem seeds it).
//
// Registered models (`proxbench list models` prints the parameter counts for CIFAR-10, 3×32×32 and
// 10 classes; tests/test_models.cpp asserts each exact count):
//
// | name         | architecture                                                        | params (CIFAR-10) |
// |--------------|---------------------------------------------------------------------|-------------------|
// | resnet20     | He et al. 2016 §4.2: 3×3 conv 16, 3 stages × n BasicBlocks (16, 32,  |           269,722 |
// | resnet32     | 64 filters), depth 6n+2, global avg pool, FC. Option A shortcuts:    |           464,154 |
// | resnet44     | identity; on a stride-2 stage the input is subsampled (every second  |           658,586 |
// | resnet56     | pixel) and zero-padded in channels — no parameters (as in the paper) |           853,018 |
// | resnet18     | BasicBlock ResNet [2,2,2,2], widths 64–512, CIFAR stem: 3×3 conv     |        11,173,962 |
// | resnet34     | stride 1, no max-pool; [3,4,6,3]; option B (1×1 conv + BN) shortcuts |        21,282,122 |
// | vgg16_bn     | VGG-16 config D with BatchNorm after every conv (convs with bias),   |        14,728,266 |
// |              | 5 max-pools (skipped once the map is 1×1), head = one Linear(512, K) |                   |
// | densenet121  | Huang et al. 2017 DenseNet-BC: growth 32, bottleneck (BN-ReLU-1×1    |         6,956,298 |
// | densenet201  | conv 4k-BN-ReLU-3×3 conv k), compression 0.5, blocks [6,12,24,16] /  |        18,104,330 |
// |              | [6,12,48,32]; CIFAR stem: one 3×3 conv to 2k = 64 channels           |                   |
//
// The published counts: ResNet-20 0.27M, -32 0.46M, -44 0.66M, -56 0.85M (He et al. 2016,
// Table 6); ResNet-18/34 and VGG-16-BN and DenseNet-121 CIFAR variants 11.17M / 21.28M / 14.73M /
// 6.96M as in the widely used pytorch-cifar implementations. (SR2 §5 quotes 7.98M for
// DenseNet-121 and 21.79M for ResNet-34: the ImageNet-stem / 1000-class variants.)
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "core/registry.h"

namespace proxbench::problems {

/// Base class of every registered network: a torch::nn::Module with a virtual forward.
class ImageClassifier : public torch::nn::Module {
 public:
  /// [B, C, H, W] float → [B, num_classes] logits.
  virtual torch::Tensor forward(torch::Tensor x) = 0;
};
using ImageClassifierPtr = std::shared_ptr<ImageClassifier>;

/// What a model factory is told about its input and output.
struct ModelShape {
  int64_t in_channels = 3;
  int64_t num_classes = 10;
  int64_t image_size = 32;  ///< H = W
};

using ModelFactory = ImageClassifierPtr(const ModelShape&);
using ModelRegistry = core::Registry<ModelFactory>;
ModelRegistry& model_registry();

/// Builds a registered model; an unknown name lists the known ones.
ImageClassifierPtr make_model(const std::string& name, const ModelShape& shape);
/// Number of trainable scalars.
int64_t count_parameters(const torch::nn::Module& module);
/// He-normal (fan_out, ReLU) for Conv2d weights, BN weight 1 / bias 0, conv biases 0.
void init_weights(torch::nn::Module& module);

/// Individual factories (also reachable through the registry).
ImageClassifierPtr make_resnet_cifar(int depth, const ModelShape& shape);          ///< depth 6n+2
ImageClassifierPtr make_resnet_basic(const std::vector<int>& blocks, const ModelShape& shape);  ///< 18/34
ImageClassifierPtr make_vgg16_bn(const ModelShape& shape);
ImageClassifierPtr make_densenet(const std::vector<int>& blocks, int growth, const ModelShape& shape);

}  // namespace proxbench::problems
