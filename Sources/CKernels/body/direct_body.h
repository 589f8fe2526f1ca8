/* One instruction set's copy of the direct 3×3 kernels (included by direct.c once per ISA, as
   body/winograd_body.h is by winograd.c). */

DEFINE_DIRECT(4, 2)
DEFINE_DIRECT(8, 1)
DEFINE_DIRECT(16, 1)

static void ISA_NAME(forward)(const float *xp, int C, int H, int W, const float *w, int K,
                              const float *bias, float *y, int r0, int r1) {
    switch (K) {
    case 4: ISA_NAME(forward_4)(xp, C, H, W, w, bias, y, r0, r1); break;
    case 8: ISA_NAME(forward_8)(xp, C, H, W, w, bias, y, r0, r1); break;
    default: ISA_NAME(forward_16)(xp, C, H, W, w, bias, y, r0, r1); break;
    }
}

static void ISA_NAME(weight_grad)(const float *xp, int C, int H, int W, const float *dy, int K,
                                  float *dw, int r0, int r1) {
    switch (K) {
    case 4: ISA_NAME(weight_grad_4)(xp, C, H, W, dy, dw, r0, r1); break;
    case 8: ISA_NAME(weight_grad_8)(xp, C, H, W, dy, dw, r0, r1); break;
    default: ISA_NAME(weight_grad_16)(xp, C, H, W, dy, dw, r0, r1); break;
    }
}

static const struct direct_ops ISA_NAME(direct_ops) = { ISA_NAME(forward), ISA_NAME(weight_grad) };
