// The engine's threads: their number, OpenBLAS kept single-threaded inside them, and the parallel
// loops that share the two cores.

import CKernels
import COpenBLAS
import Foundation
import ParamKit

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
    parallelParts(parts) { p in body(n * p / parts ..< n * (p + 1) / parts) }
}

/// Runs `body(p)` for p in `0..<parts` on the engine's threads (parts ≤ Threads.count): part p on
/// worker p of the pool (CKernels/pool.c), part 0 on the calling thread.
public func parallelParts(_ parts: Int, _ body: (Int) -> Void) {
    if parts <= 1 { body(0); return }
    withoutActuallyEscaping(body) { body in
        var job = body
        withUnsafeMutablePointer(to: &job) { job in
            pk_pool_run(Int32(Threads.count), Int32(parts), { context, p in
                context!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(p)
            }, job)
        }
    }
}
