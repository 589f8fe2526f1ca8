/* Which copy of the kernels runs. Every kernel exists three times (generic x86-64, AVX2+FMA,
   AVX-512); the best one the CPU supports is chosen at load, PARAMKIT_ISA=generic|avx2|avx512 in
   the environment chooses another, and pk_isa_select switches at run time (tests run every copy the
   CPU supports this way). */

#include "kernels.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int current = PK_ISA_GENERIC;

int pk_isa_supported(int isa) {
    __builtin_cpu_init();
    switch (isa) {
    case PK_ISA_GENERIC: return 1;
    case PK_ISA_AVX2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    case PK_ISA_AVX512:
        return pk_isa_supported(PK_ISA_AVX2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq")
            && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl");
    default: return 0;
    }
}

int pk_isa_best(void) {
    return pk_isa_supported(PK_ISA_AVX512) ? PK_ISA_AVX512 : pk_isa_supported(PK_ISA_AVX2) ? PK_ISA_AVX2 : PK_ISA_GENERIC;
}

int pk_isa_current(void) { return current; }

int pk_isa_select(int isa) {
    if (!pk_isa_supported(isa)) return -1;
    current = isa;
    return 0;
}

const char *pk_isa_name(int isa) {
    switch (isa) {
    case PK_ISA_GENERIC: return "generic";
    case PK_ISA_AVX2: return "avx2";
    case PK_ISA_AVX512: return "avx512";
    default: return "unknown";
    }
}

/* An explicit request the CPU cannot honour is an error, not a silent fallback: a test or bench run
   that asked for AVX2 must not quietly measure AVX-512. */
__attribute__((constructor)) static void choose_at_load(void) {
    current = pk_isa_best();
    const char *want = getenv("PARAMKIT_ISA");
    if (!want || !*want) return;
    for (int isa = PK_ISA_GENERIC; isa <= PK_ISA_AVX512; isa++) {
        if (strcmp(want, pk_isa_name(isa)) != 0) continue;
        if (pk_isa_select(isa) == 0) return;
        fprintf(stderr, "error: PARAMKIT_ISA=%s: this CPU does not support %s (best here: %s)\n",
                want, want, pk_isa_name(pk_isa_best()));
        exit(2);
    }
    fprintf(stderr, "error: PARAMKIT_ISA=%s: expected generic, avx2 or avx512\n", want);
    exit(2);
}
