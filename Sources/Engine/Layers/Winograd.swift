// Winograd F(m×m, 3×3) for 3×3 convolutions with stride 1 and padding 1: forward, data gradient
// and weight gradient as α² = (m+2)² independent GEMMs on transformed tiles (CWinograd holds the
// transforms). m = 4 needs 4× fewer multiply-adds than im2col + sgemm, m = 2 needs 2.25× fewer.
//
// Work is done a chunk of tiles at a time (two transformed buffers of about 12 MB each, so a chunk
// stays in the last-level cache): the tile transforms run on the engine's threads over disjoint
// tile ranges, the α² GEMMs are shared out whole between the threads. Every output element is
// computed by one thread in a fixed order, so results depend only on the thread count's chunking,
// not on scheduling.

import CKernels

struct Winograd: Sendable {
    /// Output tile size: 2 or 4.
    let m: Int
    /// Floats per transformed buffer in one chunk.
    var budget = 3 << 20

    var alpha2: Int { (m + 2) * (m + 2) }

    /// Distance between the α² planes of a transformed filter bank: K·C plus one cache line, so that
    /// walking all planes at one (k, c) does not land in a single cache set when K·C is 2ⁿ.
    static func plane(_ k: Int, _ c: Int) -> Int { k * c + 16 }

    /// Up to this many channels the α² products run as streaming loops instead of GEMM calls.
    static let smallChannels = 16

    func tileCount(height h: Int, width w: Int) -> Int { ((h + m - 1) / m) * ((w + m - 1) / m) }

    func chunk(tiles: Int, channels: Int) -> Int {
        min(tiles, max(16, budget / (alpha2 * max(channels, 1))))
    }

    /// U[ξ][K][C] (or, flipped for the data gradient, U[ξ][C][K]) from weights [K][C][3][3]; plane ξ
    /// starts at ξ·plane(k, c).
    func transformWeights(_ w: UnsafePointer<Float>, outChannels k: Int, inChannels c: Int, flipped: Bool) -> [Float] {
        let plane = Winograd.plane(k, c)
        return [Float](unsafeUninitializedCapacity: alpha2 * plane) { buf, count in
            let shared = SendableBox(buf.baseAddress!)
            parallelFor(flipped ? c : k) { r in
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
        let tiles = tileCount(height: h, width: w), tc = chunk(tiles: tiles, channels: max(c, k))
        let v = UnsafeMutablePointer<Float>.allocate(capacity: alpha2 * Winograd.plane(c, tc))
        let prod = UnsafeMutablePointer<Float>.allocate(capacity: alpha2 * Winograd.plane(k, tc))
        defer { v.deallocate(); prod.deallocate() }
        let shared = SendableBox((x, u, bias, y, v, prod))
        let small = max(k, c) <= Winograd.smallChannels
        let (m32, a2, uPlane) = (Int32(m), alpha2, Winograd.plane(k, c))
        for t0 in stride(from: 0, to: tiles, by: tc) {
            let n = min(tc, tiles - t0), vPlane = Winograd.plane(c, n), mPlane = Winograd.plane(k, n)
            parallelFor(n, minimumPerThread: 8) { r in
                let (x, _, _, _, v, _) = shared.value
                pk_wino_input(m32, x, Int32(c), Int32(h), Int32(w), t0 + r.lowerBound, r.count, v + r.lowerBound, n, vPlane)
            }
            parallelFor(a2) { r in
                let (_, u, _, _, v, prod) = shared.value
                for xi in r {
                    // M_ξ[K, n] = U_ξ[K, C] · V_ξ[C, n]
                    if small {
                        pk_wino_small_nn(k, c, n, u + xi * uPlane, c, v + xi * vPlane, n, prod + xi * mPlane, n)
                    } else {
                        sgemmBlock(transA: false, transB: false, m: k, n: n, k: c, a: u + xi * uPlane, lda: c, b: v + xi * vPlane, ldb: n,
                                   beta: 0, c: prod + xi * mPlane, ldc: n)
                    }
                }
            }
            parallelFor(n, minimumPerThread: 8) { r in
                let (_, _, bias, y, _, prod) = shared.value
                pk_wino_output(m32, prod + r.lowerBound, n, mPlane, Int32(k), Int32(h), Int32(w), t0 + r.lowerBound, r.count, bias, y)
            }
        }
    }

    /// dw[K][C][3][3] += the weight gradient of one image: Σ over tiles of x's and dy's transforms.
    func accumulateWeightGradient(input x: UnsafePointer<Float>, channels c: Int, height h: Int, width w: Int,
                                  outputGrad dy: UnsafePointer<Float>, outChannels k: Int,
                                  into dw: UnsafeMutablePointer<Float>) {
        Threads.configureBLAS()
        let tiles = tileCount(height: h, width: w), tc = chunk(tiles: tiles, channels: max(c, k))
        let v = UnsafeMutablePointer<Float>.allocate(capacity: alpha2 * Winograd.plane(c, tc))
        let e = UnsafeMutablePointer<Float>.allocate(capacity: alpha2 * Winograd.plane(k, tc))
        let plane = Winograd.plane(k, c)
        let du = UnsafeMutablePointer<Float>.allocate(capacity: alpha2 * plane)
        defer { v.deallocate(); e.deallocate(); du.deallocate() }
        let shared = SendableBox((x, dy, dw, v, e, du))
        let small = max(k, c) <= Winograd.smallChannels
        let (m32, a2) = (Int32(m), alpha2)
        for t0 in stride(from: 0, to: tiles, by: tc) {
            let n = min(tc, tiles - t0), vPlane = Winograd.plane(c, n), ePlane = Winograd.plane(k, n)
            parallelFor(n, minimumPerThread: 8) { r in
                let (x, dy, _, v, e, _) = shared.value
                pk_wino_input(m32, x, Int32(c), Int32(h), Int32(w), t0 + r.lowerBound, r.count, v + r.lowerBound, n, vPlane)
                pk_wino_grad(m32, dy, Int32(k), Int32(h), Int32(w), t0 + r.lowerBound, r.count, e + r.lowerBound, n, ePlane)
            }
            parallelFor(a2) { r in
                let (_, _, _, v, e, du) = shared.value
                for xi in r {
                    // dÛ_ξ[K, C] (+)= E_ξ[K, n] · V_ξ[C, n]ᵀ
                    if small {
                        pk_wino_small_nt(k, c, n, e + xi * ePlane, n, v + xi * vPlane, n, t0 == 0 ? 0 : 1, du + xi * plane, c)
                    } else {
                        sgemmBlock(transA: false, transB: true, m: k, n: c, k: n, a: e + xi * ePlane, lda: n, b: v + xi * vPlane, ldb: n,
                                   beta: t0 == 0 ? 0 : 1, c: du + xi * plane, ldc: c)
                    }
                }
            }
        }
        parallelFor(k * c) { r in
            let (_, _, dw, _, _, du) = shared.value
            pk_wino_weight_grad(m32, du, plane, r.lowerBound, r.upperBound, dw)
        }
    }
}
