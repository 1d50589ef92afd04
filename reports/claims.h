// Paper claims as checks over the results store (DESIGN.md §7).
//
// An experiment YAML may list the claims its paper makes about the experiment:
//
//   claims:
//     - id: study1-proxsgd-zero-start                 # [A-Za-z0-9._-]+, unique in the file
//       text: "Prox-SGD returns all zeros from a zero start"
//       source: "ProxGen §5 Study 1, Figure 3"
//       check: {kind: threshold, a: {label: Prox-SGD, where: {init: zero}}, metric: nnz,
//               op: "<=", value: 0, over_seeds: all}
//       paper_scale: {problem.options.dataset: cifar10, budget.epochs: 300}   # optional
//
// The report (reports/report.h) evaluates every claim from the stored runs only — the document is
// read back from experiment.json — and writes claims.md, claims.csv, claims.json and a "Paper
// claims" section at the top of index.html. A verdict is one of
//   reproduced      the check holds, beyond the stated margin and the seed noise
//   not_reproduced  it fails, beyond the margin and the seed noise
//   inconclusive    runs missing or failed, or the decisive difference lies within the margin /
//                   seed noise; with `paper_scale`, also whenever the runs were not made at the
//                   paper's scale ("inconclusive at this scale": the computed outcome is still
//                   shown as `outcome_at_this_scale`).
// Each verdict carries the numbers that decide it (`detail`, one line, and `numbers`, a JSON map).
//
// Selectors (`a`, `b`): {label: <optimizer label>, where: {key: value, ...}}. A `where` key is a
// dotted spec path (`problem.options.init`, `regularizer.name`, `lambda`) or a short name matched
// against the last component of any spec path (`init`, `q`, `model`), `regularizer` meaning
// regularizer.name. Values compare as numbers when both are numbers, else as strings. A selector
// picks the configs (runs equal up to the seed) that match; only runs with status completed count.
// Per config the metric is aggregated over the seeds: the mean (and its standard error
// std/sqrt(n) as the seed noise; one seed → no noise estimate, only the margin applies).
//
// Check kinds (the registry: `check_kinds()`; parameters beyond `kind`):
//   threshold   a, metric, op (< <= > >= ==), value, margin = 0 (== : |x − value| ≤ margin),
//               over_seeds = mean | all | any. Every selected config must pass: mean → the seed mean
//               passes (a fail within margin + 2·SE is inconclusive); all / any → every / some seed
//               value passes (margins apply to each value).
//   compare     a, b, metric, better = higher | lower, margin = 0, noise_sigmas = 2, pair_on (optional
//               list of where-keys). Configs of a and b are paired on everything but the optimizer
//               (on the pair_on keys only, when given; a single config on each side pairs anyway —
//               a baseline with its own regularizer or problem options); per pair d = (mean_a − mean_b)·sign,
//               noise = max(margin, noise_sigmas·sqrt(SE_a² + SE_b²)); reproduced if d > noise for
//               every pair, not reproduced if d < −noise for some pair, else inconclusive.
//   gap_trend   a, b, metric, along (a where-key, e.g. regularizer), order (its values, in the
//               paper's order, e.g. [l1, l23, l12] for q decreasing), measure = ratio | difference,
//               better = lower (a's metric is better when lower: gap = b/a or b − a; higher: a/b or
//               a − b), margin = 0. The gap of a over b must grow along `order`: reproduced if every
//               step grows by more than margin, not reproduced if some step shrinks by more than
//               margin, else inconclusive.
//   better_at_similar  a, b, better: {metric, direction = higher | lower, margin = 0},
//               similar: {metric, tolerance, direction (optional)}, noise_sigmas = 2. Pairs as in
//               compare. "a is better on `better.metric` at a similar `similar.metric`": if the
//               similar metric differs by more than tolerance, the pair is inconclusive — unless
//               `similar.direction` is given and a is also better on it (a dominates: counts as
//               similar) or worse (not reproduced). Otherwise as compare on better.metric.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "reports/report.h"

namespace proxbench::reports {

enum class Verdict { Reproduced, NotReproduced, Inconclusive };
/// "reproduced", "not reproduced", "inconclusive".
std::string verdict_text(Verdict v);

/// The verdict of one claim.
struct ClaimResult {
  std::string id, text, source, kind;
  Verdict verdict = Verdict::Inconclusive;
  bool at_this_scale = false;               ///< inconclusive only because the runs are not at paper_scale
  Verdict outcome = Verdict::Inconclusive;  ///< the check's own outcome (before paper_scale)
  std::string detail;                       ///< one line with the deciding numbers
  nlohmann::json numbers = nlohmann::json::object();
  /// "reproduced", "not reproduced", "inconclusive", "inconclusive at this scale".
  std::string display() const;
};

/// Check kinds: name → one-line description.
const std::vector<std::pair<std::string, std::string>>& check_kinds();

/// Validates a `claims:` list (structure, ids, kinds and their parameters). Throws
/// proxbench::Error naming `where` ("file: 'claims[2].check.op'") on the first problem.
void validate_claims(const nlohmann::json& claims, const std::string& where);

/// Evaluates one claim (a validated entry of `claims:`) on the results.
ClaimResult evaluate_claim(const ExperimentResults& r, const nlohmann::json& claim);
/// Evaluates every claim of r.experiment["document"]["claims"] (none → empty).
std::vector<ClaimResult> evaluate_claims(const ExperimentResults& r);

/// Writes claims.md, claims.csv, claims.json and a section of the report; nothing when there are
/// no claims. claims.json: {"experiment", "claims": [{id, text, source, kind, verdict, outcome,
/// at_this_scale, detail, numbers}], "counts": {reproduced, not_reproduced, inconclusive}}.
void write_claims(const ExperimentResults& r, ReportWriter& out);

}  // namespace proxbench::reports
