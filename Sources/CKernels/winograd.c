/* Winograd F(m×m, 3×3) transforms; see include/kernels.h for the data layout.

   Each 2-D transform is done as two 1-D passes so the inner loops run over contiguous memory:
   the vertical pass combines α (or m) image rows column by column, the horizontal pass combines
   neighbouring columns tile by tile and writes each of the α² results to its own contiguous
   stream. The 1-D transforms below are written out for m = 4 (α = 6) and m = 2 (α = 4); the rest
   of the code is shared through a macro that instantiates one set of routines per m. */

#include "kernels.h"
#include "isa.h"
#include <stdlib.h>
#include <string.h>


/* ---- 1-D transforms. d: input values, r: results. ---------------------------------------- */

/* m = 4, α = 6. Bᵀ (input), Aᵀ (output), G (filter), A (output gradient), Gᵀ (filter gradient). */
#define IN_4(d, r) do { \
    r[0] = 4.0f * d[0] - 5.0f * d[2] + d[4]; \
    r[1] = -4.0f * (d[1] + d[2]) + d[3] + d[4]; \
    r[2] = 4.0f * (d[1] - d[2]) - d[3] + d[4]; \
    r[3] = 2.0f * (d[3] - d[1]) - d[2] + d[4]; \
    r[4] = 2.0f * (d[1] - d[3]) - d[2] + d[4]; \
    r[5] = 4.0f * d[1] - 5.0f * d[3] + d[5]; } while (0)
#define OUT_4(v, r) do { \
    __typeof__(v[0] + 0) s12 = v[1] + v[2], d12 = v[1] - v[2], s34 = v[3] + v[4], d34 = v[3] - v[4]; \
    r[0] = v[0] + s12 + s34; \
    r[1] = d12 + 2.0f * d34; \
    r[2] = s12 + 4.0f * s34; \
    r[3] = d12 + 8.0f * d34 + v[5]; } while (0)
#define SIXTH (1.0f / 6.0f)
#define TWELFTH (1.0f / 12.0f)
#define TWENTYFOURTH (1.0f / 24.0f)
#define FILT_4(g, r) do { \
    float s02 = g[0] * TWENTYFOURTH + g[2] * SIXTH, m1 = g[1] * TWELFTH; \
    r[0] = g[0] * 0.25f; \
    r[1] = -(g[0] + g[1] + g[2]) * SIXTH; \
    r[2] = -(g[0] - g[1] + g[2]) * SIXTH; \
    r[3] = s02 + m1; \
    r[4] = s02 - m1; \
    r[5] = g[2]; } while (0)
#define GRAD_4(e, r) do { \
    __typeof__(e[0] + 0) s02 = e[0] + e[2], s13 = e[1] + e[3]; \
    __typeof__(e[0] + 0) q02 = e[0] + 4.0f * e[2], q13 = 2.0f * e[1] + 8.0f * e[3]; \
    r[0] = e[0]; \
    r[1] = s02 + s13; \
    r[2] = s02 - s13; \
    r[3] = q02 + q13; \
    r[4] = q02 - q13; \
    r[5] = e[3]; } while (0)
#define WGRAD_4(v, r) do { \
    r[0] = v[0] * 0.25f - (v[1] + v[2]) * SIXTH + (v[3] + v[4]) * TWENTYFOURTH; \
    r[1] = (v[2] - v[1]) * SIXTH + (v[3] - v[4]) * TWELFTH; \
    r[2] = (v[3] + v[4] - v[1] - v[2]) * SIXTH + v[5]; } while (0)

/* m = 2, α = 4. */
#define IN_2(d, r) do { \
    r[0] = d[0] - d[2]; \
    r[1] = d[1] + d[2]; \
    r[2] = d[2] - d[1]; \
    r[3] = d[1] - d[3]; } while (0)
#define OUT_2(v, r) do { \
    r[0] = v[0] + v[1] + v[2]; \
    r[1] = v[1] - v[2] - v[3]; } while (0)
#define FILT_2(g, r) do { \
    r[0] = g[0]; \
    r[1] = (g[0] + g[1] + g[2]) * 0.5f; \
    r[2] = (g[0] - g[1] + g[2]) * 0.5f; \
    r[3] = g[2]; } while (0)
