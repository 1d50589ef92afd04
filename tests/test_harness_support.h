// Test helpers for the harness/report tests: a temporary folder, running the CLI binary, and
// "test_prox_gd", a plain proximal gradient step θ ← prox_{αλR}(θ − α g) registered into the
// optimizer registry of the test binary only (so the runner can be tested before/without the
// real optimizers; end-to-end CLI tests use the real ones).
#pragma once
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "harness/experiment.h"
#include "harness/runner.h"

namespace proxbench::test_util {

/// A fresh folder under the system temp dir, removed by the destructor.
struct TempDir {
  TempDir();
  ~TempDir();
  std::filesystem::path path;
};

/// Runs `proxbench <args>` (PROXBENCH_CLI_PATH) with `env` prefix ("A=1 B=2"); returns the exit
/// status and the combined stdout+stderr in `output`.
int run_cli(const std::string& args, std::string* output, const std::string& env = "");

/// Writes `text` to `path`.
void write_file(const std::filesystem::path& path, const std::string& text);

/// The experiment of the YAML `text`, read as the file `name`, after the `--set` overrides `sets`.
harness::Experiment experiment_from_yaml(const std::string& text, const std::string& name,
                                         const std::vector<std::string>& sets = {});

/// The message of the proxbench::Error that `f` throws, or "(no error)".
std::string error_of(const std::function<void()>& f);

/// Runner options that write into `out` with `jobs` workers and no progress line.
harness::RunnerOptions quiet(const std::filesystem::path& out, int jobs = 1);

}  // namespace proxbench::test_util
