// init: a network's full parameter set from a pretrained checkpoint plus seeded random heads, with
// a per-tensor plan (from pretrained, random with σ, zeros, missing, shape mismatch, unused).

public enum InitPolicy: String, Sendable, CaseIterable {
    /// Stop: the plan has a missing or mismatched tensor.
    case error
    /// Initialise it like a head instead (weights N(0, 0.01), biases zeros).
    case initialise = "init"
}

public struct InitPlan: Sendable {
    public enum Action: Sendable, Equatable {
        case pretrained(entry: Int)
        case random(std: Double)
        case zeros
        case ones
        /// Not in the pretrained file; `fallback` is what the policy does about it (nil: error).
        case missing(fallback: Initialisation?)
        case shapeMismatch(found: [Int], dtype: DType, fallback: Initialisation?)
    }

    public struct Row: Sendable {
        public var spec: ParamSpec
        public var action: Action
    }

    public var network: NetworkDefinition
    public var heads: [String]
    public var rows: [Row]
    /// Pretrained tensors the network does not use (VGG16's fc8, say).
    public var unused: [TensorInfo]

    public var problems: [Row] {
        rows.filter {
            switch $0.action {
            case .missing(nil), .shapeMismatch(_, _, nil): return true
            default: return false
            }
        }
    }
}

public enum Init {
    /// `pretrained` nil trains from scratch: every pretrained tensor is drawn He-normal instead
    /// (N(0, √(2/fan-in)) for weights, zeros for biases).
    public static func plan(network: NetworkDefinition, pretrained: CheckpointReader?, heads: [String],
                            missing: InitPolicy = .error, mismatch: InitPolicy = .error) throws -> InitPlan {
        let known = Set(network.params.map(\.group)).subtracting(["backbone"])
        for h in heads where !known.contains(h) {
            throw UsageError("unknown head '\(h)' for \(network.name): choose from \(known.sorted().joined(separator: ", "))")
        }
        var index: [String: Int] = [:]
        for (i, info) in (pretrained?.entries ?? []).enumerated() { index[info.key] = i }
        var rows: [InitPlan.Row] = []
        var used = Set<Int>()
        for spec in network.params where spec.group == "backbone" || heads.contains(spec.group) {
            let fallback = Initialisation.headFallback(spec)
            let action: InitPlan.Action
            switch spec.initialisation {
            case let .normal(std):
                action = .random(std: std)
                if let i = index[spec.info.key] { used.insert(i) }   // present, but heads are always re-drawn
            case .zeros, .ones:
                action = spec.initialisation == .ones ? .ones : .zeros
                if let i = index[spec.info.key] { used.insert(i) }
            case .pretrained where pretrained == nil:
                switch Initialisation.fromScratch(spec) {
                case let .normal(std): action = .random(std: std)
                case .ones: action = .ones
                default: action = .zeros
                }
            case .pretrained:
                if let pretrained, let i = index[spec.info.key] {
                    used.insert(i)
                    let found = pretrained.entries[i]
                    if found.shape == spec.shape && found.dtype == .float32 {
                        action = .pretrained(entry: i)
                    } else {
                        action = .shapeMismatch(found: found.shape, dtype: found.dtype, fallback: mismatch == .initialise ? fallback : nil)
                    }
                } else {
                    action = .missing(fallback: missing == .initialise ? fallback : nil)
                }
            }
            rows.append(.init(spec: spec, action: action))
        }
        let unused = (pretrained?.entries ?? []).enumerated().filter { !used.contains($0.offset) }.map(\.element)
        return InitPlan(network: network, heads: heads, rows: rows, unused: unused)
    }

    /// Writes the planned checkpoint. Random tensors are drawn from a stream seeded by (seed, name).
    public static func write(_ plan: InitPlan, pretrained: CheckpointReader?, seed: UInt64, output: String,
                             format: Formats.Output, progress: ((Int, Int) -> Void)? = nil) throws -> String {
        if let p = plan.problems.first {
            throw UsageError("cannot initialise \(p.spec.name): \(describe(p.action)); such tensors can be initialised like a head instead",
                             setting: "missing")
        }
        try OutputGuard.refuseOverwrite(output: output, inputs: pretrained.map { [$0.path] } ?? [])
        let digests = DigestCache(pretrained.map { [$0] } ?? [])
        let w = try Formats.writer(path: output, format: format, entries: plan.rows.map(\.spec.info),
                                   metadata: ["network": plan.network.name, "classes": String(plan.network.classes),
                                              "anchors": String(plan.network.anchors)])
        var provenance = Provenance(operation: "init")
        provenance.settings = [("network", .string(plan.network.name)), ("heads", .array(plan.heads.map { .string($0) })),
                               ("seed", .int(Int(truncatingIfNeeded: seed)))]
        for (n, row) in plan.rows.enumerated() {
            progress?(n, plan.rows.count)
            let info = row.spec.info
            let tensor: Tensor
            let transforms: [String]
            var source = "init", key = info.key
            switch initialisation(row.action) {
            case .pretrained:
                guard case let .pretrained(entry) = row.action else { fatalError("unreachable") }
                tensor = try pretrained!.view(entry)
                try digests.record(0, entry, tensor.digest)
                source = "pretrained"; key = pretrained!.entries[entry].key
                transforms = ["copied"]
            case let drawn:
                tensor = Tensor(dtype: .float32, shape: info.shape) { drawn.fill($0.bindMemory(to: Float.self), seed: seed, key: info.key) }
                if case let .normal(std) = drawn { transforms = ["random normal(0, \(std)) seed \(seed)"] } else { transforms = ["\(drawn)"] }
            }
            try w.write(tensor)
            provenance.lineage.append((info.key, .init(source: source, key: key, transforms: transforms)))
        }
        if let pretrained { provenance.inputs = [.init(label: "pretrained", path: pretrained.path, digest: try digests.rootDigest(0))] }
        return try w.commit(provenance: provenance.json.compact)
    }

    static func initialisation(_ action: InitPlan.Action) -> Initialisation {
        switch action {
        case .pretrained: return .pretrained
        case let .random(std): return .normal(std: std)
        case .zeros: return .zeros
        case .ones: return .ones
        case let .missing(f), let .shapeMismatch(_, _, f): return f!
        }
    }

    public static func describe(_ action: InitPlan.Action) -> String {
        switch action {
        case .pretrained: return "from pretrained"
        case let .random(std): return "random normal(0, \(std))"
        case .zeros: return "zeros"
        case .ones: return "ones"
        case let .missing(f): return "missing in the pretrained file" + (f.map { " → \($0)" } ?? "")
        case let .shapeMismatch(found, dtype, f):
            return "shape mismatch: pretrained has \(dtype.rawValue) \(Shape.text(found))" + (f.map { " → \($0)" } ?? "")
        }
    }
}
