// VGG-16 with BatchNorm and DenseNet-BC (121 / 201) for CIFAR-sized images.
#include <cmath>

#include "core/common.h"
#include "problems/models/models.h"

namespace proxbench::problems {
namespace {

namespace nn = torch::nn;

class Vgg : public ImageClassifier {
 public:
  Vgg(const std::vector<int>& cfg, const ModelShape& shape) {
    int64_t in = shape.in_channels, hw = shape.image_size;
    for (int v : cfg) {
      if (v == 0) {  // max-pool, skipped once the map is 1×1
        if (hw >= 2) {
          features->push_back(nn::MaxPool2d(nn::MaxPool2dOptions(2).stride(2)));
          hw /= 2;
        }
      } else {
        features->push_back(nn::Conv2d(nn::Conv2dOptions(in, v, 3).padding(1)));
        features->push_back(nn::BatchNorm2d(v));
        features->push_back(nn::Functional([](torch::Tensor t) { return torch::relu(t); }));
        in = v;
      }
    }
    register_module("features", features);
    classifier = register_module("classifier", nn::Linear(in, shape.num_classes));
    init_weights(*this);
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = features->forward(x);
    return classifier(torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1));
  }

 private:
  nn::Sequential features;
  nn::Linear classifier{nullptr};
};

// DenseNet-BC bottleneck layer: BN-ReLU-1×1 conv (4k) - BN-ReLU-3×3 conv (k), concatenated.
struct Bottleneck : nn::Module {
  Bottleneck(int64_t in, int64_t growth) {
    bn1 = register_module("bn1", nn::BatchNorm2d(in));
    conv1 = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(in, 4 * growth, 1).bias(false)));
    bn2 = register_module("bn2", nn::BatchNorm2d(4 * growth));
    conv2 = register_module("conv2", nn::Conv2d(nn::Conv2dOptions(4 * growth, growth, 3).padding(1).bias(false)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = conv1(torch::relu(bn1(x)));
    y = conv2(torch::relu(bn2(y)));
    return torch::cat({y, x}, 1);
  }
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  nn::Conv2d conv1{nullptr}, conv2{nullptr};
};

// Transition: BN-ReLU-1×1 conv (compression) - 2×2 average pool (skipped on a 1×1 map).
struct Transition : nn::Module {
  Transition(int64_t in, int64_t out, bool pool) : pool_(pool) {
    bn = register_module("bn", nn::BatchNorm2d(in));
    conv = register_module("conv", nn::Conv2d(nn::Conv2dOptions(in, out, 1).bias(false)));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = conv(torch::relu(bn(x)));
    return pool_ ? torch::avg_pool2d(y, 2) : y;
  }
  bool pool_;
  nn::BatchNorm2d bn{nullptr};
  nn::Conv2d conv{nullptr};
};

class DenseNet : public ImageClassifier {
 public:
  DenseNet(const std::vector<int>& blocks, int64_t growth, const ModelShape& shape) {
    int64_t c = 2 * growth, hw = shape.image_size;
    stem = register_module("conv1", nn::Conv2d(nn::Conv2dOptions(shape.in_channels, c, 3).padding(1).bias(false)));
    for (size_t b = 0; b < blocks.size(); ++b) {
      nn::Sequential block;
      for (int i = 0; i < blocks[b]; ++i) {
        block->push_back(std::make_shared<Bottleneck>(c, growth));
        c += growth;
      }
      dense.push_back(register_module("dense" + std::to_string(b + 1), block));
      if (b + 1 < blocks.size()) {
        const int64_t out = int64_t(std::floor(double(c) * 0.5));  // compression θ = 0.5
        const bool pool = hw >= 2;
        if (pool) hw /= 2;
        trans.push_back(register_module("trans" + std::to_string(b + 1), std::make_shared<Transition>(c, out, pool)));
        c = out;
      }
    }
    bn = register_module("bn", nn::BatchNorm2d(c));
    fc = register_module("linear", nn::Linear(c, shape.num_classes));
    init_weights(*this);
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = stem(x);
    for (size_t b = 0; b < dense.size(); ++b) {
      x = dense[b]->forward(x);
      if (b < trans.size()) x = trans[b]->forward(x);
    }
    x = torch::relu(bn(x));
    return fc(torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1));
  }

 private:
  nn::Conv2d stem{nullptr};
  std::vector<nn::Sequential> dense;
  std::vector<std::shared_ptr<Transition>> trans;
  nn::BatchNorm2d bn{nullptr};
  nn::Linear fc{nullptr};
};

}  // namespace

ImageClassifierPtr make_vgg16_bn(const ModelShape& shape) {
  // Configuration D (Simonyan & Zisserman 2015, Table 1); 0 marks a max-pool.
  return std::make_shared<Vgg>(
      std::vector<int>{64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0}, shape);
}

ImageClassifierPtr make_densenet(const std::vector<int>& blocks, int growth, const ModelShape& shape) {
  return std::make_shared<DenseNet>(blocks, growth, shape);
}

}  // namespace proxbench::problems
