// MXNet's Convolution: any kernel, stride and pad per axis, optional bias (no_bias). The kernels
// (Winograd, direct 3×3, im2col + SGEMM) and the choice between them live in Layers/Convolution.

public struct ConvolutionOp: Op {
    public var conv: Convolution
    public var noBias: Bool

    public init(kernel: (Int, Int), stride: (Int, Int) = (1, 1), pad: (Int, Int) = (0, 0), numFilter: Int, noBias: Bool = false) {
        conv = Convolution(kernel: kernel, stride: stride, pad: pad, numFilter: numFilter)
        self.noBias = noBias
    }

    public var kind: String { "Convolution" }
    public var parameterSuffixes: [String] { noBias ? ["_weight"] : ["_weight", "_bias"] }

    public var attributes: [String: String] {
        ["kernel": MXNetAttribute.pair(conv.kernel), "stride": MXNetAttribute.pair(conv.stride), "pad": MXNetAttribute.pair(conv.pad),
         "num_filter": "\(conv.numFilter)", "no_bias": MXNetAttribute.bool(noBias)]
    }

    public func flops(_ inputs: [[Int]], output: [Int]) -> Double {
        2 * Double(output.reduce(1, *)) * Double(inputs[0][1] * conv.kernel.h * conv.kernel.w)
    }

    public func outputShape(_ inputs: [[Int]]) throws(GraphError) -> [Int] {
        let x = inputs[0]
        guard x.count == 4 else { throw GraphError.shape("Convolution needs a 4-d input (N, C, H, W), got \(x)") }
        let out = conv.outputShape(x)
        guard out[2] > 0, out[3] > 0 else {
            throw GraphError.shape("a \(conv.kernel.h)×\(conv.kernel.w) kernel does not fit an input of \(x[2])×\(x[3]) with pad \(conv.pad.h),\(conv.pad.w)")
        }
        return out
    }

    public func parameterShapes(_ inputs: [[Int]]) -> [[Int]] {
        let w = [conv.numFilter, inputs[0][1], conv.kernel.h, conv.kernel.w]
        return noBias ? [w] : [w, [conv.numFilter]]
    }

    public func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState) {
        (conv.forward(x[0], weight: params[0].value, bias: noBias ? nil : params[1].value), .none)
    }

    public func backwardReads(input i: Int) -> Bool { true }

    public func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                         wantInput: [Bool], context: inout OpContext) -> [Blob?] {
        let dx = withWeightAndBiasGradients(params, hasBias: !noBias) { gw, gb in
            conv.backward(dy!, input: inputs[0], weight: params[0].value, gradWeight: gw, gradBias: gb, inputGrad: wantInput[0])
        }
        return [dx]
    }
}
