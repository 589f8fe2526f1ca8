// Finite-difference checks of every layer's backward on random shapes: the analytic gradient of
// L = Σ y·r (r random) must match central differences (L(x+ε) − L(x−ε)) / 2ε.
//
// Tolerance: ε = 1e-2 in float32. Conv and FC are linear in each input, so the difference quotient
// is exact up to float32 rounding of L (~1e-6·|L|/ε); the piecewise layers (ReLU, max pool,
// smooth-L1) are exact away from their kinks, which the inputs keep clear of. |a − n| ≤ 2e-3 + 2e-2·|n|.

import Foundation
import Testing
@testable import Engine
import ParamKit

struct RandomSource {
    var g: SeededGenerator
    init(_ seed: UInt64) { g = SeededGenerator(seed: seed) }
    mutating func int(_ r: ClosedRange<Int>) -> Int { Int.random(in: r, using: &g) }
    mutating func floats(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in Float.random(in: -1...1, using: &g) * scale } }
    mutating func blob(_ shape: [Int], scale: Float = 1) -> Blob { Blob(shape: shape, data: floats(shape.reduce(1, *), scale: scale)) }
}

/// Checks d(Σ f(x)·r)/dx at `probes` random positions of `x`.
func checkGradient(_ what: String, x: [Float], analytic: [Float], probes: Int, rng: inout RandomSource,
                   eps: Float = 1e-2, loss: ([Float]) -> Double) {
    for _ in 0..<probes {
        let i = rng.int(0...(x.count - 1))
        var plus = x, minus = x
        plus[i] += eps; minus[i] -= eps
        let numeric = Float((loss(plus) - loss(minus)) / Double(2 * eps))
        #expect(abs(analytic[i] - numeric) <= 2e-3 + 2e-2 * abs(numeric), "\(what): d/dx[\(i)] analytic \(analytic[i]), numeric \(numeric)")
    }
}

func dot(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).reduce(0) { $0 + Double($1.0) * Double($1.1) } }

struct GradientCheckTests {
    @Test("convolution gradients", arguments: 0..<6)
    func convolution(seed: UInt64) {
        var rng = RandomSource(seed + 100)
        let k = [1, 2, 3, 5][rng.int(0...3)]
        let conv = Convolution(kernel: (k, k == 5 ? 3 : k), stride: (rng.int(1...2), rng.int(1...2)), pad: (rng.int(0...2), rng.int(0...1)),
                               numFilter: rng.int(1...5))
        let x = rng.blob([rng.int(1...2), rng.int(1...4), rng.int(5...9), rng.int(5...9)])
        let w = rng.floats(conv.numFilter * x.shape[1] * conv.kernel.h * conv.kernel.w, scale: 0.5)
        let b = rng.floats(conv.numFilter)
        let y = conv.forward(x, weight: w, bias: b)
        let r = rng.floats(y.count)
        var gw = [Float](repeating: 0, count: w.count), gb = [Float](repeating: 0, count: b.count)
        let dx = gw.withUnsafeMutableBufferPointer { gwp in
            gb.withUnsafeMutableBufferPointer { gbp in
                conv.backward(Blob(shape: y.shape, data: r), input: x, weight: w, gradWeight: gwp.baseAddress, gradBias: gbp.baseAddress, inputGrad: true)!
            }
        }
        checkGradient("conv dx", x: x.data, analytic: dx.data, probes: 20, rng: &rng) { dot(conv.forward(Blob(shape: x.shape, data: $0), weight: w, bias: b).data, r) }
        checkGradient("conv dW", x: w, analytic: gw, probes: 20, rng: &rng) { dot(conv.forward(x, weight: $0, bias: b).data, r) }
        checkGradient("conv db", x: b, analytic: gb, probes: 5, rng: &rng) { dot(conv.forward(x, weight: w, bias: $0).data, r) }
    }

