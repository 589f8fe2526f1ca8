/* One instruction set's copy of the Winograd kernels. winograd.c includes this file once per ISA,
   with ISA_NAME(f) naming that copy's functions and a `#pragma clang attribute` giving their target;
   the copy's entry points end up in the table ISA_NAME(wino_ops). */

DEFINE_WINOGRAD(4, 6, IN_4, OUT_4, FILT_4, GRAD_4, WGRAD_4)
DEFINE_WINOGRAD(2, 4, IN_2, OUT_2, FILT_2, GRAD_2, WGRAD_2)
DEFINE_SMALL(4)
DEFINE_SMALL(8)
DEFINE_SMALL(16)

static void ISA_NAME(small_nn_any)(long K, long C, long n, const float *U, long ldu,
                                   const float *V, long ldv, float *M, long ldm) {
    for (long k = 0; k < K; k++) {
        float *out = M + k * ldm;
        const float *u = U + k * ldu;
        for (long t = 0; t < n; t++) out[t] = u[0] * V[t];
        for (long c = 1; c < C; c++) {
            const float w = u[c], *v = V + c * ldv;
            for (long t = 0; t < n; t++) out[t] += w * v[t];
        }
    }
}

static void ISA_NAME(small_nt_any)(long K, long C, long n, const float *E, long lde,
                                   const float *V, long ldv, float beta, float *D, long ldd) {
    for (long k = 0; k < K; k++)
        for (long c = 0; c < C; c++) {
            const float *e = E + k * lde, *v = V + c * ldv;
            float s[16] = {0};
            long t = 0;
            for (; t + 16 <= n; t += 16)
                for (int j = 0; j < 16; j++) s[j] += e[t + j] * v[t + j];
            float sum = 0;
            for (int j = 0; j < 16; j++) sum += s[j];
            for (; t < n; t++) sum += e[t] * v[t];
            D[k * ldd + c] = (beta == 0.0f ? 0.0f : beta * D[k * ldd + c]) + sum;
        }
}

static void ISA_NAME(weights)(int m, const float *w, int K, int C, int r0, int r1, int flip, float *U, long plane) {
    if (m == 4) ISA_NAME(weights_4)(w, K, C, r0, r1, flip, U, plane); else ISA_NAME(weights_2)(w, K, C, r0, r1, flip, U, plane);
}

static void ISA_NAME(input)(int m, const float *x, int C, int H, int W, long t0, long count,
                            float *V, long ld, long plane) {
    if (m == 4) ISA_NAME(input_4)(x, C, H, W, t0, count, V, ld, plane); else ISA_NAME(input_2)(x, C, H, W, t0, count, V, ld, plane);
}

static void ISA_NAME(output)(int m, const float *Mt, long ld, long plane, int K, int H, int W, long t0,
                             long count, const float *bias, float *y) {
    if (m == 4) ISA_NAME(output_4)(Mt, ld, plane, K, H, W, t0, count, bias, y);
    else ISA_NAME(output_2)(Mt, ld, plane, K, H, W, t0, count, bias, y);
}

static void ISA_NAME(grad)(int m, const float *dy, int K, int H, int W, long t0, long count,
                           float *E, long ld, long plane) {
    if (m == 4) ISA_NAME(grad_4)(dy, K, H, W, t0, count, E, ld, plane); else ISA_NAME(grad_2)(dy, K, H, W, t0, count, E, ld, plane);
}

static void ISA_NAME(weight_grad)(int m, const float *dU, long plane, long kc0, long kc1, float *dw) {
    if (m == 4) ISA_NAME(weight_grad_4)(dU, plane, kc0, kc1, dw); else ISA_NAME(weight_grad_2)(dU, plane, kc0, kc1, dw);
}

/* Output rows in blocks of 16, then 8 and 4, each block's rows in registers; the last rows (K not
   a multiple of 4) through the plain loops. */
static void ISA_NAME(small_nn)(long K, long C, long n, const float *U, long ldu,
                               const float *V, long ldv, float *M, long ldm) {
    long k0 = 0;
    for (; K - k0 >= 16; k0 += 16) ISA_NAME(small_nn_16)(C, n, U + k0 * ldu, ldu, V, ldv, M + k0 * ldm, ldm);
    if (K - k0 >= 8) { ISA_NAME(small_nn_8)(C, n, U + k0 * ldu, ldu, V, ldv, M + k0 * ldm, ldm); k0 += 8; }
    if (K - k0 >= 4) { ISA_NAME(small_nn_4)(C, n, U + k0 * ldu, ldu, V, ldv, M + k0 * ldm, ldm); k0 += 4; }
    if (k0 < K) ISA_NAME(small_nn_any)(K - k0, C, n, U + k0 * ldu, ldu, V, ldv, M + k0 * ldm, ldm);
}

/* Columns of D (input channels) in blocks of 16, 8 and 4 as in small_nn. */
static void ISA_NAME(small_nt)(long K, long C, long n, const float *E, long lde,
                               const float *V, long ldv, float beta, float *D, long ldd) {
    long c0 = 0;
    for (; C - c0 >= 16; c0 += 16) ISA_NAME(small_nt_16)(K, n, E, lde, V + c0 * ldv, ldv, beta, D + c0, ldd);
    if (C - c0 >= 8) { ISA_NAME(small_nt_8)(K, n, E, lde, V + c0 * ldv, ldv, beta, D + c0, ldd); c0 += 8; }
    if (C - c0 >= 4) { ISA_NAME(small_nt_4)(K, n, E, lde, V + c0 * ldv, ldv, beta, D + c0, ldd); c0 += 4; }
    if (c0 < C) ISA_NAME(small_nt_any)(K, C - c0, n, E, lde, V + c0 * ldv, ldv, beta, D + c0, ldd);
}

static const struct wino_ops ISA_NAME(wino_ops) = {
    ISA_NAME(weights), ISA_NAME(input), ISA_NAME(output), ISA_NAME(grad), ISA_NAME(weight_grad),
    ISA_NAME(small_nn), ISA_NAME(small_nt),
};
