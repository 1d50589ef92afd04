#include "harness/slurm.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <sstream>

#include "core/common.h"
#include "harness/io.h"
#include "harness/runner.h"

namespace proxbench::harness {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;

/// 'text' for bash (single quotes; an embedded ' becomes '\'').
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string absolute(const std::string& p) { return fs::absolute(fs::path(p)).lexically_normal().string(); }

bool run_finished(const std::string& dir) {
  if (!file_exists(dir + "/summary.json")) return false;
  try {
    return json::parse(read_text(dir + "/summary.json")).value("status", "error") != "error";
  } catch (...) {
    return false;
  }
}

void check_word(const std::string& option, const std::string& v) {
  if (v.find_first_of(" \t\n\r'\"\\") != std::string::npos || v.empty())
    throw Error(option + " '" + v + "': expected one word without spaces or quotes");
}

std::string self_exe() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw Error("proxbench slurm: cannot find this executable (/proc/self/exe): " + ec.message());
  return p.string();
}

/// Path of `prog` on PATH, "" when absent.
std::string which(const std::string& prog) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "");
  for (std::string d; std::getline(ss, d, ':');) {
    std::string p = (d.empty() ? "." : d) + "/" + prog;
    if (::access(p.c_str(), X_OK) == 0) return p;
  }
  return "";
}

/// Runs `sbatch --parsable ARGS`; returns the job id or throws naming the command and its output.
long sbatch(const std::string& sbatch_path, const std::string& args) {
  std::string cmd = quote(sbatch_path) + " --parsable " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) throw Error("proxbench slurm: cannot run '" + cmd + "'");
  std::string out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  int st = ::pclose(p);
  int rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  while (!out.empty() && (out.back() == '\n' || out.back() == '\r')) out.pop_back();
  if (rc != 0)
    throw Error("proxbench slurm: 'sbatch --parsable " + args + "' failed (exit status " + std::to_string(rc) +
                "): " + (out.empty() ? "(no output)" : out));
  // --parsable prints "<jobid>" or "<jobid>;<cluster>" as its last line (warnings may precede it)
  std::string last = out.substr(out.find_last_of('\n') == std::string::npos ? 0 : out.find_last_of('\n') + 1);
  size_t digits = 0;
  while (digits < last.size() && std::isdigit(static_cast<unsigned char>(last[digits]))) ++digits;
  if (digits == 0 || (digits < last.size() && last[digits] != ';'))
    throw Error("proxbench slurm: 'sbatch --parsable " + args +
                "' printed no job id: " + (out.empty() ? "(no output)" : out));
  return std::stol(last.substr(0, digits));
}

}  // namespace

std::string slurm_index_list(const std::vector<int>& v) {
  std::string out;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (!out.empty()) out += ",";
    out += std::to_string(v[i]);
    if (j > i) out += "-" + std::to_string(v[j]);
    i = j + 1;
  }
  return out;
}

