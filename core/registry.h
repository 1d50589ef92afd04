// Registry: name → factory, with the documentation `proxbench list` prints. One registry per kind
// of thing (regularizers, optimizers, problems, models); the harness, the CLI, the reports and the
// tests all enumerate the same registry, so none of them keeps a list of its own. Plugins
// (shared libraries loaded at run time) register into the same instances: the accessors
// (e.g. `optimizer_registry()`) are defined once, in libproxbench.
//
// Registering (in the .cpp of the thing, at namespace scope):
//   PROXBENCH_REGISTER(optimizer_registry(), "proxgen", entry);
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/common.h"
#include "core/options.h"

namespace proxbench::core {

/// One registered item: its documentation and its factory.
template <class FactorySig>
struct RegistryEntry {
  std::string name;
  std::string description;       ///< one line
  std::vector<ParamDoc> params;  ///< options with defaults and ranges
  std::string flags;             ///< e.g. "convex,separable" or "paper: ProxGen Alg. 1"
  std::function<FactorySig> make;
};

template <class FactorySig>
class Registry {
 public:
  using Entry = RegistryEntry<FactorySig>;
  explicit Registry(std::string kind) : kind_(std::move(kind)) {}

  /// Adds an entry; a duplicate name is an error (a plugin must not shadow a built-in silently).
  void add(Entry e) {
    if (e.name.empty()) throw Error(kind_ + " registry: empty name");
    if (entries_.count(e.name)) throw Error(kind_ + " registry: '" + e.name + "' is already registered");
    auto name = e.name;
    entries_.emplace(std::move(name), std::move(e));
  }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  /// Throws "unknown optimizer 'foo' (known: a, b, c)".
  const Entry& get(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) throw Error("unknown " + kind_ + " '" + name + "' (known: " + known() + ")");
    return it->second;
  }
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    for (const auto& kv : entries_) out.push_back(kv.first);
    return out;
  }
  std::vector<const Entry*> entries() const {
    std::vector<const Entry*> out;
    for (const auto& kv : entries_) out.push_back(&kv.second);
    return out;
  }
  const std::string& kind() const { return kind_; }
  std::string known() const {
    std::string s;
    for (const auto& kv : entries_) s += (s.empty() ? "" : ", ") + kv.first;
    return s;
  }

 private:
  std::string kind_;
  std::map<std::string, Entry> entries_;
};

/// Helper object whose constructor registers an entry (for static registration).
struct Registrar {
  template <class R, class E>
  Registrar(R& registry, E entry) {
    registry.add(std::move(entry));
  }
};

}  // namespace proxbench::core

#define PROXBENCH_CONCAT_INNER(a, b) a##b
#define PROXBENCH_CONCAT(a, b) PROXBENCH_CONCAT_INNER(a, b)
/// Registers `entry` into `registry` at load time (library or plugin).
#define PROXBENCH_REGISTER(registry, entry) \
  static ::proxbench::core::Registrar PROXBENCH_CONCAT(proxbench_registrar_, __COUNTER__)((registry), (entry))