#define GRAD_2(e, r) do { \
    r[0] = e[0]; \
    r[1] = e[0] + e[1]; \
    r[2] = e[0] - e[1]; \
    r[3] = -e[1]; } while (0)
#define WGRAD_2(v, r) do { \
    r[0] = v[0] + (v[1] + v[2]) * 0.5f; \
    r[1] = (v[1] - v[2]) * 0.5f; \
    r[2] = (v[1] + v[2]) * 0.5f + v[3]; } while (0)

/* 16 floats as one value (one zmm register with AVX-512, two ymm with AVX2); macros rather than
   functions, since a function taking or returning v16 would have a CPU-dependent ABI. */
typedef float v16 __attribute__((vector_size(64), aligned(4)));
#define load16(p) ({ v16 v_; memcpy(&v_, (p), sizeof v_); v_; })
#define store16(p, v) do { v16 s_ = (v); memcpy((p), &s_, sizeof s_); } while (0)

/* Lanes i, i+4, …, i+60 of the 64 floats a‖b‖c‖e: value i of each of 16 tiles that start 4 apart. */
#define STRIDE4(a, b, c, e, i) __builtin_shufflevector(                                             \
    __builtin_shufflevector(a, b, i, i + 4, i + 8, i + 12, i + 16, i + 20, i + 24, i + 28,         \
                            -1, -1, -1, -1, -1, -1, -1, -1),                                       \
    __builtin_shufflevector(c, e, i, i + 4, i + 8, i + 12, i + 16, i + 20, i + 24, i + 28,         \
                            -1, -1, -1, -1, -1, -1, -1, -1),                                       \
    0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23)

/* The inverse: r[0..3] (value j of 16 tiles) interleaved into out[4t + j]. */
#define INTERLEAVE4(r, out) do {                                                                   \
    const v16 lo01 = __builtin_shufflevector(r[0], r[1], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23); \
    const v16 hi01 = __builtin_shufflevector(r[0], r[1], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31); \
    const v16 lo23 = __builtin_shufflevector(r[2], r[3], 0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23); \
    const v16 hi23 = __builtin_shufflevector(r[2], r[3], 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31); \
    store16((out), __builtin_shufflevector(lo01, lo23, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23)); \
    store16((out) + 16, __builtin_shufflevector(lo01, lo23, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31)); \
    store16((out) + 32, __builtin_shufflevector(hi01, hi23, 0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23)); \
    store16((out) + 48, __builtin_shufflevector(hi01, hi23, 8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31)); \
} while (0)

/* The output side's horizontal pass for 16 tiles: α values of each from the streams at src, the
   1-D transform OUT, m = 4 results per tile interleaved into z. */
#define OUTPUT_STEP(OUT, A, tx) do {                                                               \
                        v16 v[6], r[4];                                                            \
                        for (int j = 0; j < A; j++) v[j] = load16(src + j * plane + (tx));         \
                        OUT(v, r);                                                                 \
                        INTERLEAVE4(r, z + (tx) * 4);                                              \
                    } while (0)

/* Scratch with 16 floats of slack after n, which the vector steps may read. */
static float *scratch(size_t n) {
    float *p = malloc((n + 16) * sizeof(float));
    if (!p) abort();
    return p;
}

/* The chunk's tiles t0 ..< t0+count one tile row at a time: tile row ty, columns txa ..< txb.
   Opens a loop that the caller closes with TILE_ROWS_END. */
