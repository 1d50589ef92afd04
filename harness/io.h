// Small file helpers shared by the harness and the reports: whole-file read, atomic write
// (write to "<path>.tmp.<pid>", then rename — readers never see a half-written file), and a
// numeric CSV table reader for trajectory.csv.
//
// Write failures (disk full, read-only or unwritable folder) throw WriteError, which carries the
// errno so that the runner can tell "the disk is full, stop the sweep" (ENOSPC, EDQUOT) from "this
// one folder cannot be written" (EACCES, EROFS, ...). The temporary file of a failed write is
// always removed, so a full disk is not left fuller.
//
// Testing hook (issue 17): with PROXBENCH_INJECT_WRITE_FAILURE=PATTERN in the environment, every
// atomic write whose target path contains PATTERN fails like a full disk (ENOSPC) after the
// temporary file was created and half of the data written — the CI-reliable stand-in for a small
// tmpfs. PATTERN "*" matches every path.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/common.h"

namespace proxbench::harness {

/// A failed write: message names the file and the system error; `error_number` is its errno.
struct WriteError : Error {
  WriteError(const std::string& msg, int err) : Error(msg), error_number(err) {}
  int error_number;
  /// ENOSPC or EDQUOT: no later write can succeed either.
  bool disk_full() const;
};

/// Whole file as a string; throws proxbench::Error naming the path.
std::string read_text(const std::string& path);
/// Writes through a temporary file "<path>.tmp.<pid>" in the same folder and renames it over
/// `path`; on any failure the temporary file is removed and WriteError is thrown.
void write_text_atomic(const std::string& path, const std::string& text);
/// Same for binary data (checkpoints).
void write_bytes_atomic(const std::string& path, const void* data, size_t size);
/// True if `path` names a regular file.
bool file_exists(const std::string& path);
/// mkdir -p; throws naming the path.
void make_dirs(const std::string& path);

/// A CSV file with a header row and numeric cells ("nan", "" → NaN).
struct CsvTable {
  std::vector<std::string> columns;
  std::vector<std::vector<double>> rows;
  /// Index of a column or -1.
  int column(const std::string& name) const;
  /// A whole column (NaN-filled when absent).
  std::vector<double> values(const std::string& name) const;
};
CsvTable read_csv(const std::string& path);

}  // namespace proxbench::harness
