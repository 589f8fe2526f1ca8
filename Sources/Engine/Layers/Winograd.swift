// Winograd F(m×m, 3×3) for 3×3 convolutions with stride 1 and padding 1: forward, data gradient
// and weight gradient as α² = (m+2)² independent products on transformed tiles (CKernels holds the
// transforms). m = 4 needs 4× fewer multiply-adds than im2col + sgemm, m = 2 needs 2.25× fewer.
//
// Work is done a chunk of tiles at a time, in one of two ways:
// - wide layers (> 16 channels): chunks of two ≈ 12 MB transformed buffers, so a chunk stays in
//   the last-level cache; the tile transforms run on the engine's threads over disjoint tile ranges
//   and the α² GEMMs are shared out whole between the threads;
// - narrow layers: each thread takes whole chunks of ≈ 1 MB (in its own L2) and runs transform,
//   products and output transform on them alone; the products are streaming loops, and the weight
//   gradient is summed per thread and then over threads in thread order.
// Every output element is computed by one thread in a fixed order, so results depend on the thread
// count only, not on scheduling.

import CKernels
import ParamKit

struct Winograd: Sendable {
    /// Output tile size: 2 or 4.
    let m: Int
    /// Floats per transformed buffer in one chunk of a wide layer.
    var budget = 3 << 20
    /// Floats per transformed buffer in one chunk of a narrow layer.
    var narrowBudget = 1 << 18

    var alpha2: Int { (m + 2) * (m + 2) }

    /// Distance between the α² planes of a transformed filter bank: K·C plus one cache line, so that
    /// walking all planes at one (k, c) does not land in a single cache set when K·C is 2ⁿ.
    static func plane(_ k: Int, _ c: Int) -> Int { k * c + 16 }

    /// Up to this many channels a layer is "narrow" (see above).
    static let narrowChannels = 16

    func tileCount(height h: Int, width w: Int) -> Int { ((h + m - 1) / m) * ((w + m - 1) / m) }

    func isNarrow(_ k: Int, _ c: Int) -> Bool { max(k, c) <= Winograd.narrowChannels }

    /// Tiles per chunk: as many as fit the budget; for narrow layers (where threads take whole
    /// chunks) a thread's share split into equal chunks that fit.
    func chunk(tiles: Int, channels: Int, narrow: Bool) -> Int {
        let fit = max(16, (narrow ? min(budget, narrowBudget) : budget) / (alpha2 * max(channels, 1)))
        guard narrow else { return min(tiles, fit) }
        // Equal chunks, the same number for every thread.
        let perThread = max(1, (tiles + Threads.count - 1) / Threads.count)
        let rounds = (perThread + fit - 1) / fit
        return (perThread + rounds - 1) / rounds
    }

    /// U[ξ][K][C] (or, flipped for the data gradient, U[ξ][C][K]) from weights [K][C][3][3]; plane ξ
    /// starts at ξ·plane(k, c).
    func transformWeights(_ w: UnsafePointer<Float>, outChannels k: Int, inChannels c: Int, flipped: Bool) -> [Float] {
        let plane = Winograd.plane(k, c)
        return [Float](unsafeUninitializedCapacity: alpha2 * plane) { buf, count in
            let shared = SendableBox(buf.baseAddress!)
            parallelFor(flipped ? c : k, minimumPerThread: 16) { r in
                pk_wino_weights(Int32(m), w, Int32(k), Int32(c), Int32(r.lowerBound), Int32(r.upperBound), flipped ? 1 : 0, shared.value, plane)
            }
            count = alpha2 * plane
        }
    }