#define TILE_ROWS_BEGIN                                                                         \
        for (long t = t0; t < t0 + count;) {                                                       \
            const long ty = t / tilesW, txa = t % tilesW;                                          \
            const long txb = (tilesW < txa + (t0 + count - t)) ? tilesW : txa + (t0 + count - t);  \
            (void)ty;
#define TILE_ROWS_END t += txb - txa; }

/* Runs STEP(tx) over the tiles txa ..< txb (at least 16) 16 at a time (m = 4 only): the last step
   starts at txb − 16 and redoes tiles done already, with the same values. */
#define SIXTEEN_AT_A_TIME(STEP, ...)                                                               \
                for (long tx = txa;; tx = tx + 32 <= txb ? tx + 16 : txb - 16) {                   \
                    STEP(__VA_ARGS__, tx);                                                         \
                    if (tx + 16 >= txb) break;                                                     \
                }

/* The horizontal pass of an input-side transform: for each of the A rows of Z (row stride WZ), the
   1-D transform TRANSFORM of NIN neighbouring columns per tile, written to the A streams of `out`
   (stream ξ = xi·A + j at out + ξ·plane, tile tx at index tx). With m = 4, 16 tiles at a time as
   vectors, their columns gathered by STRIDE4 (a 6-column input reads 16 floats past the step's
   last tile, which Z's slack allows). */
#define HORIZONTAL_STEP(TRANSFORM, NIN, A, tx) do {                                                \
                        const float *p = z + (tx) * 4;                                             \
                        const v16 a_ = load16(p), b_ = load16(p + 16), c_ = load16(p + 32), e_ = load16(p + 48); \
                        v16 d[6], r[6];                                                            \
                        d[0] = STRIDE4(a_, b_, c_, e_, 0);                                         \
                        d[1] = STRIDE4(a_, b_, c_, e_, 1);                                         \
                        d[2] = STRIDE4(a_, b_, c_, e_, 2);                                         \
                        d[3] = STRIDE4(a_, b_, c_, e_, 3);                                         \
                        if (NIN > 4) {                                                            \
                            const v16 f_ = load16(p + 64);                                         \
                            d[4] = __builtin_shufflevector(d[0], f_, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16); \
                            d[5] = __builtin_shufflevector(d[1], f_, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 17); \
                        }                                                                          \
                        TRANSFORM(d, r);                                                          \
                        for (int j = 0; j < A; j++) store16(o + j * plane + (tx), r[j]);           \
                    } while (0)
#define HORIZONTAL_PASS(TRANSFORM, NIN, M, A, Z, WZ, out)                                          \
            for (int xi = 0; xi < A; xi++) {                                                       \
                const float *z = (Z) + xi * (WZ);                                                  \
                float *o = (out) + (long)xi * A * plane;                                           \
                if (M == 4 && txb - txa >= 16) {                                                   \
                    SIXTEEN_AT_A_TIME(HORIZONTAL_STEP, TRANSFORM, NIN, A)                          \
                    continue;                                                                      \
                }                                                                                  \
                for (long tx = txa; tx < txb; tx++) {                                              \
                    float d[NIN], r[A];                                                            \
                    for (int j = 0; j < NIN; j++) d[j] = z[tx * M + j];                            \
                    TRANSFORM(d, r);                                                               \
                    for (int j = 0; j < A; j++) o[j * plane + tx] = r[j];                          \
                }                                                                                  \
            }

/* ---- One instantiation per tile size. ----------------------------------------------------- */

#define DEFINE_WINOGRAD(M, A, IN, OUT, FILT, GRAD, WGRAD)                                          \
                                                                                                   \
