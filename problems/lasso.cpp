#include "problems/lasso.h"

#include "core/distributed.h"

#include <ATen/ScalarOps.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <numeric>
#include <random>

namespace proxbench::problems {
namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

double soft(double z, double t) { return z > t ? z - t : (z < -t ? z + t : 0.0); }

double sgn(double v) { return v > 0 ? 1.0 : (v < 0 ? -1.0 : 0.0); }

/// Writes `text` to `path` through a temporary name and a rename.
void write_atomic(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary);
    if (!f) throw Error("lasso: cannot write '" + tmp + "'");
    f << text;
    if (!f) throw Error("lasso: write failed for '" + tmp + "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw Error("lasso: cannot rename '" + tmp + "' to '" + path + "'");
}

std::string vector_csv(const Eigen::VectorXd& v) {
  std::string s;
  for (Eigen::Index i = 0; i < v.size(); ++i) s += format_double(v[i]) + "\n";
  return s;
}

}  // namespace

LassoData make_lasso_data(const LassoDataOptions& o, uint64_t seed) {
  std::mt19937_64 rng(splitmix64(seed ^ 0x4C4153534F44ull));
  std::normal_distribution<double> normal(0.0, 1.0);
  LassoData d;
  d.X.resize(o.n, o.p);
  const double c = std::sqrt(1.0 - o.rho * o.rho);
  for (int64_t i = 0; i < o.n; ++i) {
    double prev = normal(rng);
    d.X(i, 0) = prev;
    for (int64_t j = 1; j < o.p; ++j) {  // AR(1): corr(x_j, x_l) = ρ^{|j−l|}
      prev = o.rho * prev + c * normal(rng);
      d.X(i, j) = prev;
    }
  }
  // support
  std::vector<int64_t> idx(o.p);
  std::iota(idx.begin(), idx.end(), 0);
  if (o.support == "random") std::shuffle(idx.begin(), idx.end(), rng);
  idx.resize(o.k);
  std::sort(idx.begin(), idx.end());
  std::uniform_real_distribution<double> unif(0.0, 1.0);
  d.theta_star = Eigen::VectorXd::Zero(o.p);
  for (int64_t r = 0; r < o.k; ++r) {
    double mag = o.magnitude + (o.magnitude_max - o.magnitude) * unif(rng);
    double s = o.signs == "positive" ? 1.0 : o.signs == "alternating" ? (r % 2 ? -1.0 : 1.0) : (unif(rng) < 0.5 ? -1.0 : 1.0);
    d.theta_star[idx[r]] = s * mag;
  }
  d.y = d.X * d.theta_star;
  for (int64_t i = 0; i < o.n; ++i) d.y[i] += o.noise * normal(rng);
  return d;
}

double lasso_loss(const LassoData& d, const Eigen::VectorXd& theta, Eigen::VectorXd* grad) {
  const double n = static_cast<double>(d.X.rows());
  Eigen::VectorXd r = d.X * theta - d.y;
  if (grad) *grad = d.X.transpose() * r / n;
  return 0.5 * r.squaredNorm() / n;
}

double lasso_minibatch(const LassoData& d, const int64_t* rows, int64_t count, double denom, const double* theta,
                       double* grad) {
  const int64_t p = d.X.cols();
  Eigen::Map<const Eigen::VectorXd> th(theta, p);
  Eigen::Map<Eigen::VectorXd> g(grad, grad ? p : 0);
  if (grad) g.setZero();
  double loss = 0;
  for (int64_t b = 0; b < count; ++b) {
    auto row = d.X.row(rows[b]);
    const double r = row.dot(th) - d.y[rows[b]];
    loss += r * r;
    if (grad) g.noalias() += r * row.transpose();
  }
  if (grad) g /= denom;
  return loss;
}

double l1_stationarity(const Eigen::VectorXd& theta, const Eigen::VectorXd& grad, double lambda) {
  double s = 0;
  for (Eigen::Index j = 0; j < theta.size(); ++j) {
    double d = theta[j] != 0 ? grad[j] + lambda * sgn(theta[j]) : std::max(0.0, std::abs(grad[j]) - lambda);
    s += d * d;
  }
  return std::sqrt(s);
}

