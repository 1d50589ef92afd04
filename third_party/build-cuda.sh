#!/usr/bin/env bash
# Builds the CUDA configuration (-DPROXBENCH_CUDA=ON, sm_90) against LibTorch 2.11.0 + CUDA 13.0
# (third_party/fetch-libtorch.sh) with the system CUDA toolkit (/usr/local/cuda): the library, the
# CLI, the test binary and the benchmark binary. Needs no GPU: CI runs it to prove the CUDA path
# compiles and links (issue 13); the GPU runbook (third_party/gpu-check.sh) uses its output.
#
# Usage: third_party/build-cuda.sh [BUILD_DIR] [TARGET...]   (default build-cuda, all four targets)
# Env:   CUDA_HOME (default /usr/local/cuda), CUDA_ARCH (default 90), JOBS (default nproc),
#        CUDA_BUILD_TYPE (default Release; CI passes CompileCheck: a build type with no flags, i.e.
#        -O0 without -g, since CI only proves that everything compiles and links, at about half the
#        compile time of -O2 on 2 cores; nvcc still optimizes device code),
#        PROXBENCH_CACHE / PROXBENCH_TORCH_WHEEL (see fetch-libtorch.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-cuda}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(proxbench_cli proxbench_tests proxbench_bench)
cuda_home=${CUDA_HOME:-/usr/local/cuda}
[[ -x $cuda_home/bin/nvcc ]] || { echo "build-cuda: no nvcc in $cuda_home/bin (set CUDA_HOME)"; exit 1; }
torch_prefix=$(./third_party/fetch-libtorch.sh)
t0=$(date +%s)
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE="${CUDA_BUILD_TYPE:-Release}" -DPROXBENCH_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="${CUDA_ARCH:-90}" \
  -DCMAKE_CUDA_COMPILER="$cuda_home/bin/nvcc" -DCMAKE_PREFIX_PATH="$torch_prefix"
t1=$(date +%s)
# The default three as the one goal `all` (it holds exactly them): CMake's Makefiles build several
# --target goals one after another, idling a core at each goal's last object and link.
goals=("${targets[@]}")
[[ $# -gt 0 ]] || goals=(all)
cmake --build "$build" -j"${JOBS:-$(nproc)}" --target "${goals[@]}"
t2=$(date +%s)
echo "build-cuda: configure $((t1 - t0)) s, build $((t2 - t1)) s (${targets[*]})"
if [[ -x $build/proxbench ]]; then
  echo "build-cuda: ldd $build/proxbench | grep torch_cuda:"
  ldd "$build/proxbench" | grep torch_cuda || { echo "build-cuda: proxbench does not load libtorch_cuda"; exit 1; }
fi
