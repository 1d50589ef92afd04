// ResNets for CIFAR: the 6n+2 family (option A shortcuts) and ResNet-18/34 (option B).
#include "core/common.h"
#include "problems/models/models.h"

namespace proxbench::problems {
namespace {

namespace nn = torch::nn;

nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride) {
  return nn::Conv2d(nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
}

// BasicBlock: conv3x3-BN-ReLU-conv3x3-BN, + shortcut, ReLU.
struct BasicBlock : nn::Module {
  BasicBlock(int64_t in, int64_t out, int64_t stride, bool option_a) : stride_(stride), pad_(out - in), option_a_(option_a) {
    conv1 = register_module("conv1", conv3x3(in, out, stride));
    bn1 = register_module("bn1", nn::BatchNorm2d(out));
    conv2 = register_module("conv2", conv3x3(out, out, 1));
    bn2 = register_module("bn2", nn::BatchNorm2d(out));
    if (!option_a && (stride != 1 || in != out)) {
      sc_conv = register_module("shortcut_conv", nn::Conv2d(nn::Conv2dOptions(in, out, 1).stride(stride).bias(false)));
      sc_bn = register_module("shortcut_bn", nn::BatchNorm2d(out));
    }
  }
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = torch::relu(bn1(conv1(x)));
    y = bn2(conv2(y));
    torch::Tensor s = x;
    if (sc_conv) {
      s = sc_bn(sc_conv(x));
    } else if (option_a_ && (stride_ != 1 || pad_ != 0)) {
      // Option A (He et al. 2016 §3.3): subsample, then zero-pad the new channels (half each side).
      if (stride_ != 1) s = s.slice(2, 0, c10::nullopt, stride_).slice(3, 0, c10::nullopt, stride_);
      if (pad_ > 0) s = torch::constant_pad_nd(s, {0, 0, 0, 0, pad_ / 2, pad_ - pad_ / 2});
    }
    return torch::relu(y + s);
  }
  int64_t stride_, pad_;
  bool option_a_;
  nn::Conv2d conv1{nullptr}, conv2{nullptr}, sc_conv{nullptr};
  nn::BatchNorm2d bn1{nullptr}, bn2{nullptr}, sc_bn{nullptr};
};

class ResNet : public ImageClassifier {
 public:
  ResNet(const std::vector<int>& blocks, const std::vector<int64_t>& widths, bool option_a, const ModelShape& shape) {
    stem = register_module("conv1", conv3x3(shape.in_channels, widths[0], 1));
    bn = register_module("bn1", nn::BatchNorm2d(widths[0]));
    int64_t in = widths[0];
    for (size_t s = 0; s < blocks.size(); ++s) {
      nn::Sequential stage;
      for (int b = 0; b < blocks[s]; ++b) {
        const int64_t stride = (s > 0 && b == 0) ? 2 : 1;
        stage->push_back(std::make_shared<BasicBlock>(in, widths[s], stride, option_a));
        in = widths[s];
      }
      stages.push_back(register_module("layer" + std::to_string(s + 1), stage));
    }
    fc = register_module("fc", nn::Linear(in, shape.num_classes));
    init_weights(*this);
  }
  torch::Tensor forward(torch::Tensor x) override {
    x = torch::relu(bn(stem(x)));
    for (auto& st : stages) x = st->forward(x);
    x = torch::adaptive_avg_pool2d(x, {1, 1}).flatten(1);
    return fc(x);
  }

 private:
  nn::Conv2d stem{nullptr};
  nn::BatchNorm2d bn{nullptr};
  std::vector<nn::Sequential> stages;
  nn::Linear fc{nullptr};
};

}  // namespace

ImageClassifierPtr make_resnet_cifar(int depth, const ModelShape& shape) {
  if (depth < 8 || (depth - 2) % 6 != 0)
    throw Error("resnet (CIFAR): depth " + std::to_string(depth) + " must be 6n+2 with n >= 1 (20, 32, 44, 56, ...)");
  const int n = (depth - 2) / 6;
  return std::make_shared<ResNet>(std::vector<int>{n, n, n}, std::vector<int64_t>{16, 32, 64}, true, shape);
}

ImageClassifierPtr make_resnet_basic(const std::vector<int>& blocks, const ModelShape& shape) {
  return std::make_shared<ResNet>(blocks, std::vector<int64_t>{64, 128, 256, 512}, false, shape);
}

}  // namespace proxbench::problems
