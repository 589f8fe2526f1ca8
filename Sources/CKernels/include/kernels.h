/* Winograd minimal filtering F(m×m, 3×3) for 3×3 convolutions with stride 1 and padding 1
   (m = 2: 4×4 tiles, 2.25× fewer multiplies than direct; m = 4: 6×6 tiles, 4× fewer).

   A layer's output (Ho×Wo = H×W) is cut into tiles of m×m outputs, numbered t = ty·tilesW + tx
   with tilesW = ceil(W/m). Each routine handles the tiles t0 ..< t0+count of one image, so callers
   can work on chunks that stay in cache. Transformed data is stored as [ξ][channel][tile] with
   ξ = 0 ..< α² (α = m + 2): element (ξ, channel, t) of a buffer lives at
   buf[ξ·plane + channel·ld + (t − t0)], buf pointing at tile t0's slot. For every ξ the products
   are then one ordinary GEMM:

     forward         M[ξ][K][T]  = U[ξ][K][C] · V[ξ][C][T]
     weight gradient dÛ[ξ][K][C] += E[ξ][K][T] · V[ξ][C][T]ᵀ
     data gradient   the forward pass of dY with the flipped, transposed filter (flip = 1 below).

   The transforms are those of Lavin & Gray, "Fast Algorithms for Convolutional Neural Networks"
   (2016); the weight gradient uses the same matrices with the roles of output and filter
   exchanged: dW = Gᵀ [(A E Aᵀ) ⊙ (Bᵀ X B)] G summed over tiles. */
#ifndef PARAMKIT_KERNELS_H
#define PARAMKIT_KERNELS_H

#include <stddef.h>

/* U[ξ][K][C] from weights w[K][C][3][3], for the output channels k in r0 ..< r1. With flip != 0
   the result is for the filter of the data gradient, w'[c][k] = w[k][c] rotated by 180°:
   U[ξ][C][K], for the input channels c in r0 ..< r1. Plane ξ starts at U + ξ·plane (plane ≥ K·C;
   a little more than K·C keeps the α² planes out of one another's cache sets when K·C is a
   large power of two). */
void pk_wino_weights(int m, const float *w, int K, int C, int r0, int r1, int flip, float *U, long plane);

/* V[ξ][C][tiles] from the image x[C][H][W] (zero padding of 1 on every side). */
void pk_wino_input(int m, const float *x, int C, int H, int W, long t0, long count,
                   float *V, long ld, long plane);

/* y[K][H][W] for the tiles t0 ..< t0+count from M[ξ][K][tiles], plus bias[k] when bias != NULL.
   Only the outputs inside H×W are written. */
void pk_wino_output(int m, const float *M, long ld, long plane, int K, int H, int W, long t0,
                    long count, const float *bias, float *y);

/* E[ξ][K][tiles] from the output gradient dy[K][H][W] (zero beyond the image). */
void pk_wino_grad(int m, const float *dy, int K, int H, int W, long t0, long count,
                  float *E, long ld, long plane);

/* dw[K][C][3][3] += Gᵀ dÛ[ξ][K][C] G, for the filters kc = k·C + c in kc0 ..< kc1; plane as above. */
void pk_wino_weight_grad(int m, const float *dU, long plane, long kc0, long kc1, float *dw);

/* The α² products for layers with few channels, as streaming loops: M[K×n] = U[K×C]·V[C×n] and
   D[K×C] = E[K×n]·V[C×n]ᵀ + beta·D (leading dimensions ld*). */
void pk_wino_small_nn(long K, long C, long n, const float *U, long ldu,
                      const float *V, long ldv, float *M, long ldm);
void pk_wino_small_nt(long K, long C, long n, const float *E, long lde,
                      const float *V, long ldv, float beta, float *D, long ldd);

/* ---- Direct 3×3 convolution for few channels (direct.c) ----------------------------------- */

/* Floats needed for the zero-bordered copy of x[C][H][W] (with slack after it that the kernels may
   read and the caller zeroes), and the copy itself ([C][H+2][W+2]; channels can be done in parts). */
long pk_pad3x3_size(int C, int H, int W);
void pk_pad3x3(const float *x, int C, int H, int W, float *out);
/* 1 when K output channels are supported (4, 8 or 16). */
int pk_direct3x3_supports(int K);
/* y[K][H][W] rows r0 ..< r1 = conv3×3(padded x) + bias (bias may be NULL); w is [K][C][3][3]. */
void pk_direct3x3_forward(const float *xp, int C, int H, int W, const float *w, int K,
                          const float *bias, float *y, int r0, int r1);
/* dw[K][C][3][3] += the weight gradient from output rows r0 ..< r1 of dy[K][H][W]. */
void pk_direct3x3_weight_grad(const float *xp, int C, int H, int W, const float *dy, int K,
                              float *dw, int r0, int r1);

/* ---- Instruction sets (isa.c) ------------------------------------------------------------ */

/* Every kernel above and below is compiled three times: for baseline x86-64 (SSE2), for AVX2+FMA
   and for AVX-512 (F, DQ, BW, VL). The best copy the CPU supports runs unless PARAMKIT_ISA
   (generic, avx2 or avx512) asks for another at load, or pk_isa_select switches. */
enum { PK_ISA_GENERIC = 0, PK_ISA_AVX2 = 1, PK_ISA_AVX512 = 2 };
/* 1 when this CPU runs the copy for `isa`. */
int pk_isa_supported(int isa);
/* The best copy this CPU runs. */
int pk_isa_best(void);
/* The copy every kernel call uses now. */
int pk_isa_current(void);
/* Makes `isa` the current copy; −1 (and no change) when the CPU does not support it. Not for use
   while kernels run on other threads. */
int pk_isa_select(int isa);
/* "generic", "avx2" or "avx512". */
const char *pk_isa_name(int isa);

/* ---- SGEMM (gemm.c) ---------------------------------------------------------------------- */

/* 1 when the current ISA has a ParamKit SGEMM (AVX2 or AVX-512), so pk_sgemm may be called. */
int pk_sgemm_available(void);

/* Row-major C[M×N] = alpha·op(A)·op(B) + beta·C with op(A) M×K and op(B) K×N (transposed when
   transA / transB); beta = 0 overwrites C. Single-threaded; runs the current ISA's kernel (AVX-512:
   12×32 register block, AVX2: 6×16); only while pk_sgemm_available(). */
void pk_sgemm(int transA, int transB, long M, long N, long K, float alpha,
              const float *A, long lda, const float *B, long ldb, float beta, float *C, long ldc);

#endif
