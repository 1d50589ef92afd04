#!/usr/bin/env bash
# The GPU runbook (issue 13): ONE command on the GPU machine (one H200, PyTorch 2.11.0+cu130 in its
# python3, no package registry) that checks proxbench's CUDA path and writes everything into OUTDIR:
#
#   1. env      machine, GPU (nvidia-smi), python torch version / CUDA
#   2. binaries the CUDA build carried from here (third_party/prepare-gpu-check.sh → .gpu-carry/:
#               stripped proxbench, proxbench_tests, proxbench_bench, libproxbench, the runtime .so
#               files the GPU machine may lack, the Fashion-MNIST files). Carried, not rebuilt: the
#               build takes ~30 min of CPU here (nvcc + LibTorch 2.x headers), i.e. minutes of the 9
#               on the device even on 16 cores, and the binaries were linked against the very same
#               LibTorch (2.11.0+cu130, glibc-compatible manylinux_2_28); LibTorch and the CUDA
#               libraries are then taken from the device's own torch wheel (LD_LIBRARY_PATH).
#               Without .gpu-carry/bin it falls back to third_party/build-on-device.sh (BUILD_ONLY).
#   3. smoke    `proxbench --version`, CUDA visible to LibTorch
#   4. tests    every CUDA test: proxbench_tests --gtest_filter='*Cuda*' (CUDA vs CPU, every optimizer
#               × regularizer, SR2 accept/reject)
#   5. bench    proxbench_bench, GPU part: fused ProxGen step vs device copy vs torch::optim::Adam vs
#               at::_fused_adam_ at 10M and 100M float32; ResNet-34 and DenseNet-121 training images/s
#               (ProxGen vs torch Adam, fp32 and bf16 autocast + channels-last); JSON + ratio table
#   6. run      a short real run: ResNet-20 on the full Fashion-MNIST training set, the four
#               optimizers of the mission (ProxGen-Adam, Prox-SGD, SR2, subgradient Adam), l1,
#               3 epochs, on cuda (proxbench reproduce quickstart-fmnist-l1 with --set overrides)
#   7. report   OUTDIR/REPORT.md and OUTDIR/summary.tsv (part, status, seconds, note)
#
# Every part has its own time limit (total ≤ ~9 min) and log (OUTDIR/<part>.log); a failing part is
# recorded and the script goes on. Without a GPU (a dry run, or GPU_CHECK_DRY_RUN=1) the GPU parts
# are marked "skipped (no GPU)" and a CPU rehearsal of the same commands runs instead (tiny sizes),
# so that a typo shows up here and not on the GPU machine.
#
# Usage: third_party/gpu-check.sh OUTDIR        Env: GPU_CARRY (default .gpu-carry)
# Exit status 0 when no part FAILED (skipped parts do not count), else 1. CI runs the dry run on
# its CompileCheck CUDA build every time (.ci/run step 3).
set -uo pipefail
out=${1:?usage: third_party/gpu-check.sh OUTDIR}
cd "$(dirname "$0")/.."
root=$PWD
mkdir -p "$out"
out=$(cd "$out" && pwd)
carry=${GPU_CARRY:-.gpu-carry}
[[ -d $carry ]] && carry=$(cd "$carry" && pwd)
summary=$out/summary.tsv
printf 'part\tstatus\tseconds\tnote\n' > "$summary"
T_START=$(date +%s)

record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >> "$summary"; echo "gpu-check: $1: $2 ($3 s) $4"; }
# run_part NAME LIMIT_S NOTE CMD...: runs CMD with a time limit, log in OUTDIR/NAME.log.
run_part() {
  local name=$1 limit=$2 note=$3
  shift 3
  local t0=$(date +%s) rc=0
  if declare -F "$1" > /dev/null; then  # a shell function: timeout runs programs only
    timeout --kill-after=10 "$limit" bash -c "$(declare -f "$1"); $1" > "$out/$name.log" 2>&1 || rc=$?
  else
    timeout --kill-after=10 "$limit" "$@" > "$out/$name.log" 2>&1 || rc=$?
  fi
  local dt=$(($(date +%s) - t0)) status=ok
  if [[ $rc == 124 || $rc == 137 ]]; then status="FAILED (time limit ${limit} s)"
  elif [[ $rc != 0 ]]; then status="FAILED (exit $rc)"; fi
  record "$name" "$status" "$dt" "$note"
  return $rc
}

