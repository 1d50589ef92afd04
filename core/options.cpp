#include "core/options.h"

#include <cmath>
#include <sstream>

namespace proxbench::core {

OptionMap::OptionMap(nlohmann::json values, std::string owner) : values_(std::move(values)), owner_(std::move(owner)) {
  if (values_.is_null()) values_ = nlohmann::json::object();
  if (!values_.is_object()) fail("options must be a map of key: value, got " + values_.dump());
}

OptionMap OptionMap::from_key_values(const std::vector<std::string>& kvs, std::string owner) {
  OptionMap m(nlohmann::json::object(), std::move(owner));
  for (const auto& kv : kvs) {
    auto eq = kv.find('=');
    if (eq == std::string::npos || eq == 0) m.fail("expected KEY=VALUE, got '" + kv + "'");
    std::string key = kv.substr(0, eq), val = kv.substr(eq + 1);
    nlohmann::json parsed = nlohmann::json::parse(val, nullptr, false);
    m.values_[key] = parsed.is_discarded() ? nlohmann::json(val) : parsed;
  }
  return m;
}

void OptionMap::fail(const std::string& message) const { throw Error(owner_ + ": " + message); }

const nlohmann::json* OptionMap::lookup(const std::string& key) const {
  used_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end() || it->is_null()) return nullptr;
  return &*it;
}

double OptionMap::get_double(const std::string& key, double def) const {
  const auto* v = lookup(key);
  if (!v) return def;
  double d;
  if (v->is_number()) {
    d = v->get<double>();
  } else if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    char* end = nullptr;
    d = std::strtod(s.c_str(), &end);
    if (s.empty() || *end != '\0') fail("option '" + key + "' = '" + s + "' is not a number");
  } else {
    fail("option '" + key + "' = " + v->dump() + " is not a number");
  }
  if (std::isnan(d)) fail("option '" + key + "' is NaN");
  return d;
}

int64_t OptionMap::get_int(const std::string& key, int64_t def) const {
  const auto* v = lookup(key);
  if (!v) return def;
  double d = v->is_number() ? v->get<double>() : get_double(key, 0.0);
  if (d != std::floor(d) || std::abs(d) > 9.0e15)
    fail("option '" + key + "' = " + format_double(d) + " is not an integer");
  return static_cast<int64_t>(d);
}

bool OptionMap::get_bool(const std::string& key, bool def) const {
  const auto* v = lookup(key);
  if (!v) return def;
  if (v->is_boolean()) return v->get<bool>();
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (s == "true" || s == "on" || s == "yes" || s == "1") return true;
    if (s == "false" || s == "off" || s == "no" || s == "0") return false;
  }
  if (v->is_number_integer() && (v->get<int64_t>() == 0 || v->get<int64_t>() == 1)) return v->get<int64_t>() == 1;
  fail("option '" + key + "' = " + v->dump() + " is not a boolean (true/false)");
}

std::string OptionMap::get_string(const std::string& key, const std::string& def) const {
  const auto* v = lookup(key);
  if (!v) return def;
  if (v->is_string()) return v->get<std::string>();
  if (v->is_number() || v->is_boolean()) return v->dump();
  fail("option '" + key + "' = " + v->dump() + " is not a string");
}

std::vector<double> OptionMap::get_double_list(const std::string& key, const std::vector<double>& def) const {
  const auto* v = lookup(key);
  if (!v) return def;
  std::vector<double> out;
  if (v->is_number()) return {v->get<double>()};
  if (!v->is_array()) fail("option '" + key + "' = " + v->dump() + " is not a list of numbers");
  for (const auto& e : *v) {
    if (!e.is_number()) fail("option '" + key + "' has a non-number element " + e.dump());
    out.push_back(e.get<double>());
  }
  return out;
}

OptionMap OptionMap::get_map(const std::string& key) const {
  const auto* v = lookup(key);
  if (!v) return OptionMap(nlohmann::json::object(), owner_ + "." + key);
  if (!v->is_object()) fail("option '" + key + "' = " + v->dump() + " is not a map");
  return OptionMap(*v, owner_ + "." + key);
}

double OptionMap::get_double_in(const std::string& key, double def, double lo, double hi, bool lo_open,
                                bool hi_open) const {
  double d = get_double(key, def);
  bool ok = (lo_open ? d > lo : d >= lo) && (hi_open ? d < hi : d <= hi);
  if (!ok) {
    std::ostringstream os;
    os << "option '" << key << "' = " << format_double(d) << " must be in " << (lo_open ? "(" : "[")
       << format_double(lo) << ", " << format_double(hi) << (hi_open ? ")" : "]");
    fail(os.str());
  }
  return d;
}

void OptionMap::check_unused() const {
  std::string unknown, known;
  for (auto it = values_.begin(); it != values_.end(); ++it)
    if (!used_.count(it.key())) unknown += (unknown.empty() ? "'" : ", '") + it.key() + "'";
  if (unknown.empty()) return;
  for (const auto& k : used_) known += (known.empty() ? "" : ", ") + k;
  fail("unknown option " + unknown + (known.empty() ? std::string() : " (known: " + known + ")"));
}

}  // namespace proxbench::core
