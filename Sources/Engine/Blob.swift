// Float32 NCHW blobs, the BLAS calls the layers use, and the parallel loop that shares the two
// cores with OpenBLAS.

import COpenBLAS
import Foundation

/// A float32 array with a shape (NCHW for images). A value type: copies are copy-on-write.
public struct Blob: Sendable, Equatable {
    public var shape: [Int]
    public var data: [Float]

    public init(shape: [Int], data: [Float]) {
        precondition(shape.reduce(1, *) == data.count, "blob data does not match shape \(shape)")
        self.shape = shape
        self.data = data
    }

    public init(zeros shape: [Int]) {
        self.shape = shape
        data = [Float](repeating: 0, count: shape.reduce(1, *))
    }

    /// A blob whose every element the caller will overwrite (no zero fill).
    public init(uninitialized shape: [Int]) {
        self.shape = shape
        data = [Float](unsafeUninitializedCapacity: shape.reduce(1, *)) { _, n in n = shape.reduce(1, *) }
    }

    public var count: Int { data.count }
    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }
}

/// Row-major single-precision GEMM: C = alpha·op(A)·op(B) + beta·C, with op(A) M×K and op(B) K×N.
/// OpenBLAS itself runs single-threaded; a large product is split into column (or row) blocks run
/// on the engine's own threads. So one pool of threads does all parallel work — OpenBLAS's workers
/// would otherwise spin between calls and fight the engine's loops for the two cores — and the
/// result for a given thread count does not depend on scheduling.
@inline(__always)
public func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    Threads.configureBLAS()
    let ta = transA ? CblasTrans : CblasNoTrans, tb = transB ? CblasTrans : CblasNoTrans
    let parts = Threads.count
    guard parts > 1, m * n * k >= 1 << 21, max(m, n) >= 32 * parts else {
        cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
        return
    }
    let shared = SendableBox((a, b, c))
    if n >= m {
        // Column blocks: C[:, j0..<j1] = op(A) · op(B)[:, j0..<j1]
        let block = ((n + parts - 1) / parts + 15) & ~15
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let (a, b, c) = shared.value
            let j0 = p * block, j1 = min(n, j0 + block)
            guard j1 > j0 else { return }
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(m), Int32(j1 - j0), Int32(k), alpha, a, Int32(lda),
                        b + (transB ? j0 * ldb : j0), Int32(ldb), beta, c + j0, Int32(ldc))
        }
    } else {
        // Row blocks: C[i0..<i1, :] = op(A)[i0..<i1, :] · op(B)
        let block = ((m + parts - 1) / parts + 15) & ~15
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let (a, b, c) = shared.value
            let i0 = p * block, i1 = min(m, i0 + block)
            guard i1 > i0 else { return }
            cblas_sgemm(CblasRowMajor, ta, tb, Int32(i1 - i0), Int32(n), Int32(k), alpha, a + (transA ? i0 : i0 * lda), Int32(lda),
                        b, Int32(ldb), beta, c + i0 * ldc, Int32(ldc))
        }
    }
}

public enum Threads {
    /// Threads for the engine's parallel work: blocks of each GEMM, im2col, pooling, ROI pooling.
    nonisolated(unsafe) public private(set) static var count = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 2))
    nonisolated(unsafe) static var blasConfigured = false

    public static func set(_ n: Int) {
        count = max(1, n)
        configureBLAS()
    }

    /// OpenBLAS runs single-threaded inside each block (see `sgemm`). Also keeps freed blob-sized
    /// blocks in the heap instead of returning them to the kernel, so the next iteration reuses them
    /// rather than faulting in fresh pages (glibc would otherwise mmap/munmap every large blob).
    @inline(__always) static func configureBLAS() {
        if !blasConfigured {
            openblas_set_num_threads(1)
            cengine_keep_large_blocks()
            blasConfigured = true
        }
    }
}

/// Runs `body(range)` over `0..<n` split into contiguous chunks, one per thread. Each index is
/// handled by exactly one chunk, so results do not depend on scheduling.
@inlinable
public func parallelFor(_ n: Int, minimumPerThread: Int = 1, _ body: (Range<Int>) -> Void) {
    let parts = min(Threads.count, max(1, n / max(minimumPerThread, 1)))
    if parts <= 1 { body(0..<n); return }
    withoutActuallyEscaping(body) { body in
        let shared = SendableBox(body)
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let lo = n * p / parts, hi = n * (p + 1) / parts
            shared.value(lo..<hi)
        }
    }
}

/// Hands pointers to parallel workers that touch disjoint parts of them.
public struct SendableBox<T>: @unchecked Sendable {
    public let value: T
    public init(_ value: T) { self.value = value }
}
