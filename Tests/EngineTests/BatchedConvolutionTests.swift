// The batched convolution (all images' columns in one GEMM, for many small maps) against the
// per-image im2col path, itself checked against MXNet: forward, data, weight and bias gradients,
// for the kernels ResNet's stage 4 uses, with chunks small enough that the images span several.

import Testing
@testable import Engine

struct BatchedConvolutionTests {
    static let cases: [(kernel: Int, stride: Int, pad: Int, images: Int, size: Int)] = [
        (3, 1, 1, 9, 7), (3, 2, 1, 12, 14), (1, 1, 0, 10, 7), (1, 2, 0, 8, 14), (3, 1, 1, 8, 1), (7, 2, 3, 9, 11),
    ]

    @Test("batched equals im2col", arguments: cases.indices, [1, 300, 1 << 21])
    func matchesIm2col(index: Int, tile: Int) {
        let t = Self.cases[index]
        var rng = RandomSource(UInt64(index * 7 + tile))
        var reference = Convolution(kernel: (t.kernel, t.kernel), stride: (t.stride, t.stride), pad: (t.pad, t.pad), numFilter: rng.int(3...13))
        reference.algorithm = .im2col
        var batched = reference
        batched.algorithm = .batched
        batched.tileElements = tile
        let c = rng.int(1...9)
        let x = rng.blob([t.images, c, t.size, t.size])
        let w = rng.floats(reference.numFilter * c * t.kernel * t.kernel, scale: 0.5), b = rng.floats(reference.numFilter)
        let out = reference.outputShape(x.shape)
        let dy = rng.floats(out.reduce(1, *))
        let helper = WinogradTests()
        let want = helper.run(reference, x: x, w: w, b: b, dy: dy), got = helper.run(batched, x: x, w: w, b: b, dy: dy)
        let what = "\(t) C \(c) K \(reference.numFilter) tile \(tile)"
        helper.expectClose("\(what) y", got.y, want.y, tol: 1e-5)
        helper.expectClose("\(what) dx", got.dx, want.dx, tol: 1e-5)
        helper.expectClose("\(what) dW", got.dw, want.dw, tol: 1e-5)
        helper.expectClose("\(what) db", got.db, want.db, tol: 1e-5)
    }

    @Test func autoBatchesOnlyManySmallMaps() {
        let conv = Convolution(kernel: (3, 3), pad: (1, 1), numFilter: 8)
        #expect(conv.useBatched(images: 128, spatial: 49))
        #expect(!conv.useBatched(images: 1, spatial: 49))
        #expect(!conv.useBatched(images: 128, spatial: 38 * 63))
    }
}
