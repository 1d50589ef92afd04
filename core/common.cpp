#include "core/common.h"

#include <cstdio>

#include "core/rng.h"
#include "proxbench_build_config.h"

namespace proxbench {

const char* version() { return PROXBENCH_VERSION_STRING; }

std::string format_double(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace proxbench

namespace proxbench::core {

std::mutex& global_rng_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace proxbench::core
