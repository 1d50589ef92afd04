// Paper claims (reports/claims.h) on synthetic results stores: every check kind reaching each
// verdict (reproduced, not reproduced, inconclusive from noise/margin and from missing or failed
// runs), paper_scale → "inconclusive at this scale", validation errors, and the files a report
// writes (claims.md / .csv / .json, the index.html section).
#include <gtest/gtest.h>

#include <filesystem>

#include "core/common.h"
#include "harness/experiment.h"
#include "harness/io.h"
#include "reports/claims.h"
#include "reports/report.h"
#include "tests/test_harness_support.h"

using namespace proxbench;
using nlohmann::json;
using reports::Verdict;
namespace fs = std::filesystem;

namespace {

/// A synthetic results store: runs given by label, spec extras and metrics.
struct Store {
  test_util::TempDir tmp;
  json doc = {{"name", "syn"}};
  json ids = json::array();
  int next = 0;
  std::string dir() const { return (tmp.path / "syn").string(); }
  /// `where`: {"init": "zero", "regularizer": "l1", "epochs": 4, "q": ...}
  void add(const std::string& label, const json& where_in, int seed, const json& metrics,
           const std::string& status = "completed") {
    const json where = where_in.is_object() ? where_in : json::object();  // {} arrives as null
    json popts = {{"init", where.value("init", "random")}};
    if (where.contains("model")) popts["model"] = where["model"];
    json spec = {{"experiment", "syn"},
                 {"problem", {{"name", "classification"}, {"options", popts}}},
                 {"regularizer", {{"name", where.value("regularizer", "l1")}, {"options", json::object()}}},
                 {"lambda", where.value("lambda", 0.1)},
                 {"optimizer", {{"name", "x"}, {"label", label}, {"options", json::object()}}},
                 {"budget", {{"epochs", where.value("epochs", 4)}}},
                 {"seed", seed}};
    const std::string id = "run" + std::to_string(next++);
    fs::create_directories(tmp.path / "syn" / id);
    harness::write_text_atomic(dir() + "/" + id + "/spec.json", spec.dump());
    harness::write_text_atomic(dir() + "/" + id + "/summary.json",
                               json{{"status", status}, {"metrics", metrics}}.dump());
    ids.push_back(id);
  }
  reports::ExperimentResults load(const json& claims) {
    if (!claims.is_null()) doc["claims"] = claims;
    harness::write_text_atomic(dir() + "/experiment.json",
                               json{{"name", "syn"}, {"document", doc}, {"runs", ids}}.dump());
    return reports::load_results(dir());
  }
};

json sel(const std::string& label, const json& where = json::object()) {
  return where.empty() ? json{{"label", label}} : json{{"label", label}, {"where", where}};
}

reports::ClaimResult one(Store& s, const json& check, const json& extra = json::object()) {
  json claim = {{"id", "c"}, {"text", "t"}, {"source", "s"}, {"check", check}};
  for (auto it = extra.begin(); it != extra.end(); ++it) claim[it.key()] = it.value();
  reports::validate_claims(json::array({claim}), "test");
  auto r = s.load(json::array({claim}));
  return reports::evaluate_claim(r, claim);
}

}  // namespace

