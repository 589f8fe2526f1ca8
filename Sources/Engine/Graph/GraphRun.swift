// Runs a Graph: forward to the requested values, then (in training) backward from the losses.
//
// Memory: before a forward pass the run works out which values the backward pass will read
// (an op's inputs or output, per `backwardReads`, only for nodes that will run backward) and keeps
// those, the requested targets and the `keep` list; every other value is freed as soon as its
// last reader has run, and the last reader gets it to reuse in place (ReLU over a convolution's
// output writes no new buffer). Backward frees each node's output and saved state once that
// node's backward has run, and each gradient once it has been passed down.
//
// Backward runs only where a trainable parameter lies upstream: a value "needs a gradient" when
// a node at or before it has a parameter that is not fixed. A node whose inputs need no gradient
// computes only its parameters' gradients; nodes below the lowest trainable one never run.

import ParamKit

public struct GraphRun {
    public let graph: Graph
    public let params: ParameterSet
    public var context: OpContext
    /// When set, each ReLU and pooling node records (and may override) its decisions.
    public var probe: ForwardProbe?
    /// Graph inputs whose gradient backward computes too (e.g. `data`, to check an op's dX).
    public var gradientInputs: Set<String> = []
    /// The gradients of `gradientInputs` after backward.
    public private(set) var inputGradients: [String: Blob] = [:]

    private var values: [Blob?]
    private var states: [OpState]
    private var ran: [Bool]
    private let bound: [[Parameter]]
    private var needsGradient: [Bool] = []
    private var keptForBackward = Set<Int>()

    public init(_ graph: Graph, params: ParameterSet, context: OpContext) {
        self.graph = graph
        self.params = params
        self.context = context
        values = Array(repeating: nil, count: graph.valueCount)
        states = Array(repeating: .none, count: graph.nodes.count)
        ran = Array(repeating: false, count: graph.nodes.count)
        bound = graph.nodes.map { $0.params.map { params[$0] } }
    }

    private func id(_ name: String) -> Int {
        guard let v = graph.id(name) else { preconditionFailure("the graph has no value named \(name)") }
        return v
    }

    public mutating func set(_ name: String, _ value: Blob) { values[id(name)] = value }

    /// A value computed (or set) and still held.
    public subscript(name: String) -> Blob {
        guard let v = values[id(name)] else { preconditionFailure("\(name) was not computed or not kept") }
        return v
    }

    /// Works out which values need a gradient and which the backward pass reads.
    private mutating func planBackward() {
        let n0 = graph.inputNames.count
        needsGradient = Array(repeating: false, count: graph.valueCount)
        for name in gradientInputs { if let v = graph.id(name), v < n0 { needsGradient[v] = true } }
        keptForBackward = []
        for (i, node) in graph.nodes.enumerated() {
            let learned = node.op.parameterSuffixes.count
            needsGradient[n0 + i] = bound[i].prefix(learned).contains { !$0.fixed } || node.inputs.contains { needsGradient[$0] }
            guard needsGradient[n0 + i] else { continue }
            for (j, v) in node.inputs.enumerated() where node.op.backwardReads(input: j) { keptForBackward.insert(v) }
            if node.op.backwardReadsOutput { keptForBackward.insert(n0 + i) }
        }
    }