# ---- 1. env ------------------------------------------------------------------------------------
export gpu=0
if [[ ${GPU_CHECK_DRY_RUN:-0} != 1 ]] && command -v nvidia-smi > /dev/null && nvidia-smi -L > /dev/null 2>&1; then gpu=1; fi
env_info() {
  date -u; uname -a; nproc; free -g | head -2
  if [[ $gpu == 1 ]]; then nvidia-smi; else echo "no GPU (nvidia-smi absent or failing, or GPU_CHECK_DRY_RUN=1)"; fi
  python3 -c 'import torch; print("python torch", torch.__version__, "cuda", torch.version.cuda, "available", torch.cuda.is_available())' \
    || echo "no python torch"
}
run_part env 60 "gpu=$gpu" env_info

# ---- 2. binaries -----------------------------------------------------------------------------------
# LibTorch + CUDA libraries: the device's torch wheel (torch/lib, site-packages/nvidia/*/lib); here
# the binaries' RPATH (the fetch-libtorch cache, /usr/local/cuda) finds them.
torch_libs=$(python3 - 2> /dev/null << 'PY'
import glob, os, torch
sp = os.path.dirname(os.path.dirname(torch.__file__))
print(":".join([os.path.join(os.path.dirname(torch.__file__), "lib")] + sorted(glob.glob(os.path.join(sp, "nvidia", "*", "lib")))))
PY
) || torch_libs=""
# The carried binaries come packed (prepare-gpu-check.sh): unpack them once, outside OUTDIR (whose
# files travel back), with tar or, where tar lacks xz, python's tarfile.
if [[ -f $carry/payload.tar.xz && ! -x $carry/bin/proxbench ]]; then
  unpacked=${TMPDIR:-/tmp}/proxbench-gpu-carry
  rm -rf "$unpacked" && mkdir -p "$unpacked"
  tar -C "$unpacked" -xJf "$carry/payload.tar.xz" 2> /dev/null ||
    python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' "$carry/payload.tar.xz" "$unpacked"
  for f in BUILD_INFO data; do ln -sfn "$carry/$f" "$unpacked/$f"; done
  carry=$unpacked
fi
if [[ -x $carry/bin/proxbench ]]; then
  export bin=$carry/bin
  libpath=$carry/lib${torch_libs:+:$torch_libs}
  record binaries ok 0 "carried build: $(cat "$carry/BUILD_INFO" 2> /dev/null | head -1)"
else
  if run_part binaries 420 "no carried build: built here with build-on-device.sh" \
    env BUILD_ONLY=1 DEVICE_DEBS="$carry/debs" third_party/build-on-device.sh build-cuda; then
    mkdir -p "$out/.bin" && ln -sf "$root/build-cuda/proxbench" "$root/build-cuda/tests/proxbench_tests" \
      "$root/build-cuda/tests/proxbench_bench" "$out/.bin/"
    export bin=$out/.bin
    libpath=$root/.device-prefix/usr/lib/x86_64-linux-gnu${torch_libs:+:$torch_libs}
  else
    bin=""
  fi
fi
export LD_LIBRARY_PATH=${libpath:-}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
export PROXBENCH_EXPERIMENTS_DIR=$root/harness/experiments
data=$carry/data/fashion-mnist
[[ -f $data/train-images-idx3-ubyte.gz ]] || data=/usr/share/datasets/fashion-mnist
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH" >> "$out/env.log"

if [[ -z $bin ]]; then
  for p in smoke tests bench run; do record $p "skipped" 0 "no binaries"; done
