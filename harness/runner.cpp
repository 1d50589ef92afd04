#include "harness/runner.h"

#include <unistd.h>

#include <signal.h>

#include <ATen/Parallel.h>
#include <Eigen/Core>
#include <torch/version.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include "core/common.h"
#include "core/distributed.h"
#include "core/optimizer.h"
#include "core/problem.h"
#include "core/regularizer.h"
#include "core/rng.h"
#include "harness/checkpoint.h"
#include "harness/io.h"
#include "harness/run_lock.h"
#include "harness/plugin.h"
#include "proxbench_build_config.h"

namespace proxbench::harness {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string shell_line(const std::string& cmd) {
  std::string out;
  if (FILE* p = ::popen(cmd.c_str(), "r")) {
    char buf[256];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  return out;
}

json null_if_nan(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

/// Optimizer options with the registry's documented defaults filled in.
json resolved_options(const std::string& name, const json& given) {
  json out = json::object();
  if (core::optimizer_registry().contains(name))
    for (const auto& p : core::optimizer_registry().get(name).params) {
      json v = json::parse(p.default_value, nullptr, false);
      out[p.name] = v.is_discarded() ? json(p.default_value) : v;
    }
  for (auto it = given.begin(); it != given.end(); ++it) out[it.key()] = it.value();
  return out;
}

double lr_of(torch::optim::OptimizerParamGroup& g) {
  try {
    return g.options().get_lr();
  } catch (...) {
    return kNaN;
  }
}

/// lr factor of epoch `e` (0-based) under a schedule {type: step, milestones, factor}.
double schedule_factor(const json& s, int64_t e) {
  if (s.value("type", "constant") != "step") return 1.0;
  double f = 1.0, factor = s.value("factor", 1.0);
  for (const auto& m : s["milestones"])
    if (e >= m.get<int64_t>()) f *= factor;
  return f;
}

const char* kProbeColumns = "step,epoch,seconds,lr,batch_loss,dtheta_norm,grad_norm,lambda_min,precond_min,precond_max,"
                            "step_nnz,step_nnz_aux,sigma,rho,accepted";

std::string fmt(double v) { return format_double(v); }

double last_objective(const core::Metrics& m) {
  for (const auto& kv : m)
    if (kv.first == "objective") return kv.second;
  return kNaN;
}

/// The objective of the first row of a trajectory (the initial point), NaN when absent.
double initial_objective_of(const std::string& trajectory) {
  std::istringstream in(trajectory);
  std::string header, row, cell;
  if (!std::getline(in, header) || !std::getline(in, row)) return kNaN;
  std::istringstream hs(header), rs(row);
  while (std::getline(hs, cell, ',')) {
    std::string v;
    if (!std::getline(rs, v, ',')) return kNaN;
    if (cell == "objective") return std::strtod(v.c_str(), nullptr);
  }
  return kNaN;
}

}  // namespace

json run_context() {
  static const json base = [] {
    std::string src = PROXBENCH_SOURCE_DIR;
    std::string commit = shell_line("git -C '" + src + "' rev-parse HEAD 2>/dev/null");
    if (commit.empty()) commit = "unknown";
    else if (!shell_line("git -C '" + src + "' status --porcelain --untracked-files=no 2>/dev/null").empty())
      commit += "+dirty";
    char host[256] = {0};
    ::gethostname(host, sizeof host - 1);
    return json{{"git_commit", commit},
                {"proxbench", version()},
                {"torch", TORCH_VERSION},
                {"eigen", std::to_string(EIGEN_WORLD_VERSION) + "." + std::to_string(EIGEN_MAJOR_VERSION) + "." +
                              std::to_string(EIGEN_MINOR_VERSION)},
                {"build_type", PROXBENCH_BUILD_TYPE},
                {"compiler", PROXBENCH_CXX_COMPILER},
                {"hostname", host}};
  }();
  json c = base;
  c["plugins"] = loaded_plugins();
  c["threads"] = at::get_num_threads();
  std::time_t now = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&now));
  c["started_utc"] = buf;
  return c;
}

std::string experiment_dir(const std::string& out_dir, const Experiment& ex) { return out_dir + "/" + ex.name; }

