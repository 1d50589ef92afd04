// Synthetic Lasso support recovery (ProxGen Figure 3, Section 5 "Study 1"): the truth θ* is
// known, so an optimizer's final iterate can be scored on the support it recovers.
//
// Data (all from the data seed, deterministic):
//   X ∈ R^{n×p}, rows i.i.d. N(0, Σ) with Σ_jl = ρ^{|j−l|} (AR(1) columns; ρ = 0: i.i.d. N(0,1)),
//   θ* k-sparse: support of size k (random positions or the first k), magnitudes |θ*_j| uniform
//       in [magnitude, magnitude_max] (constant when equal), signs random / positive / alternating,
//   y = Xθ* + ε, ε_i ~ N(0, noise²).
// Objective (mean-loss scale, DESIGN.md §2):
//   F(θ) = f(θ) + λR(θ),   f(θ) = ½‖Xθ − y‖²/n,
//   minibatch loss f_B(θ) = ½‖X_Bθ − y_B‖²/|B| with ∇f_B = X_Bᵀ(X_Bθ − y_B)/|B|,
//   written straight into θ.grad (θ is a float64 torch::Tensor read through Eigen::Map, no copy).
//   ∇f is L-Lipschitz with L = λ_max(XᵀX/n), computed exactly (dense symmetric eigensolver,
//   p ≤ 2000; power iteration to 1e-13 relative change above).
//
// Reference solution (l1 only): cyclic coordinate descent on the full data, with the gradient
// recomputed exactly after every sweep, run until the exact stationarity
// dist(0, ∂F(θ)) ≤ reference_tol (default 1e-12) → θ_ref, F* = F(θ_ref). tests/test_lasso.cpp
// checks F* against an independent solver (FISTA with gradient restart on X, not on XᵀX).
//
// Metrics of evaluate() (full data, never counted as optimizer time):
//   loss f(θ), reg λR(θ), objective F(θ); nnz (exact non-zeros); support_precision = |Ŝ∩S*|/|Ŝ|
//   (0 when Ŝ = ∅, sklearn's convention), support_recall = |Ŝ∩S*|/|S*| (1 when S* = ∅),
//   support_f1 (0 when both are 0); sign_accuracy = fraction of the p coordinates with
//   sign(θ_j) = sign(θ*_j) (sign 0 = 0); estimation_error = ‖θ − θ*‖₂;
//   suboptimality = F(θ) − F* (l1 only, NaN otherwise);
//   stationarity = exact dist(0, ∇f(θ) + λ∂‖θ‖₁) for l1 (ProxGen's criterion, Section 3), the
//   prox-gradient mapping norm ‖θ − prox_{λR/L}(θ − ∇f(θ)/L)‖·L for any other R, ‖∇f‖ without R.
//
// Options (problem: map of the experiment): n, p, k, rho, noise, magnitude, magnitude_max, signs,
// support, batch_size, init (random | zero), init_scale, data_seed, save_data, reference_tol.
#pragma once
#include <Eigen/Dense>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/distributed.h"
#include "core/problem.h"

