// MXNet's SoftmaxOutput: softmax over axis 1 (per spatial position with multi_output), and as a loss
// the gradient (p − onehot(label)) × grad_scale / normaliser, with ignore_label rows at zero when
// use_ignore. normalization: 'null' (1), 'batch' (N), 'valid' (the labels not ignored).

public struct SoftmaxOutputOp: Op {
    public enum Normalization: String, Sendable { case null, batch, valid }
    public var normalization: Normalization
    public var useIgnore: Bool
    public var ignoreLabel: Float
    public var gradScale: Float
    public var multiOutput: Bool

    public init(normalization: Normalization = .null, useIgnore: Bool = false, ignoreLabel: Float = -1,
                gradScale: Float = 1, multiOutput: Bool = false) {
        self.normalization = normalization
        self.useIgnore = useIgnore
        self.ignoreLabel = ignoreLabel
        self.gradScale = gradScale
        self.multiOutput = multiOutput
    }

    public var kind: String { "SoftmaxOutput" }
    public var attributes: [String: String] {
        ["normalization": normalization.rawValue, "use_ignore": MXNetAttribute.bool(useIgnore), "ignore_label": MXNetAttribute.float(ignoreLabel),
         "grad_scale": MXNetAttribute.float(gradScale), "multi_output": MXNetAttribute.bool(multiOutput)]
    }
    public var isLoss: Bool { true }
    public var labelInputs: Set<Int> { [1] }

    public func outputShape(_ inputs: [[Int]]) throws(GraphError) -> [Int] {
        let x = inputs[0]
        guard x.count >= 2 else { throw GraphError.shape("SoftmaxOutput needs at least 2 axes, got \(x)") }
        if inputs.count > 1 {
            let expected = multiOutput ? x[0] * x.dropFirst(2).reduce(1, *) : x[0]
            guard inputs[1].reduce(1, *) == expected else {
                throw GraphError.shape("label has \(inputs[1].reduce(1, *)) entries, \(expected) expected for data \(x)")
            }
        }
        return x
    }

    public func forwardReads(input i: Int) -> Bool { i == 0 }

    public func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState) {
        let data = x[0]
        guard !multiOutput, data.shape.count > 2 else { return (SoftmaxOutput.forward(data), .none) }
        // Without multi_output the softmax runs over everything after the batch axis.
        var flat = data
        flat.shape = [data.shape[0], data.count / data.shape[0]]
        var y = SoftmaxOutput.forward(flat)
        y.shape = data.shape
        return (y, .none)
    }

    public func backwardReads(input i: Int) -> Bool { i == 1 }
    public var backwardReadsOutput: Bool { true }

    public func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                         wantInput: [Bool], context: inout OpContext) -> [Blob?] {
        guard wantInput[0] else { return [nil, nil] }
        let prob = output!, label = inputs[1].data
        let n = prob.shape[0], ignore: Float? = useIgnore ? ignoreLabel : nil
        let normaliser: Int
        switch normalization {
        case .null: normaliser = 1
        case .batch: normaliser = n
        case .valid: normaliser = ignore.map { i in label.filter { $0 != i }.count } ?? label.count
        }
        return [SoftmaxOutput.gradient(prob: prob, label: label, classes: multiOutput ? prob.shape[1] : prob.count / max(n, 1),
                                       ignore: ignore, scale: gradScale / Float(max(normaliser, 1))), nil]
    }
}