double lasso_lipschitz(const LassoData& d) {
  const double n = static_cast<double>(d.X.rows());
  Eigen::MatrixXd G = d.X.transpose() * d.X / n;
  if (G.rows() <= 2000) {
    Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> es(G, Eigen::EigenvaluesOnly);
    return es.eigenvalues().maxCoeff();
  }
  Eigen::VectorXd v = Eigen::VectorXd::Ones(G.rows()).normalized();
  double lam = 0;
  for (int it = 0; it < 100000; ++it) {
    Eigen::VectorXd w = G * v;
    double next = v.dot(w);
    v = w.normalized();
    if (std::abs(next - lam) <= 1e-13 * std::abs(next)) return next;
    lam = next;
  }
  return lam;
}

LassoSolution lasso_coordinate_descent(const LassoData& d, double lambda, double tol, int64_t max_sweeps) {
  const double n = static_cast<double>(d.X.rows());
  const Eigen::Index p = d.X.cols();
  Eigen::MatrixXd G = d.X.transpose() * d.X / n;
  LassoSolution s;
  s.solver = "cyclic coordinate descent";
  s.theta = Eigen::VectorXd::Zero(p);
  Eigen::VectorXd g;
  lasso_loss(d, s.theta, &g);
  for (s.iterations = 0; s.iterations < max_sweeps; ++s.iterations) {
    s.kkt = l1_stationarity(s.theta, g, lambda);
    if (s.kkt <= tol) break;
    for (Eigen::Index j = 0; j < p; ++j) {  // exact minimization along coordinate j
      double gjj = G(j, j);
      if (gjj <= 0) continue;
      double old = s.theta[j];
      double nw = soft(old - g[j] / gjj, lambda / gjj);
      if (nw != old) {
        g += G.col(j) * (nw - old);
        s.theta[j] = nw;
      }
    }
    lasso_loss(d, s.theta, &g);  // exact gradient again, no drift
  }
  s.objective = lasso_loss(d, s.theta, &g) + lambda * s.theta.lpNorm<1>();
  s.kkt = l1_stationarity(s.theta, g, lambda);
  return s;
}

LassoSolution lasso_fista(const LassoData& d, double lambda, double tol, int64_t max_iter) {
  const double L = lasso_lipschitz(d);
  const Eigen::Index p = d.X.cols();
  LassoSolution s;
  s.solver = "FISTA with gradient restart";
  Eigen::VectorXd x = Eigen::VectorXd::Zero(p), yv = x, xn(p), g;
  double t = 1;
  for (s.iterations = 0; s.iterations < max_iter; ++s.iterations) {
    lasso_loss(d, yv, &g);
    for (Eigen::Index j = 0; j < p; ++j) xn[j] = soft(yv[j] - g[j] / L, lambda / L);
    double tn = 0.5 * (1 + std::sqrt(1 + 4 * t * t));
    if ((yv - xn).dot(xn - x) > 0) {  // gradient restart
      t = 1;
      yv = xn;
    } else {
      yv = xn + ((t - 1) / tn) * (xn - x);
      t = tn;
    }
    x = xn;
    if (s.iterations % 10 == 0) {
      Eigen::VectorXd gx;
      lasso_loss(d, x, &gx);
      if (l1_stationarity(x, gx, lambda) <= tol) break;
    }
  }
  s.theta = x;
  s.objective = lasso_loss(d, x, &g) + lambda * x.lpNorm<1>();
  s.kkt = l1_stationarity(x, g, lambda);
  return s;
}

// ---- the problem ---------------------------------------------------------------------------