static void ISA_NAME(weights_##M)(const float *w, int K, int C, int r0, int r1, int flip, float *U,     \
                                  long plane) {                                                    \
    /* The outer loop runs over the index that is slow in U (k, or c when flipped); the inner one  \
       takes 16 filters at a time through the transform side by side, so it vectorises, and writes \
       each of the α² planes contiguously. */                                                      \
    const int inner = flip ? K : C;                                                                \
    for (int o = r0; o < r1; o++)                                                                  \
        for (int i0 = 0; i0 < inner; i0 += 16) {                                                   \
            const int nl = inner - i0 < 16 ? inner - i0 : 16;                                      \
            float f[9][16], t[A][3][16], u[A * A][16];                                             \
            for (int l = 0; l < 16; l++) {                                                         \
                const int i = i0 + (l < nl ? l : 0);                                               \
                const int k = flip ? i : o, c = flip ? o : i;                                      \
                const float *g = w + ((long)k * C + c) * 9;                                        \
                for (int j = 0; j < 9; j++) f[j][l] = flip ? g[8 - j] : g[j];                      \
            }                                                                                      \
            for (int s = 0; s < 3; s++)                                                            \
                for (int l = 0; l < 16; l++) {                                                     \
                    float col[3] = { f[s][l], f[3 + s][l], f[6 + s][l] }, r[A];                    \
                    FILT(col, r);                                                                  \
                    for (int x = 0; x < A; x++) t[x][s][l] = r[x];                                 \
                }                                                                                  \
            for (int x = 0; x < A; x++)                                                            \
                for (int l = 0; l < 16; l++) {                                                     \
                    float row[3] = { t[x][0][l], t[x][1][l], t[x][2][l] }, r[A];                   \
                    FILT(row, r);                                                                  \
                    for (int y = 0; y < A; y++) u[x * A + y][l] = r[y];                            \
                }                                                                                  \
            float *dst = U + (long)o * inner + i0;                                                 \
            for (int q = 0; q < A * A; q++)                                                        \
                for (int l = 0; l < nl; l++) dst[q * plane + l] = u[q][l];                         \
        }                                                                                          \
}                                                                                                  \
                                                                                                   \
static void ISA_NAME(input_##M)(const float *x, int C, int H, int W, long t0, long count, float *V,     \
                                long ld, long plane) { \
    const long tilesW = (W + M - 1) / M, Wp = tilesW * M + 2;             \
    float *Z = scratch((size_t)A * Wp), *zero = scratch((size_t)Wp + 2);                           \
    memset(zero, 0, ((size_t)Wp + 2) * sizeof(float));                                             \
    for (int c = 0; c < C; c++) {                                                                  \
        TILE_ROWS_BEGIN                                                                         \
            /* Padded column xp = image column + 1; tile tx reads xp in [tx·M, tx·M + A). */       \
            const long xlo = txa * M, xhi = (txb - 1) * M + A;                                     \
            const float *rows[A];                                                                  \
            for (int i = 0; i < A; i++) {                                                          \
                long y = ty * M - 1 + i;                                                           \
                rows[i] = (y >= 0 && y < H) ? x + ((long)c * H + y) * W - 1 : zero + 1;            \
            }                                                                                      \
            const long inLo = xlo > 1 ? xlo : 1, inHi = xhi < W + 1 ? xhi : W + 1;                 \
            for (long xp = xlo; xp < inLo; xp++) for (int i = 0; i < A; i++) Z[i * Wp + xp] = 0;   \
            for (long xp = inHi > inLo ? inHi : inLo; xp < xhi; xp++)                              \
                for (int i = 0; i < A; i++) Z[i * Wp + xp] = 0;                                    \
            for (long xp = inLo; xp < inHi; xp++) {                                                \
                float d[A], r[A];                                                                  \
                for (int i = 0; i < A; i++) d[i] = rows[i][xp];                                    \
                IN(d, r);                                                                          \
                for (int i = 0; i < A; i++) Z[i * Wp + xp] = r[i];                                 \
            }                                                                                      \
            HORIZONTAL_PASS(IN, A, M, A, Z, Wp, V + (long)c * ld + (t - t0) - txa)                 \
        TILE_ROWS_END                                                                              \
    }                                                                                              \
    free(Z); free(zero);                                                                           \
}                                                                                                  \
                                                                                                   \
