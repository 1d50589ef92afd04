#!/usr/bin/env bash
# Builds and tests proxbench with the CUDA kernels ON THE GPU DEVICE MACHINE (issue 7).
#
# NOT RUN YET on a GPU machine (the same configuration is built in CI by third_party/build-cuda.sh,
# against the same LibTorch). third_party/gpu-check.sh calls it (BUILD_ONLY=1) only when no build
# was carried. Expect to adjust paths on first use.
#
# Expects, on the device: python3 with a CUDA PyTorch (its LibTorch: torch.utils.cmake_prefix_path),
# cmake >= 3.18 (pip's cmake is fine), a CUDA toolkit with nvcc (PATH, $CUDA_HOME, /usr/local/cuda,
# or pip's nvidia/cu13 packages), g++ (C++17), and the .deb files of third_party/prepare-device.sh
# carried in .device-debs/ (they are unpacked with `dpkg -x` into a private prefix, no root).
#
# Usage: third_party/build-on-device.sh [BUILD_DIR]   (default build-cuda; CUDA_ARCH default 90)
# Runs: configure (-DPROXBENCH_CUDA=ON), build of all targets, the CUDA tests (Cuda*), then the
# whole ctest suite. Logs go to $OUT when set (the device tool's output folder), else BUILD_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build-cuda}
arch=${CUDA_ARCH:-90}
debs=${DEVICE_DEBS:-.device-debs}
prefix=$PWD/.device-prefix
logs=${OUT:-$build}
mkdir -p "$logs"

# 1. The Debian packages into a prefix.
ls "$debs"/*.deb > /dev/null
rm -rf "$prefix" && mkdir -p "$prefix"
for d in "$debs"/*.deb; do dpkg -x "$d" "$prefix"; done
libdir=$prefix/usr/lib/x86_64-linux-gnu
export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}

# 2. nvcc.
nvcc=$(command -v nvcc || true)
for c in "${CUDA_HOME:-}/bin/nvcc" /usr/local/cuda/bin/nvcc; do
  [[ -z $nvcc && -x $c ]] && nvcc=$c
done
if [[ -z $nvcc ]]; then
  nvcc=$(python3 - <<'PY' || true
import glob, os, site
for s in site.getsitepackages():
    for c in glob.glob(os.path.join(s, "nvidia", "*", "bin", "nvcc")) + glob.glob(os.path.join(s, "nvidia", "cuda_nvcc", "bin", "nvcc")):
        print(c); raise SystemExit
PY
)
fi
[[ -n $nvcc ]] || { echo "build-on-device: no nvcc found (set CUDA_HOME)"; exit 1; }
export CUDACXX=$nvcc
export CUDA_HOME=${CUDA_HOME:-$(dirname "$(dirname "$nvcc")")}
echo "build-on-device: nvcc $nvcc ($("$nvcc" --version | tail -1))"

# 3. zlib: the -dev package's libz.so points at the runtime package's file; use the system's.
zlib_args=()
if [[ ! -e $libdir/libz.so ]]; then
  for z in /usr/lib/x86_64-linux-gnu/libz.so /usr/lib/x86_64-linux-gnu/libz.so.1 /lib/x86_64-linux-gnu/libz.so.1; do
    if [[ -e $z ]]; then zlib_args=(-DZLIB_LIBRARY="$z" -DZLIB_INCLUDE_DIR="$prefix/usr/include"); break; fi
  done
fi

# 4. Configure, build, test.
torch_prefix=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)')
gen=()
command -v ninja > /dev/null && gen=(-G Ninja)
cmake -S . -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DPROXBENCH_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES="$arch" -DCMAKE_CUDA_COMPILER="$nvcc" \
  -DCMAKE_PREFIX_PATH="$torch_prefix;$prefix/usr" "${zlib_args[@]}" 2>&1 | tee "$logs/configure.log"
cmake --build "$build" -j"$(nproc)" 2>&1 | tee "$logs/build.log"
[[ ${BUILD_ONLY:-0} == 1 ]] && exit 0   # third_party/gpu-check.sh runs the tests itself
python3 -c 'import torch;print("torch", torch.__version__, "cuda", torch.cuda.is_available())'
"$build"/tests/proxbench_tests --gtest_filter='*Cuda*' 2>&1 | tee "$logs/test_cuda.log"
(cd "$build" && ctest --output-on-failure -j4) 2>&1 | tee "$logs/ctest.log"
