/* Single-precision GEMM for CPUs with AVX-512F, organised as in Goto & van de Geijn, "Anatomy of
   High-Performance Matrix Multiplication" (2008): op(B) is packed a KC×NC block at a time into
   panels NR = 32 columns wide, op(A) an MC×KC block at a time into panels MR = 12 rows high, and a
   12×32 register-blocked kernel (24 zmm accumulators) runs over the packed panels. The B panel of
   the inner loops (KC·NR floats = 32 KB) stays in L1, the packed A block in L2.

   Row-major throughout; C = alpha·op(A)·op(B) + beta·C. Single-threaded: the engine splits large
   products into blocks on its own threads. */

#include "kernels.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

enum { MR = 12, NR = 32, KC = 256, MC = 12 * 20, NC = 32 * 64 };

#define AVX512 __attribute__((target("avx512f")))

int pk_sgemm_available(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f");
}

/* Packs op(A)[i0 ..< i0+mc, k0 ..< k0+kc] into MR-row panels: panel p holds, for each k, the MR
   values of rows i0 + p·MR ..< +MR (zero beyond mc). */
static void pack_a(int trans, const float *A, long lda, long i0, long mc, long k0, long kc, float *out) {
    for (long p = 0; p < mc; p += MR) {
        const long rows = mc - p < MR ? mc - p : MR;
        if (!trans) {
            const float *src = A + (i0 + p) * lda + k0;
            for (long k = 0; k < kc; k++) {
                long r = 0;
                for (; r < rows; r++) out[r] = src[r * lda + k];
                for (; r < MR; r++) out[r] = 0;
                out += MR;
            }
        } else {
            const float *src = A + k0 * lda + i0 + p;
            for (long k = 0; k < kc; k++) {
                long r = 0;
                for (; r < rows; r++) out[r] = src[k * lda + r];
                for (; r < MR; r++) out[r] = 0;
                out += MR;
            }
        }
    }
}

/* Packs op(B)[k0 ..< k0+kc, j0 ..< j0+nc] into NR-column panels (zero beyond nc). */
AVX512 static void pack_b(int trans, const float *B, long ldb, long k0, long kc, long j0, long nc, float *out) {
    for (long p = 0; p < nc; p += NR) {
        const long cols = nc - p < NR ? nc - p : NR;
        if (!trans) {
            const float *src = B + k0 * ldb + j0 + p;
            if (cols == NR) {
                for (long k = 0; k < kc; k++) {
                    _mm512_store_ps(out, _mm512_loadu_ps(src + k * ldb));
                    _mm512_store_ps(out + 16, _mm512_loadu_ps(src + k * ldb + 16));
                    out += NR;
                }
            } else {
                for (long k = 0; k < kc; k++) {
                    long c = 0;
                    for (; c < cols; c++) out[c] = src[k * ldb + c];
                    for (; c < NR; c++) out[c] = 0;
                    out += NR;
                }
            }
        } else {
            const float *src = B + (j0 + p) * ldb + k0;
            for (long k = 0; k < kc; k++) {
                long c = 0;
                for (; c < cols; c++) out[c] = src[c * ldb + k];
                for (; c < NR; c++) out[c] = 0;
                out += NR;
            }
        }
    }
}

/* C[0 ..< mr, 0 ..< nr] += alpha · (packed A panel) · (packed B panel) over kc. */
AVX512 static void kernel(long kc, const float *a, const float *b, float alpha, float *c, long ldc, long mr, long nr) {
    __m512 acc[MR][2];
    for (int i = 0; i < MR; i++) { acc[i][0] = _mm512_setzero_ps(); acc[i][1] = _mm512_setzero_ps(); }
    for (long k = 0; k < kc; k++) {
        const __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
        _mm_prefetch((const char *)(b + 8 * NR), _MM_HINT_T0);
        for (int i = 0; i < MR; i++) {
            const __m512 ai = _mm512_set1_ps(a[i]);
            acc[i][0] = _mm512_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm512_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += MR;
        b += NR;
    }
    const __m512 va = _mm512_set1_ps(alpha);
    if (nr == NR) {
        for (long i = 0; i < mr; i++) {
            float *ci = c + i * ldc;
            _mm512_storeu_ps(ci, _mm512_fmadd_ps(va, acc[i][0], _mm512_loadu_ps(ci)));
            _mm512_storeu_ps(ci + 16, _mm512_fmadd_ps(va, acc[i][1], _mm512_loadu_ps(ci + 16)));
        }
    } else {
        const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
        const __mmask16 m1 = nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
        for (long i = 0; i < mr; i++) {
            float *ci = c + i * ldc;
            _mm512_mask_storeu_ps(ci, m0, _mm512_fmadd_ps(va, acc[i][0], _mm512_maskz_loadu_ps(m0, ci)));
            if (m1) _mm512_mask_storeu_ps(ci + 16, m1, _mm512_fmadd_ps(va, acc[i][1], _mm512_maskz_loadu_ps(m1, ci + 16)));
        }
    }
}

AVX512 void pk_sgemm(int transA, int transB, long M, long N, long K, float alpha,
                     const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc) {
    if (M <= 0 || N <= 0) return;
    if (beta != 1.0f) {
        for (long i = 0; i < M; i++) {
            float *ci = C + i * ldc;
            if (beta == 0.0f) memset(ci, 0, (size_t)N * sizeof(float));
            else for (long j = 0; j < N; j++) ci[j] *= beta;
        }
    }
    if (K <= 0 || alpha == 0.0f) return;
    /* Packing buffers are kept per thread (2.3 MB) so small products pay no allocation. */
    static __thread float *pa, *pb;
    if (!pa) {
        pa = aligned_alloc(64, sizeof(float) * MC * KC);
        pb = aligned_alloc(64, sizeof(float) * KC * NC);
        if (!pa || !pb) abort();
    }
    for (long j0 = 0; j0 < N; j0 += NC) {
        const long nc = N - j0 < NC ? N - j0 : NC;
        for (long k0 = 0; k0 < K; k0 += KC) {
            const long kc = K - k0 < KC ? K - k0 : KC;
            pack_b(transB, B, ldb, k0, kc, j0, nc, pb);
            for (long i0 = 0; i0 < M; i0 += MC) {
                const long mc = M - i0 < MC ? M - i0 : MC;
                pack_a(transA, A, lda, i0, mc, k0, kc, pa);
                for (long jr = 0; jr < nc; jr += NR) {
                    const long nr = nc - jr < NR ? nc - jr : NR;
                    for (long ir = 0; ir < mc; ir += MR) {
                        const long mr = mc - ir < MR ? mc - ir : MR;
                        kernel(kc, pa + ir * kc, pb + jr * kc, alpha, C + (i0 + ir) * ldc + j0 + jr, ldc, mr, nr);
                    }
                }
            }
        }
    }
}
