// The single-precision GEMM the layers call: ParamKit's own kernels or OpenBLAS, split into blocks
// on the engine's threads.

import CKernels
import COpenBLAS
import Foundation
import ParamKit

/// Row-major single-precision GEMM: C = alpha·op(A)·op(B) + beta·C, with op(A) M×K and op(B) K×N.
/// OpenBLAS itself runs single-threaded; a large product is split into column (or row) blocks run
/// on the engine's worker pool (`parallelParts`, CKernels/pool.c), the threads of every other
/// parallel loop. OpenBLAS's own workers, or GCD's, would wake while the pool's workers still poll
/// for their next job and share the two cores with them; and the result for a given thread count
/// does not depend on scheduling.
@inline(__always)
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    Threads.configureBLAS()
    let parts = Threads.count
    guard parts > 1, m * n * k >= 1 << 21, max(m, n) >= 32 * parts else {
        sgemmBlock(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        return
    }
    if n >= m {
        // Column blocks: C[:, j0..<j1] = op(A) · op(B)[:, j0..<j1]
        let block = ((n + parts - 1) / parts + 15) & ~15
        parallelParts(parts) { p in
            let j0 = p * block, j1 = min(n, j0 + block)
            guard j1 > j0 else { return }
            sgemmBlock(transA: transA, transB: transB, m: m, n: j1 - j0, k: k, alpha: alpha, a: a, lda: lda,
                       b: b + (transB ? j0 * ldb : j0), ldb: ldb, beta: beta, c: c + j0, ldc: ldc)
        }
    } else {
        // Row blocks: C[i0..<i1, :] = op(A)[i0..<i1, :] · op(B)
        let block = ((m + parts - 1) / parts + 15) & ~15
        parallelParts(parts) { p in
            let i0 = p * block, i1 = min(m, i0 + block)
            guard i1 > i0 else { return }
            sgemmBlock(transA: transA, transB: transB, m: i1 - i0, n: n, k: k, alpha: alpha, a: a + (transA ? i0 : i0 * lda), lda: lda,
                       b: b, ldb: ldb, beta: beta, c: c + i0 * ldc, ldc: ldc)
        }
    }
}

/// One single-threaded GEMM on the current thread, by `Threads.gemm`. Products with few rows or a
/// short inner dimension go to OpenBLAS either way: ParamKit's kernels work on 12-row (AVX-512) or
/// 6-row (AVX2) blocks and load and store their C block once per 256-deep slice, which does not pay
/// below about 32.
@inline(__always)
func sgemmBlock(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                b: UnsafePointer<Float>, ldb: Int, beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int) {
    switch Threads.gemm {
    case .native where m >= Threads.nativeMinimumSide && k >= Threads.nativeMinimumSide:
        pk_sgemm(transA ? 1 : 0, transB ? 1 : 0, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
    case .native, .openblas:
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), Int32(k),
                    alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }
}

/// Which single-threaded GEMM the engine calls.
public enum GemmBackend: String, Sendable {
    /// ParamKit's own kernel for the current ISA (CKernels/gemm.c: AVX-512 or AVX2+FMA).
    case native
    /// OpenBLAS's cblas_sgemm, with whatever kernel OpenBLAS picked (OPENBLAS_CORETYPE).
    case openblas
}