json run_one(const RunSpec& run, const std::string& dir, const std::function<void(int64_t, int64_t, double)>& on_step,
             core::Communicator* comm) {
  const auto t_start = Clock::now();
  const json& spec = run.spec;
  if (comm && comm->world() == 1) comm = nullptr;
  const bool root = !comm || comm->rank() == 0;  // data parallel: only rank 0 writes
  const double comm_s0 = comm ? comm->comm_seconds() : 0.0;
  if (root) {
    make_dirs(dir);
    write_text_atomic(dir + "/spec.json", spec.dump(2) + "\n");
  }
  // testing hook (data parallel): PROXBENCH_DIST_DIE=RANK:STEP kills that rank at that step
  int die_rank = -1;
  int64_t die_step = -1;
  if (const char* d = std::getenv("PROXBENCH_DIST_DIE"); d && comm) std::sscanf(d, "%d:%ld", &die_rank, &die_step);
  const uint64_t seed = spec["seed"].get<uint64_t>();
  json summary = {{"run_id", run.id},
                  {"experiment", spec["experiment"]},
                  {"label", spec["optimizer"]["label"]},
                  {"seed", seed},
                  {"status", "error"},
                  {"message", ""}};
  summary["context"] = run_context();
  summary["context"]["seed"] = seed;
  if (comm) summary["context"]["data_parallel"] = {{"world_size", comm->world()}, {"backend", comm->backend()}};
  summary["optimizer"] = {{"name", spec["optimizer"]["name"]},
                          {"label", spec["optimizer"]["label"]},
                          {"options", resolved_options(spec["optimizer"]["name"], spec["optimizer"]["options"])}};
  LoopState s;
  std::string status = "completed", message;
  double setup_s = 0;
  std::unique_ptr<core::Problem> problem;
  std::unique_ptr<core::ProxOptimizer> opt;
  core::Metrics last_metrics;
  json warnings = json::array();
  try {
    const std::string pname = spec["problem"]["name"];
    const std::string rname = spec["regularizer"]["name"];
    auto reg = core::make_regularizer(rname, core::OptionMap(spec["regularizer"]["options"], "regularizer '" + rname + "'"));
    const double lambda = spec["lambda"];
    const std::string oname = spec["optimizer"]["name"];
    auto build = [&] {  // fresh problem and optimizer, as at the start of the run
      opt.reset();
      problem.reset();
      {
        std::lock_guard<std::mutex> rng(core::global_rng_mutex());  // runs in other threads seed it too
        torch::manual_seed(seed);
      }
      problem = core::problem_registry().get(pname).make(
          core::OptionMap(spec["problem"]["options"], "problem '" + pname + "'"), seed);
      if (comm) {
        auto* dp = dynamic_cast<core::DataParallelProblem*>(problem.get());
        if (!dp) throw Error("problem '" + pname + "' does not support data parallelism (--nproc, torchrun, srun)");
        dp->set_data_parallel(comm);
      }
      problem->set_objective(reg, lambda);
      std::vector<core::ParamGroupSpec> groups;
      for (auto& g : problem->parameter_groups())
        groups.push_back({g.params, g.regularized ? reg : nullptr, g.regularized ? lambda : 0.0});
      opt = core::make_optimizer(oname, groups, core::OptionMap(spec["optimizer"]["options"], "optimizer '" + oname + "'"));
      opt->set_probes(spec.value("probes", true));
    };
    build();
    // Resume: the latest checkpoint, else the one before; an unreadable one is set aside (never
    // deleted) and the run goes on from the previous good one or from scratch.
    const int64_t ckpt_every = spec.value("checkpoint_every", 0);
    bool resumed = false;
    if (ckpt_every > 0)
      for (const std::string& path : {checkpoint_path(dir), previous_checkpoint_path(dir)}) {
        if (!file_exists(path)) continue;
        try {
          load_checkpoint(path, *problem, *opt, s);
          resumed = true;
          if (!warnings.empty()) warnings.push_back("resumed from '" + path + "' instead");
          break;
        } catch (const Error& e) {
          const std::string to = set_aside_checkpoint(path);
          warnings.push_back(std::string(e.what()) + (to.empty() ? "" : "; set aside as '" + to + "'"));
          s = LoopState{};
          build();
        }
      }
    if (!resumed && !warnings.empty()) warnings.push_back("restarted from scratch");
    for (const auto& w : warnings) std::cerr << "proxbench run: warning: run " << run.id << ": " << w.get<std::string>() << "\n";
    summary["context"]["device"] = problem->device().str();
    std::vector<double> base_lr;
    for (auto& g : opt->param_groups()) base_lr.push_back(lr_of(g));

    const int64_t bpe = problem->batches_per_epoch();
    const json& budget = spec["budget"];
    const int64_t total_steps =
        budget.contains("steps") ? budget["steps"].get<int64_t>()
                                 : budget.contains("epochs") ? budget["epochs"].get<int64_t>() * bpe : -1;
    const double max_seconds = budget.value("seconds", std::numeric_limits<double>::infinity());
    const int64_t log_every = spec.value("log_every", 0) > 0 ? spec["log_every"].get<int64_t>() : bpe;
    // Divergence bound (issue 17): a logged objective above divergence_factor × max(|F_0|, 1)
    // ends the run as diverged (0: no bound).
    const double div_factor = spec.value("divergence_factor", kDefaultDivergenceFactor);
    double initial_objective = resumed ? initial_objective_of(s.trajectory) : kNaN;
    // rows whose step is not a multiple of eval_every keep the probes and leave the metrics NaN
    int64_t eval_every = 0;
    if (spec.contains("eval_every"))
      eval_every = spec["eval_every"].is_string() ? bpe : spec["eval_every"].get<int64_t>();
    core::EvalContext ctx{reg, lambda, opt.get()};
    core::StepStats last_stats;
    double last_lr = base_lr.empty() ? kNaN : base_lr[0];
    setup_s = seconds_since(t_start);

    // one trajectory row: probes of the last step, then full-data metrics (timed apart)
    int64_t last_logged = -1, last_full = -1;
    enum Row { kRowOk, kRowNonFinite, kRowTooLarge };
    auto log_row = [&](bool initial, bool final_row) -> Row {
      last_logged = s.step;
      const bool full = initial || final_row || eval_every <= 0 || s.step % eval_every == 0 || last_metrics.empty();
      if (full) {
        last_full = s.step;
        auto t0 = Clock::now();
        problem->set_training(false);
        torch::NoGradGuard ng;
        last_metrics = problem->evaluate(ctx);
        problem->set_training(true);
        s.t_eval += seconds_since(t0);
      }
      if (s.trajectory.empty()) {
        s.trajectory = kProbeColumns;
        for (const auto& m : last_metrics) s.trajectory += "," + m.first;
        s.trajectory += "\n";
      }
      const core::StepStats& st = last_stats;
      auto sq = [&](double v) { return initial ? kNaN : std::sqrt(v); };
      s.trajectory += std::to_string(s.step) + "," + fmt(double(s.step) / bpe) + "," + fmt(s.t_opt) + "," + fmt(initial || !std::isfinite(st.lr) ? last_lr : st.lr) +
                      "," + fmt(initial ? kNaN : st.loss) + "," + fmt(sq(st.dtheta_sq)) + "," + fmt(sq(st.grad_sq)) + "," +
                      fmt(initial ? kNaN : st.lambda_min) + "," + fmt(initial ? kNaN : st.precond_min) + "," +
                      fmt(initial ? kNaN : st.precond_max) + "," + fmt(initial || st.nnz < 0 ? kNaN : double(st.nnz)) +
                      "," + fmt(initial || st.nnz_aux < 0 ? kNaN : double(st.nnz_aux)) + "," + fmt(initial ? kNaN : st.sigma) + "," + fmt(initial ? kNaN : st.rho) + "," +
                      (initial ? "nan" : st.accepted ? "1" : "0");
      double obj = kNaN;
      for (const auto& m : last_metrics) {
        s.trajectory += "," + fmt(full ? m.second : kNaN);
        if (m.first == "objective") obj = m.second;
      }
      s.trajectory += "\n";
      if (!full) return kRowOk;
      if (on_step) on_step(s.step, total_steps, obj);
      bool has_obj = false;
      for (const auto& m : last_metrics) has_obj |= m.first == "objective";
      if (!has_obj) return kRowOk;
      if (!std::isfinite(obj)) return kRowNonFinite;
      if (initial) initial_objective = obj;
      if (div_factor > 0 && std::isfinite(initial_objective) &&
          obj > div_factor * std::max(std::abs(initial_objective), 1.0))
        return kRowTooLarge;
      return kRowOk;
    };

    bool stop = false;
    if (!resumed && log_row(true, false) != kRowOk) status = "diverged", message = "objective is not finite at the initial point", stop = true;
    auto closure = core::data_parallel_closure(*problem, comm);  // + bucketed all-reduce across ranks
    while (!stop && (total_steps < 0 || s.step < total_steps)) {
      problem->begin_epoch(s.epoch, seed);
      opt->on_epoch_begin(s.epoch);
      const double lr_factor = schedule_factor(spec["schedule"], s.epoch);
      for (size_t g = 0; g < opt->param_groups().size(); ++g)
        if (std::isfinite(base_lr[g])) {
          double lr = base_lr[g] * lr_factor;
          opt->param_groups()[g].options().set_lr(lr);
          if (g == 0) last_lr = lr;
        }
      problem->set_training(true);
      // Optimizer time: one clock read per step, each step's end starting the next one's interval;
      // so it holds the step with its closure plus the few ns of per-step bookkeeping around it
      // (batch selection, probe maxima), and no epoch setup, logging or evaluation (t0 restarts).
      auto t0 = Clock::now();
      for (int64_t b = 0; b < bpe && (total_steps < 0 || s.step < total_steps); ++b) {
        problem->select_batch(b);
        // sparsity counts only for the rows logged (the norms of the conditions report: every step)
        opt->set_count_sparsity((s.step + 1) % log_every == 0 || s.step + 1 == total_steps);
        opt->step(closure);
        const auto t1 = Clock::now();
        s.t_opt += std::chrono::duration<double>(t1 - t0).count();
        t0 = t1;
        ++s.step;
        if (die_step == s.step && die_rank == comm->rank()) ::raise(SIGKILL);
        last_stats = opt->last_stats();
        if (std::isfinite(last_stats.dtheta_sq)) s.D = std::max(s.D, std::sqrt(last_stats.dtheta_sq));
        if (std::isfinite(last_stats.grad_sq)) s.G = std::max(s.G, std::sqrt(last_stats.grad_sq));
        if (std::isfinite(last_stats.lambda_min)) s.gamma = std::min(s.gamma, last_stats.lambda_min);
        bool loss_bad = std::isnan(last_stats.loss) ? false : !std::isfinite(last_stats.loss);
        bool last = s.step == total_steps;
        if (loss_bad || s.step % log_every == 0 || last) {
          const Row row = log_row(false, last || loss_bad);
          t0 = Clock::now();
          if (row != kRowOk || loss_bad) {
            status = "diverged";
            if (row == kRowTooLarge && !loss_bad)
              message = "objective " + fmt(last_objective(last_metrics)) + " at step " + std::to_string(s.step) +
                        " exceeds divergence_factor " + fmt(div_factor) + " x max(|initial objective " +
                        fmt(initial_objective) + "|, 1)";
            else
              message = "non-finite " + std::string(loss_bad ? "minibatch loss" : "objective") + " at step " +
                        std::to_string(s.step);
            stop = true;
            break;
          }
        }
        if (last_stats.stop) {  // the optimizer ends training (SR2 form: authors)
          message = "stopped by the optimizer at step " + std::to_string(s.step);
          stop = true;
          break;
        }
        if (s.t_opt + s.t_eval >= max_seconds) {
          status = total_steps < 0 ? "completed" : "budget";
          message = "stopped by budget.seconds = " + fmt(max_seconds) + " after " + std::to_string(s.step) + " steps";
          stop = true;
          break;
        }
      }
      ++s.epoch;
      if (!stop && ckpt_every > 0 && s.epoch % ckpt_every == 0 && (total_steps < 0 || s.step < total_steps)) {
        if (root) save_checkpoint(dir, *problem, *opt, s);  // rank 0 writes, every rank resumes from it
        if (comm) comm->barrier();
        // testing hook: simulate a kill right after a checkpoint
        if (const char* a = std::getenv("PROXBENCH_ABORT_AFTER_EPOCHS"); a && s.epoch >= std::atoi(a)) std::_Exit(86);
      }
    }
    // make sure the last row is the final point
    if (status != "diverged" && last_full != s.step) {
      if (last_logged == s.step) {  // a probes-only row at the last step: replace it by a full one
        const auto cut = s.trajectory.rfind('\n', s.trajectory.size() - 2);
        s.trajectory.erase(cut + 1);
      }
      log_row(false, true);
    }
    if (status != "diverged") {  // once-after-training metrics (e.g. a pruning sweep), timed as evaluation
      auto t0 = Clock::now();
      problem->set_training(false);
      torch::NoGradGuard ng;
      for (auto& m : problem->final_metrics(ctx)) last_metrics.push_back(m);
      s.t_eval += seconds_since(t0);
    }
    if (root) problem->save_artifacts(dir);
    summary["problem"] = problem->describe();
    double L = problem->lipschitz_constant();
    summary["conditions"] = {{"D", s.step ? null_if_nan(s.D) : json(nullptr)},
                             {"G", s.step ? null_if_nan(s.G) : json(nullptr)},
                             {"gamma", null_if_nan(s.gamma)},
                             {"L", null_if_nan(L)}};
  } catch (const c10::Error& e) {
    status = "error", message = e.what_without_backtrace();
  } catch (const std::exception& e) {
    status = "error", message = e.what();
  }
  summary["status"] = status;
  summary["message"] = message;
  if (!warnings.empty()) summary["warnings"] = warnings;
  json metrics = json::object();
  for (const auto& m : last_metrics) metrics[m.first] = null_if_nan(m.second);
  summary["metrics"] = metrics;
  summary["final"] = {{"step", s.step}, {"epoch", problem ? double(s.step) / problem->batches_per_epoch() : 0.0}};
  summary["timings"] = {{"setup_seconds", setup_s},
                        {"optimizer_seconds", s.t_opt},
                        {"evaluation_seconds", s.t_eval},
                        {"total_seconds", seconds_since(t_start)}};
  if (opt) {
    const auto& c = opt->counters();
    summary["counters"] = {{"steps", c.steps},         {"loss_evals", c.loss_evals}, {"grad_evals", c.grad_evals},
                           {"prox_evals", c.prox_evals}, {"accepted", c.accepted},    {"rejected", c.rejected}};
  } else {
    summary["counters"] = json::object();
  }
  if (comm) summary["timings"]["communication_seconds"] = comm->comm_seconds() - comm_s0;
  if (!root) {  // the other ranks write only an error (rank 0 may be the one that died)
    if (status == "error") {
      summary["message"] = "rank " + std::to_string(comm->rank()) + ": " + message;
      make_dirs(dir);
      write_text_atomic(dir + "/summary.json", summary.dump(2) + "\n");
    }
    return summary;
  }
  if (!s.trajectory.empty()) write_text_atomic(dir + "/trajectory.csv", s.trajectory);
  write_text_atomic(dir + "/summary.json", summary.dump(2) + "\n");
  if (status != "error") remove_checkpoints(dir);
  return summary;
}

