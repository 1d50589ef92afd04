#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/CMakeLists.txt, clang++), replays the seed corpus of
# each (tests/fuzz/corpus/<target>/, must pass: a crash found once is added there and stays fixed),
# then fuzzes each target for FUZZ_SECONDS (default 60) seconds.
#   tests/fuzz/run.sh [MAIN_BUILD_DIR [FUZZ_BUILD_DIR]]     (defaults: build, build-fuzz)
# Environment: FUZZ_SECONDS (0: replay only), FUZZ_TARGETS (default: all five), FUZZ_JOBS (build
# parallelism, default 2), FUZZ_PARALLEL (targets fuzzed at once, default 2; reports in order).
# New interesting inputs go to FUZZ_BUILD_DIR/corpus/<target>/ (not the repository); crashes to
# FUZZ_BUILD_DIR/artifacts/<target>/ and the script fails naming them.
# Needs the main build's libproxbench.so (cmake --build MAIN_BUILD_DIR --target proxbench) and
# clang with libFuzzer (Debian: clang, libclang-rt-14-dev; third_party/install-deps.sh).
set -euo pipefail
src="$(cd "$(dirname "$0")/../.." && pwd)"
main_build="$(realpath "${1:-$src/build}")"
fuzz_build="$(realpath -m "${2:-$src/build-fuzz}")"
seconds="${FUZZ_SECONDS:-60}"
targets=(${FUZZ_TARGETS:-fuzz_experiment fuzz_idx fuzz_cifar fuzz_prox_lines fuzz_checkpoint})
cxx="${FUZZ_CXX:-$(command -v clang++ || command -v clang++-14)}"
[ -f "$main_build/libproxbench.so" ] || { echo "fuzz: $main_build/libproxbench.so missing (build target proxbench first)"; exit 2; }
cmake -S "$src/tests/fuzz" -B "$fuzz_build" -DCMAKE_CXX_COMPILER="$cxx" -DPROXBENCH_BUILD_DIR="$main_build" >/dev/null
# All five as the one goal `all`: CMake's Makefiles build several --target goals one after the
# other, and each target's two objects depend on each other, so that left one core idle (~5 min).
build_goals=(all)
[ -n "${FUZZ_TARGETS:-}" ] && build_goals=("${targets[@]}")
nice -n 5 cmake --build "$fuzz_build" -j"${FUZZ_JOBS:-2}" --target "${build_goals[@]}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export OMP_NUM_THREADS=1
# One target: replay its seed corpus, then fuzz it. Prints its report; returns 1 on a failure.
fuzz_one() {
  local t=$1 corpus="$src/tests/fuzz/corpus/$1" work="$fuzz_build/corpus/$1" art="$fuzz_build/artifacts/$1"
  mkdir -p "$work" "$art"
  local opts=(-rss_limit_mb=2048 -timeout=20 -max_len=65536 -artifact_prefix="$art/")
  [ -f "$src/tests/fuzz/$t.dict" ] && opts+=(-dict="$src/tests/fuzz/$t.dict")
  echo "== $t: replaying $(ls "$corpus" | wc -l) seed inputs"
  if ! "$fuzz_build/$t" "${opts[@]}" -runs=0 "$corpus" > "$fuzz_build/$t.replay.log" 2>&1; then
    echo "fuzz: $t FAILED on its seed corpus:"; tail -30 "$fuzz_build/$t.replay.log"; return 1
  fi
  [ "$seconds" -gt 0 ] || return 0
  echo "== $t: fuzzing for $seconds s"
  local rc=0
  if ! "$fuzz_build/$t" "${opts[@]}" -max_total_time="$seconds" -print_final_stats=1 "$work" "$corpus" \
       > "$fuzz_build/$t.fuzz.log" 2>&1; then
    echo "fuzz: $t found a crash:"; tail -40 "$fuzz_build/$t.fuzz.log"; ls "$art"; rc=1
  fi
  echo "   $t: $(execs_of "$t") executions, $(ls "$art" | wc -l) crash artifacts"
  return $rc
}
execs_of() {
  local e
  e=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$fuzz_build/$1.fuzz.log" 2>/dev/null | grep -o '[0-9]*$' || true)
  echo "${e:-0}"
}
# FUZZ_PARALLEL targets at a time (default 2: each fuzzer is single-threaded), reports in order.
par="${FUZZ_PARALLEL:-2}"
status=0
total_execs=0
pids=()
for i in "${!targets[@]}"; do
  rm -f "$fuzz_build/${targets[$i]}.fuzz.log"
  fuzz_one "${targets[$i]}" > "$fuzz_build/${targets[$i]}.report" 2>&1 &
  pids[$i]=$!
  # keep at most $par running: wait for the one started $par places earlier
  j=$((i - par + 1))
  [ "$j" -ge 0 ] && { wait "${pids[$j]}" || status=1; pids[$j]=; }
done
for i in "${!targets[@]}"; do
  [ -n "${pids[$i]:-}" ] && { wait "${pids[$i]}" || status=1; }
  cat "$fuzz_build/${targets[$i]}.report"
  total_execs=$((total_execs + $(execs_of "${targets[$i]}")))
done
echo "fuzz: ${#targets[@]} targets, $total_execs executions in all, status $status"
exit $status
