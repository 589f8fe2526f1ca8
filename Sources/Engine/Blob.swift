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

    public var count: Int { data.count }
    public subscript(i: Int) -> Float {
        get { data[i] }
        set { data[i] = newValue }
    }
}

/// Row-major single-precision GEMM: C = alpha·op(A)·op(B) + beta·C, with op(A) M×K and op(B) K×N.
@inline(__always)
func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
           a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
           beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

public enum Threads {
    /// Threads for OpenBLAS and for the engine's own loops (im2col, pooling, ROI pooling). The two
    /// never run at the same time, so the cores are not oversubscribed.
    nonisolated(unsafe) public private(set) static var count = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 2))

    public static func set(_ n: Int) {
        count = max(1, n)
        openblas_set_num_threads(Int32(count))
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