static void ISA_NAME(output_##M)(const float *Mt, long ld, long plane, int K, int H, int W, long t0, \
                                 long count, const float *bias, float *y) {                                    \
    const long tilesW = (W + M - 1) / M, Wt = tilesW * M;                                          \
    float *Z = scratch((size_t)A * Wt);                                                            \
    for (int k = 0; k < K; k++) {                                                                  \
        const float b = bias ? bias[k] : 0.0f;                                                     \
        TILE_ROWS_BEGIN                                                                         \
            const float *in = Mt + (long)k * ld + (t - t0) - txa;                               \
            for (int xi = 0; xi < A; xi++) {                                                       \
                const float *src = in + (long)xi * A * plane;                                      \
                float *z = Z + xi * Wt;                                                            \
                if (M == 4 && txb - txa >= 16) {                                                   \
                    SIXTEEN_AT_A_TIME(OUTPUT_STEP, OUT, A)                                         \
                    continue;                                                                      \
                }                                                                                  \
                for (long tx = txa; tx < txb; tx++) {                                              \
                    float v[A], r[M];                                                              \
                    for (int j = 0; j < A; j++) v[j] = src[j * plane + tx];                        \
                    OUT(v, r);                                                                     \
                    for (int j = 0; j < M; j++) z[tx * M + j] = r[j];                              \
                }                                                                                  \
            }                                                                                      \
            const long xlo = txa * M, xhi = txb * M < W ? txb * M : W;                             \
            float *rows[M];                                                                        \
            int nrows = 0;                                                                         \
            for (int i = 0; i < M; i++) {                                                          \
                long yy = ty * M + i;                                                              \
                rows[i] = y + ((long)k * H + (yy < H ? yy : ty * M)) * W;                          \
                if (yy < H) nrows = i + 1;                                                         \
            }                                                                                      \
            if (nrows == M) {                                                                      \
                for (long xx = xlo; xx < xhi; xx++) {                                              \
                    float v[A], r[M];                                                              \
                    for (int i = 0; i < A; i++) v[i] = Z[i * Wt + xx];                             \
                    OUT(v, r);                                                                     \
                    for (int i = 0; i < M; i++) rows[i][xx] = r[i] + b;                            \
                }                                                                                  \
            } else {                                                                               \
                for (long xx = xlo; xx < xhi; xx++) {                                              \
                    float v[A], r[M];                                                              \
                    for (int i = 0; i < A; i++) v[i] = Z[i * Wt + xx];                             \
                    OUT(v, r);                                                                     \
                    for (int i = 0; i < nrows; i++) rows[i][xx] = r[i] + b;                        \
                }                                                                                  \
            }                                                                                      \
        TILE_ROWS_END                                                                              \
    }                                                                                              \
    free(Z);                                                                                       \
}                                                                                                  \
                                                                                                   \
static void ISA_NAME(grad_##M)(const float *dy, int K, int H, int W, long t0, long count, float *E,      \
                               long ld, long plane) { \
    const long tilesW = (W + M - 1) / M, Wt = tilesW * M;                                          \
    float *Z = scratch((size_t)A * Wt), *zero = scratch((size_t)Wt);                               \
    memset(zero, 0, (size_t)Wt * sizeof(float));                                                   \
    for (int k = 0; k < K; k++) {                                                                  \
        TILE_ROWS_BEGIN                                                                         \
            const float *rows[M];                                                                  \
            for (int i = 0; i < M; i++) {                                                          \
                long yy = ty * M + i;                                                              \
                rows[i] = yy < H ? dy + ((long)k * H + yy) * W : zero;                             \
            }                                                                                      \
            const long xlo = txa * M, xhi = txb * M, inHi = xhi < W ? xhi : W;                     \
            for (long xx = xlo; xx < inHi; xx++) {                                                 \
                float e[M], r[A];                                                                  \
                for (int i = 0; i < M; i++) e[i] = rows[i][xx];                                    \
                GRAD(e, r);                                                                        \
                for (int i = 0; i < A; i++) Z[i * Wt + xx] = r[i];                                 \
            }                                                                                      \
            for (long xx = inHi; xx < xhi; xx++) for (int i = 0; i < A; i++) Z[i * Wt + xx] = 0;   \
            HORIZONTAL_PASS(GRAD, M, M, A, Z, Wt, E + (long)k * ld + (t - t0) - txa)               \
        TILE_ROWS_END                                                                              \
    }                                                                                              \
    free(Z); free(zero);                                                                           \
}                                                                                                  \
                                                                                                   \