LassoSettings LassoProblem::parse_options(const core::OptionMap& o, uint64_t seed) {
  LassoSettings st;
  LassoDataOptions& d = st.data;
  d.n = o.get_int("n", 500);
  d.p = o.get_int("p", 100);
  if (d.n < 1) o.fail("option 'n' = " + std::to_string(d.n) + " must be ≥ 1");
  if (d.p < 1) o.fail("option 'p' = " + std::to_string(d.p) + " must be ≥ 1");
  if (d.n > kLassoMaxEntries / d.p)
    o.fail("n = " + std::to_string(d.n) + " x p = " + std::to_string(d.p) + " is too large: X alone would need " +
           format_double(double(d.n) * double(d.p) * 8 / (1 << 30)) + " GiB (limit: n*p <= 2^30, 8 GiB)");
  d.k = o.get_int("k", std::min<int64_t>(10, d.p));
  if (d.k < 0 || d.k > d.p)
    o.fail("option 'k' = " + std::to_string(d.k) + " must be in [0, p = " + std::to_string(d.p) + "]");
  d.rho = o.get_double_in("rho", 0.0, 0.0, 1.0, false, true);
  d.noise = o.get_double_in("noise", 0.1, 0.0, 1e300, false, false);
  d.magnitude = o.get_double_in("magnitude", 1.0, 0.0, 1e300, true, false);
  d.magnitude_max = o.get_double_in("magnitude_max", d.magnitude, d.magnitude, 1e300, false, false);
  d.signs = o.get_string("signs", "random");
  if (d.signs != "random" && d.signs != "positive" && d.signs != "alternating")
    o.fail("option 'signs' = '" + d.signs + "' must be one of random, positive, alternating");
  d.support = o.get_string("support", "random");
  if (d.support != "random" && d.support != "first")
    o.fail("option 'support' = '" + d.support + "' must be one of random, first");
  st.batch_size = o.get_int("batch_size", std::min<int64_t>(32, d.n));
  if (st.batch_size < 1 || st.batch_size > d.n)
    o.fail("option 'batch_size' = " + std::to_string(st.batch_size) + " must be in [1, n = " + std::to_string(d.n) + "]");
  st.init = o.get_string("init", "random");
  if (st.init != "random" && st.init != "zero") o.fail("option 'init' = '" + st.init + "' must be one of random, zero");
  st.init_scale = o.get_double_in("init_scale", 1.0, 0.0, 1e300, false, false);
  st.data_seed = static_cast<uint64_t>(o.get_int("data_seed", static_cast<int64_t>(seed)));
  st.save_data = o.get_bool("save_data", false);
  st.reference_tol = o.get_double_in("reference_tol", 1e-12, 0.0, 1.0, true, false);
  o.check_unused();
  return st;
}

LassoProblem::LassoProblem(const core::OptionMap& o, uint64_t seed) {
  const LassoSettings st = parse_options(o, seed);
  dopt_ = st.data;
  batch_size_ = st.batch_size;
  const std::string& init = st.init;
  const double init_scale = st.init_scale;
  const uint64_t data_seed = st.data_seed;
  save_data_ = st.save_data;
  reference_tol_ = st.reference_tol;

  data_ = make_lasso_data(dopt_, data_seed);
  lipschitz_ = lasso_lipschitz(data_);
  theta_ = torch::zeros({dopt_.p}, torch::kDouble);
  if (init == "random") {
    std::mt19937_64 rng(splitmix64(seed ^ 0x494E4954ull));
    std::normal_distribution<double> normal(0.0, init_scale);
    double* t = theta_.data_ptr<double>();
    for (int64_t j = 0; j < dopt_.p; ++j) t[j] = normal(rng);
  }
  theta_.set_requires_grad(true);
  grad_ = torch::zeros({dopt_.p}, torch::kDouble);
  theta_.mutable_grad() = grad_;
  perm_.resize(dopt_.n);
  std::iota(perm_.begin(), perm_.end(), 0);
  batch_end_ = batch_m_ = batch_size_;
}

std::vector<core::ProblemParamGroup> LassoProblem::parameter_groups() { return {{"theta", {theta_}, true}}; }

int64_t LassoProblem::batches_per_epoch() const { return (dopt_.n + batch_size_ - 1) / batch_size_; }

void lasso_epoch_order(int64_t epoch, uint64_t seed, std::vector<int64_t>& perm) {
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(splitmix64(splitmix64(seed) ^ static_cast<uint64_t>(epoch)));
  std::shuffle(perm.begin(), perm.end(), rng);
}

void LassoProblem::begin_epoch(int64_t epoch, uint64_t seed) { lasso_epoch_order(epoch, seed, perm_); }