TEST(ClaimsThreshold, AllSeedsVerdicts) {
  Store s;
  // Prox-SGD from a zero start: 0, 0 non-zeros (claim holds); from a random start 100, 97 (one seed fails)
  s.add("Prox-SGD", {{"init", "zero"}}, 1, {{"nnz", 0}});
  s.add("Prox-SGD", {{"init", "zero"}}, 2, {{"nnz", 0}});
  s.add("Prox-SGD", {{"init", "random"}}, 1, {{"nnz", 100}});
  s.add("Prox-SGD", {{"init", "random"}}, 2, {{"nnz", 97}});
  auto zero = json{{"kind", "threshold"}, {"a", sel("Prox-SGD", {{"init", "zero"}})},
                   {"metric", "nnz"},     {"op", "<="},
                   {"value", 0},          {"over_seeds", "all"}};
  EXPECT_EQ(one(s, zero).verdict, Verdict::Reproduced);
  auto rnd = json{{"kind", "threshold"}, {"a", sel("Prox-SGD", {{"init", "random"}})},
                  {"metric", "nnz"},     {"op", ">="},
                  {"value", 100},        {"over_seeds", "all"}};
  auto r = one(s, rnd);
  EXPECT_EQ(r.verdict, Verdict::NotReproduced) << r.detail;
  EXPECT_NE(r.detail.find("97"), std::string::npos) << r.detail;
  rnd["over_seeds"] = "any";
  EXPECT_EQ(one(s, rnd).verdict, Verdict::Reproduced);
  // a failure of 3 within a margin of 5 is inconclusive
  rnd["over_seeds"] = "all";
  rnd["margin"] = 5;
  EXPECT_EQ(one(s, rnd).verdict, Verdict::Inconclusive);
  // == with a tolerance
  auto eq = json{{"kind", "threshold"}, {"a", sel("Prox-SGD", {{"init", "random"}})},
                 {"metric", "nnz"},     {"op", "=="},
                 {"value", 98},         {"margin", 2}};
  EXPECT_EQ(one(s, eq).verdict, Verdict::Reproduced);  // mean 98.5
  eq["margin"] = 0.1;  // mean 98.5 misses by 0.4, within 2 SE (1.5): inconclusive; each seed misses by > 0.1
  EXPECT_EQ(one(s, eq).verdict, Verdict::Inconclusive);
  eq["over_seeds"] = "all";
  EXPECT_EQ(one(s, eq).verdict, Verdict::NotReproduced);
}

TEST(ClaimsThreshold, MeanModeNoiseAndMissingRuns) {
  Store s;
  s.add("A", {}, 1, {{"f1", 0.90}});
  s.add("A", {}, 2, {{"f1", 0.98}});
  s.add("B", {}, 1, {{"f1", 0.5}}, "error");
  auto c = json{{"kind", "threshold"}, {"a", sel("A")}, {"metric", "f1"}, {"op", ">="}, {"value", 0.95}};
  // mean 0.94, SE 0.04: the shortfall 0.01 is within 2 SE
  EXPECT_EQ(one(s, c).verdict, Verdict::Inconclusive);
  c["value"] = 0.5;
  EXPECT_EQ(one(s, c).verdict, Verdict::Reproduced);
  c["value"] = 1.2;  // shortfall 0.26 > 2 SE = 0.08
  EXPECT_EQ(one(s, c).verdict, Verdict::NotReproduced);
  c["a"] = sel("B");  // only a failed run
  auto r = one(s, c);
  EXPECT_EQ(r.verdict, Verdict::Inconclusive);
  EXPECT_NE(r.detail.find("missing or failed"), std::string::npos) << r.detail;
  c["a"] = sel("nobody");
  EXPECT_EQ(one(s, c).verdict, Verdict::Inconclusive);
}

TEST(ClaimsCompare, PairsNoiseAndVerdicts) {
  Store s;
  for (int seed = 1; seed <= 3; ++seed) {
    s.add("ProxGen", {}, seed, {{"acc", 90.0 + seed * 0.1}, {"obj", 1.0}});
    s.add("ProxQuant", {}, seed, {{"acc", 80.0 + seed * 0.1}, {"obj", 1.0 + 0.002 * (seed - 1)}});
  }
  auto c = json{
      {"kind", "compare"}, {"a", sel("ProxGen")}, {"b", sel("ProxQuant")}, {"metric", "acc"}, {"better", "higher"}};
  auto r = one(s, c);
  EXPECT_EQ(r.verdict, Verdict::Reproduced) << r.detail;
  EXPECT_NEAR(r.numbers["pairs"][0]["advantage"].get<double>(), 10.0, 1e-9);
  c["better"] = "lower";
  EXPECT_EQ(one(s, c).verdict, Verdict::NotReproduced);
  c["margin"] = 20;
  EXPECT_EQ(one(s, c).verdict, Verdict::Inconclusive);
  // objectives differ by 0.002 with SE 1.15e-3: within 2 sigma → inconclusive
  auto o =
      json{{"kind", "compare"}, {"a", sel("ProxGen")}, {"b", sel("ProxQuant")}, {"metric", "obj"}, {"better", "lower"}};
  EXPECT_EQ(one(s, o).verdict, Verdict::Inconclusive);
  o["noise_sigmas"] = 0;
  EXPECT_EQ(one(s, o).verdict, Verdict::Reproduced);
}

