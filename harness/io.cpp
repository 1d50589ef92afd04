#include "harness/io.h"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "core/common.h"

namespace proxbench::harness {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_text_atomic(const std::string& path, const std::string& text) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) throw Error("cannot write '" + tmp + "'");
    f << text;
    f.flush();
    if (!f) throw Error("write failed for '" + tmp + "'");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw Error("cannot rename '" + tmp + "' to '" + path + "'");
  }
}

bool file_exists(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_regular_file(path, ec);
}

void make_dirs(const std::string& path) {
  std::error_code ec;
  std::filesystem::create_directories(path, ec);
  if (ec) throw Error("cannot create folder '" + path + "': " + ec.message());
}

int CsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < columns.size(); ++i)
    if (columns[i] == name) return static_cast<int>(i);
  return -1;
}

std::vector<double> CsvTable::values(const std::string& name) const {
  int c = column(name);
  std::vector<double> out(rows.size(), std::numeric_limits<double>::quiet_NaN());
  if (c < 0) return out;
  for (size_t r = 0; r < rows.size(); ++r)
    if (c < static_cast<int>(rows[r].size())) out[r] = rows[r][c];
  return out;
}

CsvTable read_csv(const std::string& path) {
  std::istringstream in(read_text(path));
  CsvTable t;
  std::string line;
  if (!std::getline(in, line)) return t;
  std::stringstream hs(line);
  std::string cell;
  while (std::getline(hs, cell, ',')) t.columns.push_back(cell);
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<double> row;
    std::stringstream rs(line);
    while (std::getline(rs, cell, ',')) {
      char* end = nullptr;
      double v = std::strtod(cell.c_str(), &end);
      row.push_back(cell.empty() || end == cell.c_str() ? std::numeric_limits<double>::quiet_NaN() : v);
    }
    row.resize(t.columns.size(), std::numeric_limits<double>::quiet_NaN());
    t.rows.push_back(std::move(row));
  }
  return t;
}

}  // namespace proxbench::harness
