// MXNet's Activation act_type=relu: y = max(x, 0), dx = dy where y > 0. Written over its input
// in place when the executor hands the input over.

public struct ReLUOp: Op {
    public init() {}
    public var kind: String { "Activation" }
    public var attributes: [String: String] { ["act_type": "relu"] }

    public func outputShape(_ inputs: [[Int]]) throws(GraphError) -> [Int] { inputs[0] }

    public func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState) {
        (ReLU.forward(x.take(0)), .none)
    }

    public var backwardReadsOutput: Bool { true }

    public func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                         wantInput: [Bool], context: inout OpContext) -> [Blob?] {
        [ReLU.backward(dy.take()!, output: output!)]
    }

    public func probe(_ probe: inout ForwardProbe, node: String, inputName: String, inputs: OpValues, output: inout Blob, state: inout OpState) {
        probe.relu(node, &output)
    }
}
