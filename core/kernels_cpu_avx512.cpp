// The fused inner loops compiled with -mavx512f -mavx512bw -mavx512dq -mavx512vl (no FMA,
// -ffp-contract=off; see CMakeLists.txt): bit-identical to isa_base and isa_avx2 for θ and the state,
// 16 float lanes. Built on x86-64 with GCC or Clang only; used where the CPU (and OS) support it.
#define PB_KERNEL_ISA isa_avx512
#include "core/kernels_cpu_impl.h"
