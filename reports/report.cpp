#include "reports/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "core/common.h"
#include "reports/claims.h"

namespace fs = std::filesystem;

namespace proxbench::reports {
namespace {

using json = nlohmann::json;

std::string html_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '&': o += "&amp;"; break;
      case '"': o += "&quot;"; break;
      default: o += c;
    }
  }
  return o;
}

std::string latex_escape(const std::string& s) {
  std::string o;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (s.compare(i, 2, "±") == 0) {  // UTF-8 ± is 2 bytes
      o += "$\\pm$";
      ++i;
      continue;
    }
    if (c == '_' || c == '%' || c == '&' || c == '#' || c == '$') o += std::string("\\") + c;
    else o += c;
  }
  return o;
}

/// Flattens a JSON value into path → scalar string.
void flatten(const json& j, const std::string& path, std::map<std::string, std::string>& out) {
  if (j.is_object()) {
    for (auto it = j.begin(); it != j.end(); ++it) flatten(it.value(), path.empty() ? it.key() : path + "." + it.key(), out);
  } else {
    out[path] = j.is_string() ? j.get<std::string>() : j.dump();
  }
}

std::string last_component(const std::string& p) {
  auto d = p.find_last_of('.');
  return d == std::string::npos ? p : p.substr(d + 1);
}

int flag_int(const std::string& flags, const std::string& key, int def) {
  auto p = flags.find(key + "=");
  if (p == std::string::npos) return def;
  return std::atoi(flags.c_str() + p + key.size() + 1);
}

std::string flag_str(const std::string& flags, const std::string& key) {
  auto p = flags.find(key + "=");
  if (p == std::string::npos) return "";
  auto e = flags.find(';', p);
  return flags.substr(p + key.size() + 1, e == std::string::npos ? std::string::npos : e - p - key.size() - 1);
}

}  // namespace

RecipeRegistry& recipe_registry() {
  static RecipeRegistry r("report recipe");
  return r;
}

// ---- store -----------------------------------------------------------------------------------

const harness::CsvTable& RunRecord::trajectory() const {
  if (!traj_) {
    traj_ = std::make_shared<harness::CsvTable>();
    if (harness::file_exists(dir + "/trajectory.csv")) *traj_ = harness::read_csv(dir + "/trajectory.csv");
  }
  return *traj_;
}

double RunRecord::metric(const std::string& name) const {
  const auto& m = summary.value("metrics", json::object());
  if (m.contains(name) && m[name].is_number()) return m[name].get<double>();
  return std::numeric_limits<double>::quiet_NaN();
}

std::vector<std::string> ExperimentResults::problems() const {
  std::set<std::string> s;
  for (const auto& r : runs) s.insert(r.spec["problem"]["name"].get<std::string>());
  return {s.begin(), s.end()};
}

