// OptionMap: the typed, validated key → value map through which every registry factory receives
// its options (from YAML, JSON, `--param key=value` or C++). Reading a key marks it used, so a
// factory can reject the keys it does not know (`check_unused()`), and every failed read throws a
// proxbench::Error naming the owner, the key, the value and the expected type or range.
#pragma once
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/common.h"

namespace proxbench::core {

class OptionMap {
 public:
  OptionMap() : values_(nlohmann::json::object()) {}
  /// `owner` prefixes every error message, e.g. "optimizer 'proxgen'".
  explicit OptionMap(nlohmann::json values, std::string owner = "options");

  /// Parses "key=value" strings (value parsed as JSON when possible, else kept as a string).
  static OptionMap from_key_values(const std::vector<std::string>& kvs, std::string owner);

  const std::string& owner() const { return owner_; }
  void set_owner(std::string owner) { owner_ = std::move(owner); }
  const nlohmann::json& json() const { return values_; }
  bool has(const std::string& key) const { return values_.contains(key); }
  void set(const std::string& key, nlohmann::json value) { values_[key] = std::move(value); }

  double get_double(const std::string& key, double def) const;
  int64_t get_int(const std::string& key, int64_t def) const;
  bool get_bool(const std::string& key, bool def) const;
  std::string get_string(const std::string& key, const std::string& def) const;
  std::vector<double> get_double_list(const std::string& key, const std::vector<double>& def) const;
  /// A sub-map (a nested object), owner extended with the key.
  OptionMap get_map(const std::string& key) const;

  /// Range helpers: read and check in one call; message names key, value and the range.
  double get_double_in(const std::string& key, double def, double lo, double hi, bool lo_open,
                       bool hi_open) const;

  /// Throws if any key was never read: "optimizer 'proxgen': unknown option 'lrr' (known: ...)".
  void check_unused() const;

  /// Throws proxbench::Error("<owner>: <message>").
  [[noreturn]] void fail(const std::string& message) const;

 private:
  const nlohmann::json* lookup(const std::string& key) const;
  nlohmann::json values_;
  std::string owner_ = "options";
  mutable std::set<std::string> used_;
};

/// Documentation of one option, for `proxbench list` and the docs.
struct ParamDoc {
  std::string name;
  std::string default_value;
  std::string description;  ///< includes the valid range, e.g. "in (0, 1)"
};

}  // namespace proxbench::core
