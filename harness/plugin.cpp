#include "harness/plugin.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <mutex>

namespace proxbench::harness {
namespace {

std::vector<std::string>& loaded() {
  static std::vector<std::string> v;
  return v;
}

std::string major_minor(const std::string& v) {
  auto first = v.find('.');
  if (first == std::string::npos) return v;
  auto second = v.find('.', first + 1);
  return v.substr(0, second);
}

}  // namespace

void load_plugin(const std::string& path) {
  static std::mutex mu;
  std::lock_guard<std::mutex> lock(mu);
  if (std::find(loaded().begin(), loaded().end(), path) != loaded().end()) return;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) throw Error("plugin '" + path + "': no such file");
  void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_GLOBAL);
  if (!handle) {
    const char* err = ::dlerror();
    throw Error("plugin '" + path + "': cannot be loaded: " + (err ? err : "unknown dlopen error"));
  }
  using VersionFn = const char* (*)();
  using RegisterFn = void (*)();
  auto version_fn = reinterpret_cast<VersionFn>(::dlsym(handle, "proxbench_plugin_version"));
  auto register_fn = reinterpret_cast<RegisterFn>(::dlsym(handle, "proxbench_plugin_register"));
  if (!version_fn || !register_fn) {
    ::dlclose(handle);
    throw Error("plugin '" + path +
                "': not a proxbench plugin (missing symbol proxbench_plugin_version or proxbench_plugin_register; "
                "define them with PROXBENCH_PLUGIN(fn))");
  }
  std::string built = version_fn() ? version_fn() : "";
  if (major_minor(built) != major_minor(version())) {
    ::dlclose(handle);
    throw Error("plugin '" + path + "': built against proxbench " + built + ", incompatible with this proxbench " +
                version() + " (MAJOR.MINOR must match); rebuild the plugin against this installation");
  }
  try {
    register_fn();
  } catch (const std::exception& e) {
    throw Error("plugin '" + path + "': registration failed: " + e.what());
  }
  loaded().push_back(path);
}

void load_plugins(const std::vector<std::string>& paths) {
  for (const auto& p : paths) load_plugin(p);
}

const std::vector<std::string>& loaded_plugins() { return loaded(); }

}  // namespace proxbench::harness