ExperimentResults load_results(const std::string& dir) {
  ExperimentResults r;
  r.dir = dir;
  const std::string ej = dir + "/experiment.json";
  if (!harness::file_exists(ej)) throw Error("'" + dir + "' is not an experiment folder (no experiment.json)");
  try {
    r.experiment = json::parse(harness::read_text(ej));
  } catch (const json::exception& e) {
    throw Error(ej + ": " + e.what());
  }
  r.name = r.experiment.value("name", fs::path(dir).filename().string());
  std::vector<std::string> ids;
  for (const auto& id : r.experiment.value("runs", json::array())) ids.push_back(id.get<std::string>());
  std::set<std::string> listed(ids.begin(), ids.end());
  std::error_code ec;
  std::vector<std::string> extra;  // run folders of earlier versions of the experiment are ignored
  for (const auto& id : ids) {
    std::string rd = dir + "/" + id;
    if (!harness::file_exists(rd + "/summary.json") || !harness::file_exists(rd + "/spec.json")) continue;
    RunRecord rec;
    rec.id = id;
    rec.dir = rd;
    try {
      rec.spec = json::parse(harness::read_text(rd + "/spec.json"));
      rec.summary = json::parse(harness::read_text(rd + "/summary.json"));
    } catch (const json::exception& e) {
      throw Error(rd + ": unreadable spec.json/summary.json: " + e.what());
    }
    r.runs.push_back(std::move(rec));
  }
  // configs: runs that differ only by seed
  std::map<std::string, size_t> pos;
  for (const auto& run : r.runs) {
    json s = run.spec;
    s.erase("seed");
    std::string key = s.dump();
    if (!pos.count(key)) {
      pos[key] = r.configs.size();
      Config c;
      c.key = key;
      c.spec = run.spec;
      c.optimizer_label = run.spec["optimizer"]["label"];
      r.configs.push_back(c);
    }
    r.configs[pos[key]].runs.push_back(&run);
  }
  // labels: optimizer label + the values that vary between configs
  std::vector<std::map<std::string, std::string>> flat(r.configs.size());
  std::set<std::string> paths;
  for (size_t i = 0; i < r.configs.size(); ++i) {
    json s = r.configs[i].spec;
    s.erase("seed");
    s.erase("experiment");
    flatten(s, "", flat[i]);
    for (auto& kv : flat[i]) paths.insert(kv.first);
  }
  std::vector<std::string> varying;
  for (const auto& p : paths) {
    if (p == "optimizer.label" || p == "optimizer.name") continue;
    std::set<std::string> vals;
    for (auto& f : flat) vals.insert(f.count(p) ? f[p] : "-");
    if (vals.size() > 1) varying.push_back(p);
  }
  // a setting that does not vary among the configs of one optimizer label is that label's own (an
  // option, an entry's own regularizer or problem option, e.g. "Revised ProxQuant l2/3" with
  // q = 2/3): the label already names it, so only the settings that vary within a label join it
  for (size_t i = 0; i < r.configs.size(); ++i) {
    auto& c = r.configs[i];
    std::string variant;
    for (const auto& p : varying) {
      std::set<std::string> vals;  // does it vary among configs with this optimizer label?
      for (size_t k = 0; k < r.configs.size(); ++k)
        if (r.configs[k].optimizer_label == c.optimizer_label) vals.insert(flat[k].count(p) ? flat[k][p] : "-");
      if (vals.size() < 2) continue;
      if (!flat[i].count(p)) continue;
      // the regularizer's name by itself ("l12", not "name=l12"); any other key as key=value
      const std::string key = p == "regularizer.name" ? "" : last_component(p) + "=";
      variant += (variant.empty() ? "" : " ") + key + flat[i][p];
    }
    c.variant = variant;
    c.label = c.optimizer_label + (variant.empty() ? "" : " " + variant);
    std::sort(c.runs.begin(), c.runs.end(), [](const RunRecord* a, const RunRecord* b) {
      return a->spec["seed"].get<int64_t>() < b->spec["seed"].get<int64_t>();
    });
  }
  return r;
}

// ---- tables ----------------------------------------------------------------------------------

Stats stats_of(const std::vector<double>& xs) {
  Stats s;
  double sum = 0;
  s.min = std::numeric_limits<double>::infinity();
  s.max = -s.min;
  for (double x : xs)
    if (std::isfinite(x)) {
      sum += x;
      ++s.n;
      s.min = std::min(s.min, x);
      s.max = std::max(s.max, x);
    }
  if (!s.n) {
    s.mean = s.std = s.min = s.max = std::numeric_limits<double>::quiet_NaN();
    return s;
  }
  s.mean = sum / s.n;
  double v = 0;
  for (double x : xs)
    if (std::isfinite(x)) v += (x - s.mean) * (x - s.mean);
  s.std = s.n > 1 ? std::sqrt(v / (s.n - 1)) : 0.0;
  return s;
}

