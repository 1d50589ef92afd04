#!/usr/bin/env bash
# ctest PluginOutOfTree: follows the README's plugin walk-through literally.
#  1. installs this build of proxbench into a temporary prefix;
#  2. builds tests/plugin_example (proximal AdaBelief) as an outside project with find_package(proxbench);
#  3. runs a tiny Lasso experiment with `--plugin`, and one that names the plugin in its YAML (`plugins:`);
#  4. checks the results store and the report table list the plugin's optimizer;
#  5. checks that a missing file, a non-plugin library and a plugin built for another proxbench
#     version are refused with clear messages and a non-zero exit.
set -euo pipefail
BUILD=$1
SRC=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail() { echo "PluginOutOfTree: FAIL: $*" >&2; exit 1; }

cmake --install "$BUILD" --prefix "$T/prefix" > "$T/install.log" || fail "install"
cmake -S "$SRC/tests/plugin_example" -B "$T/plugin-build" -DCMAKE_PREFIX_PATH="$T/prefix" > "$T/cfg.log" 2>&1 ||
  { cat "$T/cfg.log"; fail "configure of the plugin against the installed package"; }
cmake --build "$T/plugin-build" -j2 > "$T/build.log" 2>&1 || { cat "$T/build.log"; fail "plugin build"; }
PLUGIN="$T/plugin-build/libprox_adabelief.so"
PB="$T/prefix/bin/proxbench"
[ -f "$PLUGIN" ] || fail "no $PLUGIN"

cat > "$T/tiny.yaml" <<YAML
name: plugin-tiny
problem: {name: lasso, n: 80, p: 20, k: 3, batch_size: 20}
regularizer: {name: l1}
lambda: 0.05
optimizers:
  - {name: prox_adabelief, label: ProxAdaBelief, options: {lr: 0.02}}
  - {name: proxgen, label: ProxGen-Adam, options: {lr: 0.02}}
seeds: 2
budget: {epochs: 4}
YAML
"$PB" list optimizers --plugin "$PLUGIN" > "$T/list.txt" || fail "list optimizers --plugin"
grep -q prox_adabelief "$T/list.txt" || fail "list optimizers --plugin does not show prox_adabelief"
"$PB" run "$T/tiny.yaml" --plugin "$PLUGIN" --out "$T/out" --quiet || fail "run with --plugin"
n=$(grep -l '"prox_adabelief"' "$T"/out/plugin-tiny/*/spec.json | wc -l)
[ "$n" -eq 2 ] || fail "expected 2 prox_adabelief runs in the results store, found $n"
for f in $(grep -l '"prox_adabelief"' "$T"/out/plugin-tiny/*/spec.json); do
  d=$(dirname "$f")
  grep -q '"status": *"completed"' "$d/summary.json" || fail "run $d not completed: $(cat "$d/summary.json")"
  head -1 "$d/trajectory.csv" | grep -q lambda_min || fail "trajectory of $d has no probe columns"
done
"$PB" report "$T/out/plugin-tiny" --out "$T/report" > /dev/null || fail "report"
grep -rqs ProxAdaBelief "$T"/report/*.md || fail "the report's Markdown tables do not list ProxAdaBelief"

# The same, with the plugin named in the YAML (relative to the YAML file).
cp "$PLUGIN" "$T/libmyopt.so"
sed 's/^name: plugin-tiny/name: plugin-yaml\nplugins: [libmyopt.so]/' "$T/tiny.yaml" > "$T/with-plugins.yaml"
"$PB" run "$T/with-plugins.yaml" --out "$T/out" --quiet || fail "run with plugins: in the YAML"

# Errors: missing file, not a plugin, wrong version.
expect_error() {  # expect_error PATTERN CMD...
  local pat=$1; shift
  if "$@" > "$T/err.log" 2>&1; then fail "expected failure: $*"; fi
  grep -q "$pat" "$T/err.log" || { cat "$T/err.log"; fail "message does not contain '$pat'"; }
}
expect_error "no such file" "$PB" run "$T/tiny.yaml" --plugin "$T/nope.so" --out "$T/out2"
expect_error "not a proxbench plugin" "$PB" run "$T/tiny.yaml" --plugin "$T/prefix/lib/libproxbench.so" --out "$T/out2"
cat > "$T/old.c" <<'C'
const char* proxbench_plugin_version(void) { return "0.0.1"; }
void proxbench_plugin_register(void) {}
C
cc -shared -fPIC -o "$T/libold.so" "$T/old.c"
expect_error "incompatible" "$PB" run "$T/tiny.yaml" --plugin "$T/libold.so" --out "$T/out2"
[ ! -e "$T/out2/plugin-tiny" ] || [ -z "$(ls -A "$T/out2/plugin-tiny")" ] || fail "a refused plugin still produced results"
echo "PluginOutOfTree: 1 passed, 0 failed"
