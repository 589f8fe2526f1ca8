/* Compiles one kernel body once per instruction set and picks the copy at run time. Before
   including this file, define PK_BODY (the body's file name) and PK_OPS (the name of the table of
   entry points the body defines as ISA_NAME(PK_OPS)). It defines `ops()`, the current ISA's table. */

#define PK_CAT_(a, b) a##b
#define PK_CAT(a, b) PK_CAT_(a, b)

#define ISA_NAME(f) f##_generic
#include PK_BODY
#undef ISA_NAME

#pragma clang attribute push(PK_TARGET_AVX2, apply_to = function)
#define ISA_NAME(f) f##_avx2
#include PK_BODY
#undef ISA_NAME
#pragma clang attribute pop

#pragma clang attribute push(PK_TARGET_AVX512, apply_to = function)
#define ISA_NAME(f) f##_avx512
#include PK_BODY
#undef ISA_NAME
#pragma clang attribute pop

static const struct PK_OPS *ops(void) {
    switch (pk_isa_current()) {
    case PK_ISA_AVX512: return &PK_CAT(PK_OPS, _avx512);
    case PK_ISA_AVX2: return &PK_CAT(PK_OPS, _avx2);
    default: return &PK_CAT(PK_OPS, _generic);
    }
}
