// A network as data: named inputs (data, rois, labels, targets) and nodes in topological order,
// each an op with its input values and its parameter names. Value k < inputs.count is input k;
// value inputs.count + i is node i's output. Built once per network shape, run by GraphRun.

import ParamKit

public final class Graph: @unchecked Sendable {
    public struct Node: Sendable {
        public let name: String
        public let op: any Op
        /// Value ids (graph inputs or earlier nodes' outputs).
        public let inputs: [Int]
        /// Parameter names in the op's order: learned ones, then aux states.
        public let params: [String]
    }

    public private(set) var inputNames: [String] = []
    public private(set) var nodes: [Node] = []
    private var ids: [String: Int] = [:]

    public init() {}

    public var valueCount: Int { inputNames.count + nodes.count }

    /// The value id of an input or node name.
    public func id(_ name: String) -> Int? { ids[name] }

    public func name(ofValue v: Int) -> String { v < inputNames.count ? inputNames[v] : nodes[v - inputNames.count].name }

    /// The node producing value `v` (nil for a graph input).
    public func node(ofValue v: Int) -> Node? { v < inputNames.count ? nil : nodes[v - inputNames.count] }

    @discardableResult
    public func input(_ name: String) -> Int {
        precondition(ids[name] == nil, "graph already has a value named \(name)")
        precondition(nodes.isEmpty, "graph inputs come before nodes")
        inputNames.append(name)
        ids[name] = inputNames.count - 1
        return inputNames.count - 1
    }

    /// Adds a node; its parameters are named `name + suffix` for each of the op's suffixes unless
    /// `params` names them (MXNet symbols may share or rename them).
    @discardableResult
    public func add(_ name: String, _ op: any Op, _ inputs: [Int], params: [String]? = nil) -> Int {
        precondition(ids[name] == nil, "graph already has a value named \(name)")
        precondition(inputs.allSatisfy { $0 < valueCount }, "node \(name) reads a value defined after it")
        let names = params ?? (op.parameterSuffixes + op.auxSuffixes).map { name + $0 }
        nodes.append(Node(name: name, op: op, inputs: inputs, params: names))
        ids[name] = valueCount - 1
        return valueCount - 1
    }

    /// Every parameter the graph names, with its role and its shape for the given input shapes
    /// (inputs the shapes leave out are skipped, with the nodes that depend on them).
    public func parameterShapes(inputs: [String: [Int]]) throws(GraphError) -> [(name: String, role: Role, shape: [Int])] {
        let shapes = try valueShapes(inputs: inputs)
        var seen = Set<String>()
        var out: [(String, Role, [Int])] = []
        for (i, node) in nodes.enumerated() where shapes[inputNames.count + i] != nil {
            let ins = node.inputs.map { shapes[$0]! }
            let ps = node.op.parameterShapes(ins)
            let learned = node.op.parameterSuffixes.count
            for (k, name) in node.params.enumerated() where seen.insert(name).inserted {
                out.append((name, k < learned ? .arg : .aux, ps[k]))
            }
        }
        return out
    }

    /// The shape of every value reachable from the given inputs (nil for the rest).
    public func valueShapes(inputs: [String: [Int]]) throws(GraphError) -> [[Int]?] {
        var shapes = [[Int]?](repeating: nil, count: valueCount)
        for (k, name) in inputNames.enumerated() { shapes[k] = inputs[name] }
        for (i, node) in nodes.enumerated() {
            guard node.inputs.allSatisfy({ shapes[$0] != nil }) else { continue }
            do {
                shapes[inputNames.count + i] = try node.op.outputShape(node.inputs.map { shapes[$0]! })
            } catch {
                throw error.at(node: node.name)
            }
        }
        return shapes
    }
}
