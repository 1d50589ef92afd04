#!/usr/bin/env bash
# Prepares, HERE (a Debian 12 machine with a package registry), what the GPU device machine needs to
# build proxbench with CUDA: the device has python3 + a CUDA PyTorch (LibTorch inside the wheel),
# cmake/ninja from pip and the CUDA toolkit, but no package registry. This downloads the .deb files
# of proxbench's other dependencies with `apt-get download` (no install, no root needed) into
# .device-debs/ (ignored by git); third_party/build-on-device.sh unpacks them there with `dpkg -x`.
#
# Usage: third_party/prepare-device.sh [--with-gnuplot] [DEST]     (DEST default: .device-debs)
# Then carry .device-debs to the device (the device tool's `carry`, 64 MiB per call in all) and run
# third_party/build-on-device.sh there.
set -euo pipefail
cd "$(dirname "$0")/.."
with_gnuplot=0
dest=.device-debs
for a in "$@"; do
  case "$a" in
    --with-gnuplot) with_gnuplot=1 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) dest="$a" ;;
  esac
done
# Header-only / static packages and the runtime libraries the -dev packages' .so links point to.
pkgs=(
  libeigen3-dev          # Eigen (header-only)
  nlohmann-json3-dev     # nlohmann_json (header-only)
  libcli11-dev           # CLI11 (header-only)
  libyaml-cpp-dev libyaml-cpp0.7
  libgtest-dev           # GoogleTest (static libs + CMake config)
  libbenchmark-dev libbenchmark1debian
  zlib1g-dev             # zlib headers (the runtime zlib1g is on every system)
)
if [[ $with_gnuplot == 1 ]]; then
  pkgs+=(gnuplot-nox)    # optional: report images (its own shared-library dependencies are NOT fetched)
fi
mkdir -p "$dest"
cd "$dest"
rm -f ./*.deb
apt-get download "${pkgs[@]}"
ls -l ./*.deb
du -sh .
echo "prepare-device: $(ls ./*.deb | wc -l) packages in $(pwd)"
