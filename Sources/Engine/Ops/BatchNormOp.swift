// MXNet's BatchNorm over axis 1 of (N, C, …): parameters gamma and beta, aux states moving_mean
// and moving_var. In training (unless use_global_stats) it normalises by the batch's mean and
// biased variance, and its backward pass updates the aux states as MXNet 1.9.1's does (there, not in
// the forward: a BatchNorm that no gradient passes through leaves them as they were),
//   moving = moving · momentum + batch · (1 − momentum);
// at inference, and with use_global_stats, it uses the moving statistics and updates nothing.
// fix_gamma (MXNet's default) reads gamma as 1 and gives it no gradient; a training pass writes 1
// into a trainable gamma, as MXNet's forward does (so weight decay never moves it). MXNet writes 1
// into a frozen gamma too; ParamKit leaves every frozen tensor bit for bit as it was (the value is
// never read, so outputs and gradients are the same).

import Foundation
import ParamKit

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
        guard inputs[0].count >= 2 else { throw GraphError.shape("BatchNorm needs an input with a channel axis, got \(inputs[0])") }
        return inputs[0]
    }

    public func parameterShapes(_ inputs: [[Int]]) -> [[Int]] { Array(repeating: [inputs[0][1]], count: 4) }

    /// (N, C, inner) of a shape.
    static func dims(_ s: [Int]) -> (Int, Int, Int) { (s[0], s[1], s.dropFirst(2).reduce(1, *)) }

    func batchStatistics(_ context: OpContext) -> Bool { context.training && !useGlobalStats }

    public func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState) {
        let input = x[0]
        let (n, c, inner) = BatchNormOp.dims(input.shape)
        // mean, inverse standard deviation, then (batch statistics) the biased variance
        var stats = [Float](repeating: 0, count: 3 * c)
        let batch = batchStatistics(context)
        if fixGamma && context.training && !params[0].fixed {
            for ch in 0..<c { params[0].value[ch] = 1 }
        }
        if batch {
            input.data.withUnsafeBufferPointer { xp in
                stats.withUnsafeMutableBufferPointer { sp in
                    let shared = SendableBox((xp.baseAddress!, sp.baseAddress!))
                    parallelFor(c) { channels in
                        let (xp, sp) = shared.value
                        let m = Double(n * inner)
                        for ch in channels {
                            var sum = 0.0
                            for i in 0..<n { let base = xp + (i * c + ch) * inner; for k in 0..<inner { sum += Double(base[k]) } }
                            let mu = sum / m
                            var sq = 0.0
                            for i in 0..<n {
                                let base = xp + (i * c + ch) * inner
                                for k in 0..<inner { let d = Double(base[k]) - mu; sq += d * d }
                            }
                            sp[ch] = Float(mu)
                            sp[c + ch] = Float(1 / (sq / m + Double(eps)).squareRoot())
                            sp[2 * c + ch] = Float(sq / m)
                        }
                    }
                }
            }
        } else {
            for ch in 0..<c {
                stats[ch] = params[2].value[ch]
                stats[c + ch] = 1 / (params[3].value[ch] + eps).squareRoot()
            }
        }
        var y = Blob(uninitialized: input.shape)
        let gamma = params[0].value, beta = params[1].value
        let fix = fixGamma
        input.data.withUnsafeBufferPointer { xp in
            y.data.withUnsafeMutableBufferPointer { yp in
                stats.withUnsafeBufferPointer { sp in
                    gamma.withUnsafeBufferPointer { gp in
                        beta.withUnsafeBufferPointer { bp in
                            let shared = SendableBox((xp.baseAddress!, yp.baseAddress!, sp.baseAddress!, gp.baseAddress!, bp.baseAddress!))
                            parallelFor(n * c, minimumPerThread: max(1, 4096 / max(inner, 1))) { planes in
                                let (xp, yp, sp, gp, bp) = shared.value
                                for plane in planes {
                                    let ch = plane % c, base = plane * inner
                                    let scale = (fix ? 1 : gp[ch]) * sp[c + ch], mu = sp[ch], b = bp[ch]
                                    for k in 0..<inner { yp[base + k] = (xp[base + k] - mu) * scale + b }
                                }
                            }
                        }
                    }
                }
            }
        }
        return (y, .floats(stats))
    }

    public func backwardReads(input i: Int) -> Bool { true }

    public func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                         wantInput: [Bool], context: inout OpContext) -> [Blob?] {
        guard case .floats(let stats) = state else { return [nil] }
        let g = dy!, x = inputs[0]
        let (n, c, inner) = BatchNormOp.dims(x.shape)
        let batch = batchStatistics(context)
        var dxData: [Float] = wantInput[0] ? Blob(uninitialized: x.shape).data : []
        var sums = [Double](repeating: 0, count: 2 * c)   // Σ dy, then Σ dy·(x − mean), per channel
        let gamma = params[0].value, fix = fixGamma
        g.data.withUnsafeBufferPointer { gp in
            x.data.withUnsafeBufferPointer { xp in
                sums.withUnsafeMutableBufferPointer { sp in
                    dxData.withUnsafeMutableBufferPointer { dp in
                        let shared = SendableBox((gp.baseAddress!, xp.baseAddress!, sp.baseAddress!, dp.baseAddress))
                        parallelFor(c) { channels in
                            let (gp, xp, sp, dp) = shared.value
                            let m = Double(n * inner)
                            for ch in channels {
                                let mu = stats[ch], inv = Double(stats[c + ch])
                                var sumDy = 0.0, dot = 0.0
                                for i in 0..<n {
                                    let base = (i * c + ch) * inner
                                    for k in 0..<inner {
                                        let d = Double(gp[base + k])
                                        sumDy += d
                                        dot += d * Double(xp[base + k] - mu)
                                    }
                                }
                                sp[ch] = sumDy
                                sp[c + ch] = dot
                                guard let dp else { continue }
                                let s = (fix ? 1 : Double(gamma[ch])) * inv
                                for i in 0..<n {
                                    let base = (i * c + ch) * inner
                                    for k in 0..<inner {
                                        let d = Double(gp[base + k])
                                        if batch {
                                            let xhat = Double(xp[base + k] - mu) * inv
                                            dp[base + k] = Float(s * (d - sumDy / m - xhat * dot * inv / m))
                                        } else {
                                            dp[base + k] = Float(s * d)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        for ch in 0..<c {
            if !params[0].fixed { params[0].grad[ch] += fix ? 0 : Float(sums[c + ch] * Double(stats[c + ch])) }
            if !params[1].fixed { params[1].grad[ch] += Float(sums[ch]) }
        }
        if batch {
            // The aux update, where MXNet makes it: in the backward pass of a training step.
            for ch in 0..<c {
                params[2].value[ch] = params[2].value[ch] * momentum + stats[ch] * (1 - momentum)
                params[3].value[ch] = params[3].value[ch] * momentum + stats[2 * c + ch] * (1 - momentum)
            }
        }
        return [wantInput[0] ? Blob(shape: x.shape, data: dxData) : nil]
    }
}