TEST(ClaimsCompare, FailedOrUnpairedRunsAreInconclusive) {
  Store s;
  s.add("A", {{"lambda", 0.1}}, 1, {{"acc", 90}});
  s.add("A", {{"lambda", 0.3}}, 1, {{"acc", 91}});
  s.add("B", {{"lambda", 0.2}}, 1, {{"acc", 80}});
  s.add("C", {{"lambda", 0.1}}, 1, {{"acc", 80}}, "diverged");
  auto c = json{{"kind", "compare"}, {"a", sel("A")}, {"b", sel("B")}, {"metric", "acc"}, {"better", "higher"}};
  auto r = one(s, c);
  EXPECT_EQ(r.verdict, Verdict::Inconclusive);
  EXPECT_NE(r.detail.find("differ in more than the optimizer"), std::string::npos) << r.detail;
  c["pair_on"] = {"regularizer"};  // both A configs pair with B on the regularizer only
  r = one(s, c);
  EXPECT_EQ(r.verdict, Verdict::Reproduced) << r.detail;
  EXPECT_EQ(r.numbers["pairs"].size(), 2u);
  c.erase("pair_on");
  c["a"] = sel("A", {{"lambda", 0.3}});  // one config on each side: paired despite λ
  EXPECT_EQ(one(s, c).verdict, Verdict::Reproduced);
  c["a"] = sel("A");
  c["b"] = sel("C");  // pairs with A at λ = 0.1, whose only run diverged
  r = one(s, c);
  EXPECT_EQ(r.verdict, Verdict::Inconclusive);
  EXPECT_NE(r.detail.find("missing or failed"), std::string::npos) << r.detail;
}

TEST(ClaimsGapTrend, GrowsShrinksFlatMissing) {
  Store s;
  // F of subgradient / F of ProxGen: l1 1.0, l23 1.5, l12 3.0 (grows as q decreases)
  const std::vector<std::tuple<std::string, double, double>> rows = {
      {"l1", 1.0, 1.0}, {"l23", 1.0, 1.5}, {"l12", 1.0, 3.0}};
  for (auto& [reg, a, b] : rows) {
    s.add("ProxGen", {{"regularizer", reg}}, 1, {{"objective", a}});
    s.add("Subgradient", {{"regularizer", reg}}, 1, {{"objective", b}});
  }
  auto c = json{{"kind", "gap_trend"},   {"a", sel("ProxGen")},    {"b", sel("Subgradient")},
                {"metric", "objective"}, {"along", "regularizer"}, {"order", {"l1", "l23", "l12"}}};
  auto r = one(s, c);
  EXPECT_EQ(r.verdict, Verdict::Reproduced) << r.detail;
  EXPECT_NEAR(r.numbers["gaps"][2]["gap"].get<double>(), 3.0, 1e-12);
  c["order"] = {"l12", "l23", "l1"};
  EXPECT_EQ(one(s, c).verdict, Verdict::NotReproduced);
  c["order"] = {"l1", "l23", "l12"};
  c["margin"] = 0.7;  // the first step (+0.5) is within the margin, the second (+1.5) is not
  EXPECT_EQ(one(s, c).verdict, Verdict::Inconclusive);
  c["measure"] = "difference";
  c["margin"] = 0;
  EXPECT_EQ(one(s, c).verdict, Verdict::Reproduced);
  c["order"] = {"l1", "l0"};
  EXPECT_EQ(one(s, c).verdict, Verdict::Inconclusive);
}

