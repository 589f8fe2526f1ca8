/* Direct 3×3 convolution (stride 1, padding 1) for layers with few channels, where Winograd's tile
   transforms cost more than the multiplications they save. The input is first copied into a
   zero-bordered buffer (pk_pad3x3), so the kernels have no edge cases: each 16-pixel strip of an
   output row keeps all K output channels in registers while it walks the C input channels and the
   nine taps. */

#include "kernels.h"
#include "isa.h"
#include <string.h>

enum { STRIP = 16, SLACK = 2 * STRIP };

long pk_pad3x3_size(int C, int H, int W) { return (long)C * (H + 2) * (W + 2) + SLACK; }

void pk_pad3x3(const float *x, int C, int H, int W, float *out) {
    const long Wp = W + 2, Hp = H + 2;
    for (int c = 0; c < C; c++) {
        float *plane = out + c * Hp * Wp;
        memset(plane, 0, sizeof(float) * Wp);
        memset(plane + (Hp - 1) * Wp, 0, sizeof(float) * Wp);
        for (int y = 0; y < H; y++) {
            float *row = plane + (y + 1) * Wp;
            row[0] = 0;
            memcpy(row + 1, x + ((long)c * H + y) * W, sizeof(float) * W);
            row[W + 1] = 0;
        }
    }
}

/* A strip of 16 floats as one value (one zmm register with AVX-512, two ymm with AVX2). */
typedef float v16 __attribute__((vector_size(64), aligned(4)));

/* Macros rather than functions: a function taking or returning v16 would have a CPU-dependent ABI. */
#define load16(p) ({ v16 v_; memcpy(&v_, (p), sizeof v_); v_; })
#define store16(p, v) do { v16 s_ = (v); memcpy((p), &s_, sizeof s_); } while (0)

/* y[k][r][:] for r in r0 ..< r1 from the padded input; w is [K][C][3][3]. NS strips side by side, so
   that NS·KK ≥ 8 accumulators hide the FMA latency. */
#define DEFINE_DIRECT(KK, NS)                                                                      \
static void ISA_NAME(forward_##KK)(const float *xp, int C, int H, int W, const float *w,         \
                                   const float *bias, float *y, int r0, int r1) {                  \
    const long Wp = W + 2, plane = (long)(H + 2) * Wp;                                             \
    for (int r = r0; r < r1; r++)                                                                  \
        for (int x0 = 0; x0 < W; x0 += NS * STRIP) {                                               \
            v16 acc[NS][KK];                                                                       \
            for (int q = 0; q < NS; q++)                                                           \
                for (int k = 0; k < KK; k++) acc[q][k] = (v16){} + (bias ? bias[k] : 0.0f);        \
            for (int c = 0; c < C; c++)                                                            \
                for (int ky = 0; ky < 3; ky++) {                                                   \
                    const float *row = xp + c * plane + (r + ky) * Wp + x0;                        \
                    for (int kx = 0; kx < 3; kx++) {                                               \
                        const float *wk = w + (long)c * 9 + ky * 3 + kx;                           \
                        for (int q = 0; q < NS; q++) {                                             \
                            const v16 v = load16(row + q * STRIP + kx);                            \
                            for (int k = 0; k < KK; k++) acc[q][k] += wk[(long)k * C * 9] * v;     \
                        }                                                                          \
                    }                                                                              \
                }                                                                                  \
            for (int q = 0; q < NS; q++) {                                                         \
                const int x = x0 + q * STRIP, n = W - x < STRIP ? W - x : STRIP;                   \
                if (n <= 0) break;                                                                 \
                for (int k = 0; k < KK; k++) {                                                     \
                    float *out = y + ((long)k * H + r) * W + x;                                    \
                    if (n == STRIP) { store16(out, acc[q][k]); continue; }                         \
                    float tmp[STRIP];                                                              \
                    store16(tmp, acc[q][k]);                                                       \
                    for (int j = 0; j < n; j++) out[j] = tmp[j];                                   \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
}                                                                                                  \
                                                                                                   \
/* dw[k][c][ky][kx] += Σ over rows r0 ..< r1 of dy[k][r][x] · xp[c][r+ky][x+kx]. */                \
static void ISA_NAME(weight_grad_##KK)(const float *xp, int C, int H, int W, const float *dy,     \
                                       float *dw, int r0, int r1) {                                \
    const long Wp = W + 2, plane = (long)(H + 2) * Wp;                                             \
    for (int c = 0; c < C; c++)                                                                    \
        for (int t = 0; t < 9; t++) {                                                              \
            const int ky = t / 3, kx = t % 3;                                                      \
            v16 acc[NS][KK];                                                                       \
            float tail[KK];                                                                        \
            for (int k = 0; k < KK; k++) { for (int q = 0; q < NS; q++) acc[q][k] = (v16){}; tail[k] = 0; } \
            for (int r = r0; r < r1; r++) {                                                        \
                const float *row = xp + c * plane + (r + ky) * Wp + kx;                            \
                int x0 = 0;                                                                        \
                for (; x0 + NS * STRIP <= W; x0 += NS * STRIP)                                     \
                    for (int q = 0; q < NS; q++) {                                                 \
                        const v16 v = load16(row + x0 + q * STRIP);                                \
                        for (int k = 0; k < KK; k++)                                               \
                            acc[q][k] += load16(dy + ((long)k * H + r) * W + x0 + q * STRIP) * v;  \
                    }                                                                              \
                for (; x0 + STRIP <= W; x0 += STRIP) {                                             \
                    const v16 v = load16(row + x0);                                                \
                    for (int k = 0; k < KK; k++) acc[0][k] += load16(dy + ((long)k * H + r) * W + x0) * v; \
                }                                                                                  \
                for (; x0 < W; x0++)                                                               \
                    for (int k = 0; k < KK; k++) tail[k] += dy[((long)k * H + r) * W + x0] * row[x0]; \
            }                                                                                      \
            for (int k = 0; k < KK; k++) {                                                         \
                float lanes[STRIP], sum = tail[k];                                                 \
                for (int q = 0; q < NS; q++) {                                                     \
                    store16(lanes, acc[q][k]);                                                     \
                    for (int j = 0; j < STRIP; j++) sum += lanes[j];                               \
                }                                                                                  \
                dw[((long)k * C + c) * 9 + t] += sum;                                              \
            }                                                                                      \
        }                                                                                          \
}

/* ---- One copy of the kernels per instruction set (see isa.h). ------------------------------ */

struct direct_ops {
    void (*forward)(const float *, int, int, int, const float *, int, const float *, float *, int, int);
    void (*weight_grad)(const float *, int, int, int, const float *, int, float *, int, int);
};

#define PK_BODY "direct_body.h"     /* beside body/per_isa.h */
#define PK_OPS direct_ops
#include "body/per_isa.h"

int pk_direct3x3_supports(int K) { return K == 4 || K == 8 || K == 16; }

void pk_direct3x3_forward(const float *xp, int C, int H, int W, const float *w, int K,
                          const float *bias, float *y, int r0, int r1) {
    ops()->forward(xp, C, H, W, w, K, bias, y, r0, r1);
}

void pk_direct3x3_weight_grad(const float *xp, int C, int H, int W, const float *dy, int K,
                              float *dw, int r0, int r1) {
    ops()->weight_grad(xp, C, H, W, dy, K, dw, r0, r1);
}
