// Regularizer API: registry contents and flags, parameter validation messages, τ validation,
// value / subgradient against the definitions, τ = 0 identity, JSON round trip, non-contiguous
// tensors, and the `proxbench prox` CLI end to end through the built binary.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "prox_test_util.h"

namespace proxbench::test {
namespace {

using core::make_regularizer;
using core::OptionMap;

TEST(ProxApi, RegistryAndFlags) {
  const auto names = core::regularizer_registry().names();
  for (const char* n : {"none", "l0", "l1", "l12", "l23", "lq", "mcp", "scad", "group_l21", "binary_quant"})
    EXPECT_NE(std::find(names.begin(), names.end(), n), names.end()) << n;
  for (const auto* e : core::regularizer_registry().entries()) {
    EXPECT_FALSE(e->description.empty()) << e->name;
    EXPECT_FALSE(e->flags.empty()) << e->name;
    for (const auto& p : e->params) EXPECT_NE(p.description.find("in "), std::string::npos) << e->name << "." << p.name;
  }
  auto flags = [](const char* n) {
    auto r = make_regularizer(n, OptionMap());
    return std::string(r->convex() ? "c" : "-") + (r->separable() ? "s" : "-") + (r->has_subgradient() ? "g" : "-");
  };
  EXPECT_EQ(flags("none"), "csg");
  EXPECT_EQ(flags("l1"), "csg");
  EXPECT_EQ(flags("l0"), "-s-");
  EXPECT_EQ(flags("l12"), "-sg");
  EXPECT_EQ(flags("l23"), "-sg");
  EXPECT_EQ(flags("lq"), "-sg");
  EXPECT_EQ(flags("mcp"), "-sg");
  EXPECT_EQ(flags("scad"), "-sg");
  EXPECT_EQ(flags("binary_quant"), "-sg");
  EXPECT_EQ(flags("group_l21"), "c-g");
}

void expect_error(const std::string& reg, nlohmann::json params, const std::vector<std::string>& parts) {
  try {
    make_regularizer(reg, OptionMap(params));
    ADD_FAILURE() << reg << " " << params.dump() << " was accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    for (const auto& p : parts) EXPECT_NE(m.find(p), std::string::npos) << "message '" << m << "' lacks '" << p << "'";
  }
}

TEST(ProxApi, InvalidParametersNameParameterAndRange) {
  expect_error("lq", {{"q", 1.5}}, {"'lq'", "'q'", "1.5", "(0, 1)"});
  expect_error("lq", {{"q", 0.0}}, {"'lq'", "'q'", "(0, 1)"});
  expect_error("lq", {{"q", 1.0}}, {"'lq'", "'q'", "(0, 1)"});
  expect_error("lq", {{"q", "nan"}}, {"'lq'", "'q'", "NaN", "(0, 1)"});
  expect_error("binary_quant", {{"q", 0.0}}, {"'binary_quant'", "'q'", "(0, 1]"});
  expect_error("binary_quant", {{"q", 1.01}}, {"'binary_quant'", "'q'", "(0, 1]"});
  expect_error("mcp", {{"gamma", 0.0}}, {"'mcp'", "'gamma'", "(0, inf)"});
  expect_error("mcp", {{"gamma", -2.0}}, {"'mcp'", "'gamma'", "-2"});
  expect_error("mcp", {{"lam_p", "nan"}}, {"'mcp'", "'lam_p'", "NaN"});
  expect_error("scad", {{"a", 2.0}}, {"'scad'", "'a'", "(2, inf)"});
  expect_error("scad", {{"a", "nan"}}, {"'scad'", "'a'", "(2, inf)"});
  expect_error("scad", {{"lam_p", 0.0}}, {"'scad'", "'lam_p'"});
  expect_error("group_l21", {{"layout", "diagonal"}}, {"'group_l21'", "'layout'", "rows, columns, whole"});
  expect_error("l1", {{"q", 0.5}}, {"'l1'", "unknown option 'q'"});
  expect_error("lqq", {}, {"unknown regularizer 'lqq'"});
  // boundary values that are valid
  EXPECT_NO_THROW(make_regularizer("binary_quant", OptionMap(nlohmann::json{{"q", 1.0}})));
  EXPECT_NO_THROW(make_regularizer("scad", OptionMap(nlohmann::json{{"a", 2.0000001}})));
  // the CLI's --param path (strings) validates the same way
  EXPECT_THROW(make_regularizer("lq", OptionMap::from_key_values({"q=nan"}, "x")), Error);
}

TEST(ProxApi, InvalidTauRejected) {
  for (const char* n : {"l1", "l12", "mcp", "group_l21"}) {
    auto r = make_regularizer(n, OptionMap());
    auto z = torch::ones({6}, torch::kDouble);
    for (double bad : {-1e-300, -1.0, std::nan(""), double(INFINITY)}) {
      try {
        r->prox_(z, bad);
        ADD_FAILURE() << n << " accepted scalar tau " << bad;
      } catch (const Error& e) {
        EXPECT_NE(std::string(e.what()).find("tau"), std::string::npos) << e.what();
        EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
      }
      auto t = torch::full({6}, 0.5, torch::kDouble);
      t[3] = bad;
      EXPECT_THROW(r->prox_(z, t), Error) << n << " accepted a per-coordinate tau " << bad;
      if (bad != -1e-300) {  // -1e-300 rounds to -0.0f, a valid τ = 0
        auto t32 = t.to(torch::kFloat);
        auto z32 = z.to(torch::kFloat);
        EXPECT_THROW(r->prox_(z32, t32), Error) << n << " float32 " << bad;
      }
    }
    auto wrong = torch::full({5}, 0.5, torch::kDouble);
    EXPECT_THROW(r->prox_(z, wrong), Error);
  }
}

TEST(ProxApi, ZeroTauIsIdentity) {
  auto z = torch::tensor({-3.0, -1.0, -1e-9, 0.0, 1e-9, 0.5, 1.0, 2.0, 1e3}, torch::kDouble);
  for (const auto& [name, kind] : separable_regs()) {
    auto r = make_regularizer(name, OptionMap());
    for (auto dt : {torch::kDouble, torch::kFloat}) {
      auto x = z.to(dt);
      r->prox_(x, 0.0);
      EXPECT_TRUE(torch::equal(x, z.to(dt))) << name;
    }
  }
  auto g = make_regularizer("group_l21", OptionMap());
  auto x = z.reshape({3, 3}).clone();
  g->prox_(x, 0.0);
  EXPECT_TRUE(torch::equal(x, z.reshape({3, 3})));
}

TEST(ProxApi, ValueMatchesDefinition) {
  torch::manual_seed(1);
  auto x = torch::randn({4099}, torch::kDouble) * 3;
  x[0] = 0, x[1] = 1, x[2] = -1;
  Sampler smp(5);
  for (const auto& [name, kind] : separable_regs()) {
    for (int rep = 0; rep < 3; ++rep) {
      auto r = make_regularizer(name, OptionMap(smp.params(kind)));
      double ref = 0;
      for (int64_t i = 0; i < x.numel(); ++i) ref += r_ref(r->spec(), x[i].item<double>());
      EXPECT_NEAR(r->value(x), ref, 1e-12 * std::max(1.0, ref)) << name;
      EXPECT_NEAR(r->value(x.to(torch::kFloat)), ref, 1e-5 * std::max(1.0, ref)) << name << " float32";
    }
  }
}

TEST(ProxApi, SubgradientMatchesDerivative) {
  Sampler smp(6);
  torch::manual_seed(2);
  auto x = torch::randn({2000}, torch::kDouble) * 2;
  for (const auto& [name, kind] : separable_regs()) {
    auto r = make_regularizer(name, OptionMap(smp.params(kind)));
    auto g = torch::empty_like(x);
    if (!r->has_subgradient()) {
      EXPECT_THROW(r->subgradient(x, g), Error) << name;
      continue;
    }
    r->subgradient(x, g);
    const auto& s = r->spec();
    for (int64_t i = 0; i < x.numel(); ++i) {
      const double xi = x[i].item<double>(), h = 1e-6 * std::max(1.0, std::fabs(xi));
      // skip points within 10h of a kink (0, ±1, knots)
      bool near_kink = std::fabs(xi) < 10 * h || std::fabs(std::fabs(xi) - 1) < 10 * h ||
                       std::fabs(std::fabs(xi) - s.lam_p) < 10 * h ||
                       std::fabs(std::fabs(xi) - s.gamma * s.lam_p) < 10 * h || std::fabs(std::fabs(xi) - s.a * s.lam_p) < 10 * h;
      if (near_kink) continue;
      const double num = (r_ref(s, xi + h) - r_ref(s, xi - h)) / (2 * h);
      EXPECT_NEAR(g[i].item<double>(), num, 1e-5 * std::max(1.0, std::fabs(num))) << name << " at " << xi;
    }
  }
  // documented values at the non-differentiable points
  auto at = [](const char* n, nlohmann::json p, double xv) {
    auto r = make_regularizer(n, OptionMap(p));
    auto xt = torch::tensor({xv}, torch::kDouble), gt = torch::empty_like(xt);
    r->subgradient(xt, gt);
    return gt[0].item<double>();
  };
  EXPECT_EQ(at("l1", {}, 0.0), 0.0);
  EXPECT_EQ(at("l12", {}, 0.0), 0.0);
  EXPECT_EQ(at("lq", {{"q", 0.3}}, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(at("l12", {}, 1e-20), 0.5 / std::sqrt(1e-8));  // |x| floored at 1e-8
  EXPECT_EQ(at("binary_quant", {}, 1.0), 0.0);
  EXPECT_EQ(at("binary_quant", {}, -1.0), 0.0);
  EXPECT_EQ(at("binary_quant", {{"q", 0.5}}, 0.0), -0.5);
  EXPECT_TRUE(std::isfinite(at("binary_quant", {{"q", 0.5}}, 1.0 + 1e-15)));
  EXPECT_EQ(at("mcp", {}, 0.0), 0.0);
  EXPECT_EQ(at("scad", {}, 0.0), 0.0);
}

TEST(ProxApi, JsonRoundTripAndNonContiguous) {
  auto r = make_regularizer("scad", OptionMap(nlohmann::json{{"a", 4.5}, {"lam_p", 0.25}}));
  auto j = r->to_json();
  EXPECT_EQ(j["name"], "scad");
  auto r2 = make_regularizer(j);
  EXPECT_EQ(r2->spec().a, 4.5);
  EXPECT_EQ(r2->spec().lam_p, 0.25);
  auto g = make_regularizer(nlohmann::json{{"name", "group_l21"}, {"layout", "columns"}});
  EXPECT_EQ(g->group_layout(), core::GroupLayout::Columns);

  auto l1 = make_regularizer("l1", OptionMap());
  auto base = torch::arange(12, torch::kDouble).reshape({3, 4}) - 5.5;
  auto zt = base.clone().t();  // non-contiguous view
  auto tau = torch::full({4, 3}, 2.0, torch::kDouble);
  l1->prox_(zt, tau);
  auto expect = (base.t().abs() - 2).clamp_min(0) * base.t().sign();
  EXPECT_TRUE(torch::equal(zt, expect));
}

// ---- CLI end to end ---------------------------------------------------------------------------

struct CliResult {
  int rc;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

CliResult run_cli(const std::string& args, const std::string& input) {
  const std::string dir = ::testing::TempDir();
  const std::string in = dir + "/pb_prox_in.txt", out = dir + "/pb_prox_out.txt", err = dir + "/pb_prox_err.txt";
  std::ofstream(in) << input;
  const std::string cmd = std::string("\"") + PROXBENCH_CLI_PATH + "\" " + args + " < " + in + " > " + out + " 2> " + err;
  const int status = std::system(cmd.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, slurp(out), slurp(err)};
}

TEST(ProxCli, SeparableLines) {
  auto r = run_cli("prox --reg l12", "# comment\n6,8\n\n-6.5,8\n2,0.5\n0,1\n");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::istringstream ss(r.out);
  std::vector<std::string> lines;
  for (std::string l; std::getline(ss, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 4u) << r.out;
  EXPECT_EQ(lines[0], "0");  // exact tie → 0
  const double x1 = std::stod(lines[1]);
  EXPECT_LT(x1, -4);
  EXPECT_EQ(lines[3], "0");
  // 17 significant digits, equal to the library's value
  auto reg = make_regularizer("l12", OptionMap());
  auto z = torch::tensor({-6.5, 2.0}, torch::kDouble);
  reg->prox_(z, torch::tensor({8.0, 0.5}, torch::kDouble));
  EXPECT_EQ(lines[1], format_double(z[0].item<double>()));
  EXPECT_EQ(lines[2], format_double(z[1].item<double>()));
}

TEST(ProxCli, ParamsAndGroups) {
  auto r = run_cli("prox --reg mcp --param lam_p=1 --param gamma=1", "2,4\n2.0001,4\n");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "0\n2.0001000000000002\n");
  r = run_cli("prox --reg group_l21", "3;4,1\n0;3,3\n1;-2;0.5,0.1;1;10\n");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::istringstream ss(r.out);
  std::string l1, l2, l3;
  std::getline(ss, l1), std::getline(ss, l2), std::getline(ss, l3);
  EXPECT_EQ(l1, "2.4000000000000004;3.2000000000000002");
  EXPECT_EQ(l2, "0;0");
  const double xe[] = {0.9387751934717978, -1.210523682573353, 0.06647367082477014};  // golden group_diag row
  std::stringstream s3(l3);
  std::string tok;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(std::getline(s3, tok, ';'));
    EXPECT_NEAR(std::stod(tok), xe[i], 1e-13 * 2.3);
  }
}

TEST(ProxCli, BadLinesNameTheLine) {
  auto r = run_cli("prox --reg l1", "1,0.5\n# ok\n2;3,1\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("line 3"), std::string::npos) << r.err;
  r = run_cli("prox --reg l1", "1,-0.5\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("line 1"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("tau"), std::string::npos) << r.err;
  r = run_cli("prox --reg lq --param q=2", "1,1\n");
  EXPECT_EQ(r.rc, 2);
  EXPECT_NE(r.err.find("'q'"), std::string::npos) << r.err;
}

TEST(ProxCli, ListRegularizers) {
  auto r = run_cli("list regularizers", "");
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* n : {"binary_quant", "group_l21", "lq", "mcp", "scad", "--param q=0.5", "--param a=3.7"})
    EXPECT_NE(r.out.find(n), std::string::npos) << n;
}

}  // namespace
}  // namespace proxbench::test
