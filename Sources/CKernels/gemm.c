/* Single-precision GEMM organised as in Goto & van de Geijn, "Anatomy of High-Performance Matrix
   Multiplication" (2008): op(B) is packed a KC×NC block at a time into panels NR columns wide,
   op(A) an MC×KC block at a time into panels MR rows high, and a register-blocked MR×NR kernel runs
   over the packed panels. The B panel of the inner loops (KC·NR floats) stays in L1, the packed A
   block in L2. Two kernels:
     AVX-512  MR = 12, NR = 32: 24 zmm accumulators (two per row);
     AVX2     MR = 6,  NR = 16: 12 ymm accumulators (two per row), FMA.
   Which one runs follows the current ISA (isa.c); on the generic ISA there is none and the engine
   calls OpenBLAS.

   Row-major throughout; C = alpha·op(A)·op(B) + beta·C. Single-threaded: the engine splits large
   products into blocks on its own threads. */

#include "kernels.h"
#include "isa.h"
#include <immintrin.h>
#include <stdlib.h>
#include <string.h>

enum { KC = 256 };

/* The blocking of one kernel. */
struct shape { long mr, nr, mc, nc; };
static const struct shape AVX512_SHAPE = { 12, 32, 12 * 20, 32 * 64 };
static const struct shape AVX2_SHAPE = { 6, 16, 6 * 24, 16 * 128 };

int pk_sgemm_available(void) { return pk_isa_current() != PK_ISA_GENERIC; }

/* Packs op(A)[i0 ..< i0+mc, k0 ..< k0+kc] into MR-row panels: panel p holds, for each k, the MR
   values of rows i0 + p·MR ..< +MR (zero beyond mc). */
static void pack_a(long MR, int trans, const float *A, long lda, long i0, long mc, long k0, long kc, float *out) {
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
static void pack_b(long NR, int trans, const float *B, long ldb, long k0, long kc, long j0, long nc, float *out) {
    for (long p = 0; p < nc; p += NR) {
        const long cols = nc - p < NR ? nc - p : NR;
        if (!trans) {
            const float *src = B + k0 * ldb + j0 + p;
            for (long k = 0; k < kc; k++) {
                memcpy(out, src + k * ldb, sizeof(float) * (size_t)cols);
                for (long c = cols; c < NR; c++) out[c] = 0;
                out += NR;
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

/* C[0 ..< mr, 0 ..< nr] += alpha · (packed A panel) · (packed B panel) over kc; with `over` set,
   C = alpha · … instead (C is not read). */
typedef void kernel_fn(long kc, const float *a, const float *b, float alpha, float *c, long ldc, long mr, long nr, int over);

PK_TARGET_AVX512 static void kernel_avx512(long kc, const float *a, const float *b, float alpha, float *c, long ldc, long mr, long nr, int over) {
    enum { MR = 12, NR = 32 };
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
            const __m512 c0 = over ? _mm512_setzero_ps() : _mm512_loadu_ps(ci);
            const __m512 c1 = over ? _mm512_setzero_ps() : _mm512_loadu_ps(ci + 16);
            _mm512_storeu_ps(ci, _mm512_fmadd_ps(va, acc[i][0], c0));
            _mm512_storeu_ps(ci + 16, _mm512_fmadd_ps(va, acc[i][1], c1));
        }
    } else {
        const __mmask16 m0 = nr >= 16 ? 0xFFFF : (__mmask16)((1u << nr) - 1);
        const __mmask16 m1 = nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1);
        for (long i = 0; i < mr; i++) {
            float *ci = c + i * ldc;
            const __m512 c0 = over ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, ci);
            _mm512_mask_storeu_ps(ci, m0, _mm512_fmadd_ps(va, acc[i][0], c0));
            if (!m1) continue;
            const __m512 c1 = over ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, ci + 16);
            _mm512_mask_storeu_ps(ci + 16, m1, _mm512_fmadd_ps(va, acc[i][1], c1));
        }
    }
}

