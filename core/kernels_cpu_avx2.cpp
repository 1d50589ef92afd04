// The fused inner loops compiled with -mavx2 (no FMA, -ffp-contract=off; see CMakeLists.txt):
// bit-identical to isa_base, twice the vector width. Built on x86-64 with GCC or Clang only.
#define PB_KERNEL_ISA isa_avx2
#include "core/kernels_cpu_impl.h"