    /// y[K][H][W] = conv3×3(x[C][H][W]) (+ bias) for one image, with U from `transformWeights`.
    func convolve(_ x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                  u: UnsafePointer<Float>, outChannels k: Int, bias: UnsafePointer<Float>?,
                  into y: UnsafeMutablePointer<Float>) {
        Threads.configureBLAS()
        let narrow = isNarrow(k, c)
        let tiles = tileCount(height: h, width: w), tc = chunk(tiles: tiles, channels: max(c, k), narrow: narrow)
        let (m32, a2, uPlane) = (Int32(m), alpha2, Winograd.plane(k, c))
        let shared = SendableBox((x, u, bias, y))
        // One chunk: the input transform into v, the α² products (for ξ in `products`) into prod, the
        // output transform; `spread` runs a tile-range loop on all threads or just here.
        func run(t0: Int, n: Int, v: UnsafeMutablePointer<Float>, prod: UnsafeMutablePointer<Float>,
                 spread: (Int, (Range<Int>) -> Void) -> Void) {
            let (x, u, bias, y) = shared.value
            let vPlane = Winograd.plane(c, n), mPlane = Winograd.plane(k, n)
            let buffers = SendableBox((v, prod))
            spread(n) { r in
                pk_wino_input(m32, x, Int32(c), Int32(h), Int32(w), t0 + r.lowerBound, r.count, buffers.value.0 + r.lowerBound, n, vPlane)
            }
            spread(a2) { r in
                let (v, prod) = buffers.value
                for xi in r {
                    // M_ξ[K, n] = U_ξ[K, C] · V_ξ[C, n]
                    if narrow {
                        pk_wino_small_nn(k, c, n, u + xi * uPlane, c, v + xi * vPlane, n, prod + xi * mPlane, n)
                    } else {
                        sgemmBlock(transA: false, transB: false, m: k, n: n, k: c, a: u + xi * uPlane, lda: c, b: v + xi * vPlane, ldb: n,
                                   beta: 0, c: prod + xi * mPlane, ldc: n)
                    }
                }
            }
            spread(n) { r in
                pk_wino_output(m32, buffers.value.1 + r.lowerBound, n, mPlane, Int32(k), Int32(h), Int32(w), t0 + r.lowerBound, r.count, bias, y)
            }
        }
        let vCount = alpha2 * Winograd.plane(c, tc), mCount = alpha2 * Winograd.plane(k, tc)
        if narrow {
            // The threads' buffers come from one allocation made here: glibc would give each worker
            // thread its own arena, which returns freed pages, and refaulting them serialises the
            // threads on the kernel's memory map lock.
            let chunks = (tiles + tc - 1) / tc, parts = max(1, min(Threads.count, chunks))
            withBuffers(parts * vCount, parts * mCount) { v, prod in
                let buffers = SendableBox((v, prod))
                parallelParts(parts) { p in
                    let (v, prod) = buffers.value
                    for i in chunks * p / parts ..< chunks * (p + 1) / parts {
                        run(t0: i * tc, n: min(tc, tiles - i * tc), v: v + p * vCount, prod: prod + p * mCount) { n, body in body(0..<n) }
                    }
                }
            }
        } else {
            withBuffers(vCount, mCount) { v, prod in
                for t0 in stride(from: 0, to: tiles, by: tc) {
                    run(t0: t0, n: min(tc, tiles - t0), v: v, prod: prod) { n, body in parallelFor(n, minimumPerThread: 8, body) }
                }
            }
        }
    }

