// Winograd F(2×2, 3×3) and F(4×4, 3×3) against the im2col path (itself checked against MXNet's
// golden outputs) and against finite differences, on shapes that are not multiples of the tile
// size, with chunks small enough that one image spans many of them.
//
// Tolerance: Winograd reassociates each output as a sum over transformed tiles whose entries are
// up to ~100× the inputs for m = 4 (the transforms use the points 0, ±1, ±2, ∞), so the error is
// bounded relative to the largest magnitude in the result, not per element:
// |winograd − im2col| ≤ tol · max|im2col| with tol 1e-5 (m = 2) and 1e-4 (m = 4).

import Testing
@testable import Engine

struct WinogradTests {
    func maxAbs(_ a: [Float]) -> Float { a.reduce(0) { max($0, abs($1)) } }

    func expectClose(_ what: String, _ got: [Float], _ want: [Float], tol: Float) {
        #expect(got.count == want.count, "\(what): \(got.count) values, expected \(want.count)")
        let scale = max(maxAbs(want), 1e-6)
        var worst: Float = 0, at = 0
        for i in 0..<min(got.count, want.count) where abs(got[i] - want[i]) > worst { worst = abs(got[i] - want[i]); at = i }
        #expect(worst <= tol * scale, "\(what): |Δ| \(worst) at \(at) (got \(got[at]), want \(want[at])), scale \(scale)")
    }

    struct Result { var y: [Float]; var dx: [Float]; var dw: [Float]; var db: [Float] }

    func run(_ conv: Convolution, x: Blob, w: [Float], b: [Float], dy: [Float]) -> Result {
        let y = conv.forward(x, weight: w, bias: b)
        var gw = [Float](repeating: 0.5, count: w.count), gb = [Float](repeating: 0, count: b.count)   // dW accumulates
        let dx = gw.withUnsafeMutableBufferPointer { gwp in
            gb.withUnsafeMutableBufferPointer { gbp in
                conv.backward(Blob(shape: y.shape, data: dy), input: x, weight: w, gradWeight: gwp.baseAddress, gradBias: gbp.baseAddress, inputGrad: true)!
            }
        }
        return Result(y: y.data, dx: dx.data, dw: gw, db: gb)
    }

    @Test("Winograd equals im2col", arguments: [2, 4], 0..<5)
    func matchesIm2col(tile: Int, seed: UInt64) {
        var rng = RandomSource(seed * 31 + UInt64(tile))
        var reference = Convolution(kernel: (3, 3), pad: (1, 1), numFilter: rng.int(1...20))
        reference.algorithm = .im2col
        var wino = reference
        wino.algorithm = .winograd(tile: tile)
        wino.winogradChunkFloats = [1, 200, 5000, 3 << 20][rng.int(0...3)]
        let shape = [rng.int(1...2), rng.int(1...20), [1, 2, 3, 5, 8, 13, 19][rng.int(0...6)], [1, 2, 4, 7, 9, 16, 23][rng.int(0...6)]]
        let x = rng.blob(shape)
        let w = rng.floats(reference.numFilter * shape[1] * 9, scale: 0.5), b = rng.floats(reference.numFilter)
        let dy = rng.floats(shape[0] * reference.numFilter * shape[2] * shape[3])
        let want = run(reference, x: x, w: w, b: b, dy: dy), got = run(wino, x: x, w: w, b: b, dy: dy)
        let tol: Float = tile == 2 ? 1e-5 : 1e-4
        let what = "F(\(tile),3) x \(shape) K \(reference.numFilter) chunk \(wino.winogradChunkFloats)"
        expectClose("\(what) y", got.y, want.y, tol: tol)
        expectClose("\(what) dx", got.dx, want.dx, tol: tol)
        expectClose("\(what) dW", got.dw, want.dw, tol: tol)
        expectClose("\(what) db", got.db, want.db, tol: 1e-6)
    }

