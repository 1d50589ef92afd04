// Run-time plugins: a shared library built against the installed proxbench CMake package that
// registers optimizers, regularizers or problems into the same registries the built-ins use.
//
// A plugin defines, in one of its .cpp files:
//
//   #include "harness/plugin.h"
//   static void register_all() {
//     proxbench::core::optimizer_registry().add({"prox_adabelief", "...", {...}, "plugin", factory});
//   }
//   PROXBENCH_PLUGIN(register_all)
//
// PROXBENCH_PLUGIN exports two C symbols: `proxbench_plugin_version` (the proxbench version the
// plugin was compiled against) and `proxbench_plugin_register`. load_plugin() dlopen()s the file,
// checks the version (same MAJOR.MINOR as this proxbench: the C++ ABI of the registries and of
// ProxOptimizer may change between minor versions) and only then calls the register function, so
// an incompatible plugin is refused before any of its code runs. Registration must not happen in
// static initializers of the plugin.
#pragma once
#include <string>
#include <vector>

#include "core/common.h"
#include "proxbench_version.h"

namespace proxbench::harness {

/// Loads one plugin. Throws proxbench::Error naming the file for: a missing file, a file dlopen
/// refuses (with dlerror's text), a library without the plugin symbols ("not a proxbench plugin"),
/// a version mismatch, or an error thrown by its register function (e.g. a duplicate name).
/// Loading the same path twice is a no-op.
void load_plugin(const std::string& path);

/// Loads several (in order).
void load_plugins(const std::vector<std::string>& paths);

/// Paths loaded so far (for provenance in summary.json).
const std::vector<std::string>& loaded_plugins();

}  // namespace proxbench::harness

#define PROXBENCH_PLUGIN(register_fn)                                                           \
  extern "C" __attribute__((visibility("default"))) const char* proxbench_plugin_version() {   \
    return PROXBENCH_PLUGIN_BUILT_AGAINST;                                                      \
  }                                                                                             \
  extern "C" __attribute__((visibility("default"))) void proxbench_plugin_register() { register_fn(); }
