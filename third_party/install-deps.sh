#!/usr/bin/env bash
# Installs every Debian package proxbench needs to build, test and run. Idempotent: packages
# already present are skipped, so calling it again costs one dpkg query.
set -euo pipefail
PKGS=(build-essential cmake git pkg-config ca-certificates
      libtorch-dev libeigen3-dev googletest libgtest-dev libgmock-dev libbenchmark-dev
      libyaml-cpp-dev libcli11-dev nlohmann-json3-dev zlib1g-dev gnuplot-nox
      dataset-fashion-mnist ccache
      python3-pip unzip    # third_party/fetch-libtorch.sh (LibTorch 2.x wheel for the CUDA build)
      clang libclang-rt-dev    # libFuzzer + sanitizer runtimes: tests/fuzz/run.sh (issue 17)
      libgloo-dev                          # c10d ProcessGroupGloo (data parallel on CPU, issue 16)
      munge slurmctld slurmd slurm-client)  # single-node Slurm of the SlurmRoundTrip ctest (issue 16)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
