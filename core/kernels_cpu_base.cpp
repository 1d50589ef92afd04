// The fused inner loops for the build's baseline instruction set (core/kernels_cpu_impl.h).
#define PB_KERNEL_ISA isa_base
#include "core/kernels_cpu_impl.h"
