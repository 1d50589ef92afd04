# How proxbench finds its dependencies. Every one is a Debian package (third_party/install-deps.sh
# installs them). LibTorch: the Debian libtorch-dev (1.13, CPU) by default; a newer LibTorch (2.x,
# CUDA) is picked up when its prefix is given in CMAKE_PREFIX_PATH, e.g.
#   cmake -DCMAKE_PREFIX_PATH=$(python3 -c 'import torch;print(torch.utils.cmake_prefix_path)') ..

# ccache when present (with the sloppiness precompiled headers need).
find_program(PROXBENCH_CCACHE ccache)
if(PROXBENCH_CCACHE AND NOT CMAKE_CXX_COMPILER_LAUNCHER)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CMAKE_COMMAND} -E env
      CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime ${PROXBENCH_CCACHE})
  message(STATUS "proxbench: using ccache ${PROXBENCH_CCACHE}")
endif()
if(PROXBENCH_CCACHE AND CMAKE_CUDA_COMPILER AND NOT CMAKE_CUDA_COMPILER_LAUNCHER)
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${PROXBENCH_CCACHE})  # nvcc + ptxas of the kernels: minutes of CPU
endif()

find_package(Torch REQUIRED)
# TORCH_CXX_FLAGS carries the -D_GLIBCXX_USE_CXX11_ABI choice of the LibTorch build; it must reach
# every translation unit that includes a LibTorch header (also those of plugins: it is PUBLIC).
separate_arguments(PROXBENCH_TORCH_CXX_FLAGS UNIX_COMMAND "${TORCH_CXX_FLAGS}")
message(STATUS "proxbench: LibTorch ${Torch_VERSION} from ${Torch_DIR}")
# LibTorch 2.x with CUDA (third_party/fetch-libtorch.sh): libtorch_cuda.so needs three libraries the
# CUDA toolkit lacks (libcusparseLt, libnvshmem_host, libcufile); the fetch script puts the NVIDIA
# wheels' copies into <prefix>/nvidia-lib. ld must find them to check libtorch_cuda's symbols when
# linking an executable (-rpath-link), and the loader to start one here (build RPATH, with the
# toolkit's lib folder for cudart/cuBLAS/cuDNN/NCCL). Not applied to installed binaries.
get_filename_component(PROXBENCH_TORCH_PREFIX "${Torch_DIR}/../../.." ABSOLUTE)
set(PROXBENCH_TORCH_EXTRA_LIBDIRS "")
if(TARGET torch_cuda OR TORCH_CUDA_LIBRARIES)
  if(EXISTS "${PROXBENCH_TORCH_PREFIX}/nvidia-lib")
    list(APPEND PROXBENCH_TORCH_EXTRA_LIBDIRS "${PROXBENCH_TORCH_PREFIX}/nvidia-lib")
  endif()
  if(CUDAToolkit_LIBRARY_DIR)
    list(APPEND PROXBENCH_TORCH_EXTRA_LIBDIRS "${CUDAToolkit_LIBRARY_DIR}")
  endif()
  foreach(d ${PROXBENCH_TORCH_EXTRA_LIBDIRS})
    add_link_options("LINKER:-rpath-link,${d}")
  endforeach()
  list(APPEND CMAKE_BUILD_RPATH ${PROXBENCH_TORCH_EXTRA_LIBDIRS})
  # DT_RPATH, not DT_RUNPATH (the linker's default): a RUNPATH serves only the object's own
  # dependencies, and these three are libtorch_cuda's (whose own RPATH points into a pip layout).
  add_link_options("LINKER:--disable-new-dtags")
  message(STATUS "proxbench: LibTorch with CUDA; extra library folders: ${PROXBENCH_TORCH_EXTRA_LIBDIRS}")
endif()

find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(nlohmann_json 3 REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(CLI11 REQUIRED)
find_package(ZLIB REQUIRED)
find_package(Threads REQUIRED)
# at::parallel_for is a header template: it runs its chunks on LibTorch's OpenMP pool only in
# translation units compiled with -fopenmp (_OPENMP defined); without it every proxbench loop runs
# on one thread. PUBLIC on the library, so that the executables (which reuse its precompiled header)
# and plugins compile with the same flag.
find_package(OpenMP REQUIRED COMPONENTS CXX)
if(PROXBENCH_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(PROXBENCH_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
find_program(PROXBENCH_GNUPLOT gnuplot)
if(NOT PROXBENCH_GNUPLOT)
  message(STATUS "proxbench: gnuplot not found — reports will write data and scripts but no images")
endif()
