// Test helpers for the harness/report tests: a temporary folder, running the CLI binary, and
// "test_prox_gd", a plain proximal gradient step θ ← prox_{αλR}(θ − α g) registered into the
// optimizer registry of the test binary only (so the runner can be tested before/without the
// real optimizers; end-to-end CLI tests use the real ones).
#pragma once
#include <filesystem>
#include <string>

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

}  // namespace proxbench::test_util
