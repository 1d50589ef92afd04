// Shared basics: the host/device annotation for scalar maps, the error type, version string.
#pragma once
#include <stdexcept>
#include <string>

#if defined(__CUDACC__)
#define PB_HD __host__ __device__
#define PB_INLINE __host__ __device__ __forceinline__
#else
#define PB_HD
#define PB_INLINE inline
#endif

namespace proxbench {

/// The one exception type proxbench throws for bad input. The message always names the offending
/// file, key, parameter or value and the constraint it violates, e.g.
/// `regularizer 'lq': parameter q = 1.5 must be in (0, 1)`.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
};

/// Version of this proxbench build ("MAJOR.MINOR.PATCH"); plugins are checked against it.
const char* version();

/// Formats a double with 17 significant digits (round-trip exact), as every proxbench output does.
std::string format_double(double v);

}  // namespace proxbench
