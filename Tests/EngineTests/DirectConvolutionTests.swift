// The direct 3×3 convolution for few channels against the im2col path (itself checked against
// MXNet's golden outputs) and against finite differences, on widths that are not multiples of its
// 16-pixel strips and heights down to one row.
//
// Tolerance: both sum the same C·9 products per output in a different order: 1e-5 relative to the
// largest magnitude.

import Testing
@testable import Engine

struct DirectConvolutionTests {
    @Test("direct equals im2col", arguments: 0..<8)
    func matchesIm2col(seed: UInt64) {
        var rng = RandomSource(seed + 900)
        let (k, c) = ([4, 8, 16][rng.int(0...2)], [4, 8, 16][rng.int(0...2)])
        var reference = Convolution(kernel: (3, 3), pad: (1, 1), numFilter: k)
        reference.algorithm = .im2col
        var direct = reference
        direct.algorithm = .direct
        #expect(direct.resolvedAlgorithm(inputChannels: c) == .direct)
        let shape = [rng.int(1...2), c, [1, 2, 5, 9, 17][rng.int(0...4)], [1, 3, 15, 16, 17, 40][rng.int(0...5)]]
        let x = rng.blob(shape), w = rng.floats(k * c * 9, scale: 0.5), b = rng.floats(k)
        let dy = Blob(shape: [shape[0], k, shape[2], shape[3]], data: rng.floats(shape[0] * k * shape[2] * shape[3]))
        func run(_ conv: Convolution) -> (y: [Float], dx: [Float], dw: [Float], db: [Float]) {
            let y = conv.forward(x, weight: w, bias: b)
            var gw = [Float](repeating: 0.25, count: w.count), gb = [Float](repeating: 0, count: k)
            let dx = gw.withUnsafeMutableBufferPointer { gwp in
                gb.withUnsafeMutableBufferPointer { gbp in
                    conv.backward(dy, input: x, weight: w, gradWeight: gwp.baseAddress, gradBias: gbp.baseAddress, inputGrad: true)!
                }
            }
            return (y.data, dx.data, gw, gb)
        }
        let want = run(reference), got = run(direct)
        for (name, a, e) in [("y", got.y, want.y), ("dx", got.dx, want.dx), ("dW", got.dw, want.dw), ("db", got.db, want.db)] {
            let scale = max(e.reduce(0) { max($0, abs($1)) }, 1e-6)
            let worst = zip(a, e).reduce(0) { max($0, abs($1.0 - $1.1)) }
            #expect(a.count == e.count && worst <= 1e-5 * scale, "\(name) for x \(shape), K \(k): |Δ| \(worst), scale \(scale)")
        }
    }

    @Test func gradientsAgainstFiniteDifferences() {
        var rng = RandomSource(950)
        var conv = Convolution(kernel: (3, 3), pad: (1, 1), numFilter: 8)
        conv.algorithm = .direct
        let x = rng.blob([1, 4, 6, 19]), w = rng.floats(8 * 4 * 9, scale: 0.5), b = rng.floats(8)
        let r = rng.floats(8 * 6 * 19)
        var gw = [Float](repeating: 0, count: w.count)
        let dx = gw.withUnsafeMutableBufferPointer {
            conv.backward(Blob(shape: [1, 8, 6, 19], data: r), input: x, weight: w, gradWeight: $0.baseAddress, gradBias: nil, inputGrad: true)!
        }
        checkGradient("direct dx", x: x.data, analytic: dx.data, probes: 20, rng: &rng) { dot(conv.forward(Blob(shape: x.shape, data: $0), weight: w, bias: b).data, r) }
        checkGradient("direct dW", x: w, analytic: gw, probes: 20, rng: &rng) { dot(conv.forward(x, weight: $0, bias: b).data, r) }
    }
}
