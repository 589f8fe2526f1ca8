// MXNet's Dropout in training: each element kept with probability 1 − p and scaled by 1/(1 − p),
// the mask drawn from the run's generator in element order; identity at inference and at p = 0
// (no numbers drawn).

public struct DropoutOp: Op {
    public var p: Float
    public init(p: Float) { self.p = p }
    public var kind: String { "Dropout" }
    public var attributes: [String: String] { ["p": MXNetAttribute.float(p)] }

    public func outputShape(_ inputs: [[Int]]) throws(GraphError) -> [Int] { inputs[0] }

    public func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState) {
        guard context.training, p > 0 else { return (x.take(0), .none) }
        let (y, mask) = Dropout(p: p).forward(x[0], using: &context.generator)
        return (y, .mask(mask))
    }

    public func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                         wantInput: [Bool], context: inout OpContext) -> [Blob?] {
        guard case .mask(let mask) = state else { return [dy.take()] }
        return [Dropout(p: p).backward(dy.take()!, mask: mask)]
    }
}