else
  # ---- 3. smoke ------------------------------------------------------------------------------------
  smoke() {
    "$bin/proxbench" --version && ldd "$bin/proxbench" | grep -E 'torch|cudart|proxbench'
  }
  run_part smoke 60 "" smoke

  # ---- 4. CUDA tests -------------------------------------------------------------------------------
  note=""
  [[ $gpu == 1 ]] || note="skipped (no GPU): rehearsal, the tests skip themselves"
  if [[ ! -x $bin/proxbench_tests ]]; then
    record tests "FAILED (no $bin/proxbench_tests)" 0 ""
  else
    run_part tests 120 "$note" "$bin/proxbench_tests" --gtest_filter='*Cuda*' --gtest_output="json:$out/tests.json"
    [[ $gpu == 1 ]] || sed -i '$ s/\tok\t/\tskipped (no GPU)\t/' "$summary"
  fi

  # ---- 5. GPU benchmarks ---------------------------------------------------------------------------
  if [[ ! -x $bin/proxbench_bench ]]; then
    record bench "FAILED (no $bin/proxbench_bench)" 0 ""
  elif [[ $gpu == 1 ]]; then
    run_part bench 240 "" "$bin/proxbench_bench" --benchmark_filter='BM_Cuda|BM_FusedAdamStep|BM_TorchAdamStep|BM_Copy/10000000' \
      --benchmark_out="$out/bench.json" --benchmark_out_format=json
  else
    run_part bench 120 "skipped (no GPU): rehearsal (BM_Cuda* skip, CPU fused Adam only)" "$bin/proxbench_bench" \
      --benchmark_filter='BM_CudaCopy|BM_CudaOptimizerStep/|BM_FusedAdamStep' --benchmark_min_time=0.05 \
      --benchmark_out="$out/bench.json" --benchmark_out_format=json
    sed -i '$ s/\tok\t/\tskipped (no GPU)\t/' "$summary"
  fi

  # ---- 6. short real run ---------------------------------------------------------------------------
  sets=(--set "problem.data_dir=$data" --set problem.layer_metrics=false)
  if [[ $gpu == 1 ]]; then
    run_part run 240 "ResNet-20, full Fashion-MNIST, 4 optimizers, l1, 3 epochs, cuda" "$bin/proxbench" reproduce \
      quickstart-fmnist-l1 --out "$out/run" "${sets[@]}" --set problem.device=cuda --set problem.subset=0 \
      --set problem.test_subset=0 --set problem.train_eval_subset=10000 --set problem.batch_size=128 \
      --set budget.epochs=3
  else
    run_part run 600 "skipped (no GPU): rehearsal on cpu, 128 images, 1 epoch" "$bin/proxbench" reproduce \
      quickstart-fmnist-l1 --out "$out/run" "${sets[@]}" --set problem.device=cpu --set problem.subset=128 \
      --set problem.test_subset=100 --set problem.train_eval_subset=100 --set problem.batch_size=64 \
      --set budget.epochs=1
    sed -i '$ s/\tok\t/\tskipped (no GPU)\t/' "$summary"
  fi
fi

# ---- 7. report ---------------------------------------------------------------------------------
total=$(($(date +%s) - T_START))
{
  echo "# proxbench GPU check"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(git -C "$root" rev-parse --short HEAD 2> /dev/null || echo '?'), GPU: $([[ $gpu == 1 ]] && nvidia-smi -L | head -1 || echo 'none (dry run)'), total ${total} s"
  echo
  echo "| part | status | s | note |"
  echo "|---|---|---|---|"
  tail -n +2 "$summary" | awk -F'\t' '{printf "| %s | %s | %s | %s |\n", $1, $2, $3, $4}'
  echo
  echo "## CUDA tests"
  echo '```'
  grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$out/tests.log" 2> /dev/null || echo "(no test log)"
  echo '```'
  echo "## Benchmarks (ratios)"
  echo '```'
  sed -n '/^GPU ratios/,$p;/^Ratios against/,/^$/p' "$out/bench.log" 2> /dev/null || echo "(no bench log)"
  echo '```'
  echo "## Real run"
  echo '```'
  tail -n 15 "$out/run.log" 2> /dev/null || echo "(no run log)"
  echo '```'
} > "$out/REPORT.md"
echo "gpu-check: done in ${total} s; $out/REPORT.md"
# Exit status: 1 when any part FAILED (everything is written either way).
if grep -q 'FAILED' "$summary"; then echo "gpu-check: some parts FAILED"; exit 1; fi
