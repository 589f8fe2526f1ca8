// ParamKitBench graph-check SYMBOL.json IN.params OUT.params [--inference]
//
// Runs an MXNet symbol on ParamKit's graph engine, for the interop tests that compare ops with
// MXNet's own. IN holds arg:NAME (parameters and graph inputs: data, labels, rois), aux:NAME (aux
// states) and arg:head_grad.NAME (the output gradient of a head that is not a loss, as MXNet's
// backward(out_grads) takes it). OUT (a .params file) gets arg:out.HEAD for each head,
// arg:grad.NAME for every parameter and every graph input that is not only a label, and aux:NAME
// as the pass left each aux state.

import Engine
import Foundation
import ParamKit

enum GraphCheck {
    static func run(symbol: String, input: String, output: String, training: Bool) throws {
        let (graph, heads) = try SymbolJSON.graph(try Data(contentsOf: URL(fileURLWithPath: symbol)), file: symbol)
        let given = try Formats.load(path: input)
        func blob(_ t: Tensor) -> Blob { Blob(shape: t.shape, data: t.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }) }
        var inputs: [String: Blob] = [:]
        for name in graph.inputNames {
            // A label no forward op reads (a test network's softmax label) may be left out.
            guard let t = given["arg:" + name] else {
                if !training && isLabel(name, graph) { continue }
                throw UsageError("\(input): no arg:\(name) for the graph input \(name)")
            }
            inputs[name] = blob(t)
        }
        let shapes = try graph.parameterShapes(inputs: inputs.mapValues(\.shape))
        let params = ParameterSet(shapes.map { ParamSpec(name: $0.name, role: $0.role, shape: $0.shape, group: "", initialisation: .zeros) })
        try params.load(given, file: input)
        var run = GraphRun(graph, params: params, context: OpContext(training: training))
        run.gradientInputs = Set(graph.inputNames.filter { given["arg:" + $0] != nil && !isLabel($0, graph) })
        for (name, b) in inputs { run.set(name, b) }
        run.forward(heads)
        var out = Checkpoint()
        for h in heads { out.append("out." + h, Tensor(run[h].data, shape: run[h].shape)) }
        if training {
            var seeds: [String: Blob] = [:]
            for h in heads { if let t = given["arg:head_grad." + h] { seeds[h] = blob(t) } }
            run.backward(seeds: seeds)
            for p in params.ordered where p.role == .arg { out.append("grad." + p.name, Tensor(p.grad, shape: p.shape)) }
            for (name, g) in run.inputGradients.sorted(by: { $0.key < $1.key }) { out.append("grad." + name, Tensor(g.data, shape: g.shape)) }
        }
        for p in params.ordered where p.role == .aux { out.append(p.name, role: .aux, Tensor(p.value, shape: p.shape)) }
        try Formats.save(out, to: output)
    }

    /// Inputs that only labels or rois read (no gradient in MXNet either).
    static func isLabel(_ name: String, _ graph: Graph) -> Bool {
        guard let v = graph.id(name) else { return false }
        let readers = graph.nodes.flatMap { node in node.inputs.enumerated().filter { $0.element == v }.map { (node, $0.offset) } }
        return !readers.isEmpty && readers.allSatisfy { $0.0.op.labelInputs.contains($0.1) }
    }
}
