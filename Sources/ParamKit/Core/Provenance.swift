// Provenance recorded in every checkpoint ParamKit writes: the operation, the tool, the inputs by
// path and digest, and per-tensor lineage (where each tensor came from and what was done to it).

import Foundation

public struct Provenance: Sendable {
    public static let toolVersion = "paramkit 0.1.0"

    public struct Input: Sendable {
        public var label: String
        public var path: String
        public var digest: String
        public init(label: String, path: String, digest: String) {
            self.label = label; self.path = path; self.digest = digest
        }
    }

    public struct Lineage: Sendable {
        public var source: String      // input label, or "init"
        public var key: String         // key in the source
        public var transforms: [String]
        public init(source: String, key: String, transforms: [String]) {
            self.source = source; self.key = key; self.transforms = transforms
        }
    }

    public var operation: String
    public var inputs: [Input] = []
    public var lineage: [(key: String, Lineage)] = []
    public var settings: [(String, JSON)] = []

    public init(operation: String) { self.operation = operation }

    public var json: JSON {
        let created = ISO8601DateFormatter().string(from: Date())
        return .object([
            ("operation", .string(operation)),
            ("tool", .string(Provenance.toolVersion)),
            ("created", .string(created)),
            ("inputs", .array(inputs.map { .object([("label", .string($0.label)), ("path", .string($0.path)), ("digest", .string($0.digest))]) })),
            ("settings", .object(settings)),
            ("lineage", .object(lineage.map { ($0.key, .object([
                ("source", .string($0.1.source)), ("key", .string($0.1.key)),
                ("transforms", .array($0.1.transforms.map { .string($0) })),
            ])) })),
        ])
    }
}
