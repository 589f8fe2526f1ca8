// MXNet's smooth_l1 with scalar σ: 0.5 (σx)² where |x| < 1/σ², |x| − 0.5/σ² elsewhere.

public struct SmoothL1Op: Op {
    public var sigma: Float
    public init(sigma: Float) { self.sigma = sigma }
    public var kind: String { "smooth_l1" }
    public var attributes: [String: String] { ["scalar": MXNetAttribute.float(sigma)] }

    public func outputShape(_ inputs: [[Int]]) throws(GraphError) -> [Int] { inputs[0] }

    public func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState) {
        var y = x[0]
        for i in 0..<y.count { y.data[i] = SmoothL1.value(y.data[i], sigma: sigma) }
        return (y, .none)
    }

    public func backwardReads(input i: Int) -> Bool { true }

    public func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                         wantInput: [Bool], context: inout OpContext) -> [Blob?] {
        var g = dy.take()!
        let x = inputs[0]
        for i in 0..<g.count { g.data[i] *= SmoothL1.derivative(x.data[i], sigma: sigma) }
        return [g]
    }
}

/// MXNet's MakeLoss (normalization 'null'): passes its input forward and starts the backward pass
/// with grad_scale in every element.
public struct MakeLossOp: Op {
    public var gradScale: Float
    public init(gradScale: Float) { self.gradScale = gradScale }
    public var kind: String { "MakeLoss" }
    public var attributes: [String: String] { ["grad_scale": MXNetAttribute.float(gradScale)] }
    public var isLoss: Bool { true }

    public func outputShape(_ inputs: [[Int]]) throws(GraphError) -> [Int] { inputs[0] }

    public func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState) {
        let y = x.take(0)
        return (y, .shape(y.shape))
    }

    public func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                         wantInput: [Bool], context: inout OpContext) -> [Blob?] {
        guard case .shape(let shape) = state else { return [nil] }
        return [Blob(shape: shape, data: [Float](repeating: gradScale, count: shape.reduce(1, *)))]
    }
}
