#include "core/common.h"

#include <charconv>
#include <cstdio>

#include "core/rng.h"
#include "proxbench_build_config.h"

namespace proxbench {

const char* version() { return PROXBENCH_VERSION_STRING; }

std::string format_double(double v) {
  char buf[64];  // as printf("%.17g") by the standard's definition (nan, -nan, inf too), ~5x faster
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, 17);
  return std::string(buf, r.ptr);
}

}  // namespace proxbench

namespace proxbench::core {

std::mutex& global_rng_mutex() {
  static std::mutex m;
  return m;
}

}  // namespace proxbench::core
