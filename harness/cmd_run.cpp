// `proxbench run EXPERIMENT.yaml ...`, `proxbench reproduce NAME ...`, `proxbench report DIR ...`
// and `proxbench list experiments`.
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <thread>

#include "core/common.h"
#include "core/distributed.h"
#include "harness/command.h"
#include "harness/experiment.h"
#include "harness/io.h"
#include "harness/launch.h"
#include "harness/plugin.h"
#include "harness/runner.h"
#include "reports/report.h"

namespace proxbench::harness {
namespace {

using json = nlohmann::json;

struct RunArgs {
  std::string file, out = "results", shard;
  std::vector<std::string> plugins;
  int jobs = 1, nproc = 0;
  int64_t max_runs = static_cast<int64_t>(kDefaultMaxRuns);
  std::vector<std::string> sets;
  bool dry_run = false, quiet = false;
};

void parse_shard(const std::string& s, RunnerOptions& o) {
  if (s.empty()) return;
  auto slash = s.find('/');
  try {
    if (slash == std::string::npos) throw 0;
    size_t a = 0, b = 0;
    o.shard_index = std::stoi(s.substr(0, slash), &a);
    o.shard_count = std::stoi(s.substr(slash + 1), &b);
    if (a != slash || b != s.size() - slash - 1) throw 0;
  } catch (...) {
    throw Error("--shard '" + s + "': expected I/N with integers 0 <= I < N");
  }
  if (o.shard_count < 1 || o.shard_index < 0 || o.shard_index >= o.shard_count)
    throw Error("--shard '" + s + "': expected I/N with 0 <= I < N");
}

void print_plan(const Experiment& ex, const RunnerOptions& o) {
  std::cout << "experiment " << ex.name << " (" << ex.file << "): " << ex.runs.size() << " runs -> "
            << experiment_dir(o.out_dir, ex) << "\n";
  for (const auto& r : ex.runs) {
    if (static_cast<int>(r.index % o.shard_count) != o.shard_index) continue;
    const auto& s = r.spec;
    std::cout << "  " << r.id << "  " << s["optimizer"]["label"].get<std::string>() << "  problem "
              << s["problem"].dump() << "  " << s["regularizer"]["name"].get<std::string>() << " lambda "
              << format_double(s["lambda"]) << "  optimizer " << s["optimizer"]["options"].dump() << "  seed "
              << s["seed"] << "\n";
  }
}

/// Exit status of `run` when no run failed but some were in progress in another process.
constexpr int kExitElsewhere = 4;

void check_args(const RunArgs& a) {
  if (a.out.empty()) throw Error("--out '': the results folder must not be empty (use --out . for the current folder)");
  if (a.jobs < 1) throw Error("--jobs " + std::to_string(a.jobs) + ": must be >= 1");
  if (a.max_runs < 1) throw Error("--max-runs " + std::to_string(a.max_runs) + ": must be >= 1");
}

/// Runs an experiment; returns the process exit code: 0 all fine, 1 some run ended in error or its
/// results could not be stored (or a full disk stopped the sweep), 4 none failed but some were in
/// progress in another process (locked; not waited for).
int do_run(const std::string& file, const RunArgs& a) {
  check_args(a);
  RunnerOptions o;
  o.out_dir = a.out;
  o.jobs = a.jobs;
  o.progress = !a.quiet;
  parse_shard(a.shard, o);
  Experiment ex = load_experiment(file, a.sets, static_cast<size_t>(a.max_runs));
  if (a.dry_run) {
    print_plan(ex, o);
    return 0;
  }
  // data parallel: joins the ranks that torchrun, srun or `--nproc` started (core/distributed.h)
  std::unique_ptr<core::Communicator> comm;
  const core::DistributedEnv env = core::distributed_env_from_environment();
  if (env.world > 1) {
    comm = core::make_c10d_communicator(env);
    o.comm = comm.get();
    if (a.jobs > 1 && env.rank == 0) std::cerr << "proxbench run: data parallel (" << env.world << " ranks): --jobs ignored\n";
  }
  SweepResult r = run_experiment(ex, o);
  if (comm && comm->broken()) {
    // the process group lost a rank: c10d's teardown could wait for it, so end here (results are written)
    std::cout << std::flush;
    std::cerr << std::flush;
    std::_Exit(1);
  }
  return r.errors || r.not_started ? 1 : r.elsewhere ? kExitElsewhere : 0;
}

void add_run_options(CLI::App* cmd, RunArgs& a) {
  cmd->add_option("--out,-o", a.out, "results root (default: results)");
  cmd->add_option("--jobs,-j", a.jobs, "worker threads (runs in parallel)");
  cmd->add_option("--max-runs", a.max_runs,
                  "refuse a plan of more runs than this (default " + std::to_string(kDefaultMaxRuns) + ")");
  cmd->add_option("--shard", a.shard, "I/N: run only runs with index = I mod N (0-based I; Slurm arrays)");
  cmd->add_option("--set", a.sets, "override a key of the experiment: a.b.c=value (value as YAML)");
  cmd->add_flag("--quiet,-q", a.quiet, "no progress output");
  cmd->add_option("--plugin", a.plugins, "shared library registering optimizers/regularizers/problems (repeatable)");
}

void setup_run(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand("run", "Run an experiment (YAML) into the results store");
  cmd->add_option("experiment", a->file, "experiment YAML file or name of a shipped experiment")->required();
  add_run_options(cmd, *a);
  cmd->add_flag("--dry-run,-n", a->dry_run, "list the runs (ids and specs) without running");
  cmd->add_option("--nproc", a->nproc,
                  "data parallel: train each run with W local processes (c10d Gloo; torchrun/srun ranks join by env)");
  cmd->callback([a] {
    if (a->nproc < 0 || (a->nproc > 0 && std::getenv("RANK")))
      throw Error("--nproc " + std::to_string(a->nproc) +
                  (a->nproc < 0 ? ": must be >= 1" : ": this process is already a rank (RANK is set): drop --nproc"));
    if (a->nproc > 1 && !a->dry_run) {
      int rc = launch_local_ranks(a->nproc);
      if (rc) std::exit(rc);
      return;
    }
    load_plugins(a->plugins);
    int rc = do_run(find_experiment(a->file), *a);
    if (rc) std::exit(rc);
  });
}

/// A suite file (`experiments: [name, ...]`, e.g. harness/experiments/quickstart.yaml): runs and
/// reports each listed experiment into <out>/<name>, then writes <out>/index.html linking the
/// reports. Returns -1 when `file` is not a suite, else the exit code (1 if any run failed).
int reproduce_suite(const std::string& file, const RunArgs& a) {
  json doc = yaml_to_json(read_text(file), file);
  if (!doc.is_object() || !doc.contains("experiments")) return -1;
  const json& list = doc["experiments"];
  if (!list.is_array() || list.empty())
    throw Error(file + ": key 'experiments': expected a non-empty list of experiment names");
  for (auto it = doc.begin(); it != doc.end(); ++it)
    if (it.key() != "experiments" && it.key() != "name" && it.key() != "description")
      throw Error(file + ": unknown key '" + it.key() + "' in a suite (allowed: name, description, experiments)");
  check_args(a);
  int rc = 0;
  std::string links;
  for (const auto& e : list) {
    if (!e.is_string()) throw Error(file + ": key 'experiments': entries must be experiment names, got " + e.dump());
    std::string sub = find_experiment(e.get<std::string>());
    Experiment ex = load_experiment(sub, a.sets, static_cast<size_t>(a.max_runs));
    if (!a.quiet) std::cout << "== " << ex.name << " (" << sub << ")\n";
    rc |= do_run(sub, a);
    std::string dir = a.out + "/" + ex.name;
    for (const auto& index : reports::write_reports(dir, dir + "/report", !a.quiet)) {
      std::cout << "report: " << index << "\n";
      links += "<li><a href=\"" + ex.name + "/report/index.html\">" + ex.name + "</a>: " + ex.description + "</li>\n";
    }
  }
  std::string title = doc.value("description", doc.value("name", std::string("proxbench suite")));
  make_dirs(a.out);
  write_text_atomic(a.out + "/index.html",
                    "<!doctype html><html><head><meta charset=utf-8><title>" + title +
                        "</title></head><body style='font-family:sans-serif;max-width:60em;margin:2em auto'><h1>" + title +
                        "</h1><ul>\n" + links + "</ul></body></html>\n");
  std::cout << "report: " << a.out << "/index.html\n";
  return rc;
}

void setup_reproduce(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  a->jobs = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));  // default: all cores
  auto* cmd = app.add_subcommand("reproduce", "Run a shipped experiment and write its report (= run + report)");
  cmd->add_option("name", a->file, "shipped experiment (proxbench list experiments) or YAML file")->required();
  add_run_options(cmd, *a);
  cmd->callback([a] {
    load_plugins(a->plugins);
    std::string file = find_experiment(a->file);
    if (int rc = reproduce_suite(file, *a); rc >= 0) {
      if (rc) std::exit(rc);
      return;
    }
    int rc = do_run(file, *a);
    Experiment ex = load_experiment(file, a->sets, static_cast<size_t>(a->max_runs));
    std::string dir = a->out + "/" + ex.name;
    for (const auto& index : reports::write_reports(dir, dir + "/report", !a->quiet))
      std::cout << "report: " << index << "\n";
    if (rc) std::exit(rc);
  });
}

