// What a graph computes for an input size, node by node: op, inputs, output shape, parameters
// (name, role, shape) and forward FLOPs, for `paramkit network show`.

import ParamKit

public struct LayerSummary: Sendable {
    public struct Param: Sendable {
        public var name: String
        public var role: Role
        public var shape: [Int]
    }

    public var name: String
    public var op: String
    public var inputs: [String]
    public var outputShape: [Int]
    public var params: [Param]
    public var flops: Double

    public var parameterCount: Int { params.filter { $0.role == .arg }.reduce(0) { $0 + $1.shape.reduce(1, *) } }
}

extension Graph {
    /// Every node that the given input shapes reach, in order.
    public func summary(inputs: [String: [Int]]) throws(GraphError) -> [LayerSummary] {
        let shapes = try valueShapes(inputs: inputs)
        var out: [LayerSummary] = []
        for (i, node) in nodes.enumerated() {
            guard let shape = shapes[inputNames.count + i] else { continue }
            let ins = node.inputs.map { shapes[$0]! }
            let ps = node.op.parameterShapes(ins)
            let learned = node.op.parameterSuffixes.count
            let params = node.params.enumerated().map { k, name in LayerSummary.Param(name: name, role: k < learned ? .arg : .aux, shape: ps[k]) }
            out.append(LayerSummary(name: node.name, op: node.op.kind, inputs: node.inputs.map { name(ofValue: $0) }, outputShape: shape,
                                    params: params, flops: node.op.flops(ins, output: shape)))
        }
        return out
    }
}
