// Float32 NCHW blobs, the BLAS calls the layers use, and the parallel loop that shares the two
// cores with OpenBLAS.

import CKernels
import COpenBLAS
import Foundation
import ParamKit

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
    let parts = Threads.count
    guard parts > 1, m * n * k >= 1 << 21, max(m, n) >= 32 * parts else {
        sgemmBlock(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
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
            sgemmBlock(transA: transA, transB: transB, m: m, n: j1 - j0, k: k, alpha: alpha, a: a, lda: lda,
                       b: b + (transB ? j0 * ldb : j0), ldb: ldb, beta: beta, c: c + j0, ldc: ldc)
        }
    } else {
        // Row blocks: C[i0..<i1, :] = op(A)[i0..<i1, :] · op(B)
        let block = ((m + parts - 1) / parts + 15) & ~15
        DispatchQueue.concurrentPerform(iterations: parts) { p in
            let (a, b, c) = shared.value
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

/// The instruction set of the C kernels (Winograd transforms, direct 3×3, ParamKit's SGEMM). Each
/// kernel is compiled once per ISA; the best the CPU supports runs unless `PARAMKIT_ISA`
/// (generic, avx2, avx512) or `select` chooses another, so every copy can be tested on one machine.
public enum KernelISA: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case generic = 0, avx2 = 1, avx512 = 2

    /// The copy every kernel call uses now.
    public static var current: KernelISA { KernelISA(rawValue: pk_isa_current()) ?? .generic }
    /// The best copy this CPU runs.
    public static var best: KernelISA { KernelISA(rawValue: pk_isa_best()) ?? .generic }
    /// The copies this CPU runs, generic first.
    public static var supported: [KernelISA] { allCases.filter { pk_isa_supported($0.rawValue) != 0 } }

    /// Switches every kernel to `isa`; false (and no change) when the CPU does not support it.
    /// Not while kernels run on other threads.
    @discardableResult
    public static func select(_ isa: KernelISA) -> Bool { pk_isa_select(isa.rawValue) == 0 }

    public var description: String { String(cString: pk_isa_name(rawValue)) }
}

public enum Threads {
    /// Threads for the engine's parallel work: blocks of each GEMM, im2col, pooling, ROI pooling.
    nonisolated(unsafe) public private(set) static var count = max(1, min(ProcessInfo.processInfo.activeProcessorCount, 2))
    nonisolated(unsafe) static var blasConfigured = false
    /// Below this many rows or this inner dimension ParamKit's kernels are not faster than OpenBLAS
    /// (measured on tiny-vgg's products: 4–16 filters, 36–144 deep).
    static let nativeMinimumSide = 32
    /// The GEMM asked for: ParamKit's own unless PARAMKIT_GEMM=openblas.
    nonisolated(unsafe) static var gemmPreference: GemmBackend =
        ProcessInfo.processInfo.environment["PARAMKIT_GEMM"] == "openblas" ? .openblas : .native

    /// The GEMM every layer uses: ParamKit's own when asked for and the current ISA has one (AVX2 or
    /// AVX-512), OpenBLAS otherwise.
    public static var gemm: GemmBackend {
        gemmPreference == .native && pk_sgemm_available() != 0 ? .native : .openblas
    }

    /// Selects the GEMM; `.native` means OpenBLAS on the generic ISA (see `gemm`).
    public static func setGemm(_ backend: GemmBackend) { gemmPreference = backend }


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

/// Runs `body(p)` for p in `0..<parts` on the engine's threads (parts ≤ Threads.count).
public func parallelParts(_ parts: Int, _ body: (Int) -> Void) {
    if parts <= 1 { body(0); return }
    withoutActuallyEscaping(body) { body in
        let shared = SendableBox(body)
        DispatchQueue.concurrentPerform(iterations: parts) { shared.value($0) }
    }
}

