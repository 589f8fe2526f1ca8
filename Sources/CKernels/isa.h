/* The instruction sets the kernels are compiled for, and the target attributes that give each copy
   of a kernel its ISA (applied with `#pragma clang attribute push(…, apply_to = function)` around
   one inclusion of a kernel body). The AVX-512 copy may use F, DQ, BW and VL, and runs only where
   the CPU has all four; the AVX2 copy uses AVX2 and FMA (Haswell and later, Zen). */
#ifndef PARAMKIT_ISA_H
#define PARAMKIT_ISA_H

#include "kernels.h"

#define PK_TARGET_AVX2 __attribute__((target("avx2,fma")))
#define PK_TARGET_AVX512 __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))

#endif
