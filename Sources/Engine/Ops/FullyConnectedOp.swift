// MXNet's FullyConnected (flatten=True: every input is read as (N, rest)), optional bias.

public struct FullyConnectedOp: Op {
    public var fc: FullyConnected
    public var noBias: Bool

    public init(numHidden: Int, noBias: Bool = false) {
        fc = FullyConnected(numHidden: numHidden)
        self.noBias = noBias
    }

    public var kind: String { "FullyConnected" }
    public var parameterSuffixes: [String] { noBias ? ["_weight"] : ["_weight", "_bias"] }

    public var attributes: [String: String] { ["num_hidden": "\(fc.numHidden)", "no_bias": MXNetAttribute.bool(noBias)] }

    public func flops(_ inputs: [[Int]], output: [Int]) -> Double {
        2 * Double(output.reduce(1, *)) * Double(inputs[0].dropFirst().reduce(1, *))
    }

    public func outputShape(_ inputs: [[Int]]) throws(GraphError) -> [Int] {
        guard let n = inputs[0].first else { throw GraphError.shape("FullyConnected needs an input with a batch axis") }
        return [n, fc.numHidden]
    }

    public func parameterShapes(_ inputs: [[Int]]) -> [[Int]] {
        let k = inputs[0].dropFirst().reduce(1, *)
        return noBias ? [[fc.numHidden, k]] : [[fc.numHidden, k], [fc.numHidden]]
    }

    public func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState) {
        (fc.forward(x[0], weight: params[0].value, bias: noBias ? nil : params[1].value), .none)
    }

    public func backwardReads(input i: Int) -> Bool { true }

    public func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                         wantInput: [Bool], context: inout OpContext) -> [Blob?] {
        let dx = withWeightAndBiasGradients(params, hasBias: !noBias) { gw, gb in
            fc.backward(dy!, input: inputs[0], weight: params[0].value, gradWeight: gw, gradBias: gb, inputGrad: wantInput[0])
        }
        return [dx]
    }
}