static void ISA_NAME(weight_grad_##M)(const float *dU, long plane, long kc0, long kc1, float *dw) { \
    /* 16 filters side by side, as in weights_##M. */                                              \
    for (long b = kc0; b < kc1; b += 16) {                                                         \
        const int nl = kc1 - b < 16 ? (int)(kc1 - b) : 16;                                         \
        float v[A * A][16], t[3][A][16], out[9][16];                                               \
        for (int q = 0; q < A * A; q++)                                                            \
            for (int l = 0; l < 16; l++) v[q][l] = l < nl ? dU[q * plane + b + l] : 0.0f;          \
        for (int yc = 0; yc < A; yc++)                                                             \
            for (int l = 0; l < 16; l++) {                                                         \
                float col[A], r[3];                                                                \
                for (int x = 0; x < A; x++) col[x] = v[x * A + yc][l];                             \
                WGRAD(col, r);                                                                     \
                for (int i = 0; i < 3; i++) t[i][yc][l] = r[i];                                    \
            }                                                                                      \
        for (int i = 0; i < 3; i++)                                                                \
            for (int l = 0; l < 16; l++) {                                                         \
                float row[A], r[3];                                                                \
                for (int x = 0; x < A; x++) row[x] = t[i][x][l];                                   \
                WGRAD(row, r);                                                                     \
                for (int j = 0; j < 3; j++) out[i * 3 + j][l] = r[j];                              \
            }                                                                                      \
        for (int l = 0; l < nl; l++)                                                               \
            for (int q = 0; q < 9; q++) dw[(b + l) * 9 + q] += out[q][l];                          \
    }                                                                                              \
}

/* ---- Products for few channels. ----------------------------------------------------------- */

/* With a handful of channels each of the α² products is a K×C matrix times a C×n strip: too
   small for a blocked GEMM to amortise its packing. Blocks of 16, 8 or 4 rows of the result stay in
   registers across a 16-tile strip (winograd_body.h splits any K or C into such blocks). */

#define DEFINE_SMALL(KK)                                                                           \
/* out[k][0 ..< cols] = Σ_c U[k][c]·V[c][t ..< t+cols] for the KK rows of U, cols ≤ 16 (16 where it \
   is inlined with a constant, so the partial loads and stores fold away). */                      \