    @Test func tiledConvolutionEqualsUntiled() {
        var rng = RandomSource(150)
        let whole = Convolution(kernel: (3, 3), stride: (2, 1), pad: (1, 1), numFilter: 3)
        var tiled = whole
        tiled.tileElements = 40   // a tile of one output row at a time
        let x = rng.blob([2, 2, 11, 9])
        let w = rng.floats(3 * 2 * 9), b = rng.floats(3)
        let y = whole.forward(x, weight: w, bias: b)
        #expect(tiled.forward(x, weight: w, bias: b).data.elementsEqual(y.data) { abs($0 - $1) <= 1e-6 * max(1, abs($1)) })
        let dy = rng.blob(y.shape)
        func grads(_ conv: Convolution) -> ([Float], [Float]) {
            var gw = [Float](repeating: 0, count: w.count)
            let dx = gw.withUnsafeMutableBufferPointer { conv.backward(dy, input: x, weight: w, gradWeight: $0.baseAddress, gradBias: nil, inputGrad: true)! }
            return (dx.data, gw)
        }
        let (dx1, gw1) = grads(whole), (dx2, gw2) = grads(tiled)
        #expect(dx1.elementsEqual(dx2) { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
        #expect(gw1.elementsEqual(gw2) { abs($0 - $1) <= 1e-5 * max(1, abs($1)) })
    }

    @Test("fully connected gradients", arguments: 0..<4)
    func fullyConnected(seed: UInt64) {
        var rng = RandomSource(seed + 200)
        let fc = FullyConnected(numHidden: rng.int(1...9))
        let x = rng.blob(seed % 2 == 0 ? [rng.int(1...5), rng.int(1...12)] : [rng.int(1...3), rng.int(1...3), rng.int(2...4), rng.int(2...4)])
        let k = x.count / x.shape[0]
        let w = rng.floats(fc.numHidden * k, scale: 0.5), b = rng.floats(fc.numHidden)
        let r = rng.floats(x.shape[0] * fc.numHidden)
        var gw = [Float](repeating: 0, count: w.count), gb = [Float](repeating: 0, count: b.count)
        let dx = gw.withUnsafeMutableBufferPointer { gwp in
            gb.withUnsafeMutableBufferPointer { gbp in
                fc.backward(Blob(shape: [x.shape[0], fc.numHidden], data: r), input: x, weight: w, gradWeight: gwp.baseAddress, gradBias: gbp.baseAddress, inputGrad: true)!
            }
        }
        checkGradient("fc dx", x: x.data, analytic: dx.data, probes: 15, rng: &rng) { dot(fc.forward(Blob(shape: x.shape, data: $0), weight: w, bias: b).data, r) }
        checkGradient("fc dW", x: w, analytic: gw, probes: 15, rng: &rng) { dot(fc.forward(x, weight: $0, bias: b).data, r) }
        checkGradient("fc db", x: b, analytic: gb, probes: 5, rng: &rng) { dot(fc.forward(x, weight: w, bias: $0).data, r) }
    }

    /// Distinct values at least 0.1 apart (no ties, far from ReLU's kink relative to ε).
    func spaced(_ shape: [Int], _ rng: inout RandomSource) -> Blob {
        let n = shape.reduce(1, *)
        var values = (0..<n).map { Float($0 - n / 2) * 0.1 + 0.05 }
        values.shuffle(using: &rng.g)
        return Blob(shape: shape, data: values)
    }

    @Test("max pooling and ReLU gradients", arguments: 0..<4)
    func poolingAndReLU(seed: UInt64) {
        var rng = RandomSource(seed + 300)
        let x = spaced([rng.int(1...2), rng.int(1...3), rng.int(2...9), rng.int(2...9)], &rng)
        let (y, arg) = MaxPool2x2().forward(x)
        let r = rng.floats(y.count)
        let dx = MaxPool2x2().backward(Blob(shape: y.shape, data: r), argmax: arg, inputShape: x.shape)
        checkGradient("pool dx", x: x.data, analytic: dx.data, probes: 25, rng: &rng) { dot(MaxPool2x2().forward(Blob(shape: x.shape, data: $0)).0.data, r) }
        let yr = ReLU.forward(x)
        let rr = rng.floats(x.count)
        let dr = ReLU.backward(Blob(shape: x.shape, data: rr), output: yr)
        checkGradient("relu dx", x: x.data, analytic: dr.data, probes: 25, rng: &rng) { dot(ReLU.forward(Blob(shape: x.shape, data: $0)).data, rr) }
    }