void LassoProblem::select_batch(int64_t index) {
  if (index < 0 || index >= batches_per_epoch())
    throw Error("lasso: batch index " + std::to_string(index) + " out of [0, " + std::to_string(batches_per_epoch()) + ")");
  const int64_t lo = index * batch_size_, hi = std::min(dopt_.n, lo + batch_size_);
  batch_m_ = hi - lo;  // data parallel: this rank's contiguous slice of the global batch
  batch_begin_ = lo + dp_rank_ * batch_m_ / dp_world_;
  batch_end_ = lo + (dp_rank_ + 1) * batch_m_ / dp_world_;
}

void LassoProblem::set_data_parallel(core::Communicator* comm) {
  dp_rank_ = comm ? comm->rank() : 0;
  dp_world_ = comm ? comm->world() : 1;
  select_batch(0);
}

torch::Tensor LassoProblem::closure_loss(bool with_grad) {
  double* gp = nullptr;
  if (with_grad) {  // one call into LibTorch for the gradient (Tensor::grad() adds a non-leaf check)
    torch::Tensor& g = theta_.mutable_grad();
    if (!g.defined()) g = grad_;  // after zero_grad(set_to_none)
    gp = g.data_ptr<double>();
  }
  const double m = static_cast<double>(batch_m_);  // the global batch: shares add up to its mean
  const double sq = lasso_minibatch(data_, perm_.data() + batch_begin_, batch_end_ - batch_begin_, m,
                                    theta_.data_ptr<double>(), gp);
  const double value = 0.5 * sq / m;
  // Reused only while this object holds the sole reference to the tensor and its storage (SR2
  // keeps loss0 across its second closure call: it gets a new tensor). No dispatcher call either way.
  if (loss_.defined() && loss_.use_count() == 1 && loss_.storage().use_count() == 1)
    *loss_.data_ptr<double>() = value;
  else
    loss_ = at::detail::scalar_tensor_static(value, at::kDouble, at::kCPU);
  return loss_;
}

const LassoSolution& LassoProblem::reference(double lambda) {
  auto it = references_.find(lambda);
  if (it == references_.end()) it = references_.emplace(lambda, lasso_coordinate_descent(data_, lambda, reference_tol_)).first;
  return it->second;
}

core::Metrics LassoProblem::evaluate(const core::EvalContext& ctx) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Eigen::VectorXd th = Eigen::Map<const Eigen::VectorXd>(theta_.data_ptr<double>(), dopt_.p);
  Eigen::VectorXd g;
  double f = lasso_loss(data_, th, &g);
  const bool has_reg = ctx.regularizer && ctx.lambda != 0 && ctx.regularizer->name() != "none";
  const bool is_l1 = has_reg && ctx.regularizer->name() == "l1";
  double reg = has_reg ? ctx.lambda * ctx.regularizer->value(theta_.detach()) : 0.0;
  double F = f + reg;
  last_lambda_ = ctx.lambda;
  last_reg_ = ctx.regularizer ? ctx.regularizer->name() : "none";

  int64_t nnz = 0, tp = 0, true_k = 0, sign_ok = 0;
  for (int64_t j = 0; j < dopt_.p; ++j) {
    bool est = th[j] != 0, tru = data_.theta_star[j] != 0;
    nnz += est;
    true_k += tru;
    tp += est && tru;
    sign_ok += sgn(th[j]) == sgn(data_.theta_star[j]);
  }
  double prec = nnz ? double(tp) / nnz : 0.0;
  double rec = true_k ? double(tp) / true_k : 1.0;
  double f1 = prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0.0;

  double stat;
  if (is_l1) {
    stat = l1_stationarity(th, g, ctx.lambda);
  } else if (!has_reg) {
    stat = g.norm();
  } else {  // prox-gradient mapping with step 1/L
    auto z = torch::from_blob(Eigen::VectorXd(th - g / lipschitz_).data(), {dopt_.p}, torch::kDouble).clone();
    ctx.regularizer->prox_(z, ctx.lambda / lipschitz_);
    Eigen::Map<const Eigen::VectorXd> zm(z.data_ptr<double>(), dopt_.p);
    stat = lipschitz_ * (th - zm).norm();
  }
  double subopt = is_l1 ? F - reference(ctx.lambda).objective : nan;
  return {{"loss", f},
          {"reg", reg},
          {"objective", F},
          {"nnz", static_cast<double>(nnz)},
          {"support_precision", prec},
          {"support_recall", rec},
          {"support_f1", f1},
          {"sign_accuracy", static_cast<double>(sign_ok) / dopt_.p},
          {"estimation_error", (th - data_.theta_star).norm()},
          {"suboptimality", subopt},
          {"stationarity", stat}};
}