    /// The narrow-layer products have register-blocked versions for 4, 8 and 16 channels.
    @Test("Winograd equals im2col for 4, 8 and 16 channels", arguments: [(4, 4), (8, 8), (16, 16), (16, 4), (4, 16), (8, 16)])
    func narrowChannelCounts(k: Int, c: Int) {
        var rng = RandomSource(UInt64(k * 100 + c))
        var reference = Convolution(kernel: (3, 3), pad: (1, 1), numFilter: k)
        reference.algorithm = .im2col
        var wino = reference
        wino.algorithm = .winograd(tile: 4)
        let shape = [1, c, 13, 75]   // 4×19 = 76 tiles: strips of 16 plus a tail, in one or two chunks
        let x = rng.blob(shape), w = rng.floats(k * c * 9, scale: 0.5), b = rng.floats(k)
        let dy = rng.floats(k * 13 * 75)
        let want = run(reference, x: x, w: w, b: b, dy: dy), got = run(wino, x: x, w: w, b: b, dy: dy)
        expectClose("K \(k) C \(c) y", got.y, want.y, tol: 1e-4)
        expectClose("K \(k) C \(c) dx", got.dx, want.dx, tol: 1e-4)
        expectClose("K \(k) C \(c) dW", got.dw, want.dw, tol: 1e-4)
    }

    @Test("Winograd gradients against finite differences", arguments: [2, 4])
    func finiteDifferences(tile: Int) {
        var rng = RandomSource(700 + UInt64(tile))
        var conv = Convolution(kernel: (3, 3), pad: (1, 1), numFilter: 6)
        conv.algorithm = .winograd(tile: tile)
        conv.winogradChunkFloats = 500
        let x = rng.blob([1, 5, 10, 11])
        let w = rng.floats(6 * 5 * 9, scale: 0.5), b = rng.floats(6)
        let r = rng.floats(6 * 10 * 11)
        let got = run(conv, x: x, w: w, b: b, dy: r)
        let dw = got.dw.map { $0 - 0.5 }
        checkGradient("winograd dx", x: x.data, analytic: got.dx, probes: 20, rng: &rng) { dot(conv.forward(Blob(shape: x.shape, data: $0), weight: w, bias: b).data, r) }
        checkGradient("winograd dW", x: w, analytic: dw, probes: 20, rng: &rng) { dot(conv.forward(x, weight: $0, bias: b).data, r) }
    }

    @Test func autoUsesWinogradOnlyWhereItApplies() {
        let conv = Convolution(kernel: (3, 3), pad: (1, 1), numFilter: 64)
        #expect(conv.winograd(channels: 64)?.m == 4)
        #expect(conv.winograd(channels: 3) == nil)           // vgg conv1_1: im2col
        #expect(Convolution(kernel: (3, 3), stride: (2, 2), pad: (1, 1), numFilter: 64).winograd(channels: 64) == nil)
        #expect(Convolution(kernel: (1, 1), numFilter: 64).winograd(channels: 64) == nil)
        #expect(Convolution(kernel: (3, 3), pad: (1, 1), numFilter: 3).winograd(channels: 64) == nil)
        #expect(Convolution(kernel: (3, 3), pad: (1, 1), numFilter: 16).winograd(channels: 16)?.m == 4)   // tiny-vgg conv4_x
        #expect(Convolution(kernel: (3, 3), pad: (1, 1), numFilter: 8).resolvedAlgorithm(inputChannels: 8) == .winograd(tile: 4))   // tiny-vgg conv2_x
        #expect(Convolution(kernel: (3, 3), pad: (1, 1), numFilter: 4).resolvedAlgorithm(inputChannels: 4) == .direct)   // tiny-vgg conv1_2
        #expect(Convolution(kernel: (3, 3), pad: (1, 1), numFilter: 4).resolvedAlgorithm(inputChannels: 3) == .im2col)   // tiny-vgg conv1_1
        #expect(Convolution(kernel: (3, 3), pad: (1, 1), numFilter: 5).resolvedAlgorithm(inputChannels: 5) == .winograd(tile: 4))
    }
}