TEST(ClaimsBetterAtSimilar, SparserAtSimilarAccuracy) {
  Store s;
  s.add("SR2", {{"lambda", 0.001}}, 1, {{"pct_zero", 90}, {"test_accuracy", 91}});
  s.add("ProxGen", {{"lambda", 0.001}}, 1, {{"pct_zero", 40}, {"test_accuracy", 91.5}});
  s.add("Prox-SGD", {{"lambda", 0.001}}, 1, {{"pct_zero", 10}, {"test_accuracy", 70}});
  s.add("Dense", {{"lambda", 0.001}}, 1, {{"pct_zero", 99}, {"test_accuracy", 92}});
  auto c = json{{"kind", "better_at_similar"},
                {"a", sel("SR2")},
                {"b", sel("ProxGen")},
                {"better", {{"metric", "pct_zero"}, {"direction", "higher"}, {"margin", 5}}},
                {"similar", {{"metric", "test_accuracy"}, {"tolerance", 1.0}}}};
  auto r = one(s, c);
  EXPECT_EQ(r.verdict, Verdict::Reproduced) << r.detail;
  c["b"] = sel("Prox-SGD");  // 21 points apart: not similar, no direction → inconclusive
  EXPECT_EQ(one(s, c).verdict, Verdict::Inconclusive);
  c["similar"]["direction"] = "higher";  // SR2 better on accuracy too: dominates
  EXPECT_EQ(one(s, c).verdict, Verdict::Reproduced);
  c["b"] = sel("Dense");  // less sparse (90 < 99) and within tolerance on accuracy
  EXPECT_EQ(one(s, c).verdict, Verdict::NotReproduced);
  c["b"] = sel("ProxGen");
  c["a"] = sel("Prox-SGD");  // less accurate beyond tolerance with direction → not reproduced
  EXPECT_EQ(one(s, c).verdict, Verdict::NotReproduced);
}

TEST(ClaimsPaperScale, InconclusiveAtThisScaleKeepsTheOutcome) {
  Store s;
  s.add("A", {{"epochs", 4}}, 1, {{"acc", 90}});
  s.add("B", {{"epochs", 4}}, 1, {{"acc", 80}});
  auto c = json{{"kind", "compare"}, {"a", sel("A")}, {"b", sel("B")}, {"metric", "acc"}, {"better", "higher"}};
  auto r = one(s, c, {{"paper_scale", {{"budget.epochs", 300}}}});
  EXPECT_EQ(r.verdict, Verdict::Inconclusive);
  EXPECT_TRUE(r.at_this_scale);
  EXPECT_EQ(r.outcome, Verdict::Reproduced);
  EXPECT_EQ(r.display(), "inconclusive at this scale");
  EXPECT_NE(r.detail.find("budget.epochs = 4"), std::string::npos) << r.detail;
  r = one(s, c, {{"paper_scale", {{"epochs", 4}, {"regularizer", "l1"}}}});
  EXPECT_FALSE(r.at_this_scale);
  EXPECT_EQ(r.verdict, Verdict::Reproduced);
}

TEST(ClaimsValidation, ErrorsNameThePath) {
  auto claim = [](json check) {
    return json::array({{{"id", "x"}, {"text", "t"}, {"source", "s"}, {"check", check}}});
  };
  auto msg = [](const json& cl) {
    try {
      reports::validate_claims(cl, "f.yaml");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(msg(claim({{"kind", "vibes"}})).find("unknown check kind 'vibes' (known: threshold"), std::string::npos);
  EXPECT_NE(msg(claim({{"kind", "threshold"}, {"a", sel("A")}, {"metric", "m"}, {"op", "~"}, {"value", 1}}))
                .find("'claims[0].check.op': must be one of"),
            std::string::npos);
  EXPECT_NE(msg(claim({{"kind", "compare"}, {"a", sel("A")}, {"metric", "m"}, {"better", "higher"}}))
                .find("check.b': required"),
            std::string::npos);
  json two = claim({{"kind", "threshold"}, {"a", sel("A")}, {"metric", "m"}, {"op", "<"}, {"value", 1}});
  two.push_back(two[0]);
  EXPECT_NE(msg(two).find("duplicate id 'x'"), std::string::npos);
  EXPECT_EQ(msg(two[0].is_object() ? json::array({two[0]}) : two), "");
  // through an experiment YAML: the error carries the file's line
  const std::string yaml = R"(name: e
problem: {name: lasso, n: 20, p: 5, k: 2}
optimizers: [{name: test_prox_gd}]
claims:
  - id: a
    text: t
    source: s
    check: {kind: threshold, a: {label: x}, metric: nnz, op: "<=", value: 0, over_seeds: most}
)";
  try {
    std::map<std::string, int> lines;
    harness::make_experiment(harness::yaml_to_json(yaml, "e.yaml", &lines), "e.yaml", lines);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("e.yaml:8: 'claims[0].check.over_seeds'"), std::string::npos) << e.what();
  }
}

