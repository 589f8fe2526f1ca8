// A graph that cannot be read, built or run: one case per kind of problem, each naming the node
// (and the symbol file, when the graph came from one). The description is the one-line message the
// CLI prints.

import ParamKit

public enum GraphError: ParamKitError, Sendable, Equatable {
    /// What is wrong with an op attribute.
    public enum AttributeProblem: Sendable, Equatable {
        case missing
        /// The value is not of the attribute's type (`expected`: "an integer", "True or False", …).
        case notA(expected: String, value: String)
        /// A value ParamKit does not run; `allowed` lists the ones it does.
        case unsupported(value: String, allowed: [String])
    }

    /// The file has no "nodes" list.
    case notSymbolJSON(file: String)
    /// Node `index` has no name or no op.
    case unnamedNode(file: String, index: Int)
    /// An input that is no earlier node: a cycle or a forward reference.
    case forwardReference(file: String, node: String, input: [Int])
    /// An input that reads another output than output 0 of its source.
    case unsupportedOutput(file: String, node: String, source: String, output: Int)
    /// Fewer inputs than the op's data and parameters take.
    case tooFewInputs(file: String, node: String, op: String, inputs: Int, needed: Int)
    /// A parameter position fed by an op instead of a variable.
    case parameterNotVariable(file: String, node: String, input: String)
    case duplicateName(file: String, node: String)
    case unknownOp(node: String, op: String, supported: [String])
    case badAttribute(node: String, op: String, attribute: String, problem: AttributeProblem)
    /// Input shapes the op cannot take; `node` is empty while the op alone raises it (the graph adds it).
    case shapeMismatch(node: String, problem: String)
    /// A head to export that the graph does not have.
    case noSuchHead(String)
    /// The graph's JSON could not be encoded.
    case unencodable

    /// An op's shape check: the graph names the node when it passes the error on.
    public static func shape(_ problem: String) -> GraphError { .shapeMismatch(node: "", problem: problem) }

    /// The same error about `node` (shape errors raised by an op without one).
    func at(node: String) -> GraphError {
        if case let .shapeMismatch("", problem) = self { return .shapeMismatch(node: node, problem: problem) }
        return self
    }

    public var exitStatus: Int32 { 2 }
    public var setting: String? { nil }

    /// The node the error is about ("" when none).
    public var node: String {
        switch self {
        case .notSymbolJSON, .unnamedNode, .unencodable: ""
        case let .forwardReference(_, node, _), let .unsupportedOutput(_, node, _, _), let .tooFewInputs(_, node, _, _, _),
             let .parameterNotVariable(_, node, _), let .duplicateName(_, node), let .unknownOp(node, _, _),
             let .badAttribute(node, _, _, _), let .shapeMismatch(node, _), let .noSuchHead(node):
            node
        }
    }

    public var site: ErrorSite? {
        switch self {
        case let .notSymbolJSON(file): ErrorSite(file: file)
        case let .unnamedNode(file, index): ErrorSite(file: file, place: "node \(index)")
        case let .forwardReference(file, node, _), let .unsupportedOutput(file, node, _, _), let .tooFewInputs(file, node, _, _, _),
             let .parameterNotVariable(file, node, _), let .duplicateName(file, node):
            ErrorSite(file: file, place: "node '\(node)'")
        default: nil
        }
    }

    /// What is wrong, without the node.
    var problem: String {
        switch self {
        case let .notSymbolJSON(file): return "\(file): not MXNet symbol JSON (no \"nodes\" list)"
        case let .unnamedNode(file, index): return "\(file): node \(index) has no name or op"
        case let .forwardReference(file, _, input): return "\(file): input \(input) is not an earlier node (a cycle or a forward reference)"
        case let .unsupportedOutput(file, _, source, output): return "\(file): reads output \(output) of '\(source)'; only output 0 is supported"
        case let .tooFewInputs(file, _, op, inputs, needed): return "\(file): \(op) has \(inputs) inputs, needs at least \(needed)"
        case let .parameterNotVariable(file, _, input): return "\(file): parameter input '\(input)' is not a variable"
        case let .duplicateName(file, node): return "\(file): two nodes are named '\(node)'"
        case let .unknownOp(_, op, supported): return "unknown op '\(op)' (ParamKit runs \(supported.joined(separator: ", ")))"
        case let .badAttribute(_, op, attribute, .missing): return "\(op): needs the attribute '\(attribute)'"
        case let .badAttribute(_, op, attribute, .notA(expected, value)): return "\(op): \(attribute) '\(value)' is not \(expected)"
        case let .badAttribute(_, op, attribute, .unsupported(value, allowed)):
            return "\(op): \(attribute) '\(value)' is not supported (\(allowed.joined(separator: ", ")))"
        case let .shapeMismatch(_, problem): return problem
        case .noSuchHead: return "no such node to export as a head"
        case .unencodable: return "the graph could not be written as JSON"
        }
    }

    public var description: String { node.isEmpty ? problem : "node '\(node)': \(problem)" }
}
