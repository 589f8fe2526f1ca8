// YAML text as plain values ([String: Any], [Any], scalars) for the loaders that check keys by
// hand (pipeline, stage config, network file). Yams' own `load` traps on a mapping key that is not
// a plain value (`{a: 1}: x`, found by the YAML fuzz target: fuzz/findings/yaml), and would expand
// aliases without bound; the document is composed and checked first, then constructed.

import Yams

public enum YAMLValue {
    /// At most this many values, counting each alias's expansion: a real config has a few hundred.
    public static let maxValues = 100_000

    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// The document's value (nil for an empty document). Errors are one line, with line and column.
    public static func load(yaml text: String) throws -> Any? {
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch { throw Problem(description: YAMLProblem.describe(error)) }
        guard let root else { return nil }
        var budget = maxValues
        try check(root, &budget)
        return root.any
    }

    private static func place(_ node: Node) -> String {
        node.mark.map { "line \($0.line), column \($0.column): " } ?? ""
    }

    private static func check(_ node: Node, _ budget: inout Int) throws {
        budget -= 1
        guard budget >= 0 else { throw Problem(description: "more than \(maxValues) values (aliases that expand without bound?)") }
        switch node {
        case .scalar:
            break
        case .mapping(let mapping):
            for (key, value) in mapping {
                guard case .scalar = key else {
                    throw Problem(description: "\(place(key))a mapping key must be a plain value, not a list or a mapping")
                }
                try check(value, &budget)
            }
        case .sequence(let sequence):
            for value in sequence { try check(value, &budget) }
        }
    }
}