std::string fmt_sig(double v, int digits) {
  if (!std::isfinite(v)) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

Table::Cell Table::stat(const std::vector<double>& xs, int digits, bool sci) {
  Stats s = stats_of(xs);
  Cell c;
  c.n = s.n;
  c.mean = s.mean;
  c.std = s.std;
  if (!s.n) {
    c.text = "n/a";
    c.n = -1;
    return c;
  }
  char buf[96];
  if (sci) std::snprintf(buf, sizeof buf, "%.2e ± %.1e", s.mean, s.std);
  else std::snprintf(buf, sizeof buf, "%s ± %s", fmt_sig(s.mean, digits).c_str(), fmt_sig(s.std, 2).c_str());
  c.text = buf;
  return c;
}

std::string Table::markdown() const {
  std::string s = "|";
  for (const auto& h : header) s += " " + h + " |";
  s += "\n|";
  for (size_t i = 0; i < header.size(); ++i) s += i ? "---:|" : "---|";
  s += "\n";
  for (const auto& r : rows) {
    s += "|";
    for (const auto& c : r) s += " " + c.text + " |";
    s += "\n";
  }
  return s;
}

std::string Table::latex(const std::string& caption) const {
  std::string s = "% generated by proxbench report; needs \\usepackage{booktabs}\n\\begin{table}[ht]\n\\centering\n\\caption{" +
                  latex_escape(caption) + "}\n\\begin{tabular}{l";
  for (size_t i = 1; i < header.size(); ++i) s += "r";
  s += "}\n\\toprule\n";
  for (size_t i = 0; i < header.size(); ++i) s += (i ? " & " : "") + latex_escape(header[i]);
  s += " \\\\\n\\midrule\n";
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) s += (i ? " & " : "") + latex_escape(r[i].text);
    s += " \\\\\n";
  }
  return s + "\\bottomrule\n\\end{tabular}\n\\end{table}\n";
}

std::string Table::csv() const {
  auto q = [](const std::string& v) {
    if (v.find_first_of(",\"\n") == std::string::npos) return v;
    std::string o = "\"";
    for (char c : v) o += c == '"' ? std::string("\"\"") : std::string(1, c);
    return o + "\"";
  };
  // a column is statistical if any of its cells is
  std::vector<bool> st(header.size(), false);
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < st.size(); ++i) st[i] = st[i] || r[i].n != 0;
  std::string s;
  for (size_t i = 0; i < header.size(); ++i)
    s += (i ? "," : "") + (st[i] ? q(header[i] + " mean") + "," + q(header[i] + " std") + "," + q(header[i] + " n")
                                 : q(header[i]));
  s += "\n";
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) {
      if (i) s += ",";
      if (st[i]) s += r[i].n > 0 ? format_double(r[i].mean) + "," + format_double(r[i].std) + "," + std::to_string(r[i].n)
                                 : ",,0";
      else s += q(r[i].text);
    }
    s += "\n";
  }
  return s;
}

std::string Table::html() const {
  std::string s = "<table>\n<tr>";
  for (const auto& h : header) s += "<th>" + html_escape(h) + "</th>";
  s += "</tr>\n";
  for (const auto& r : rows) {
    s += "<tr>";
    for (size_t i = 0; i < r.size(); ++i) s += (i ? "<td class=num>" : "<td>") + html_escape(r[i].text) + "</td>";
    s += "</tr>\n";
  }
  return s + "</table>\n";
}

// ---- gnuplot ---------------------------------------------------------------------------------

bool gnuplot_available() {
  static const bool ok = [] {
    FILE* p = ::popen("gnuplot -e 'set terminal' 2>&1", "r");
    if (!p) return false;
    std::string out;
    char buf[512];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    int rc = ::pclose(p);
    return rc == 0 && out.find("pngcairo") != std::string::npos && out.find("svg") != std::string::npos;
  }();
  return ok;
}

std::string gp_quote(const std::string& s) {
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("''") : std::string(1, c);
  return o + "'";
}

std::string series_color(size_t i) {
  static const char* pal[] = {"#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000", "#f0e442", "#999999"};
  return pal[i % (sizeof pal / sizeof pal[0])];
}

// ---- writer ----------------------------------------------------------------------------------

ReportWriter::ReportWriter(std::string out_dir) : out_dir_(std::move(out_dir)) {
  harness::make_dirs(out_dir_);
  harness::make_dirs(out_dir_ + "/data");
}

std::string ReportWriter::write_data(const std::string& name, const std::string& text) {
  harness::write_text_atomic(out_dir_ + "/data/" + name, text);
  files_.push_back("data/" + name);
  return "data/" + name;
}