TEST(ClaimsReport, WritesMarkdownCsvJsonAndIndexSection) {
  Store s;
  s.add("A", {}, 1, {{"nnz", 150}});
  s.add("B", {}, 1, {{"nnz", 0}});
  json claims = json::array(
      {{{"id", "zero-start"},
        {"text", "A stays at zero"},
        {"source", "ProxGen §5 Study 1"},
        {"check",
         {{"kind", "threshold"},
          {"a", sel("A")},
          {"metric", "nnz"},
          {"op", "<="},
          {"value", 0},
          {"over_seeds", "all"}}}},
       {{"id", "b-zero"},
        {"text", "B stays at zero"},
        {"source", "s"},
        {"check", {{"kind", "threshold"}, {"a", sel("B")}, {"metric", "nnz"}, {"op", "<="}, {"value", 0}}}},
       {{"id", "gone"},
        {"text", "C"},
        {"source", "s"},
        {"check", {{"kind", "threshold"}, {"a", sel("C")}, {"metric", "nnz"}, {"op", "<="}, {"value", 0}}}}});
  s.load(claims);
  auto out = (s.tmp.path / "rep").string();
  auto idx = reports::write_reports(s.dir(), out, false);
  ASSERT_EQ(idx.size(), 1u);
  json j = json::parse(harness::read_text(out + "/claims.json"));
  EXPECT_EQ(j["claims"].size(), 3u);
  EXPECT_EQ(j["claims"][0]["verdict"], "not_reproduced");
  EXPECT_EQ(j["claims"][1]["verdict"], "reproduced");
  EXPECT_EQ(j["claims"][2]["verdict"], "inconclusive");
  EXPECT_EQ(j["counts"]["reproduced"], 1);
  EXPECT_EQ(j["counts"]["not_reproduced"], 1);
  auto csv = harness::read_text(out + "/claims.csv");
  EXPECT_NE(csv.find("\"zero-start\",\"A stays at zero\",\"ProxGen §5 Study 1\",threshold,not_reproduced"),
            std::string::npos)
      << csv;
  auto md = harness::read_text(out + "/claims.md");
  EXPECT_NE(md.find("**not reproduced**"), std::string::npos) << md;
  EXPECT_NE(md.find("nnz = 150"), std::string::npos) << md;
  auto html = harness::read_text(idx[0]);
  EXPECT_NE(html.find("<h2>Paper claims</h2>"), std::string::npos);
  EXPECT_LT(html.find("Paper claims"), html.find("<h2>Runs</h2>"));
}

TEST(ReportBinaryTable, PaperLayoutModelsByMethodsWithFullPrecisionColumn) {
  Store s;
  for (const char* model : {"resnet20", "resnet32"})
    for (int seed = 1; seed <= 2; ++seed) {
      const double m = std::string(model) == "resnet20" ? 10.0 : 8.0;
      s.add("BinaryConnect", {{"model", model}}, seed,
            {{"binary/test_error", m + seed}, {"warm_start/test_error", m - 2}, {"test_accuracy", 50}});
      s.add("ProxQuant", {{"model", model}}, seed, {{"binary/test_error", m + 0.5 * seed}, {"warm_start/test_error", m - 2}});
    }
  s.doc["report"] = {{"recipes", {"net_binary_table"}}};
  s.load(json());
  auto out = (s.tmp.path / "rep").string();
  reports::write_reports(s.dir(), out, false);
  auto csv = harness::read_csv(out + "/net_binary_table.csv");
  ASSERT_EQ(csv.rows.size(), 2u);
  EXPECT_EQ(csv.columns[1], "full precision (32-bit) mean");
  // row resnet20: FP 8, BinaryConnect mean 11.5 (11, 12), ProxQuant 10.75 (10.5, 11)
  EXPECT_NEAR(csv.rows[0][1], 8.0, 1e-12);
  EXPECT_NEAR(csv.rows[0][4], 11.5, 1e-12);
  EXPECT_NEAR(csv.rows[0][5], std::sqrt(0.5), 1e-12);
  EXPECT_NEAR(csv.rows[0][7], 10.75, 1e-12);
  EXPECT_NEAR(csv.rows[1][4], 9.5, 1e-12);
  auto md = harness::read_text(out + "/net_binary_table.md");
  EXPECT_NE(md.find("| model | full precision (32-bit) | BinaryConnect | ProxQuant |"), std::string::npos) << md;
  EXPECT_NE(md.find("| resnet20 | 8 ± 0 | 11.5 ± 0.71 | 10.8 ± 0.35 |"), std::string::npos) << md;
}