SlurmPlan plan_slurm(const Experiment& ex, const SlurmOptions& o) {
  auto nonneg = [](const std::string& opt, int v) {
    if (v < 0) throw Error(opt + " " + std::to_string(v) + ": must be >= 0");
  };
  nonneg("--gpus-per-task", o.gpus_per_task);
  nonneg("--cpus-per-task", o.cpus_per_task);
  nonneg("--parallelism", o.parallelism);
  nonneg("--tasks", o.tasks);
  if (o.jobs < 1) throw Error("--jobs " + std::to_string(o.jobs) + ": must be >= 1");
  if (!o.partition.empty()) check_word("--partition", o.partition);
  if (!o.time.empty()) check_word("--time", o.time);
  std::vector<std::string> extra;
  for (const auto& a : o.sbatch_args) {
    if (a.empty() || a.find_first_of("\n\r") != std::string::npos)
      throw Error("--sbatch-arg '" + a + "': expected one sbatch option such as --account=NAME");
    extra.push_back(a[0] == '-' ? a : "--" + a);
  }

  SlurmPlan plan;
  const std::string root = absolute(experiment_dir(o.out_dir, ex));
  plan.dir = root + "/slurm";
  plan.runs = static_cast<int>(ex.runs.size());
  plan.tasks = o.tasks > 0 ? std::min(o.tasks, std::max(1, plan.runs)) : std::clamp(plan.runs, 1, 1000);
  std::vector<bool> pending(plan.tasks, false);
  for (const auto& r : ex.runs) {
    if (run_finished(root + "/" + r.id))
      ++plan.finished;
    else
      pending[r.index % plan.tasks] = true;
  }
  for (int i = 0; i < plan.tasks; ++i)
    if (pending[i]) plan.pending.push_back(i);

  const std::string exe = o.proxbench_exe.empty() ? self_exe() : o.proxbench_exe;
  auto common = [&](std::ostringstream& s, const std::string& job, const std::string& log) {
    s << "#SBATCH --job-name=" << job << "\n#SBATCH --ntasks=1\n#SBATCH --output=" << log
      << "\n#SBATCH --open-mode=append\n";
    if (!o.partition.empty()) s << "#SBATCH --partition=" << o.partition << "\n";
    if (!o.time.empty()) s << "#SBATCH --time=" << o.time << "\n";
  };
  auto extras = [&](std::ostringstream& s) {
    for (const auto& a : extra) s << "#SBATCH " << a << "\n";
  };

  if (!plan.pending.empty()) {
    std::ostringstream s;
    s << "#!/bin/bash\n"
      << "# proxbench sweep of experiment '" << ex.name << "' (" << plan.runs << " runs) as a Slurm job array,\n"
      << "# written by `proxbench slurm`. Task i runs the runs whose index = i mod " << plan.tasks << " (`--shard i/"
      << plan.tasks << "`);\n"
      << "# finished runs are skipped, so resubmitting this script resumes the sweep. Results: " << root << "\n"
      << "# The report job (report.sbatch) is submitted with --dependency=afterany:<this job's id>.\n";
    common(s, "proxbench-" + ex.name, plan.dir + "/task-%a.log");
    s << "#SBATCH --array=" << slurm_index_list(plan.pending);
    if (o.parallelism > 0) s << "%" << o.parallelism;
    s << "\n";
    if (o.cpus_per_task > 0) s << "#SBATCH --cpus-per-task=" << o.cpus_per_task << "\n";
    if (o.gpus_per_task > 0) s << "#SBATCH --gpus-per-task=" << o.gpus_per_task << "\n";
    extras(s);
    s << "set -euo pipefail\n"
      << "echo \"== proxbench task ${SLURM_ARRAY_TASK_ID} of " << plan.tasks
      << ", job ${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID} on $(hostname) at $(date -u +%FT%TZ)\"\n"
      << "# torch threads = the CPUs Slurm gave this task (else the runner uses all cores of the node)\n"
      << "if [ -n \"${SLURM_CPUS_PER_TASK:-}\" ]; then export OMP_NUM_THREADS=\"$SLURM_CPUS_PER_TASK\"; fi\n"
      << "exec " << quote(exe) << " run " << quote(absolute(ex.file)) << " --out " << quote(absolute(o.out_dir))
      << " --shard \"${SLURM_ARRAY_TASK_ID}/" << plan.tasks << "\" --jobs " << o.jobs;
    for (const auto& v : o.sets) s << " --set " << quote(v);
    for (const auto& v : o.plugins) s << " --plugin " << quote(absolute(v));
    s << "\n";
    plan.sweep_script = s.str();
  }
  std::ostringstream r;
  r << "#!/bin/bash\n"
    << "# proxbench report of experiment '" << ex.name << "', written by `proxbench slurm`. Submitted with\n"
    << "# --dependency=afterany:<sweep job id>: it runs once every array task has ended, failed ones too,\n"
    << "# and reports what finished.\n";
  common(r, "proxbench-" + ex.name + "-report", plan.dir + "/report.log");
  extras(r);
  r << "set -euo pipefail\n"
    << "echo \"== proxbench report, job ${SLURM_JOB_ID} on $(hostname) at $(date -u +%FT%TZ)\"\n"
    << "exec " << quote(exe) << " report " << quote(root) << "\n";
  plan.report_script = r.str();
  return plan;
}

SlurmJobs submit_slurm(const SlurmPlan& plan) {
  const std::string sb = which("sbatch");
  if (sb.empty())
    throw Error(
        "proxbench slurm: 'sbatch' is not on PATH (run on a Slurm login node, or use --dry-run to "
        "print the scripts without submitting)");
  make_dirs(plan.dir);
  SlurmJobs jobs;
  const std::string sweep = plan.dir + "/sweep.sbatch", report = plan.dir + "/report.sbatch";
  write_text_atomic(report, plan.report_script);
  ::chmod(report.c_str(), 0755);
  if (!plan.sweep_script.empty()) {
    write_text_atomic(sweep, plan.sweep_script);
    ::chmod(sweep.c_str(), 0755);
    jobs.sweep = sbatch(sb, quote(sweep));
    jobs.report = sbatch(sb, "--dependency=afterany:" + std::to_string(jobs.sweep) + " " + quote(report));
  } else {
    jobs.report = sbatch(sb, quote(report));
  }
  return jobs;
}

}  // namespace proxbench::harness
