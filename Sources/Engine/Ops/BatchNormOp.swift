// MXNet's BatchNorm over axis 1 of (N, C, …): parameters gamma and beta, aux states moving_mean
// and moving_var. In training (unless use_global_stats) it normalises by the batch's mean and
// biased variance and updates the aux states as MXNet does,
//   moving = moving · momentum + batch · (1 − momentum);
// at inference, and with use_global_stats, it uses the moving statistics and updates nothing.
// fix_gamma (MXNet's default) reads gamma as 1 and gives it no gradient.

import Foundation

public struct BatchNormOp: Op {
    public var eps: Float
    public var momentum: Float
    public var fixGamma: Bool
    public var useGlobalStats: Bool

    public init(eps: Float = 1e-3, momentum: Float = 0.9, fixGamma: Bool = true, useGlobalStats: Bool = false) {
        self.eps = eps
        self.momentum = momentum
        self.fixGamma = fixGamma
        self.useGlobalStats = useGlobalStats
    }

    public var kind: String { "BatchNorm" }
    public var attributes: [String: String] {
        ["eps": MXNetAttribute.float(eps), "momentum": MXNetAttribute.float(momentum), "fix_gamma": MXNetAttribute.bool(fixGamma),
         "use_global_stats": MXNetAttribute.bool(useGlobalStats)]
    }
    public var parameterSuffixes: [String] { ["_gamma", "_beta"] }
    public var auxSuffixes: [String] { ["_moving_mean", "_moving_var"] }

    public func outputShape(_ inputs: [[Int]]) throws(GraphError) -> [Int] {
        guard inputs[0].count >= 2 else { throw GraphError("BatchNorm needs an input with a channel axis, got \(inputs[0])") }
        return inputs[0]
    }

    public func parameterShapes(_ inputs: [[Int]]) -> [[Int]] { Array(repeating: [inputs[0][1]], count: 4) }

    /// (N, C, inner) of a shape.
    static func dims(_ s: [Int]) -> (Int, Int, Int) { (s[0], s[1], s.dropFirst(2).reduce(1, *)) }

    func batchStatistics(_ context: OpContext) -> Bool { context.training && !useGlobalStats }

    public func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState) {
        let input = x[0]
        let (n, c, inner) = BatchNormOp.dims(input.shape)
        var mean = [Float](repeating: 0, count: c), invstd = [Float](repeating: 0, count: c)
        let batch = batchStatistics(context)
        let m = Double(n * inner)
        input.data.withUnsafeBufferPointer { xp in
            for ch in 0..<c {
                if batch {
                    var sum = 0.0
                    for i in 0..<n { let base = (i * c + ch) * inner; for k in 0..<inner { sum += Double(xp[base + k]) } }
                    let mu = sum / m
                    var sq = 0.0
                    for i in 0..<n {
                        let base = (i * c + ch) * inner
                        for k in 0..<inner { let d = Double(xp[base + k]) - mu; sq += d * d }
                    }
                    let variance = sq / m
                    mean[ch] = Float(mu)
                    invstd[ch] = Float(1 / (variance + Double(eps)).squareRoot())
                    // The aux update, as MXNet makes it in a training pass.
                    params[2].value[ch] = params[2].value[ch] * momentum + Float(mu) * (1 - momentum)
                    params[3].value[ch] = params[3].value[ch] * momentum + Float(variance) * (1 - momentum)
                } else {
                    mean[ch] = params[2].value[ch]
                    invstd[ch] = 1 / (params[3].value[ch] + eps).squareRoot()
                }
            }
        }
        var y = Blob(uninitialized: input.shape)
        let gamma = params[0].value, beta = params[1].value
        input.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                for i in 0..<n {
                    for ch in 0..<c {
                        let base = (i * c + ch) * inner
                        let scale = (fixGamma ? 1 : gamma[ch]) * invstd[ch], mu = mean[ch], b = beta[ch]
                        for k in 0..<inner { yp[base + k] = (xp[base + k] - mu) * scale + b }
                    }
                }
            }
        }
        return (y, .floats(mean + invstd))
    }

    public func backwardReads(input i: Int) -> Bool { true }

    public func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                         wantInput: [Bool], context: inout OpContext) -> [Blob?] {
        guard case .floats(let stats) = state else { return [nil] }
        let dy = dy!, x = inputs[0]
        let (n, c, inner) = BatchNormOp.dims(x.shape)
        let batch = batchStatistics(context)
        let m = Double(n * inner)
        var dx = wantInput[0] ? Blob(uninitialized: x.shape) : nil
        for ch in 0..<c {
            let mu = stats[ch], inv = stats[c + ch]
            var sumDy = 0.0, dot = 0.0
            for i in 0..<n {
                let base = (i * c + ch) * inner
                for k in 0..<inner {
                    let g = Double(dy.data[base + k])
                    sumDy += g
                    dot += g * Double(x.data[base + k] - mu)
                }
            }
            let gamma = fixGamma ? 1 : Double(params[0].value[ch])
            if !params[0].fixed { params[0].grad[ch] += fixGamma ? 0 : Float(dot * Double(inv)) }
            if !params[1].fixed { params[1].grad[ch] += Float(sumDy) }
            guard dx != nil else { continue }
            let s = gamma * Double(inv)
            for i in 0..<n {
                let base = (i * c + ch) * inner
                for k in 0..<inner {
                    let g = Double(dy.data[base + k])
                    if batch {
                        let xhat = Double(x.data[base + k] - mu) * Double(inv)
                        dx!.data[base + k] = Float(s * (g - sumDy / m - xhat * dot * Double(inv) / m))
                    } else {
                        dx!.data[base + k] = Float(s * g)
                    }
                }
            }
        }
        return [dx]
    }
}
