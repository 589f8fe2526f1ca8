// MXNet symbol JSON (PREFIX-symbol.json) to a Graph and back. A "null" node is a variable: at an
// op's parameter position (a convolution's weight, a BatchNorm's moving_var) it names a parameter
// or aux state; anywhere else it is a graph input (data, rois, labels). Every op reference must
// point at an earlier node and at output 0; an unknown op or attribute value is an error naming
// the node.

import Foundation

public enum SymbolJSON {
    /// Builds a graph from symbol JSON text; `heads` are the symbol's outputs, in order.
    public static func graph(_ text: Data, file: String = "symbol") throws(GraphError) -> (graph: Graph, heads: [String]) {
        guard let root = try? JSONSerialization.jsonObject(with: text) as? [String: Any],
              let nodes = root["nodes"] as? [[String: Any]] else {
            throw .notSymbolJSON(file: file)
        }
        struct Raw { let name: String; let op: String; let attrs: [String: String]; let inputs: [Int] }
        var raws: [Raw] = []
        for (k, node) in nodes.enumerated() {
            guard let name = node["name"] as? String, let op = node["op"] as? String else {
                throw .unnamedNode(file: file, index: k)
            }
            let attrs = (node["attrs"] ?? node["attr"] ?? node["param"]) as? [String: String] ?? [:]
            var inputs: [Int] = []
            for ref in node["inputs"] as? [[Int]] ?? [] {
                guard let source = ref.first, source >= 0, source < k else {
                    throw .forwardReference(file: file, node: name, input: ref)
                }
                guard ref.count < 2 || ref[1] == 0 else {
                    throw .unsupportedOutput(file: file, node: name, source: nodes[source]["name"] as? String ?? "\(source)", output: ref[1])
                }
                inputs.append(source)
            }
            raws.append(Raw(name: name, op: op, attrs: attrs, inputs: inputs))
        }
        // Ops first, to learn which variables are parameters.
        var ops: [Int: any Op] = [:]
        var parameterVariables = Set<Int>()
        for (k, raw) in raws.enumerated() where raw.op != "null" {
            let op = try MXNetOps.make(raw.op, raw.attrs, node: raw.name)
            ops[k] = op
            let count = op.parameterSuffixes.count + op.auxSuffixes.count
            guard raw.inputs.count > count else {
                throw .tooFewInputs(file: file, node: raw.name, op: raw.op, inputs: raw.inputs.count, needed: count + 1)
            }
            for source in raw.inputs.suffix(count) {
                guard raws[source].op == "null" else {
                    throw .parameterNotVariable(file: file, node: raw.name, input: raws[source].name)
                }
                parameterVariables.insert(source)
            }
        }
        let g = Graph()
        var value: [Int: Int] = [:]
        for (k, raw) in raws.enumerated() where raw.op == "null" && !parameterVariables.contains(k) { value[k] = g.input(raw.name) }
        for (k, raw) in raws.enumerated() where raw.op != "null" {
            let op = ops[k]!
            let count = op.parameterSuffixes.count + op.auxSuffixes.count
            let data = raw.inputs.dropLast(count).map { value[$0]! }
            guard g.id(raw.name) == nil else { throw .duplicateName(file: file, node: raw.name) }
            value[k] = g.add(raw.name, op, data, params: raw.inputs.suffix(count).map { raws[$0].name })
        }
        let heads = (root["heads"] as? [[Int]] ?? []).compactMap { $0.first }.filter { value[$0] != nil }.map { raws[$0].name }
        return (g, heads.isEmpty ? [g.name(ofValue: g.valueCount - 1)] : heads)
    }
}

/// MXNet operator names and attribute strings to ops.
public enum MXNetOps {
    public static let supported = ["Activation", "BatchNorm", "Concat", "Convolution", "Dropout", "Flatten", "FullyConnected",
                                   "MakeLoss", "Pooling", "ROIPooling", "Reshape", "SoftmaxOutput", "elemwise_add", "elemwise_mul",
                                   "elemwise_sub", "smooth_l1"]