void ReportWriter::add_figure(const std::string& title, const std::string& stem, const std::string& body, int width,
                              int height, const std::string& caption) {
  std::string script = "# generated by proxbench report: gnuplot " + stem + ".gp (run in this folder)\n";
  script += "set terminal pngcairo enhanced size " + std::to_string(width) + "," + std::to_string(height) +
            " font 'Sans,11' linewidth 1.5\nset output '" + stem + ".png'\n" + body + "\nunset multiplot\nset output\n";
  script += "reset\nset terminal svg enhanced size " + std::to_string(width) + "," + std::to_string(height) +
            " dynamic font 'Sans,11' linewidth 1.5\nset output '" + stem + ".svg'\n" + body +
            "\nunset multiplot\nset output\n";
  harness::write_text_atomic(out_dir_ + "/" + stem + ".gp", script);
  files_.push_back(stem + ".gp");
  std::string img;
  if (gnuplot_available()) {
    std::string cmd = "cd '" + out_dir_ + "' && gnuplot '" + stem + ".gp' > '" + stem + ".log' 2>&1";
    int rc = std::system(cmd.c_str());
    if (rc != 0 || !harness::file_exists(out_dir_ + "/" + stem + ".png")) {
      img = "<p class=warn>gnuplot failed for " + html_escape(stem) + ".gp (see " + html_escape(stem) + ".log)</p>";
    } else {
      files_.push_back(stem + ".png");
      files_.push_back(stem + ".svg");
      std::remove((out_dir_ + "/" + stem + ".log").c_str());
      img = "<a href=\"" + stem + ".svg\"><img src=\"" + stem + ".png\" alt=\"" + html_escape(title) + "\"></a>";
    }
  } else {
    img = "<p class=warn>gnuplot (with the pngcairo and svg terminals) not found: run <code>gnuplot " + stem +
          ".gp</code> in this folder to draw the figure.</p>";
  }
  sections_ += "<section><h2>" + html_escape(title) + "</h2>\n" + img + "\n<p class=cap>" + caption + "</p>\n<p class=files>" +
               "<a href=\"" + stem + ".png\">PNG</a> · <a href=\"" + stem + ".svg\">SVG</a> · <a href=\"" + stem +
               ".gp\">gnuplot script</a></p></section>\n";
}

void ReportWriter::add_table(const std::string& title, const std::string& stem, const Table& t, const std::string& caption) {
  harness::write_text_atomic(out_dir_ + "/" + stem + ".md", "<!-- " + title + " -->\n" + t.markdown());
  harness::write_text_atomic(out_dir_ + "/" + stem + ".tex", t.latex(title));
  harness::write_text_atomic(out_dir_ + "/" + stem + ".csv", t.csv());
  for (const char* e : {".md", ".tex", ".csv"}) files_.push_back(stem + e);
  sections_ += "<section><h2>" + html_escape(title) + "</h2>\n" + t.html() + "<p class=cap>" + caption +
               "</p>\n<p class=files><a href=\"" + stem + ".md\">Markdown</a> · <a href=\"" + stem +
               ".tex\">LaTeX</a> · <a href=\"" + stem + ".csv\">CSV</a></p></section>\n";
}

void ReportWriter::add_note(const std::string& title, const std::string& html) {
  sections_ += "<section><h2>" + html_escape(title) + "</h2>\n" + html + "</section>\n";
}

std::string ReportWriter::write_index(const ExperimentResults& r) {
  std::string title = r.experiment.value("document", json::object()).value("report", json::object()).value("title", r.name);
  std::string h = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>" + html_escape(title) +
                  "</title>\n<style>body{font-family:sans-serif;max-width:1400px;margin:2em auto;padding:0 1em}"
                  "img{max-width:100%;border:1px solid #ddd}table{border-collapse:collapse;margin:1em 0}"
                  "td,th{border:1px solid #ccc;padding:3px 8px}td.num{text-align:right;font-family:monospace}"
                  "th{background:#f0f0f0}.cap{color:#444}.files{font-size:90%}.warn{color:#b00}"
                  "pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head><body>\n";
  h += "<h1>" + html_escape(title) + "</h1>\n";
  std::string desc = r.experiment.value("description", "");
  if (!desc.empty()) h += "<p>" + html_escape(desc) + "</p>\n";
  std::map<std::string, int> status;
  std::string commit = "unknown", torch, started;
  for (const auto& run : r.runs) {
    status[run.summary.value("status", "?")]++;
    const auto& c = run.summary.value("context", json::object());
    commit = c.value("git_commit", commit);
    torch = c.value("torch", torch);
    std::string st = c.value("started_utc", "");
    if (started.empty() || (!st.empty() && st < started)) started = st;
  }
  size_t planned = r.experiment.value("runs", json::array()).size();
  h += "<p>Runs: " + std::to_string(r.runs.size()) + " of " + std::to_string(planned) + " planned finished (";
  bool first = true;
  for (const auto& [k, v] : status) h += (first ? "" : ", ") + std::to_string(v) + " " + html_escape(k), first = false;
  h += "). Git commit <code>" + html_escape(commit) + "</code>, LibTorch " + html_escape(torch) + ", first run started " +
       html_escape(started) + ". Results folder: <code>" + html_escape(r.dir) + "</code>.</p>\n";
  h += "<nav><ul>";
  // table of contents from the section titles
  std::string::size_type p = 0;
  while ((p = sections_.find("<h2>", p)) != std::string::npos) {
    auto e = sections_.find("</h2>", p);
    h += "<li>" + sections_.substr(p + 4, e - p - 4) + "</li>";
    p = e;
  }
  h += "</ul></nav>\n" + sections_;
  h += "<section><h2>Experiment</h2><pre>" + html_escape(r.experiment.value("document", json::object()).dump(2)) +
       "</pre></section>\n</body></html>\n";
  harness::write_text_atomic(out_dir_ + "/index.html", h);
  return out_dir_ + "/index.html";
}

