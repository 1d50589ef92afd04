// The baseline forms of issue #15 over several steps, in float64, each against a long-double
// reference written from the papers' update rules or from the description of the authors' code in
// reference-implementations.md (ProxGen's AdamL0/L1/L12/L23 and ProxSGDL1, the Prox-SGD authors'
// code, SR2's code, ProxQuant's code, BinaryConnect) — never from the code under test. The prox
// maps come from tests/optim_reference.h (brute force), except the authors' l1/2 map, written here
// from its description (trigonometric form with |z| + 1e-4 inside the arccos).
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "core/optimizer.h"
#include "optim_reference.h"
#include "optimizers/binary_connect.h"
#include "optimizers/proxquant.h"
#include "optimizers/sr2.h"

using namespace proxbench;
using testref::LD;

namespace {

using Vec = std::vector<LD>;

Vec to_ld(const torch::Tensor& t) {
  auto c = t.detach().contiguous().to(torch::kDouble);
  Vec out(c.numel());
  for (int64_t i = 0; i < c.numel(); ++i) out[i] = c.data_ptr<double>()[i];
  return out;
}

/// |got − ref| ≤ 1e-12 · max(1, |ref|) coordinate-wise.
void expect_vec(const torch::Tensor& got, const Vec& ref, const std::string& what) {
  auto g = to_ld(got);
  ASSERT_EQ(g.size(), ref.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < g.size() && bad < 5; ++i)
    if (!(std::fabs(g[i] - ref[i]) <= LD(1e-12) * std::max<LD>(1, std::fabs(ref[i])))) {
      ++bad;
      ADD_FAILURE() << what << "[" << i << "]: got " << double(g[i]) << ", reference " << double(ref[i]);
    }
}

LD soft(LD z, LD tau) { return std::fabs(z) > tau ? (z > 0 ? z - tau : z + tau) : LD(0); }

/// A fixed quadratic f(θ) = ½ Σ a_i (θ_i − c_i)² per tensor: g = a ⊙ (θ − c) (set by grads()).
struct Quad {
  std::vector<torch::Tensor> a, c;
  void add(const torch::Tensor& p, uint64_t seed, double cscale = 1.0) {
    torch::manual_seed(seed);
    a.push_back(torch::rand(p.sizes(), torch::kDouble) + 0.5);
    c.push_back(torch::randn(p.sizes(), torch::kDouble) * cscale);
  }
  void grads(std::vector<torch::Tensor>& ps) const {
    torch::NoGradGuard ng;
    for (size_t i = 0; i < ps.size(); ++i) ps[i].mutable_grad() = a[i] * (ps[i].detach() - c[i]);
  }
  Vec g_ld(size_t i, const Vec& th) const {
    auto al = to_ld(a[i]), cl = to_ld(c[i]);
    Vec g(th.size());
    for (size_t k = 0; k < th.size(); ++k) g[k] = al[k] * (th[k] - cl[k]);
    return g;
  }
};

torch::Tensor param(std::vector<int64_t> shape, uint64_t seed, double scale = 1.0) {
  torch::manual_seed(seed);
  return (torch::randn(shape, torch::kDouble) * scale).requires_grad_(true);
}

core::RegularizerPtr reg(const std::string& n) { return core::make_regularizer(n, core::OptionMap()); }

/// Adam moments of one tensor in long double.
struct Moments {
  Vec m, v;
  explicit Moments(size_t n = 0) : m(n, 0), v(n, 0) {}
  void update(const Vec& g, LD b1, LD b2) {
    for (size_t i = 0; i < g.size(); ++i) {
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
    }
  }
};

/// The authors' l1/2 map (reference-implementations.md: threshold 1.5 μ^{2/3}, trigonometric form,
/// 1e-4 added to |p| inside the arccos for every kept weight), written from Xu et al.'s half
/// thresholding in the ½-scaled convention.
LD authors_l12(LD z, LD mu) {
  const LD a = std::fabs(z);
  if (!(a > LD(1.5) * std::pow(mu, LD(2) / 3))) return 0;
  const LD phi = std::acos(mu / 4 * std::pow((a + LD(1e-4)) / 3, LD(-1.5)));
  return LD(2) / 3 * z * (1 + std::cos(LD(2) * LD(M_PI) / 3 - LD(2) / 3 * phi));
}

// ---- ProxGen ------------------------------------------------------------------------------------

TEST(OptimForms, ProxGenPaperFormIsTheUncorrectedSection4Update) {
  auto p = param({40}, 1);
  Quad q;
  q.add(p, 2);
  const LD lr = 0.05, lam = 0.3, b1 = 0.9, b2 = 0.999, dl = 1e-8;
  auto opt = core::make_optimizer("proxgen", {{{p}, reg("l1"), double(lam)}},
                                  core::OptionMap(nlohmann::json{{"lr", double(lr)}}));
  Vec th = to_ld(p);
  Moments mo(th.size());
  std::vector<torch::Tensor> ps{p};
  for (int t = 1; t <= 6; ++t) {
    q.grads(ps);
    opt->step();
    mo.update(q.g_ld(0, th), b1, b2);
    for (size_t i = 0; i < th.size(); ++i) {
      const LD D = std::sqrt(mo.v[i]) + dl;  // §4: C = sqrt(v), alpha = lr, no 1/(1 - beta^t)
      th[i] = soft(th[i] - lr * mo.m[i] / D, lr * lam / D);
    }
    expect_vec(p, th, "proxgen paper step " + std::to_string(t));
  }
}

TEST(OptimForms, ProxGenIdentityWithoutMomentumIsPlainProximalSgd) {
  // SR2 §5's ProxGen baseline: theta <- prox_{alpha lambda R}(theta - alpha g)
  auto p = param({30}, 3);
  Quad q;
  q.add(p, 4);
  const LD lr = 0.1, lam = 0.5;
  auto opt = core::make_optimizer(
      "proxgen", {{{p}, reg("l1"), double(lam)}},
      core::OptionMap(nlohmann::json{{"lr", double(lr)}, {"preconditioner", "identity"}, {"beta1", 0.0}}));
  Vec th = to_ld(p);
  std::vector<torch::Tensor> ps{p};
  for (int t = 1; t <= 5; ++t) {
    q.grads(ps);
    auto g = q.g_ld(0, th);
    opt->step();
    for (size_t i = 0; i < th.size(); ++i) th[i] = soft(th[i] - lr * g[i], lr * lam);
    expect_vec(p, th, "proxgen identity step " + std::to_string(t));
  }
}

class ProxGenAuthors : public ::testing::TestWithParam<std::string> {};

TEST_P(ProxGenAuthors, MatchesTheOfficialAdamFamily) {
  // One regularized group holding a 2-D weight and a 1-D tensor, one unregularized group (a bias):
  // weight decay on all three, the prox on the 2-D weight only.
  const std::string rn = GetParam();
  auto w = param({5, 6}, 11), b1t = param({6}, 12), bias = param({6}, 13);
  Quad q;
  q.add(w, 14);
  q.add(b1t, 15);
  q.add(bias, 16);
  const LD lr = 0.01, lam = rn == "l0" ? 2.0 : 20.0, wd = 0.01, B1 = 0.9, B2 = 0.999, eps = 1e-8;
  std::vector<core::ParamGroupSpec> groups = {{{w, b1t}, reg(rn), double(lam)}, {{bias}, nullptr, 0.0}};
  auto opt =
      core::make_optimizer("proxgen", groups, core::OptionMap(nlohmann::json{{"lr", double(lr)}, {"form", "authors"}}));
  std::vector<torch::Tensor> ps{w, b1t, bias};
  std::vector<Vec> th = {to_ld(w), to_ld(b1t), to_ld(bias)};
  std::vector<Moments> mo = {Moments(th[0].size()), Moments(th[1].size()), Moments(th[2].size())};
  auto spec = reg(rn)->spec();
  int zeros = 0, shifted = 0;
  for (int t = 1; t <= 6; ++t) {
    q.grads(ps);
    std::vector<Vec> g = {q.g_ld(0, th[0]), q.g_ld(1, th[1]), q.g_ld(2, th[2])};
    opt->step();
    for (int k = 0; k < 3; ++k) {
      mo[k].update(g[k], B1, B2);
      const LD bc1 = 1 - std::pow(B1, LD(t)), bc2 = 1 - std::pow(B2, LD(t));
      for (size_t i = 0; i < th[k].size(); ++i) {
        LD x = th[k][i] * (1 - lr * wd);                                // decoupled weight decay first
        const LD denom = std::sqrt(mo[k].v[i]) / std::sqrt(bc2) + eps;  // eps outside the sqrt
        x -= lr / bc1 * mo[k].m[i] / denom;                             // Adam step with lr / (1 - beta1^t)
        if (k == 0) {                                                   // 2+ dims: prox with mu = lr lambda / denom
          const LD mu = lr * lam / denom;
          LD y;
          if (rn == "l1")
            y = soft(x, mu);
          else if (rn == "l0")
            y = std::fabs(x) > std::sqrt(2 * mu) ? x : 0;
          else if (rn == "l12") {
            y = authors_l12(x, mu);
            const LD exact = testref::prox_brute(spec, x, mu);
            if (y != 0 && std::fabs(y - exact) > LD(1e-9) * std::fabs(exact)) ++shifted;
          } else
            y = testref::prox_brute(spec, x, mu);  // l2/3: Cao's form is exact in float64
          x = y;
          zeros += x == 0;
        }
        th[k][i] = x;
      }
    }
    expect_vec(w, th[0], rn + " weight, step " + std::to_string(t));
    expect_vec(b1t, th[1], rn + " 1-D tensor of the regularized group, step " + std::to_string(t));
    expect_vec(bias, th[2], rn + " bias, step " + std::to_string(t));
  }
  EXPECT_GT(zeros, 0) << "the thresholds must be active for the test to mean something";
  if (rn == "l12") EXPECT_GT(shifted, 0) << "the 1e-4 bias of the authors' l1/2 map must show";
}

INSTANTIATE_TEST_SUITE_P(Regs, ProxGenAuthors, ::testing::Values("l1", "l0", "l12", "l23"));

// ---- Prox-SGD -----------------------------------------------------------------------------------

TEST(OptimForms, ProxSgdIdentityNoMomentumNoDecayIsSr2Baseline) {
  // SR2 §5: x_hat = prox_{lambda R}(theta - g), theta <- theta + alpha (x_hat - theta)
  auto p = param({30}, 21);
  Quad q;
  q.add(p, 22);
  const LD a = 0.3, lam = 0.4;
  auto opt = core::make_optimizer("prox_sgd", {{{p}, reg("l1"), double(lam)}},
                                  core::OptionMap(nlohmann::json{{"lr", double(a)},
                                                                 {"preconditioner", "identity"},
                                                                 {"rho0", 1.0},
                                                                 {"rho_decay", 0.0},
                                                                 {"epsilon_decay", 0.0}}));
  Vec th = to_ld(p);
  std::vector<torch::Tensor> ps{p};
  for (int t = 1; t <= 5; ++t) {
    q.grads(ps);
    auto g = q.g_ld(0, th);
    opt->step();
    Vec xh(th.size());
    for (size_t i = 0; i < th.size(); ++i) {
      xh[i] = soft(th[i] - g[i], lam);
      th[i] = th[i] + a * (xh[i] - th[i]);
    }
    expect_vec(p, th, "prox_sgd identity step " + std::to_string(t));
    expect_vec(dynamic_cast<core::ProxParamState&>(*opt->state().begin()->second).buffers.at("x_hat"), xh, "x_hat");
  }
  EXPECT_EQ(dynamic_cast<core::ProxParamState&>(*opt->state().begin()->second).buffers.count("v"), 0u)
      << "identity keeps no second moment";
}

TEST(OptimForms, ProxSgdAuthorsFormHasTheOffByOneBiasCorrection) {
  auto p = param({30}, 23);
  Quad q;
  q.add(p, 24);
  const LD e0 = 0.5, lam = 0.3, beta = 0.999, dl = 1e-8;
  auto opt = core::make_optimizer("prox_sgd", {{{p}, reg("l1"), double(lam)}},
                                  core::OptionMap(nlohmann::json{{"lr", double(e0)}, {"form", "authors"}}));
  Vec th = to_ld(p), v(th.size(), 0), r(th.size(), 0);
  std::vector<torch::Tensor> ps{p};
  for (int t = 1; t <= 6; ++t) {
    q.grads(ps);
    auto g = q.g_ld(0, th);
    opt->step();
    const LD eps_t = e0 / std::pow(LD(t + 4), LD(0.5)), rho_t = LD(0.9) / std::pow(LD(t + 4), LD(0.5));
    for (size_t i = 0; i < th.size(); ++i) {
      v[i] = (1 - rho_t) * v[i] + rho_t * g[i];
      r[i] = beta * r[i] + (1 - beta) * g[i] * g[i];
      const LD tau = std::sqrt(r[i] / (1 - std::pow(beta, LD(t + 1)))) + dl;  // exponent t + 1
      const LD xh = soft(th[i] - v[i] / tau, lam / tau);
      th[i] += eps_t * (xh - th[i]);
    }
    expect_vec(p, th, "prox_sgd authors step " + std::to_string(t));
  }
}

TEST(OptimForms, ProxSgdProxGenCodeIsProxSgdL1) {
  // ProxGen's ProxSGDL1: wd first, Adam moments (rho = 0.9 on the OLD momentum), x_hat without lr,
  // prox only on 2+-dim tensors, theta += lr/(1 - beta1^t) (x_hat - theta), lr = the group's
  // (scheduled) learning rate.
  auto w = param({4, 5}, 31), v1 = param({5}, 32), bias = param({5}, 33);
  Quad q;
  q.add(w, 34);
  q.add(v1, 35);
  q.add(bias, 36);
  const LD lam = 0.05, B1 = 0.9, B2 = 0.999, eps = 1e-8, wd = 0.01;
  std::vector<core::ParamGroupSpec> groups = {{{w, v1}, reg("l1"), double(lam)}, {{bias}, nullptr, 0.0}};
  auto opt = core::make_optimizer("prox_sgd", groups, core::OptionMap(nlohmann::json{{"form", "proxgen_code"}}));
  std::vector<torch::Tensor> ps{w, v1, bias};
  std::vector<Vec> th = {to_ld(w), to_ld(v1), to_ld(bias)};
  std::vector<Moments> mo = {Moments(th[0].size()), Moments(th[1].size()), Moments(th[2].size())};
  int zeros_hat = 0;
  for (int t = 1; t <= 6; ++t) {
    const LD lr = t <= 3 ? 1e-3 : 1e-4;  // a step decay of the runner's schedule after step 3
    for (size_t gi = 0; gi < opt->param_groups().size(); ++gi) opt->param_groups()[gi].options().set_lr(double(lr));
    q.grads(ps);
    std::vector<Vec> g = {q.g_ld(0, th[0]), q.g_ld(1, th[1]), q.g_ld(2, th[2])};
    opt->step();
    for (int k = 0; k < 3; ++k) {
      mo[k].update(g[k], B1, B2);
      const LD bc1 = 1 - std::pow(B1, LD(t)), bc2 = 1 - std::pow(B2, LD(t));
      for (size_t i = 0; i < th[k].size(); ++i) {
        const LD p0 = th[k][i] * (1 - lr * wd);
        const LD D = std::sqrt(mo[k].v[i]) / std::sqrt(bc2) + eps;
        LD ph = p0 - mo[k].m[i] / D;
        if (k == 0) {
          ph = soft(ph, lam / D);
          zeros_hat += ph == 0;
        }
        th[k][i] = p0 + lr / bc1 * (ph - p0);
      }
    }
    expect_vec(w, th[0], "ProxSGDL1 weight step " + std::to_string(t));
    expect_vec(v1, th[1], "ProxSGDL1 1-D tensor step " + std::to_string(t));
    expect_vec(bias, th[2], "ProxSGDL1 bias step " + std::to_string(t));
  }
  EXPECT_GT(zeros_hat, 0);
}

// ---- ProxQuant ----------------------------------------------------------------------------------

TEST(OptimForms, ProxQuantAuthorsFormRampsClipsRestartsAndBinarizes) {
  // 3 epochs × 3 steps; binarize at epoch 2. Quantized: w (binary_quant); not quantized: bias, whose
  // target lies beyond ±1 and which must never be clipped.
  auto w = param({24}, 41), bias = param({8}, 42);
  Quad q;
  q.add(w, 43, 3.0);
  q.add(bias, 44, 3.0);
  const LD lr = 0.05, rate = 0.5, B1 = 0.9, B2 = 0.999, dl = 1e-8;
  std::vector<core::ParamGroupSpec> groups = {{{w}, reg("binary_quant"), 1.0}, {{bias}, nullptr, 0.0}};
  auto opt = core::make_optimizer(
      "proxquant", groups,
      core::OptionMap(
          nlohmann::json{{"form", "authors"}, {"lr", double(lr)}, {"reg_rate", double(rate)}, {"binarize_epoch", 2}}));
  auto* pq = dynamic_cast<optimizers::ProxQuant*>(opt.get());
  ASSERT_NE(pq, nullptr);
  std::vector<torch::Tensor> ps{w, bias};
  std::vector<Vec> th = {to_ld(w), to_ld(bias)};
  auto spec = reg("binary_quant")->spec();
  bool frozen = false;
  for (int e = 0; e < 3; ++e) {
    opt->on_epoch_begin(e);
    std::vector<Moments> mo = {Moments(th[0].size()), Moments(th[1].size())};  // Adam rebuilt every epoch
    if (e == 2) {                                                              // hard binarization and freeze
      for (auto& x : th[0]) x = testref::sgn(x);
      frozen = true;
      expect_vec(w, th[0], "binarized weights");
    }
    const LD reg_e = lr * rate * e;  // reg = lr * reg_rate * epoch
    for (int t = 1; t <= 3; ++t) {
      q.grads(ps);
      std::vector<Vec> g = {q.g_ld(0, th[0]), q.g_ld(1, th[1])};
      opt->step();
      for (int k = 0; k < 2; ++k) {
        if (k == 0 && frozen) continue;
        mo[k].update(g[k], B1, B2);
        const LD alpha = lr / (1 - std::pow(B1, LD(t)));
        for (size_t i = 0; i < th[k].size(); ++i) {
          const LD D = std::sqrt(mo[k].v[i] / (1 - std::pow(B2, LD(t)))) + dl;
          LD x = th[k][i] - alpha * mo[k].m[i] / D;
          if (k == 0) x = std::min<LD>(1, std::max<LD>(-1, testref::prox_brute(spec, x, reg_e)));
          th[k][i] = x;
        }
      }
      expect_vec(w, th[0], "proxquant w, epoch " + std::to_string(e) + " step " + std::to_string(t));
      expect_vec(bias, th[1], "proxquant bias, epoch " + std::to_string(e) + " step " + std::to_string(t));
    }
  }
  EXPECT_TRUE(pq->binarized());
  EXPECT_GT(bias.detach().abs().max().item<double>(), 1.0) << "unquantized params are not clipped";
  // the binarized model beside the full-precision one
  auto before = bias.detach().clone();
  {
    torch::NoGradGuard ng;
    w.detach().mul_(0.5);  // make w non-binary to see the swap
  }
  auto wfp = w.detach().clone();
  {
    core::ScopedBinarized bin(*opt);
    EXPECT_TRUE(bin.active());
    EXPECT_TRUE(torch::equal(w.detach(), wfp.sign()));
    EXPECT_TRUE(torch::equal(bias.detach(), before));
  }
  EXPECT_TRUE(torch::equal(w.detach(), wfp)) << "full-precision values restored bit for bit";
}

TEST(OptimForms, ProxQuantPaperFormClipOptionSkipsUnquantizedGroups) {
  auto w = param({16}, 45), bias = param({8}, 46);
  Quad q;
  q.add(w, 47, 3.0);
  q.add(bias, 48, 3.0);
  std::vector<core::ParamGroupSpec> groups = {{{w}, reg("binary_quant"), 1e-3}, {{bias}, nullptr, 0.0}};
  auto opt = core::make_optimizer("proxquant", groups,
                                  core::OptionMap(nlohmann::json{{"lr", 0.05}, {"official_clip_to_unit", true}}));
  std::vector<torch::Tensor> ps{w, bias};
  for (int s = 0; s < 60; ++s) {
    q.grads(ps);
    opt->step();
  }
  EXPECT_LE(w.detach().abs().max().item<double>(), 1.0);
  EXPECT_GT(bias.detach().abs().max().item<double>(), 1.5);
  core::ScopedBinarized none(*core::make_optimizer("proxgen", {{{w}, reg("l1"), 0.1}}, core::OptionMap()));
  EXPECT_FALSE(none.active());
}

// ---- BinaryConnect ------------------------------------------------------------------------------

class BinaryConnectForms : public ::testing::TestWithParam<std::string> {};

TEST_P(BinaryConnectForms, LatentUpdateClipAndSignOverSteps) {
  const std::string upd = GetParam();
  auto w = param({30}, 51, 0.8), bias = param({6}, 52);
  Quad q;
  q.add(w, 53, 2.0);
  q.add(bias, 54);
  const LD lr = 0.3, B1 = upd == "adam" ? 0.9 : 0.0, B2 = 0.999, dl = 1e-8;
  Vec lat = to_ld(w), thb = to_ld(bias);
  for (auto& x : lat) x = std::min<LD>(1, std::max<LD>(-1, x));  // warm start, clipped
  std::vector<core::ParamGroupSpec> groups = {{{w}, reg("binary_quant"), 1.0}, {{bias}, nullptr, 0.0}};
  auto opt = core::make_optimizer("binary_connect", groups,
                                  core::OptionMap(nlohmann::json{{"update", upd}, {"lr", double(lr)}}));
  auto* bc = dynamic_cast<optimizers::BinaryConnect*>(opt.get());
  ASSERT_NE(bc, nullptr);
  auto sgn = [](const Vec& x) {
    Vec s(x.size());
    for (size_t i = 0; i < x.size(); ++i) s[i] = x[i] >= 0 ? 1 : -1;
    return s;
  };
  expect_vec(w, sgn(lat), "binarized at construction");
  std::vector<torch::Tensor> ps{w, bias};
  Moments mw(lat.size()), mb(thb.size());
  int clipped = 0;
  for (int t = 1; t <= 8; ++t) {
    q.grads(ps);  // the gradient at the BINARY weights (straight-through)
    auto gw = q.g_ld(0, sgn(lat)), gb = q.g_ld(1, thb);
    opt->step();
    mw.update(gw, B1, B2);
    mb.update(gb, B1, B2);
    const bool adam = upd == "adam";
    const LD alpha = adam ? lr / (1 - std::pow(B1, LD(t))) : lr;
    auto D = [&](LD v) { return adam ? std::sqrt(v / (1 - std::pow(B2, LD(t)))) + dl : LD(1); };
    for (size_t i = 0; i < lat.size(); ++i) {
      const LD z = lat[i] - alpha * mw.m[i] / D(mw.v[i]);
      lat[i] = std::min<LD>(1, std::max<LD>(-1, z));
      clipped += std::fabs(z) > 1;
    }
    for (size_t i = 0; i < thb.size(); ++i) thb[i] -= alpha * mb.m[i] / D(mb.v[i]);
    expect_vec(bc->latent(w), lat, upd + " latent step " + std::to_string(t));
    expect_vec(w, sgn(lat), upd + " sign step " + std::to_string(t));
    expect_vec(bias, thb, upd + " bias step " + std::to_string(t));
  }
  EXPECT_GT(clipped, 0) << "the clip must be exercised";
  auto bp = opt->binarized_params();
  ASSERT_EQ(bp.size(), 1u);
  EXPECT_TRUE(torch::equal(bp[0].second, w.detach()));
}

INSTANTIATE_TEST_SUITE_P(Updates, BinaryConnectForms, ::testing::Values("adam", "sgd"));

// ---- SR2 ----------------------------------------------------------------------------------------

TEST(OptimForms, Sr2AuthorsFormMomentumShrinkAndModel) {
  // f = mean ½ a (θ − c)² on one "batch"; form authors with a given sigma0 (the Hessian estimate is
  // tested below): d = 0.9 d + 0.1 g; θ ← θ(1 − 0.001·0.02); s = prox_{λ/σ}(θ − d/σ) − θ;
  // Δψ = λR(θ_before_shrink) − dᵀs − λR(θ + s); rules of the authors' code.
  const int64_t n = 20;
  auto p = param({n}, 61);
  torch::manual_seed(62);
  auto a = torch::rand({n}, torch::kDouble) + 0.5, c = torch::randn({n}, torch::kDouble);
  const LD lam = 0.005, beta = 0.9, shrink = 1 - LD(0.001) * LD(0.02);
  auto opt = core::make_optimizer(
      "sr2", {{{p}, reg("l1"), double(lam)}},
      core::OptionMap(nlohmann::json{{"form", "authors"}, {"sigma0_from_hessian", false}, {"sigma0", 0.02}}));
  auto* sr = dynamic_cast<optimizers::Sr2*>(opt.get());
  auto closure = [&]() {
    torch::NoGradGuard ng;
    auto d = p.detach() - c;
    p.mutable_grad() = a * d / double(n);
    return (0.5 * a * d * d).mean();
  };
  const Vec al = to_ld(a), cl = to_ld(c);
  auto F = [&](const Vec& th, LD& f, LD& r) {
    f = 0, r = 0;
    for (size_t i = 0; i < th.size(); ++i) {
      f += LD(0.5) * al[i] * (th[i] - cl[i]) * (th[i] - cl[i]);
      r += std::fabs(th[i]);
    }
    f /= n;
    r *= lam;
  };
  Vec th = to_ld(p), d(n, 0);
  LD sigma = 0.02;
  int rejected = 0, accepted = 0;
  for (int t = 1; t <= 12; ++t) {
    Vec g(n);
    for (int64_t i = 0; i < n; ++i) g[i] = al[i] * (th[i] - cl[i]) / n;
    opt->step(closure);
    LD f0, r0;
    F(th, f0, r0);
    Vec xs(n), x(n);
    LD dts = 0;
    for (int64_t i = 0; i < n; ++i) {
      d[i] = beta * d[i] + (1 - beta) * g[i];
      xs[i] = th[i] * shrink;
      x[i] = soft(xs[i] - d[i] / sigma, lam / sigma);
      dts += d[i] * (x[i] - xs[i]);
    }
    LD f1, r1;
    F(x, f1, r1);
    const LD dpsi = r0 - dts - r1;
    EXPECT_NEAR(opt->last_stats().sigma, double(sigma), 1e-12 * double(sigma));
    if (dpsi <= 0) {  // the authors' rule: kept, rho = 0, sigma unchanged (this scenario: s = 0)
      ASSERT_GE(dpsi, LD(-1e-4));
      EXPECT_EQ(opt->last_stats().rho, 0.0);
      th = x;
      expect_vec(p, th, "sr2 authors step " + std::to_string(t));
      continue;
    }
    const LD rho = ((f0 + r0) - (f1 + r1)) / dpsi;
    EXPECT_NEAR(opt->last_stats().rho, double(rho), 1e-9 * std::max<double>(1, std::fabs(double(rho)))) << "step " << t;
    if (rho >= LD(7.5e-4)) {
      th = x;
      ++accepted;
      if (rho >= LD(0.999)) sigma *= LD(0.79);
    } else {
      sigma *= LD(5.57);  // θ restored (unshrunk), momentum kept
      ++rejected;
    }
    EXPECT_EQ(opt->last_stats().accepted, rho >= LD(7.5e-4)) << "step " << t;
    expect_vec(p, th, "sr2 authors step " + std::to_string(t));
    EXPECT_NEAR(sr->sigma(), double(sigma), 1e-12 * double(sigma));
  }
  EXPECT_GT(rejected, 0);
  EXPECT_GT(accepted, 0);
}

TEST(OptimForms, Sr2AuthorsModelKeepsNonPositiveDecreaseSteps) {
  // Δψ = 0 (zero gradient at θ = 0 under l1: s = 0): the authors keep the step with ρ = 0 and σ
  // unchanged; 31 of them in a row ask to stop.
  auto p = torch::zeros({4}, torch::kDouble).requires_grad_(true);
  auto o = core::make_optimizer(
      "sr2", {{{p}, reg("l1"), 1.0}},
      core::OptionMap(nlohmann::json{{"form", "authors"}, {"sigma0_from_hessian", false}, {"sigma0", 2.0}}));
  auto cl = [&]() {
    torch::NoGradGuard ng;
    p.mutable_grad() = torch::zeros({4}, torch::kDouble);
    return p.detach().sum();
  };
  o->step(cl);
  EXPECT_EQ(o->last_stats().rho, 0.0);
  EXPECT_TRUE(o->last_stats().accepted);
  EXPECT_FALSE(o->last_stats().stop);
  EXPECT_EQ(dynamic_cast<optimizers::Sr2*>(o.get())->sigma(), 2.0);
  for (int k = 0; k < 29; ++k) o->step(cl);
  EXPECT_FALSE(o->last_stats().stop) << "30 in a row do not stop yet";
  o->step(cl);
  EXPECT_TRUE(o->last_stats().stop) << "31 near-zero model decreases in a row stop the authors' loop";
}

TEST(OptimForms, Sr2AuthorsNegativeModelDecreaseKeepsStepAndStops) {
  // The W-shaped R is not monotone under the weight shrink: θ = 1 (R = 0) shrinks to
  // θ' = 1 − 2e-5, the prox with τ = λ/σ = 1e-6 moves it to θ' + 1e-6, so
  // Δψ = λR(θ) − 0 − λR(θ'+s) = −10·10·1.9e-5 = −1.9e-3 < −1e-4: the authors keep the step
  // (no restore), ρ = NaN, σ unchanged, and stop.
  auto p = torch::ones({10}, torch::kDouble).requires_grad_(true);
  auto o = core::make_optimizer(
      "sr2", {{{p}, reg("binary_quant"), 10.0}},
      core::OptionMap(nlohmann::json{{"form", "authors"}, {"sigma0_from_hessian", false}, {"sigma0", 1e7}}));
  auto cl = [&]() {
    torch::NoGradGuard ng;
    p.mutable_grad() = torch::zeros({10}, torch::kDouble);
    return p.detach().sum() * 0.0;
  };
  o->step(cl);
  EXPECT_TRUE(std::isnan(o->last_stats().rho));
  EXPECT_TRUE(o->last_stats().accepted);
  EXPECT_TRUE(o->last_stats().stop);
  EXPECT_EQ(dynamic_cast<optimizers::Sr2*>(o.get())->sigma(), 1e7);
  const LD kept = LD(1) * (1 - LD(0.001) * LD(0.02)) + LD(1e-6);
  expect_vec(p, Vec(10, kept), "kept step");
}

TEST(OptimForms, Sr2Sigma0FromHessianIsTheTopEigenvalue) {
  // f = mean ½ a (θ − c)²: Hessian diag(a)/n, top eigenvalue 5/n; the finite-difference products are
  // exact for a quadratic up to rounding.
  const int64_t n = 6;
  auto p = param({n}, 71);
  auto a = torch::tensor({1.0, 2.0, 5.0, 1.5, 0.5, 2.5}, torch::kDouble);
  auto c = torch::randn({n}, torch::kDouble);
  int calls = 0;
  auto closure = [&]() {
    ++calls;
    torch::NoGradGuard ng;
    auto d = p.detach() - c;
    p.mutable_grad() = a * d / double(n);
    return (0.5 * a * d * d).mean();
  };
  auto opt = core::make_optimizer("sr2", {{{p}, reg("l1"), 1e-3}},
                                  core::OptionMap(nlohmann::json{{"form", "authors"}, {"hessian_iters", 80}}));
  opt->step(closure);
  EXPECT_NEAR(opt->last_stats().sigma, 5.0 / n, 1e-6);
  EXPECT_EQ(calls, 2 + 81);
  EXPECT_EQ(opt->last_stats().loss_evals, 2 + 81);
}

TEST(OptimForms, BadFormsFailWithClearMessages) {
  auto p = param({4}, 81);
  for (const char* o :
       {"proxgen", "prox_sgd", "proxquant", "sr2", "binary_connect", "subgradient_adam", "subgradient_sgd"}) {
    try {
      core::make_optimizer(o, {{{p}, reg("l1"), 0.1}}, core::OptionMap(nlohmann::json{{"form", "nope"}}));
      ADD_FAILURE() << o << ": expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("'form' = 'nope'"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(core::make_optimizer("prox_sgd", {{{p}, reg("l1"), 0.1}},
                                    core::OptionMap(nlohmann::json{{"preconditioner", "adam"}})),
               Error);
  EXPECT_THROW(core::make_optimizer("prox_sgd", {{{p}, reg("l1"), 0.1}},
                                    core::OptionMap(nlohmann::json{{"form", "proxgen_code"}, {"rho0", 0.5}})),
               Error);  // the Prox-SGD schedules are not options of ProxSGDL1
  EXPECT_THROW(core::make_optimizer("binary_connect", {{{p}, reg("l1"), 0.1}},
                                    core::OptionMap(nlohmann::json{{"update", "rmsprop"}})),
               Error);
}

}  // namespace