    public static func make(_ op: String, _ attrs: [String: String], node: String) throws(GraphError) -> any Op {
        let a = Attributes(values: attrs, node: node, op: op)
        switch op {
        case "Convolution":
            try a.require("dilate", oneOf: ["(1, 1)", "(1,1)", "()"])
            try a.require("num_group", oneOf: ["1"])
            return ConvolutionOp(kernel: try a.pair("kernel"), stride: try a.pair("stride", default: (1, 1)),
                                 pad: try a.pair("pad", default: (0, 0)), numFilter: try a.int("num_filter"),
                                 noBias: try a.bool("no_bias", default: false))
        case "FullyConnected":
            try a.require("flatten", oneOf: ["True", "true", "1"])
            return FullyConnectedOp(numHidden: try a.int("num_hidden"), noBias: try a.bool("no_bias", default: false))
        case "Activation":
            try a.require("act_type", oneOf: ["relu"], always: true)
            return ReLUOp()
        case "Pooling":
            let type = attrs["pool_type"] ?? "max"
            guard let kind = PoolingOp.Kind(rawValue: type) else { throw a.error("pool_type", .unsupported(value: type, allowed: ["max", "avg"])) }
            let global = try a.bool("global_pool", default: false)
            let conventionName = attrs["pooling_convention"] ?? "valid"
            guard let convention = PoolingOp.Convention(rawValue: conventionName) else {
                throw a.error("pooling_convention", .unsupported(value: conventionName, allowed: ["valid", "full"]))
            }
            return PoolingOp(kind, kernel: global ? try a.pair("kernel", default: (1, 1)) : try a.pair("kernel"),
                             stride: try a.pair("stride", default: (1, 1)), pad: try a.pair("pad", default: (0, 0)),
                             convention: convention, global: global, countIncludePad: try a.bool("count_include_pad", default: true))
        case "Dropout":
            try a.require("mode", oneOf: ["training"])
            return DropoutOp(p: try a.float("p", default: 0.5))
        case "ROIPooling":
            return ROIPoolingOp(pooled: try a.pair("pooled_size"), spatialScale: try a.float("spatial_scale"))
        case "Reshape":
            return ReshapeOp(shape: try a.tuple("shape"))
        case "Flatten":
            return FlattenOp()
        case "SoftmaxOutput":
            let name = attrs["normalization"] ?? "null"
            guard let normalization = SoftmaxOutputOp.Normalization(rawValue: name) else { throw a.error("normalization", .unsupported(value: name, allowed: ["null", "batch", "valid"])) }
            return SoftmaxOutputOp(normalization: normalization, useIgnore: try a.bool("use_ignore", default: false),
                                   ignoreLabel: try a.float("ignore_label", default: -1), gradScale: try a.float("grad_scale", default: 1),
                                   multiOutput: try a.bool("multi_output", default: false))
        case "smooth_l1":
            return SmoothL1Op(sigma: try a.float("scalar", default: 1))
        case "MakeLoss":
            try a.require("normalization", oneOf: ["null"])
            return MakeLossOp(gradScale: try a.float("grad_scale", default: 1))
        case "elemwise_add", "_Plus", "_plus": return ElementwiseOp(.add)
        case "elemwise_sub", "_Minus", "_minus": return ElementwiseOp(.sub)
        case "elemwise_mul", "_Mul", "_mul": return ElementwiseOp(.mul)
        case "BatchNorm":
            try a.require("axis", oneOf: ["1"])
            try a.require("output_mean_var", oneOf: ["False", "false", "0"])
            return BatchNormOp(eps: try a.float("eps", default: 1e-3), momentum: try a.float("momentum", default: 0.9),
                               fixGamma: try a.bool("fix_gamma", default: true), useGlobalStats: try a.bool("use_global_stats", default: false))
        case "Concat":
            return ConcatOp(axis: try a.int("dim", default: 1))
        default:
            throw .unknownOp(node: node, op: op, supported: supported)
        }
    }

    /// MXNet's attribute strings: "(3, 3)", "True", "0.0625".
    struct Attributes {
        let values: [String: String]
        let node: String
        let op: String

        func error(_ key: String, _ problem: GraphError.AttributeProblem) -> GraphError {
            .badAttribute(node: node, op: op, attribute: key, problem: problem)
        }

        func raw(_ key: String) throws(GraphError) -> String {
            guard let v = values[key] else { throw error(key, .missing) }
            return v
        }

        func int(_ key: String, default d: Int? = nil) throws(GraphError) -> Int {
            if values[key] == nil, let d { return d }
            guard let v = Int(try raw(key).trimmingCharacters(in: .whitespaces)) else { throw error(key, .notA(expected: "an integer", value: values[key]!)) }
            return v
        }