void setup_report(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  auto* cmd = app.add_subcommand("report", "Figures, tables and index.html from a results store");
  cmd->add_option("results", *dir, "results root (several experiments) or one experiment's folder")->required();
  cmd->add_option("--out,-o", *out, "output folder (default: <experiment folder>/report)");
  cmd->callback([dir, out] {
    for (const auto& index : reports::write_reports(*dir, *out, true)) std::cout << "report: " << index << "\n";
  });
}

PROXBENCH_REGISTER(command_registry(), (CommandRegistry::Entry{"run", "run an experiment", {}, "", setup_run}));
PROXBENCH_REGISTER(command_registry(),
                   (CommandRegistry::Entry{"reproduce", "run + report a shipped experiment", {}, "", setup_reproduce}));
PROXBENCH_REGISTER(command_registry(), (CommandRegistry::Entry{"report", "write reports", {}, "", setup_report}));
PROXBENCH_REGISTER(list_topic_registry(),
                   (ListTopicRegistry::Entry{"experiments", "shipped experiments", {}, "", [](std::ostream& out) {
                                               for (const auto& e : list_experiments())
                                                 out << "  " << e.name << "\n      " << e.description << "\n      "
                                                     << e.path << "\n";
                                             }}));

}  // namespace
}  // namespace proxbench::harness
