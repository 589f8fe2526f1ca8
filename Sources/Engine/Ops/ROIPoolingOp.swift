// MXNet's ROIPooling: inputs data (N, C, H, W) and rois (R, 5) = [batch index, x1, y1, x2, y2] in
// image pixels; output (R, C, ph, pw), max over each bin of the roi scaled by spatial_scale.

public struct ROIPoolingOp: Op {
    public var pool: ROIPooling
    public init(pooled: (Int, Int), spatialScale: Float) { pool = ROIPooling(pooled: pooled, spatialScale: spatialScale) }
    public var kind: String { "ROIPooling" }
    public var attributes: [String: String] {
        ["pooled_size": MXNetAttribute.pair(pool.pooled), "spatial_scale": MXNetAttribute.float(pool.spatialScale)]
    }
    public var labelInputs: Set<Int> { [1] }

    public func outputShape(_ inputs: [[Int]]) throws(GraphError) -> [Int] {
        let (x, r) = (inputs[0], inputs[1])
        guard x.count == 4 else { throw GraphError.shape("ROIPooling needs a 4-d data input, got \(x)") }
        guard r.count == 2, r[1] == 5 else { throw GraphError.shape("ROIPooling needs rois of shape (R, 5), got \(r)") }
        return [r[0], x[1], pool.pooled.h, pool.pooled.w]
    }

    public func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState) {
        let (y, arg) = pool.forward(x[0], rois: x[1])
        return (y, .indices(arg, input: x[0].shape))
    }

    public func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                         wantInput: [Bool], context: inout OpContext) -> [Blob?] {
        guard case .indices(let arg, let shape) = state, wantInput[0] else { return [nil, nil] }
        return [pool.backward(dy!, argmax: arg, dataShape: shape), nil]
    }

    public func probe(_ probe: inout ForwardProbe, node: String, inputName: String, inputs: OpValues, output: inout Blob, state: inout OpState) {
        guard case .indices(var arg, let shape) = state else { return }
        let rois = inputs[1]
        probe.pool(node, input: inputs[0], referenceInput: inputName, output: &output, argmax: &arg,
                   planeSize: nil, outPlaneSize: 1) { self.pool.forward($0, rois: rois).1 }
        state = .indices(arg, input: shape)
    }
}
