// Small file helpers shared by the harness and the reports: whole-file read, atomic write
// (write to "<path>.tmp.<pid>", then rename — readers never see a half-written file), and a
// numeric CSV table reader for trajectory.csv.
#pragma once
#include <map>
#include <string>
#include <vector>

namespace proxbench::harness {

/// Whole file as a string; throws proxbench::Error naming the path.
std::string read_text(const std::string& path);
/// Writes through a temporary file in the same folder and renames it over `path`.
void write_text_atomic(const std::string& path, const std::string& text);
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
