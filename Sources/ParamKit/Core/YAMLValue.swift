// YAML text as plain values ([String: Any], [Any], scalars) for the loaders that check keys by
// hand (pipeline, stage config, network file). Yams' own `load` traps on a mapping key that is not
// a plain value (`{a: 1}: x`, found by the YAML fuzz target: fuzz/findings/yaml), and would expand
// aliases without bound; the document is composed and checked first, then constructed. Yams also
// composes recursively, so a document nested a few thousand levels deep (`[[[[…`, `- - - …`)
// overflows the stack; the nesting is measured on libyaml's events before Yams composes.

import CYaml
import Yams

public enum YAMLValue {
    /// At most this many values, counting each alias's expansion: a real config has a few hundred.
    public static let maxValues = 100_000

    /// At most this many nested sequences and mappings: a real config nests fewer than ten, and
    /// Yams needs a few KB of stack per level (a 512 KB thread stack holds about 150).
    public static let maxDepth = 64

    public struct Problem: Error, CustomStringConvertible {
        public let description: String
    }

    /// The document's value (nil for an empty document). Errors are one line, with line and column.
    public static func load(yaml text: String) throws -> Any? {
        try checkDepth(text)
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch { throw Problem(description: YAMLProblem.describe(error)) }
        guard let root else { return nil }
        var budget = maxValues
        try check(root, &budget)
        return root.any
    }

    /// Refuses text whose sequences and mappings nest deeper than `maxDepth`, naming the line and
    /// column where the limit is passed. It reads libyaml's events, which libyaml produces without
    /// recursion; text that is not valid YAML is left to the composer, which says where and why.
    public static func checkDepth(_ text: String) throws {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw Problem(description: "cannot start the YAML parser") }
        defer { yaml_parser_delete(&parser) }
        var bytes = Array(text.utf8)
        try bytes.withUnsafeMutableBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            var depth = 0
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else { return }
                defer { yaml_event_delete(&event) }
                switch event.type {
                case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    depth += 1
                    if depth > maxDepth {
                        let mark = event.start_mark
                        throw Problem(description: "line \(mark.line + 1), column \(mark.column + 1): "
                                      + "nested more than \(maxDepth) levels deep")
                    }
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    depth -= 1
                case YAML_STREAM_END_EVENT:
                    return
                default:
                    break
                }
            }
        }
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