        func float(_ key: String, default d: Float? = nil) throws(GraphError) -> Float {
            if values[key] == nil, let d { return d }
            guard let v = Float(try raw(key).trimmingCharacters(in: .whitespaces)) else { throw error(key, .notA(expected: "a number", value: values[key]!)) }
            return v
        }

        func bool(_ key: String, default d: Bool) throws(GraphError) -> Bool {
            guard let v = values[key] else { return d }
            switch v.lowercased() {
            case "true", "1": return true
            case "false", "0": return false
            default: throw error(key, .notA(expected: "True or False", value: v))
            }
        }

        func tuple(_ key: String) throws(GraphError) -> [Int] {
            let text = try raw(key).trimmingCharacters(in: CharacterSet(charactersIn: "()[] "))
            if text.isEmpty { return [] }
            var out: [Int] = []
            for part in text.split(separator: ",") {
                guard let v = Int(part.trimmingCharacters(in: .whitespaces)) else { throw error(key, .notA(expected: "a tuple of integers", value: values[key]!)) }
                out.append(v)
            }
            return out
        }

        func pair(_ key: String, default d: (Int, Int)? = nil) throws(GraphError) -> (Int, Int) {
            if values[key] == nil, let d { return d }
            let t = try tuple(key)
            guard t.count == 2 else { throw error(key, .notA(expected: "a pair (only 2-d ops are supported)", value: values[key]!)) }
            return (t[0], t[1])
        }

        /// Accepts the attribute only with one of these values (or absent, unless `always`).
        func require(_ key: String, oneOf allowed: [String], always: Bool = false) throws(GraphError) {
            guard let v = values[key] else {
                if always { throw error(key, .missing) }
                return
            }
            guard allowed.contains(v) else { throw error(key, .unsupported(value: v, allowed: allowed)) }
        }
    }
}

extension SymbolJSON {
    /// Symbol JSON for a graph, as `mx.sym.load` reads it: each graph input and each parameter a
    /// "null" node (parameters just before the op that reads them, as MXNet writes them), each
    /// node its op with MXNet's attribute strings; `heads` are the outputs. A loss whose label
    /// is not a graph input (a test network's softmax) gets a `NAME_label` variable, as MXNet
    /// makes one.
    public static func export(_ graph: Graph, heads: [String]) throws(GraphError) -> Data {
        var nodes: [[String: Any]] = []
        var ids: [Int: Int] = [:]            // graph value → JSON node
        var variables: [String: Int] = [:]   // parameter name → JSON node
        func variable(_ name: String) -> Int {
            if let v = variables[name] { return v }
            nodes.append(["op": "null", "name": name, "inputs": [Any]()])
            variables[name] = nodes.count - 1
            return nodes.count - 1
        }
        for (k, name) in graph.inputNames.enumerated() { ids[k] = variable(name) }
        for (i, node) in graph.nodes.enumerated() {
            var inputs = node.inputs.map { [ids[$0]!, 0, 0] }
            if node.op.isLoss && !node.op.labelInputs.isEmpty && node.inputs.count == 1 {
                inputs.append([variable(node.name + "_label"), 0, 0])
            }
            inputs += node.params.map { [variable($0), 0, 0] }
            var attrs = node.op.attributes
            if node.op.kind == "Concat" { attrs["num_args"] = "\(node.inputs.count)" }
            nodes.append(["op": node.op.kind, "name": node.name, "attrs": attrs, "inputs": inputs])
            ids[graph.inputNames.count + i] = nodes.count - 1
        }
        var headRefs: [[Int]] = []
        for h in heads {
            guard let v = graph.id(h), let n = ids[v] else { throw .noSuchHead(h) }
            headRefs.append([n, 0, 0])
        }
        let root: [String: Any] = [
            "nodes": nodes,
            "arg_nodes": nodes.indices.filter { (nodes[$0]["op"] as! String) == "null" },
            "node_row_ptr": Array(0...nodes.count),
            "heads": headRefs,
            "attrs": ["mxnet_version": ["int", 10901]],
        ]
        guard let data = try? JSONSerialization.data(withJSONObject: root, options: [.prettyPrinted, .sortedKeys]) else {
            throw .unencodable
        }
        return data
    }
}