// ---- driver ----------------------------------------------------------------------------------

std::vector<std::string> select_recipes(const ExperimentResults& r) {
  std::vector<std::pair<int, std::string>> chosen;
  const json doc = r.experiment.value("document", json::object());
  if (doc.contains("report") && doc["report"].contains("recipes")) {
    int i = 0;
    for (const auto& n : doc["report"]["recipes"]) {
      std::string name = n.get<std::string>();
      recipe_registry().get(name);  // throws with the known names
      chosen.emplace_back(i++, name);
    }
  } else {
    auto probs = r.problems();
    for (const auto* e : recipe_registry().entries()) {
      std::string ps = flag_str(e->flags, "problems");
      bool use = ps == "*";
      std::stringstream ss(ps);
      std::string one;
      while (std::getline(ss, one, '|'))
        use = use || std::find(probs.begin(), probs.end(), one) != probs.end();
      if (use) chosen.emplace_back(flag_int(e->flags, "order", 50), e->name);
    }
    std::stable_sort(chosen.begin(), chosen.end(), [](auto& a, auto& b) { return a.first < b.first; });
  }
  std::vector<std::string> out;
  for (auto& c : chosen) out.push_back(c.second);
  return out;
}

std::vector<std::string> write_reports(const std::string& results_dir, const std::string& out_dir, bool verbose) {
  std::vector<std::string> dirs;
  std::error_code ec;
  if (harness::file_exists(results_dir + "/experiment.json")) {
    dirs.push_back(results_dir);
  } else if (fs::is_directory(results_dir, ec)) {
    std::vector<std::string> subs;
    for (const auto& e : fs::directory_iterator(results_dir, ec))
      if (harness::file_exists((e.path() / "experiment.json").string())) subs.push_back(e.path().string());
    std::sort(subs.begin(), subs.end());
    dirs = subs;
  } else {
    throw Error("report: '" + results_dir + "' is not a folder");
  }
  if (dirs.empty()) throw Error("report: no experiment results (experiment.json) under '" + results_dir + "'");
  std::vector<std::string> out;
  for (const auto& d : dirs) {
    ExperimentResults r = load_results(d);
    std::string od = out_dir.empty() ? d + "/report" : dirs.size() == 1 ? out_dir : out_dir + "/" + r.name;
    ReportWriter w(od);
    write_claims(r, w);  // verdicts first: the top of index.html
    if (r.runs.empty()) {
      w.add_note("No finished runs", "<p>The results folder holds no finished run yet.</p>");
    } else {
      for (const auto& name : select_recipes(r)) {
        if (verbose) std::cerr << "proxbench report: " << r.name << ": " << name << "\n";
        RecipeContext ctx{r, w};
        try {
          recipe_registry().get(name).make(ctx);
        } catch (const std::exception& e) {
          w.add_note("Recipe " + name + " failed", "<p class=warn>" + html_escape(e.what()) + "</p>");
        }
      }
    }
    out.push_back(w.write_index(r));
  }
  return out;
}

}  // namespace proxbench::reports
