// Shared bits of the fuzz targets (tests/fuzz/README in run.sh): bytes → a file path without
// touching the disk (a memfd seen through /proc/self/fd), and the rule every target checks:
// malformed input may only end in proxbench::Error (a clean message), never in a crash, a hang,
// another exception type or an allocation beyond libFuzzer's -rss_limit_mb.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include "core/common.h"

namespace proxbench::fuzz {

/// An in-memory regular file holding `size` bytes; closed by the destructor.
struct MemFile {
  int fd = -1;
  MemFile(const uint8_t* data, size_t size) {
    fd = ::memfd_create("proxbench-fuzz", MFD_CLOEXEC);
    if (fd < 0) std::abort();
    for (size_t off = 0; off < size;) {
      const ssize_t n = ::write(fd, data + off, size - off);
      if (n <= 0) std::abort();
      off += size_t(n);
    }
  }
  ~MemFile() { ::close(fd); }
  std::string path() const { return "/proc/self/fd/" + std::to_string(fd); }
};

/// Runs `f`; proxbench::Error is the expected outcome of bad input, anything else is a finding.
template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const proxbench::Error&) {
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fuzz: unexpected exception (not proxbench::Error): %s\n", e.what());
    std::abort();
  }
}

}  // namespace proxbench::fuzz