// ---- the sweep -------------------------------------------------------------------------------

namespace {

struct Slot {
  std::string what;
  int64_t step = 0, total = -1;
  double objective = kNaN;
  bool busy = false;
};

std::string hms(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  int64_t t = static_cast<int64_t>(s + 0.5);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", (long long)(t / 3600), (long long)(t / 60 % 60), (long long)(t % 60));
  return buf;
}

std::string describe_run(const json& spec) {
  std::string s = spec["optimizer"]["label"].get<std::string>();
  const json& po = spec["problem"]["options"];
  if (po.contains("init")) s += " init=" + (po["init"].is_string() ? po["init"].get<std::string>() : po["init"].dump());
  char lam[32];
  std::snprintf(lam, sizeof lam, "%g", spec["lambda"].get<double>());
  s += std::string(" lambda=") + lam + " seed=" + std::to_string(spec["seed"].get<int64_t>());
  return s;
}

bool finished(const std::string& dir) {
  if (!file_exists(dir + "/summary.json")) return false;
  try {
    auto j = json::parse(read_text(dir + "/summary.json"));
    return j.value("status", "error") != "error";
  } catch (...) {
    return false;
  }
}

}  // namespace

SweepResult run_experiment(const Experiment& ex, const RunnerOptions& o) {
  if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count)
    throw Error("--shard " + std::to_string(o.shard_index) + "/" + std::to_string(o.shard_count) +
                ": need 0 <= I < N");
  if (o.out_dir.empty()) throw Error("--out '': the results folder must not be empty (use --out . for the current folder)");
  const std::string root = experiment_dir(o.out_dir, ex);
  core::Communicator* comm = o.comm && o.comm->world() > 1 ? o.comm : nullptr;
  const bool writer = !comm || comm->rank() == 0;  // data parallel: rank 0 writes and reports
  RunnerOptions opt_local = o;
  opt_local.progress = o.progress && writer;
  const RunnerOptions& oo = opt_local;
  if (writer) make_dirs(root);
  json exp = {{"name", ex.name}, {"description", ex.description}, {"file", ex.file}, {"document", ex.document}};
  json ids = json::array();
  for (const auto& r : ex.runs) ids.push_back(r.id);
  exp["runs"] = ids;
  if (writer) write_text_atomic(root + "/experiment.json", exp.dump(2) + "\n");

  std::vector<const RunSpec*> todo;
  SweepResult res;
  std::vector<const RunSpec*> shard;
  for (const auto& r : ex.runs)
    if (static_cast<int>(r.index % o.shard_count) == o.shard_index) shard.push_back(&r);
  // which runs are finished: rank 0 decides for all ranks (they must train the same runs)
  auto done_mask = torch::zeros({static_cast<int64_t>(shard.size()) + 1}, torch::kLong);
  if (writer)
    for (size_t i = 0; i < shard.size(); ++i) done_mask[static_cast<int64_t>(i)] = finished(root + "/" + shard[i]->id) ? 1 : 0;
  if (comm) comm->broadcast({done_mask}, 0);
  for (size_t i = 0; i < shard.size(); ++i) {
    ++res.total;
    if (done_mask[static_cast<int64_t>(i)].item<int64_t>()) ++res.skipped;
    else todo.push_back(shard[i]);
  }
  const int jobs = comm ? 1 : std::max(1, std::min<int>(o.jobs, static_cast<int>(todo.size())));
  if (!std::getenv("OMP_NUM_THREADS")) {
    int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    at::set_num_threads(std::max(1, hw / jobs));
  }
  int abort_after = -1;
  if (const char* a = std::getenv("PROXBENCH_ABORT_AFTER_RUNS")) abort_after = std::atoi(a);  // testing hook

  std::mutex mu;
  std::vector<Slot> slots(jobs);
  std::atomic<size_t> next{0};
  int done = 0;
  const auto t0 = Clock::now();
  const bool tty = oo.progress && ::isatty(2);
  auto status_line = [&]() {  // caller holds mu
    double partial = 0;
    std::string cur;
    for (const auto& sl : slots)
      if (sl.busy) {
        if (sl.total > 0) partial += double(sl.step) / sl.total;
        if (cur.empty())
          cur = sl.what + " step " + std::to_string(sl.step) + (sl.total > 0 ? "/" + std::to_string(sl.total) : "") +
                " objective " + (std::isfinite(sl.objective) ? fmt(sl.objective).substr(0, 10) : "nan");
      }
    double frac = (res.skipped + done + partial) / std::max(1, res.total);
    double el = seconds_since(t0), work = (done + partial);
    double eta = work > 0 ? el / work * (todo.size() - work) : NAN;
    return "proxbench run: " + std::to_string(res.skipped + done) + "/" + std::to_string(res.total) + " runs (" +
           std::to_string(int(100 * frac)) + "%)" + (cur.empty() ? "" : " | " + cur) + " | ETA " + hms(eta);
  };
  if (oo.progress && res.skipped)
    std::cerr << "proxbench run: " << res.skipped << " of " << res.total << " runs already finished in " << root
              << ", skipping them\n";

  std::atomic<bool> disk_full{false};
  // One run: its lock, a re-check that no other process finished it meanwhile, run_one. Returns
  // false when the run was not run here (locked elsewhere or finished meanwhile).
  auto run_locked = [&](int w, const RunSpec& r, json& sum) -> bool {
    const std::string dir = root + "/" + r.id;
    // Data parallel: the ranks agreed on the runs to do (broadcast above) and run them together, so
    // they take no per-run lock (a skip on one rank would leave the others waiting).
    std::unique_ptr<RunLock> lock = comm ? nullptr : try_lock_run(dir);
    if (!comm && !lock) {
      std::lock_guard<std::mutex> l(mu);
      ++res.elsewhere;
      if (o.progress)
        std::cerr << (tty ? "\r\033[K" : "") << "proxbench run: " << r.id << " " << describe_run(r.spec)
                  << ": in progress elsewhere (locked by another process), skipped\n";
      return false;
    }
    if (!comm && finished(dir)) {
      std::lock_guard<std::mutex> l(mu);
      ++res.skipped;
      return false;
    }
    {
      std::lock_guard<std::mutex> l(mu);
      slots[w] = Slot{r.id.substr(0, 8) + " " + describe_run(r.spec), 0, -1, kNaN, true};
    }
    sum = run_one(
        r, dir,
        [&](int64_t step, int64_t total, double obj) {
          std::lock_guard<std::mutex> l(mu);
          slots[w].step = step, slots[w].total = total, slots[w].objective = obj;
        },
        comm);
    return true;
  };
  auto worker = [&](int w) {
    for (size_t i; !disk_full && (i = next.fetch_add(1)) < todo.size();) {
      const RunSpec& r = *todo[i];
      json sum;
      try {
        if (!run_locked(w, r, sum)) continue;
      } catch (const std::exception& e) {  // the results could not be stored: never terminate
        const auto* we = dynamic_cast<const WriteError*>(&e);
        std::lock_guard<std::mutex> l(mu);
        slots[w].busy = false;
        ++done;
        ++res.errors;
        ++res.unsaved;
        if (we && we->disk_full()) disk_full = true;
        std::cerr << (tty ? "\r\033[K" : "") << "proxbench run: [" << res.skipped + done << "/" << res.total << "] "
                  << r.id << " " << describe_run(r.spec) << ": result not stored: " << e.what()
                  << (disk_full ? "; disk full, starting no further runs" : "") << "\n";
        continue;
      }
      std::lock_guard<std::mutex> l(mu);
      slots[w].busy = false;
      ++done;
      std::string st = sum["status"];
      (st == "completed" ? res.completed : st == "diverged" ? res.diverged : st == "budget" ? res.budget : res.errors)++;
      if (oo.progress || st == "error") {  // a run's error is printed even with --quiet
        std::string obj = sum["metrics"].contains("objective") ? sum["metrics"]["objective"].dump() : "";
        std::cerr << (tty ? "\r\033[K" : "") << "proxbench run: [" << res.skipped + done << "/" << res.total << "] "
                  << r.id << " " << describe_run(r.spec) << ": " << st
                  << (obj.empty() ? "" : ", objective " + obj)
                  << (sum["message"].get<std::string>().empty() ? "" : " (" + sum["message"].get<std::string>() + ")")
                  << " [" << fmt(sum["timings"]["total_seconds"].get<double>()).substr(0, 5) << " s]\n";
      }
      if (comm && comm->broken()) {  // a rank died: the process group is gone, so is the sweep
        std::cerr << "proxbench run: rank " << comm->rank() << ": stopping the sweep: " << sum["message"].get<std::string>()
                  << "\n";
        break;
      }
      if (abort_after >= 0 && done >= abort_after) {
        std::cerr << "proxbench run: PROXBENCH_ABORT_AFTER_RUNS=" << abort_after << " reached, aborting\n";
        std::_Exit(86);
      }
    }
  };
  std::atomic<bool> finished_all{false};
  std::thread printer;
  if (tty)
    printer = std::thread([&] {
      while (!finished_all) {
        std::this_thread::sleep_for(std::chrono::milliseconds(250));
        std::lock_guard<std::mutex> l(mu);
        std::cerr << "\r\033[K" << status_line() << std::flush;
      }
    });
  std::vector<std::thread> threads;
  for (int w = 1; w < jobs; ++w) threads.emplace_back(worker, w);
  worker(0);  // (worker catches everything a run can throw: a thread never ends in std::terminate)
  for (auto& t : threads) t.join();
  finished_all = true;
  if (printer.joinable()) printer.join();
  if (oo.progress)
    std::cerr << (tty ? "\r\033[K" : "") << "proxbench run: " << ex.name << ": " << res.total << " runs (" << res.skipped
              << " skipped, " << res.completed << " completed, " << res.diverged << " diverged, " << res.budget
              << " budget, " << res.errors << " error" << (res.unsaved ? " (" + std::to_string(res.unsaved) + " not stored)" : "")
              << (res.elsewhere ? ", " + std::to_string(res.elsewhere) + " in progress elsewhere" : "")
              << (disk_full ? ", " + std::to_string(res.total - res.skipped - done - res.elsewhere) + " not started: disk full" : "")
              << ") in " << hms(seconds_since(t0)) << " -> " << root << "\n";
  res.not_started = disk_full ? res.total - res.skipped - done - res.elsewhere : 0;
  return res;
}

}  // namespace proxbench::harness