    /// dw[K][C][3][3] += the weight gradient of one image: Σ over tiles of x's and dy's transforms.
    func accumulateWeightGradient(input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                                  outputGrad dy: UnsafePointer<Float>, outChannels k: Int,
                                  into dw: UnsafeMutablePointer<Float>) {
        Threads.configureBLAS()
        let narrow = isNarrow(k, c)
        let tiles = tileCount(height: h, width: w), tc = chunk(tiles: tiles, channels: max(c, k), narrow: narrow)
        let (m32, a2, plane) = (Int32(m), alpha2, Winograd.plane(k, c))
        let shared = SendableBox((x, dy))
        // dÛ (+)= the chunk's products; `first` overwrites instead of adding.
        func run(t0: Int, n: Int, first: Bool, v: UnsafeMutablePointer<Float>, e: UnsafeMutablePointer<Float>,
                 du: UnsafeMutablePointer<Float>, spread: (Int, (Range<Int>) -> Void) -> Void) {
            let (x, dy) = shared.value
            let vPlane = Winograd.plane(c, n), ePlane = Winograd.plane(k, n)
            let buffers = SendableBox((v, e, du))
            spread(n) { r in
                let (v, e, _) = buffers.value
                pk_wino_input(m32, x, Int32(c), Int32(h), Int32(w), t0 + r.lowerBound, r.count, v + r.lowerBound, n, vPlane)
                pk_wino_grad(m32, dy, Int32(k), Int32(h), Int32(w), t0 + r.lowerBound, r.count, e + r.lowerBound, n, ePlane)
            }
            spread(a2) { r in
                let (v, e, du) = buffers.value
                for xi in r {
                    // dÛ_ξ[K, C] (+)= E_ξ[K, n] · V_ξ[C, n]ᵀ
                    if narrow {
                        pk_wino_small_nt(k, c, n, e + xi * ePlane, n, v + xi * vPlane, n, first ? 0 : 1, du + xi * plane, c)
                    } else {
                        sgemmBlock(transA: false, transB: true, m: k, n: c, k: n, a: e + xi * ePlane, lda: n, b: v + xi * vPlane, ldb: n,
                                   beta: first ? 0 : 1, c: du + xi * plane, ldc: c)
                    }
                }
            }
        }
        let vCount = alpha2 * Winograd.plane(c, tc), eCount = alpha2 * Winograd.plane(k, tc), duCount = alpha2 * plane
        let du = UnsafeMutablePointer<Float>.allocate(capacity: duCount)
        defer { du.deallocate() }
        if narrow {
            // Each thread sums its chunks into its own dÛ; the partial sums are added in thread order.
            let chunks = (tiles + tc - 1) / tc, parts = max(1, min(Threads.count, chunks))
            let partial = UnsafeMutablePointer<Float>.allocate(capacity: parts * duCount)
            defer { partial.deallocate() }
            let out = SendableBox(partial)
            withBuffers(parts * vCount, parts * eCount) { v, e in   // one allocation, as in `convolve`
                let buffers = SendableBox((v, e))
                parallelParts(parts) { p in
                    let mine = out.value + p * duCount, (v, e) = buffers.value
                    for i in chunks * p / parts ..< chunks * (p + 1) / parts {
                        run(t0: i * tc, n: min(tc, tiles - i * tc), first: i == chunks * p / parts, v: v + p * vCount, e: e + p * eCount,
                            du: mine) { n, body in body(0..<n) }
                    }
                }
            }
            du.update(from: partial, count: duCount)
            for p in 1..<parts {
                let src = partial + p * duCount
                for i in 0..<duCount { du[i] += src[i] }
            }
        } else {
            withBuffers(vCount, eCount) { v, e in
                for t0 in stride(from: 0, to: tiles, by: tc) {
                    run(t0: t0, n: min(tc, tiles - t0), first: t0 == 0, v: v, e: e, du: du) { n, body in parallelFor(n, minimumPerThread: 8, body) }
                }
            }
        }
        let out = SendableBox((du, dw))
        parallelFor(k * c, minimumPerThread: 256) { r in
            pk_wino_weight_grad(m32, out.value.0, plane, r.lowerBound, r.upperBound, out.value.1)
        }
    }

    /// Two scratch buffers for the duration of `body`.
    func withBuffers(_ a: Int, _ b: Int, _ body: (UnsafeMutablePointer<Float>, UnsafeMutablePointer<Float>) -> Void) {
        let p = UnsafeMutablePointer<Float>.allocate(capacity: a), q = UnsafeMutablePointer<Float>.allocate(capacity: b)
        defer { p.deallocate(); q.deallocate() }
        body(p, q)
    }
}