PK_TARGET_AVX2 static void kernel_avx2(long kc, const float *a, const float *b, float alpha, float *c, long ldc, long mr, long nr, int over) {
    enum { MR = 6, NR = 16 };
    __m256 acc[MR][2];
    for (int i = 0; i < MR; i++) { acc[i][0] = _mm256_setzero_ps(); acc[i][1] = _mm256_setzero_ps(); }
    for (long k = 0; k < kc; k++) {
        const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
        _mm_prefetch((const char *)(b + 8 * NR), _MM_HINT_T0);
        for (int i = 0; i < MR; i++) {
            const __m256 ai = _mm256_broadcast_ss(a + i);
            acc[i][0] = _mm256_fmadd_ps(ai, b0, acc[i][0]);
            acc[i][1] = _mm256_fmadd_ps(ai, b1, acc[i][1]);
        }
        a += MR;
        b += NR;
    }
    const __m256 va = _mm256_set1_ps(alpha);
    if (nr == NR) {
        for (long i = 0; i < mr; i++) {
            float *ci = c + i * ldc;
            const __m256 c0 = over ? _mm256_setzero_ps() : _mm256_loadu_ps(ci);
            const __m256 c1 = over ? _mm256_setzero_ps() : _mm256_loadu_ps(ci + 8);
            _mm256_storeu_ps(ci, _mm256_fmadd_ps(va, acc[i][0], c0));
            _mm256_storeu_ps(ci + 8, _mm256_fmadd_ps(va, acc[i][1], c1));
        }
    } else {
        /* A partial panel: the same fused alpha·acc + c per element, through a row buffer. */
        for (long i = 0; i < mr; i++) {
            float row[NR], old[NR] = {0};
            float *ci = c + i * ldc;
            if (!over) memcpy(old, ci, sizeof(float) * (size_t)nr);
            _mm256_storeu_ps(row, _mm256_fmadd_ps(va, acc[i][0], _mm256_loadu_ps(old)));
            _mm256_storeu_ps(row + 8, _mm256_fmadd_ps(va, acc[i][1], _mm256_loadu_ps(old + 8)));
            memcpy(ci, row, sizeof(float) * (size_t)nr);
        }
    }
}

void pk_sgemm(int transA, int transB, long M, long N, long K, float alpha,
              const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc) {
    if (M <= 0 || N <= 0) return;
    const int isa = pk_isa_current();
    if (isa == PK_ISA_GENERIC) abort();   /* callers check pk_sgemm_available() */
    const struct shape s = isa == PK_ISA_AVX512 ? AVX512_SHAPE : AVX2_SHAPE;
    kernel_fn *kernel = isa == PK_ISA_AVX512 ? kernel_avx512 : kernel_avx2;
    /* beta = 0 with a product to add: the first KC block writes C instead of adding to zeros. */
    const int overwrite = beta == 0.0f && K > 0 && alpha != 0.0f;
    if (beta != 1.0f && !overwrite) {
        for (long i = 0; i < M; i++) {
            float *ci = C + i * ldc;
            if (beta == 0.0f) memset(ci, 0, (size_t)N * sizeof(float));
            else for (long j = 0; j < N; j++) ci[j] *= beta;
        }
    }
    if (K <= 0 || alpha == 0.0f) return;
    /* Packing buffers are kept per thread (sized for the larger blocking) so small products pay no
       allocation. */
    static __thread float *pa, *pb;
    if (!pa) {
        const long amax = AVX512_SHAPE.mc > AVX2_SHAPE.mc ? AVX512_SHAPE.mc : AVX2_SHAPE.mc;
        const long bmax = AVX512_SHAPE.nc > AVX2_SHAPE.nc ? AVX512_SHAPE.nc : AVX2_SHAPE.nc;
        pa = aligned_alloc(64, sizeof(float) * (size_t)(amax * KC));
        pb = aligned_alloc(64, sizeof(float) * (size_t)(KC * bmax));
        if (!pa || !pb) abort();
    }
    for (long j0 = 0; j0 < N; j0 += s.nc) {
        const long nc = N - j0 < s.nc ? N - j0 : s.nc;
        for (long k0 = 0; k0 < K; k0 += KC) {
            const long kc = K - k0 < KC ? K - k0 : KC;
            pack_b(s.nr, transB, B, ldb, k0, kc, j0, nc, pb);
            for (long i0 = 0; i0 < M; i0 += s.mc) {
                const long mc = M - i0 < s.mc ? M - i0 : s.mc;
                pack_a(s.mr, transA, A, lda, i0, mc, k0, kc, pa);
                for (long jr = 0; jr < nc; jr += s.nr) {
                    const long nr = nc - jr < s.nr ? nc - jr : s.nr;
                    for (long ir = 0; ir < mc; ir += s.mr) {
                        const long mr = mc - ir < s.mr ? mc - ir : s.mr;
                        kernel(kc, pa + ir * kc, pb + jr * kc, alpha, C + (i0 + ir) * ldc + j0 + jr, ldc, mr, nr, overwrite && k0 == 0);
                    }
                }
            }
        }
    }
}
