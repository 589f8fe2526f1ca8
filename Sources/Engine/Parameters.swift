// The parameters a network trains: value, gradient and momentum per name, with MXNet names, and
// the bridge to ParamKit checkpoints (load by `arg:NAME`, save, freeze by spec).

import ParamKit

public final class Parameter {
    public let name: String
    public let shape: [Int]
    /// `arg` (learned) or `aux` (a state such as BatchNorm's moving mean: loaded, saved, updated by
    /// its op in training, never by the optimiser).
    public let role: Role
    public var value: [Float]
    public var grad: [Float]
    public var momentum: [Float]
    /// Fixed (frozen): no gradient, no update, no weight decay.
    public var fixed = false

    init(name: String, role: Role = .arg, shape: [Int]) {
        self.name = name
        self.role = role
        self.shape = shape
        fixed = role == .aux
        let n = shape.reduce(1, *)
        value = [Float](repeating: 0, count: n)
        grad = [Float](repeating: 0, count: n)
        momentum = [Float](repeating: 0, count: n)
    }
}

public final class ParameterSet {
    public let ordered: [Parameter]
    private let byName: [String: Parameter]

    public init(_ specs: [ParamSpec]) {
        ordered = specs.map { Parameter(name: $0.name, role: $0.role, shape: $0.shape) }
        byName = Dictionary(uniqueKeysWithValues: ordered.map { ($0.name, $0) })
    }

    public subscript(name: String) -> Parameter {
        guard let p = byName[name] else { preconditionFailure("no parameter \(name)") }
        return p
    }

    public func contains(_ name: String) -> Bool { byName[name] != nil }

    /// Every parameter and aux state (`arg:NAME`, `aux:NAME`) from a checkpoint, except the names in
    /// `except` (which the caller fills otherwise, e.g. heads drawn afresh); a missing or misfit tensor
    /// is an error naming the file, the key and the `network`.
    public func load(_ checkpoint: Checkpoint, file: String, network: String? = nil, except: Set<String> = []) throws {
        let what = network.map { "the \($0) network" } ?? "the network"
        for p in ordered where !except.contains(p.name) {
            let key = p.role.rawValue + ":" + p.name
            guard let t = checkpoint[key] else {
                throw UsageError("\(file): no \(key), which \(what) needs")
            }
            guard t.dtype == .float32, t.shape == p.shape else {
                throw UsageError("\(file): \(key) is \(t.dtype.rawValue) \(Shape.text(t.shape)), \(what) needs float32 \(Shape.text(p.shape))")
            }
            t.withUnsafeBytes { p.value = Array($0.bindMemory(to: Float.self)) }
        }
    }

    public func checkpoint() -> Checkpoint {
        var c = Checkpoint()
        for p in ordered { c.append(p.name, role: p.role, Tensor(p.value, shape: p.shape)) }
        return c
    }

    /// Marks the parameters a spec fixes (MXNet's fixed_param_names) and returns the resolution.
    @discardableResult
    public func freeze(_ spec: FreezeSpec) throws -> FreezeReport {
        let report = try Freeze.resolve(spec, against: ordered.map { TensorInfo(name: $0.name, role: $0.role, dtype: .float32, shape: $0.shape) })
        let frozen = Set(report.frozen.map(\.name))
        for p in ordered { p.fixed = p.role == .aux || frozen.contains(p.name) }
        return report
    }

    /// A layer's weight (`NAME_weight`) with writable pointers to its weight and bias gradients, nil
    /// for a fixed parameter: what every layer's backward takes.
    func withGradients<R>(_ layer: String, _ body: (Parameter, UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?) -> R) -> R {
        let w = self[layer + "_weight"], b = self[layer + "_bias"]
        return w.grad.withUnsafeMutableBufferPointer { gw in
            b.grad.withUnsafeMutableBufferPointer { gb in
                body(w, w.fixed ? nil : gw.baseAddress, b.fixed ? nil : gb.baseAddress)
            }
        }
    }

    public func zeroGrads() {
        for p in ordered where !p.fixed { p.grad.withUnsafeMutableBufferPointer { $0.update(repeating: 0) } }
    }
}