    @Test("ROI pooling gradient with respect to the data", arguments: 0..<3)
    func roiPooling(seed: UInt64) {
        var rng = RandomSource(seed + 400)
        let data = spaced([2, rng.int(1...3), rng.int(6...12), rng.int(6...12)], &rng)
        let scale: Float = 0.5
        var rois: [Float] = []
        for i in 0..<5 {
            let x1 = Float(rng.int(0...8)), y1 = Float(rng.int(0...8))
            rois += [Float(i % 2), x1, y1, x1 + Float(rng.int(0...14)), y1 + Float(rng.int(0...14))]
        }
        let layer = ROIPooling(pooled: (3, 2), spatialScale: scale)
        let roiBlob = Blob(shape: [5, 5], data: rois)
        let (y, arg) = layer.forward(data, rois: roiBlob)
        let r = rng.floats(y.count)
        let dx = layer.backward(Blob(shape: y.shape, data: r), argmax: arg, dataShape: data.shape)
        checkGradient("roipool dx", x: data.data, analytic: dx.data, probes: 40, rng: &rng) {
            dot(layer.forward(Blob(shape: data.shape, data: $0), rois: roiBlob).0.data, r)
        }
    }

    @Test("softmax losses: gradient of the cross-entropy", arguments: 0..<3)
    func softmax(seed: UInt64) {
        var rng = RandomSource(seed + 500)
        // 'batch': grad = d(Σ −log p_label)/dx / N.
        let n = rng.int(2...6), c = rng.int(2...5)
        let x = rng.blob([n, c], scale: 2)
        let label = (0..<n).map { _ in Float(rng.int(0...(c - 1))) }
        func ce(_ d: [Float], _ shape: [Int], _ label: [Float], ignore: Float?) -> Double {
            let p = SoftmaxOutput.forward(Blob(shape: shape, data: d))
            let s = d.count / (shape[0] * shape[1])
            var sum = 0.0
            for i in 0..<shape[0] {
                for j in 0..<s where label[i * s + j] != ignore {
                    let k = Int(label[i * s + j])
                    let pk: Float = p.data[(i * shape[1] + k) * s + j]
                    sum -= Foundation.log(Double(pk))
                }
            }
            return sum
        }
        let g = SoftmaxOutput.backwardBatch(prob: SoftmaxOutput.forward(x), label: label)
        checkGradient("softmax batch", x: x.data, analytic: g.data, probes: 10, rng: &rng, eps: 1e-3) { ce($0, x.shape, label, ignore: nil) / Double(n) }
        // multi-output 'valid' with ignored positions.
        let xm = rng.blob([1, 2, 3, 4], scale: 2)
        let lm = (0..<12).map { _ in Float(rng.int(-1...1)) }
        let valid = max(lm.filter { $0 >= 0 }.count, 1)
        let gm = SoftmaxOutput.backwardValid(prob: SoftmaxOutput.forward(xm), label: lm)
        checkGradient("softmax valid", x: xm.data, analytic: gm.data, probes: 10, rng: &rng, eps: 1e-3) { ce($0, xm.shape, lm, ignore: -1) / Double(valid) }
    }

    @Test func smoothL1Gradient() {
        var rng = RandomSource(600)
        let pred = Blob(shape: [40], data: (0..<40).map { Float($0 - 20) * 0.07 + 0.013 })
        let target = rng.blob([40], scale: 0.01), weight = Blob(shape: [40], data: (0..<40).map { Float($0 % 3) })
        for sigma: Float in [1, 3] {
            let (_, g) = SmoothL1.weightedLoss(pred: pred, target: target, weight: weight, sigma: sigma, gradScale: 0.5)
            checkGradient("smooth-L1 σ=\(sigma)", x: pred.data, analytic: g.data, probes: 20, rng: &rng, eps: 1e-3) {
                0.5 * SmoothL1.weightedLoss(pred: Blob(shape: [40], data: $0), target: target, weight: weight, sigma: sigma, gradScale: 1).loss.data.reduce(0) { $0 + Double($1) }
            }
        }
    }
}