namespace proxbench::problems {

/// The data of one Lasso instance (also used by tests and the reference solvers).
struct LassoData {
  Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> X;  ///< n × p
  Eigen::VectorXd y;                                                         ///< n
  Eigen::VectorXd theta_star;                                                ///< p, k-sparse
};

/// Options of the synthetic instance (see the file comment for the model).
struct LassoDataOptions {
  int64_t n = 500, p = 100, k = 10;
  double rho = 0.0;            ///< AR(1) column correlation, in [0, 1)
  double noise = 0.1;          ///< standard deviation of ε, ≥ 0
  double magnitude = 1.0;      ///< smallest |θ*_j| on the support, > 0
  double magnitude_max = 1.0;  ///< largest |θ*_j|, ≥ magnitude
  std::string signs = "random";   ///< random | positive | alternating
  std::string support = "random"; ///< random | first
};

/// Draws an instance from `seed` (deterministic on a given platform).
LassoData make_lasso_data(const LassoDataOptions& o, uint64_t seed);

/// Result of a reference solve of min ½‖Xθ−y‖²/n + λ‖θ‖₁.
struct LassoSolution {
  Eigen::VectorXd theta;
  double objective = 0;   ///< F(θ)
  double kkt = 0;         ///< dist(0, ∂F(θ)) at the returned θ
  int64_t iterations = 0; ///< sweeps (CD) or iterations (FISTA)
  std::string solver;
};

/// Cyclic coordinate descent (the reference solver of the "lasso" problem).
LassoSolution lasso_coordinate_descent(const LassoData& d, double lambda, double tol = 1e-12,
                                       int64_t max_sweeps = 200000);
/// FISTA with gradient-based adaptive restart (O'Donoghue & Candès), step 1/L, on X directly:
/// the independent check of the coordinate-descent reference.
LassoSolution lasso_fista(const LassoData& d, double lambda, double tol = 1e-12, int64_t max_iter = 2000000);
/// Exact dist(0, ∇f(θ) + λ∂‖θ‖₁) (Euclidean) given the full gradient.
double l1_stationarity(const Eigen::VectorXd& theta, const Eigen::VectorXd& grad, double lambda);
/// ½‖Xθ−y‖²/n and its gradient Xᵀ(Xθ−y)/n.
double lasso_loss(const LassoData& d, const Eigen::VectorXd& theta, Eigen::VectorXd* grad);
/// The minibatch loss and gradient of LassoProblem::closure_loss: over the rows rows[0..count) of X,
/// returns Σ_i (x_iᵀθ − y_i)² and, when grad is not null, sets grad = Σ_i (x_iᵀθ − y_i) x_i / denom
/// (p entries; denom is the global batch size, so data-parallel shares add up to the mean). The
/// one gradient code path: the harness-overhead benchmark's bare loop calls it too, so that its
/// ratio measures the harness and not two compilations of the same loop.
double lasso_minibatch(const LassoData& d, const int64_t* rows, int64_t count, double denom, const double* theta,
                       double* grad);
/// The row order of epoch `epoch` of a run seeded `seed`: perm (its size is n) := a permutation of
/// 0..n−1, std::shuffle with a std::mt19937_64 seeded from (seed, epoch), so that any epoch can be
/// rebuilt alone (resume). LassoProblem::begin_epoch calls it; so does the harness-overhead
/// benchmark's bare loop, which takes the runner's minibatches and so the very same steps.
void lasso_epoch_order(int64_t epoch, uint64_t seed, std::vector<int64_t>& perm);
/// λ_max(XᵀX/n).
double lasso_lipschitz(const LassoData& d);

/// The "lasso" problem of the registry.
/// Every option of the "lasso" problem, read and checked (LassoProblem::parse_options).
struct LassoSettings {
  LassoDataOptions data;
  int64_t batch_size = 32;
  std::string init = "random";
  double init_scale = 1.0;
  uint64_t data_seed = 0;
  bool save_data = false;
  double reference_tol = 1e-12;
};

/// Largest n·p accepted: X (n × p doubles) must fit in 8 GiB, so that an impossible size is an
/// error naming n and p when the experiment is planned instead of std::bad_alloc in a run.
constexpr int64_t kLassoMaxEntries = int64_t(1) << 30;

class LassoProblem : public core::Problem, public core::DataParallelProblem {
 public:
  LassoProblem(const core::OptionMap& options, uint64_t seed);
  /// Reads and checks every option (ranges, names, k <= p, batch_size <= n, n·p <= kLassoMaxEntries);
  /// unknown keys are an error. The registry's `validate` hook: nothing is allocated.
  static LassoSettings parse_options(const core::OptionMap& options, uint64_t seed);

  std::string name() const override { return "lasso"; }
  std::vector<core::ProblemParamGroup> parameter_groups() override;
  int64_t batches_per_epoch() const override;
  void begin_epoch(int64_t epoch, uint64_t seed) override;
  void select_batch(int64_t index) override;
  torch::Tensor closure_loss(bool with_grad) override;
  core::Metrics evaluate(const core::EvalContext& ctx) override;
  double lipschitz_constant() const override { return lipschitz_; }
  void save_artifacts(const std::string& run_dir) override;
  nlohmann::json describe() const override;
  /// Data parallel: rank r takes its contiguous slice of each minibatch; the loss and gradient
  /// are divided by the global batch size (its share of the mean). Evaluation needs no reduction.
  void set_data_parallel(core::Communicator* comm) override;

  const LassoData& data() const { return data_; }
  torch::Tensor theta() const { return theta_; }
  /// The reference solution for l1 at `lambda` (computed once per λ, cached).
  const LassoSolution& reference(double lambda);

 private:
  LassoDataOptions dopt_;
  LassoData data_;
  int64_t batch_size_ = 32;
  bool save_data_ = false;
  double reference_tol_ = 1e-12;
  double lipschitz_ = 0;
  torch::Tensor theta_, grad_;
  /// The 0-dim loss closure_loss returns, rewritten in place while nobody else holds it (no
  /// allocation per step; a caller that keeps a returned loss gets a fresh tensor next time).
  torch::Tensor loss_;
  std::vector<int64_t> perm_;
  int64_t batch_begin_ = 0, batch_end_ = 0, batch_m_ = 0;  ///< this rank's slice, the global batch size
  int64_t dp_rank_ = 0, dp_world_ = 1;
  std::map<double, LassoSolution> references_;
  double last_lambda_ = std::numeric_limits<double>::quiet_NaN();
  std::string last_reg_;
};

}  // namespace proxbench::problems