void LassoProblem::save_artifacts(const std::string& run_dir) {
  Eigen::Map<const Eigen::VectorXd> th(theta_.data_ptr<double>(), dopt_.p);
  std::string est = "index,theta_star,theta_hat\n";
  for (int64_t j = 0; j < dopt_.p; ++j)
    est += std::to_string(j) + "," + format_double(data_.theta_star[j]) + "," + format_double(th[j]) + "\n";
  write_atomic(run_dir + "/estimate.csv", est);
  if (!save_data_) return;
  std::string xs;
  for (int64_t i = 0; i < dopt_.n; ++i) {
    for (int64_t j = 0; j < dopt_.p; ++j) xs += (j ? "," : "") + format_double(data_.X(i, j));
    xs += "\n";
  }
  write_atomic(run_dir + "/X.csv", xs);
  write_atomic(run_dir + "/y.csv", vector_csv(data_.y));
  write_atomic(run_dir + "/theta_star.csv", vector_csv(data_.theta_star));
  write_atomic(run_dir + "/theta_hat.csv", vector_csv(th));
}

nlohmann::json LassoProblem::describe() const {
  nlohmann::json j = {{"n", dopt_.n},           {"p", dopt_.p},         {"k", dopt_.k},
                      {"rho", dopt_.rho},       {"noise", dopt_.noise}, {"batch_size", batch_size_},
                      {"lipschitz_constant", lipschitz_}};
  auto it = references_.find(last_lambda_);
  if (last_reg_ == "l1" && it != references_.end()) {
    j["f_star"] = it->second.objective;
    j["reference"] = {{"solver", it->second.solver},
                      {"sweeps", it->second.iterations},
                      {"kkt_residual", it->second.kkt},
                      {"lambda", it->first},
                      {"nnz", (it->second.theta.array() != 0).count()}};
  }
  return j;
}

namespace {
PROXBENCH_REGISTER(
    core::problem_registry(),
    (core::ProblemRegistry::Entry{
        "lasso",
        "synthetic Lasso support recovery: y = X theta* + noise, f = 0.5||X theta - y||^2/n (ProxGen Fig. 3)",
        {{"n", "500", "samples, >= 1"},
         {"p", "100", "features, >= 1"},
         {"k", "min(10,p)", "non-zeros of theta*, in [0, p]"},
         {"rho", "0", "AR(1) column correlation Sigma_jl = rho^|j-l|, in [0, 1)"},
         {"noise", "0.1", "standard deviation of the noise, >= 0"},
         {"magnitude", "1", "smallest |theta*_j| on the support, > 0"},
         {"magnitude_max", "magnitude", "largest |theta*_j| (uniform in between), >= magnitude"},
         {"signs", "random", "random | positive | alternating"},
         {"support", "random", "random | first (positions of the support)"},
         {"batch_size", "min(32,n)", "minibatch size, in [1, n]"},
         {"init", "random", "random (Gaussian) | zero"},
         {"init_scale", "1", "standard deviation of the random init, >= 0"},
         {"data_seed", "run seed", "seed of X, theta*, noise"},
         {"save_data", "false", "write X.csv, y.csv, theta_star.csv, theta_hat.csv into the run folder"},
         {"reference_tol", "1e-12", "stationarity tolerance of the coordinate-descent reference (l1)"}},
        "paper: ProxGen Fig. 3",
        [](const core::OptionMap& o, uint64_t seed) -> std::unique_ptr<core::Problem> {
          return std::make_unique<LassoProblem>(o, seed);
        }}));
PROXBENCH_REGISTER(core::problem_validator_registry(),
                   (core::ProblemValidatorRegistry::Entry{"lasso", "options of the lasso problem", {}, "",
                                                          [](const core::OptionMap& o) { LassoProblem::parse_options(o, 1); }}));
}  // namespace

}  // namespace proxbench::problems
