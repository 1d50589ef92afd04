#!/usr/bin/env bash
# Fetches LibTorch 2.x with CUDA 13 (the GPU machine's LibTorch) from PyPI's `torch` wheel and
# unpacks it once into a cache folder; prints the folder to pass as CMAKE_PREFIX_PATH (its
# share/cmake holds TorchConfig.cmake). Idempotent: when the folder is complete (stamp file),
# nothing is downloaded or unpacked.
#
# Choice of the wheel (issue 13): torch==2.11.0, the GPU machine's version (there 2.11.0+cu130).
# PyPI's default 2.11.0 Linux x86_64 wheel IS the CUDA 13.0 build: its METADATA requires
# cuda-toolkit[cublas,cudart,...]==13.0.2, nvidia-cudnn-cu13==9.19.0.56, nvidia-cusparselt-cu13,
# nvidia-nccl-cu13, nvidia-nvshmem-cu13 (checked below, so a silently different build fails here).
# Only the wheel is fetched (`pip download --no-deps`): the CUDA libraries come from the system
# CUDA 13.0 toolkit (/usr/local/cuda); see the comment in third_party/ProxbenchDependencies.cmake
# for the two libtorch_cuda dependencies the toolkit lacks and how the link handles them.
# The wheel is python-version specific only for torch/_C (not used); any cp3XX wheel would do, we
# pin cp311 so that the sha256 below is one fixed file.
#
# Usage: third_party/fetch-libtorch.sh            prints the LibTorch prefix (last line of stdout)
# Env:   PROXBENCH_CACHE   cache root (default ${XDG_CACHE_HOME:-$HOME/.cache}/proxbench)
#        PROXBENCH_TORCH_WHEEL  a local copy of the wheel to use instead of downloading (its
#                          sha256 is checked all the same)
#        PROXBENCH_NVIDIA_WHEELS  a folder holding local copies of the three NVIDIA wheels below
set -euo pipefail
version=2.11.0
wheel=torch-${version}-cp311-cp311-manylinux_2_28_x86_64.whl
sha256=7aa2f9bbc6d4595ba72138026b2074be1233186150e9292865e04b7a63b8c67a
cache=${PROXBENCH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/proxbench}
dest=$cache/libtorch-${version}-cu130
log() { echo "fetch-libtorch: $*" >&2; }

if [[ -f $dest/.complete ]]; then
  log "present: $dest"
  echo "$dest"
  exit 0
fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

src=${PROXBENCH_TORCH_WHEEL:-}
if [[ -z $src ]]; then
  python3 -m pip --version > /dev/null 2>&1 || { log "needs python3 with pip (Debian: python3-pip)"; exit 1; }
  log "downloading $wheel (about 530 MB) from PyPI"
  python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
    --platform manylinux_2_28_x86_64 --dest "$tmp" "torch==${version}"
  src=$tmp/$wheel
fi
[[ -f $src ]] || { log "wheel not found: $src"; exit 1; }
got=$(sha256sum "$src" | cut -d' ' -f1)
if [[ $got != "$sha256" ]]; then
  log "sha256 mismatch for $src: got $got, pinned $sha256"
  exit 1
fi
# The wheel must be the CUDA 13 build (see the header).
meta=$(unzip -p "$src" "torch-${version}.dist-info/METADATA")
grep -q '^Requires-Dist: cuda-toolkit\[.*\]==13\.' <<< "$meta" || { log "$wheel is not a CUDA 13 build"; exit 1; }

log "unpacking lib/, include/, share/ into $dest"
unzip -q "$src" 'torch/lib/*' 'torch/include/*' 'torch/share/*' 'torch/version.py' -d "$tmp/x"
rm -rf "$dest"
mv "$tmp/x/torch" "$dest"
grep -E '^(__version__|cuda)' "$dest/version.py" | sed 's/^/fetch-libtorch: /' >&2

# libtorch_cuda.so needs three libraries that the CUDA 13.0 toolkit does not ship (ldd: "not
# found"): libcusparseLt.so.0, libnvshmem_host.so.3, libcufile.so.0. PyTorch gets them from NVIDIA's
# runtime wheels; we fetch exactly those (the versions torch 2.11.0's METADATA pins, sha256 pinned
# here) and put their .so files into $dest/nvidia-lib. The build passes that folder to the linker
# with -rpath-link (it resolves libtorch_cuda's symbols) and to the executables' build RPATH (so
# that they load on a machine without a GPU); every other CUDA library comes from /usr/local/cuda.
# On the GPU machine the same wheels are installed with torch (site-packages/nvidia/*/lib).
nv=(
  "nvidia-cusparselt-cu13==0.8.0 nvidia_cusparselt_cu13-0.8.0-py3-none-manylinux2014_x86_64.whl 25e30a8a7323935d4ad0340b95a0b69926eee755767e8e0b1cf8dd85b197d3fd nvidia/cusparselt/lib/libcusparseLt.so.0"
  "nvidia-nvshmem-cu13==3.4.5 nvidia_nvshmem_cu13-3.4.5-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl 290f0a2ee94c9f3687a02502f3b9299a9f9fe826e6d0287ee18482e78d495b80 nvidia/nvshmem/lib/libnvshmem_host.so.3"
  "nvidia-cufile==1.15.1.6 nvidia_cufile-1.15.1.6-py3-none-manylinux2014_x86_64.manylinux_2_17_x86_64.whl 08a3ecefae5a01c7f5117351c64f17c7c62efa5fffdbe24fc7d298da19cd0b44 nvidia/cu13/lib/libcufile.so.0"
)
mkdir -p "$dest/nvidia-lib"
for e in "${nv[@]}"; do
  read -r req whl sum member <<< "$e"
  if [[ -n ${PROXBENCH_NVIDIA_WHEELS:-} && -f $PROXBENCH_NVIDIA_WHEELS/$whl ]]; then
    w=$PROXBENCH_NVIDIA_WHEELS/$whl
  else
    log "downloading $req"
    python3 -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11 \
      --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --dest "$tmp" "$req"
    w=$tmp/$whl
  fi
  [[ $(sha256sum "$w" | cut -d' ' -f1) == "$sum" ]] || { log "sha256 mismatch for $w"; exit 1; }
  unzip -q -j -o "$w" "$member" -d "$dest/nvidia-lib"
done
touch "$dest/.complete"
echo "$dest"