    /// Computes `targets` and what they need that is not held yet; keeps `targets` and `keep`
    /// (and, in training, what the backward pass reads) and frees everything else.
    public mutating func forward(_ targets: [String], keep: [String] = []) {
        let n0 = graph.inputNames.count
        let targetIds = targets.map(id)
        var needed = [Bool](repeating: false, count: graph.nodes.count)
        var stack = targetIds
        while let v = stack.popLast() {
            guard values[v] == nil else { continue }
            guard v >= n0 else { preconditionFailure("input \(graph.inputNames[v]) was not set") }
            guard !needed[v - n0] else { continue }
            needed[v - n0] = true
            let node = graph.nodes[v - n0]
            for (j, u) in node.inputs.enumerated() where node.op.forwardReads(input: j) || values[u] != nil { stack.append(u) }
        }
        if context.training { planBackward() }
        let retain = Set(targetIds).union(keep.map(id)).union(context.training ? keptForBackward : [])
        var uses = [Int](repeating: 0, count: graph.valueCount)
        for (i, node) in graph.nodes.enumerated() where needed[i] { for u in node.inputs { uses[u] += 1 } }
        for (i, node) in graph.nodes.enumerated() where needed[i] {
            var x = OpValues(Array(repeating: nil, count: node.inputs.count), owned: Array(repeating: false, count: node.inputs.count))
            for (j, u) in node.inputs.enumerated() {
                uses[u] -= 1
                let alone = node.inputs.firstIndex(of: u) == node.inputs.lastIndex(of: u)
                if uses[u] == 0 && alone && !retain.contains(u) && probe == nil {
                    swap(&x.values[j], &values[u])   // handed over: the op may write into it
                    x.owned[j] = x.values[j] != nil
                } else {
                    x.values[j] = values[u]
                }
            }
            let inputShapes = GraphProfile.enabled ? x.values.map { $0?.shape ?? [] } : []
            let t0 = GraphProfile.enabled ? GraphProfile.clock() : 0
            var (y, state) = node.op.forward(&x, params: bound[i], context: &context)
            if GraphProfile.enabled {
                let seconds = GraphProfile.clock() - t0
                GraphProfile.recordForward(node: node.name, kind: node.op.kind, shape: y.shape, flops: node.op.flops(inputShapes, output: y.shape),
                                           seconds: seconds)
            }
            if probe != nil, let first = node.inputs.first {
                node.op.probe(&probe!, node: node.name, inputName: graph.name(ofValue: first), inputs: x, output: &y, state: &state)
            }
            values[n0 + i] = y
            ran[i] = true
            states[i] = context.training && needsGradient[n0 + i] ? state : .none
            for u in node.inputs where uses[u] == 0 && !retain.contains(u) { values[u] = nil }
        }
    }

    /// Backward from every loss computed by the last forward pass, and from the given output
    /// gradients of other nodes (`seeds`, as MXNet's backward(out_grads)). Parameter gradients add
    /// into `grad` (zero them first). Returns what each node with parameters computed, last node
    /// first ("conv3_1: dW db dX").
    @discardableResult
    public mutating func backward(seeds: [String: Blob] = [:]) -> [(node: String, computed: String)] {
        precondition(context.training, "backward needs a training pass")
        let n0 = graph.inputNames.count
        var grads = [Blob?](repeating: nil, count: graph.valueCount)
        for (name, g) in seeds { grads[id(name)] = g }
        var trace: [(String, String)] = []
        for i in graph.nodes.indices.reversed() where ran[i] {
            let node = graph.nodes[i], out = n0 + i
            defer { values[out] = nil; states[i] = .none; ran[i] = false }
            guard needsGradient[out] else { continue }
            var dy: Blob? = nil
            swap(&dy, &grads[out])
            guard dy != nil || node.op.isLoss else { continue }
            let want = node.inputs.enumerated().map { j, u in needsGradient[u] && !node.op.labelInputs.contains(j) }
            let inputs = OpValues(node.inputs.map { values[$0] }, owned: Array(repeating: false, count: node.inputs.count))
            let t0 = GraphProfile.enabled ? GraphProfile.clock() : 0
            let dx = node.op.backward(&dy, inputs: inputs, output: values[out], state: states[i], params: bound[i],
                                      wantInput: want, context: &context)
            if GraphProfile.enabled { GraphProfile.recordBackward(node: node.name, seconds: GraphProfile.clock() - t0) }
            if !node.params.isEmpty {
                let learned = node.op.parameterSuffixes
                var text = ""
                for (k, suffix) in learned.enumerated() where !bound[i][k].fixed {
                    text += suffix == "_weight" ? " dW" : suffix == "_bias" ? " db" : " d" + suffix.dropFirst()
                }
                trace.append((node.name, text + (want.first == true ? " dX" : "")))
            }
            for (j, u) in node.inputs.enumerated() where want[j] {
                guard let g = dx[j] else { continue }
                if grads[u] == nil { grads[u] = g } else { grads[u]!.add(g) }
            }
        }
        inputGradients = [:]
        for name in gradientInputs { if let v = graph.id(name), v < n0, let g = grads[v] { inputGradients[name] = g } }
        return trace
    }
}

extension Blob {
    /// self += other, element by element.
    mutating func add(_ other: Blob) {
        precondition(count == other.count, "adding gradients of \(shape) and \(other.shape)")
        other.data.withUnsafeBufferPointer { o in
            data.withUnsafeMutableBufferPointer { p in
                for k in 0..<p.count { p[k] += o[k] }
            }
        }
    }
}