static inline void ISA_NAME(small_nn_strip_##KK)(long C, const float *U, long ldu, const float *V, \
                                                 long ldv, long t, long cols, float *out, long ldo) { \
    v16 acc[KK];                                                                                   \
    for (int k = 0; k < KK; k++) acc[k] = (v16){};                                                 \
    for (long c = 0; c < C; c++) {                                                                 \
        v16 v = (v16){};                                                                           \
        if (cols == 16) v = load16(V + c * ldv + t);                                               \
        else for (long j = 0; j < cols; j++) v[j] = V[c * ldv + t + j];                            \
        for (int k = 0; k < KK; k++) acc[k] += U[k * ldu + c] * v;                                 \
    }                                                                                              \
    for (int k = 0; k < KK; k++) {                                                                 \
        if (cols == 16) { store16(out + k * ldo, acc[k]); continue; }                              \
        for (long j = 0; j < cols; j++) out[k * ldo + j] = acc[k][j];                              \
    }                                                                                              \
}                                                                                                  \
static void ISA_NAME(small_nn_##KK)(long C, long n, const float *U, long ldu, const float *V,     \
                                    long ldv, float *M, long ldm) {                                \
    long t = 0;                                                                                    \
    for (; t + 16 <= n; t += 16) ISA_NAME(small_nn_strip_##KK)(C, U, ldu, V, ldv, t, 16, M + t, ldm); \
    if (t == n) return;                                                                            \
    if (n >= 16)   /* the last 16 columns again: the ones done already get the same values */      \
        ISA_NAME(small_nn_strip_##KK)(C, U, ldu, V, ldv, n - 16, 16, M + n - 16, ldm);             \
    else                                                                                           \
        ISA_NAME(small_nn_strip_##KK)(C, U, ldu, V, ldv, 0, n, M, ldm);                            \
}                                                                                                  \
/* D[k][c] (+)= Σ_t E[k][t]·V[c][t] for all c of one k, CC = C in registers. */                   \
static void ISA_NAME(small_nt_##KK)(long K, long n, const float *E, long lde, const float *V,     \
                                    long ldv, float beta, float *D, long ldd) {                    \
    /* Past the last whole strip: the last 16 columns with the lanes done already masked off (or, \
       with fewer than 16 columns in all, the scalar loop). */                                     \
    const long whole = n / 16 * 16, rest = n - whole;                                              \
    v16 keep = (v16){};                                                                            \
    for (int j = 0; j < 16; j++) keep[j] = j >= 16 - rest ? 1.0f : 0.0f;                           \
    for (long k = 0; k < K; k++) {                                                                 \
        v16 acc[KK];                                                                               \
        float tail[KK];                                                                            \
        for (int c = 0; c < KK; c++) { acc[c] = (v16){}; tail[c] = 0; }                            \
        const float *e = E + k * lde;                                                              \
        for (long t = 0; t < whole; t += 16) {                                                     \
            const v16 ev = load16(e + t);                                                          \
            for (int c = 0; c < KK; c++) acc[c] += ev * load16(V + c * ldv + t);                   \
        }                                                                                          \
        if (rest && n >= 16) {                                                                     \
            const v16 ev = load16(e + n - 16) * keep;                                              \
            for (int c = 0; c < KK; c++) acc[c] += ev * load16(V + c * ldv + n - 16);              \
        } else if (rest) {                                                                         \
            for (long t = whole; t < n; t++)                                                       \
                for (int c = 0; c < KK; c++) tail[c] += e[t] * V[c * ldv + t];                     \
        }                                                                                          \
        for (int c = 0; c < KK; c++) {                                                             \
            float lanes[16], sum = tail[c];                                                        \
            store16(lanes, acc[c]);                                                                \
            for (int j = 0; j < 16; j++) sum += lanes[j];                                          \
            D[k * ldd + c] = (beta == 0.0f ? 0.0f : beta * D[k * ldd + c]) + sum;                  \
        }                                                                                          \
    }                                                                                              \
}

/* ---- One copy of the kernels per instruction set (see isa.h). ------------------------------ */

struct wino_ops {
    void (*weights)(int, const float *, int, int, int, int, int, float *, long);
    void (*input)(int, const float *, int, int, int, long, long, float *, long, long);
    void (*output)(int, const float *, long, long, int, int, int, long, long, const float *, float *);
    void (*grad)(int, const float *, int, int, int, long, long, float *, long, long);
    void (*weight_grad)(int, const float *, long, long, long, float *);
    void (*small_nn)(long, long, long, const float *, long, const float *, long, float *, long);
    void (*small_nt)(long, long, long, const float *, long, const float *, long, float, float *, long);
};

#define PK_BODY "winograd_body.h"   /* beside body/per_isa.h */
#define PK_OPS wino_ops
#include "body/per_isa.h"

/* ---- Public entry points. ----------------------------------------------------------------- */

void pk_wino_weights(int m, const float *w, int K, int C, int r0, int r1, int flip, float *U, long plane) {
    ops()->weights(m, w, K, C, r0, r1, flip, U, plane);
}

void pk_wino_input(int m, const float *x, int C, int H, int W, long t0, long count,
                   float *V, long ld, long plane) {
    ops()->input(m, x, C, H, W, t0, count, V, ld, plane);
}

void pk_wino_output(int m, const float *M, long ld, long plane, int K, int H, int W, long t0,
                    long count, const float *bias, float *y) {
    ops()->output(m, M, ld, plane, K, H, W, t0, count, bias, y);
}

void pk_wino_grad(int m, const float *dy, int K, int H, int W, long t0, long count,
                  float *E, long ld, long plane) {
    ops()->grad(m, dy, K, H, W, t0, count, E, ld, plane);
}

void pk_wino_weight_grad(int m, const float *dU, long plane, long kc0, long kc1, float *dw) {
    ops()->weight_grad(m, dU, plane, kc0, kc1, dw);
}

void pk_wino_small_nn(long K, long C, long n, const float *U, long ldu,
                      const float *V, long ldv, float *M, long ldm) {
    ops()->small_nn(K, C, n, U, ldu, V, ldv, M, ldm);
}

void pk_wino_small_nt(long K, long C, long n, const float *E, long lde,
                      const float *V, long ldv, float beta, float *D, long ldd) {
    ops()->small_nt(K, C, n, E, lde, V, ldv, beta, D, ldd);
}
