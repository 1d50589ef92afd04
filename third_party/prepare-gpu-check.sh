#!/usr/bin/env bash
# Prepares HERE what third_party/gpu-check.sh needs on the GPU machine, in one folder to carry
# (default .gpu-carry/, ignored by git; must stay under 60 MiB):
#   bin/   proxbench, proxbench_tests, proxbench_bench of the CUDA build (third_party/build-cuda.sh,
#          built if missing), stripped
#   lib/   libproxbench.so.0 (stripped) and the runtime libraries they load that are neither glibc
#          nor LibTorch/CUDA (those come from the device's torch wheel): libyaml-cpp, libbenchmark,
#          libgomp, libstdc++, libgcc_s, libz, ... copied from this machine (Debian 12)
#   data/fashion-mnist/   the Debian dataset-fashion-mnist files (the real run's full training set)
#   debs/  the .deb files of third_party/prepare-device.sh (fallback: building on the device)
#   BUILD_INFO  commit, LibTorch, nvcc, date
# No links (the device tool carries plain files only): libraries are copied under their SONAME.
# bin/ and lib/ are then packed into payload.tar.xz (xz -9: 35 MiB of binaries become ~5 MiB; the
# Fashion-MNIST .gz files, 30 MiB, do not compress further), which gpu-check.sh unpacks on the device.
#
# Usage: third_party/prepare-gpu-check.sh [DEST] [BUILD_DIR]   (defaults .gpu-carry, build-cuda-release)
# BUILD_DIR is built (CUDA_BUILD_TYPE=Release) when its binaries are missing. A build of another type
# (CI's CompileCheck, -O0) is carried only with ALLOW_NON_RELEASE=1, e.g. for the dry run here: its
# benchmark numbers would mean nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=${1:-.gpu-carry}
build=${2:-build-cuda-release}
[[ -x $build/proxbench && -x $build/tests/proxbench_tests && -x $build/tests/proxbench_bench ]] ||
  CUDA_BUILD_TYPE=Release ./third_party/build-cuda.sh "$build"
btype=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
if [[ $btype != Release ]]; then
  [[ ${ALLOW_NON_RELEASE:-0} == 1 ]] || { echo "prepare-gpu-check: $build is a '$btype' build, not Release (set ALLOW_NON_RELEASE=1 for a dry run)"; exit 1; }
  echo "prepare-gpu-check: WARNING: carrying a '$btype' build (dry run only: not for benchmarks)"
fi
rm -rf "$dest"
mkdir -p "$dest/bin" "$dest/lib" "$dest/data/fashion-mnist" "$dest/debs"
for b in "$build/proxbench" "$build/tests/proxbench_tests" "$build/tests/proxbench_bench"; do
  strip --strip-unneeded -o "$dest/bin/$(basename "$b")" "$b"
done
so=$(readlink -f "$build/libproxbench.so")
soname=$(objdump -p "$so" | awk '/SONAME/ {print $2}')
strip --strip-unneeded -o "$dest/lib/$soname" "$so"

# Runtime libraries outside glibc, LibTorch and CUDA.
skip='^(libc|libm|libdl|libpthread|librt|ld-linux-x86-64|libresolv|libutil)\.so'
torchcuda='(libtorch|libc10|libcaffe2|libcu|libnv|libnccl|libcudnn|libshm|nvidia-lib|/cuda)'
ldd "$build/proxbench" "$build/tests/proxbench_tests" "$build/tests/proxbench_bench" "$so" |
  awk '/=> \// {print $1, $3}' | sort -u | while read -r name path; do
  [[ $name =~ $skip || $name =~ $torchcuda || $path =~ $torchcuda || $name == "$soname" ]] && continue
  cp -L "$path" "$dest/lib/$name"
done

cp /usr/share/datasets/fashion-mnist/*-ubyte.gz "$dest/data/fashion-mnist/"
./third_party/prepare-device.sh "$dest/debs" > /dev/null || echo "prepare-gpu-check: no .deb files (apt-get download failed); the fallback build will not work"
{
  echo "proxbench $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty'), build type $btype, LibTorch $(sed -n 's/^__version__ = //p' "$(./third_party/fetch-libtorch.sh 2> /dev/null)/version.py" | tr -d "'"), sm_${CUDA_ARCH:-90}"
  /usr/local/cuda/bin/nvcc --version | tail -2
  date -u
} > "$dest/BUILD_INFO"
ls -l "$dest"/bin "$dest"/lib "$dest"/data/fashion-mnist
tar -C "$dest" -cf - bin lib | xz -9 -T2 > "$dest/payload.tar.xz"
rm -rf "$dest/bin" "$dest/lib"
ls -l "$dest"
mib=$(du -sm "$dest" | cut -f1)
echo "prepare-gpu-check: $dest holds ${mib} MiB"
if ((mib >= 60)); then
  echo "prepare-gpu-check: over the 60 MiB carry budget"
  exit 1
fi
