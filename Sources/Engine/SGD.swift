// SGD with momentum as MXNet applies it (sgd_mom_update): in float32,
// mom = momentum·mom − (lr·wd)·w − lr·clip(rescale·g, ±clip); w += mom. Weight decay only on
// `_weight`/`_gamma` names; a multi-factor step schedule; fixed parameters are never touched.

import ParamKit

public struct MultiFactorSchedule: Sendable {
    public var baseLR: Double
    public var steps: [Int]
    public var factor: Double

    public init(baseLR: Double, steps: [Int], factor: Double = 0.1) {
        self.baseLR = baseLR
        self.steps = steps
        self.factor = factor
    }

    /// The learning rate for update number `n` (1-based): base · factor^#{s : n > s}.
    public func lr(_ n: Int) -> Double {
        var lr = baseLR
        for s in steps where n > s { lr *= factor }
        return lr
    }
}

public struct SGD: Sendable {
    public var momentum: Float = 0.9
    public var wd: Float = 0.0005
    public var clipGradient: Float = 5
    public var rescaleGrad: Float = 1
    public var schedule: MultiFactorSchedule
    public private(set) var updates = 0

    /// Continues a stage from a resume point: the schedule goes on from `updates` (momenta are
    /// restored with the parameters).
    public mutating func resume(afterUpdates count: Int) { updates = count }

    public init(schedule: MultiFactorSchedule, momentum: Float = 0.9, wd: Float = 0.0005, clipGradient: Float = 5, rescaleGrad: Float = 1) {
        self.schedule = schedule
        self.momentum = momentum
        self.wd = wd
        self.clipGradient = clipGradient
        self.rescaleGrad = rescaleGrad
    }

    /// MXNet's default wd_mult: decay only weights and BatchNorm gammas.
    public static func decays(_ name: String) -> Bool { name.hasSuffix("_weight") || name.hasSuffix("_gamma") }

    /// One step over every trainable parameter.
    public mutating func step(_ params: ParameterSet) {
        updates += 1
        let lr = Float(schedule.lr(updates))
        for p in params.ordered where !p.fixed {
            Self.update(weight: &p.value, grad: p.grad, mom: &p.momentum, lr: lr, wd: Self.decays(p.name) ? wd : 0,
                        momentum: momentum, rescale: rescaleGrad, clip: clipGradient)
        }
    }

    public static func update(weight: inout [Float], grad: [Float], mom: inout [Float], lr: Float, wd: Float,
                              momentum: Float, rescale: Float, clip: Float) {
        let lrwd = lr * wd
        weight.withUnsafeMutableBufferPointer { w in
            mom.withUnsafeMutableBufferPointer { m in
                grad.withUnsafeBufferPointer { g in
                    let shared = SendableBox((w.baseAddress!, m.baseAddress!, g.baseAddress!))
                    parallelFor(w.count, minimumPerThread: 1 << 16) { range in
                        let (w, m, g) = shared.value
                        for i in range {
                            var gi = rescale * g[i]
                            if clip >= 0 { gi = min(max(gi, -clip), clip) }
                            m[i] = momentum * m[i] - lrwd * w[i] - lr * gi
                            w[i] += m[i]
                        }
                    }
                }
            }
        }
    }
}
