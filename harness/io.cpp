#include "harness/io.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

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
  std::error_code ec;
  const auto st = std::filesystem::status(path, ec);
  if (!ec && std::filesystem::exists(st) && !std::filesystem::is_regular_file(st))
    throw Error("cannot read '" + path + "': not a regular file");  // a FIFO would block, a device never end
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error("cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool WriteError::disk_full() const {
#ifdef EDQUOT
  if (error_number == EDQUOT) return true;
#endif
  return error_number == ENOSPC;
}

namespace {
bool inject_failure(const std::string& path) {
  const char* p = std::getenv("PROXBENCH_INJECT_WRITE_FAILURE");
  return p && *p && (std::string(p) == "*" || path.find(p) != std::string::npos);
}
[[noreturn]] void write_failed(const std::string& tmp, int fd, const std::string& what, int err) {
  if (fd >= 0) ::close(fd);
  ::unlink(tmp.c_str());
  throw WriteError("cannot write '" + tmp + "' (" + what + "): " + std::strerror(err), err);
}
}  // namespace

void write_bytes_atomic(const std::string& path, const void* data, size_t size) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int err = errno;
    throw WriteError("cannot create '" + tmp + "': " + std::strerror(err), err);
  }
  const char* p = static_cast<const char*>(data);
  size_t left = size;
  const bool inject = inject_failure(path);
  if (inject) left = size / 2;
  while (left > 0) {
    const ssize_t n = ::write(fd, p, left);
    if (n < 0) {
      if (errno == EINTR) continue;
      write_failed(tmp, fd, "for '" + path + "'", errno);
    }
    p += n;
    left -= static_cast<size_t>(n);
  }
  if (inject) write_failed(tmp, fd, "for '" + path + "', PROXBENCH_INJECT_WRITE_FAILURE", ENOSPC);
  if (::close(fd) != 0) write_failed(tmp, -1, "for '" + path + "'", errno);
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw WriteError("cannot rename '" + tmp + "' to '" + path + "': " + std::strerror(err), err);
  }
}

void write_text_atomic(const std::string& path, const std::string& text) {
  write_bytes_atomic(path, text.data(), text.size());
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
