// The op protocol of the graph engine: an op is MXNet's operator with its attributes (a value type),
// its forward and its backward side by side. The executor (GraphRun) owns the values, decides what
// is kept for the backward pass and what is freed, and hands each op only what it reads.

import ParamKit

/// How a pass runs and what it draws from: training (dropout masks, BatchNorm batch statistics
/// and aux updates) or inference (dropout off, BatchNorm on its moving statistics).
public struct OpContext: Sendable {
    public var training: Bool
    public var generator: SeededGenerator

    public init(training: Bool, generator: SeededGenerator = SeededGenerator(seed: 0)) {
        self.training = training
        self.generator = generator
    }
}

/// What an op keeps from its forward pass for its backward pass.
public enum OpState: Sendable {
    case none
    /// Max-pooling and ROI-pooling choices (indices into the input, −1 for an empty window) and
    /// the input's shape.
    case indices([Int32], input: [Int])
    /// A dropout mask (0 or 1/(1−p) per element).
    case mask([Float])
    /// Per-channel numbers (BatchNorm: the batch mean and the inverse standard deviation, 2·C).
    case floats([Float])
    /// The input's shape (reshapes, whose backward gives the gradient that shape back).
    case shape([Int])
}

/// The input values an op reads. `[i]` borrows; `take(i)` gives the op the blob to reuse in place
/// when the executor has handed it over (nothing else reads it), and a copy-on-write share otherwise.
public struct OpValues {
    var values: [Blob?]
    var owned: [Bool]

    init(_ values: [Blob?], owned: [Bool]) {
        self.values = values
        self.owned = owned
    }

    public var count: Int { values.count }

    public subscript(i: Int) -> Blob {
        guard let v = values[i] else { preconditionFailure("input \(i) was not kept for this pass") }
        return v
    }

    public func has(_ i: Int) -> Bool { i < values.count && values[i] != nil }

    public mutating func take(_ i: Int) -> Blob {
        let v = self[i]
        if owned[i] { values[i] = nil }
        return v
    }
}

/// One operator. Parameters arrive in the order of `parameterSuffixes` (then `auxSuffixes`), as the
/// node lists them; an op without a bias (`no_bias`) leaves it out of its suffixes.
public protocol Op: Sendable {
    /// MXNet's operator name: "Convolution", "Pooling", "SoftmaxOutput", …
    var kind: String { get }
    /// Suffixes of the learned parameters' names, MXNet's way ("_weight", "_bias"; "_gamma", "_beta").
    var parameterSuffixes: [String] { get }
    /// Suffixes of the aux states ("_moving_mean", "_moving_var"): loaded and saved, never trained.
    var auxSuffixes: [String] { get }
    /// Inputs that are labels or targets: no gradient flows into them.
    var labelInputs: Set<Int> { get }
    /// A loss starts the backward pass: its backward gets no output gradient.
    var isLoss: Bool { get }

    /// The output shape for these input shapes, or a message saying what does not fit.
    func outputShape(_ inputs: [[Int]]) throws(GraphError) -> [Int]
    /// The shapes of the parameters (then aux states) for these input shapes.
    func parameterShapes(_ inputs: [[Int]]) -> [[Int]]

    func forward(_ x: inout OpValues, params: [Parameter], context: inout OpContext) -> (Blob, OpState)

    /// Gradients of the inputs (nil where `wantInput` is false); each trainable parameter's gradient
    /// is added into its `grad`. `dy` is nil for a loss; an op may `dy.take()` it to write its
    /// input gradient in place (the executor holds no other reference).
    func backward(_ dy: inout Blob?, inputs: OpValues, output: Blob?, state: OpState, params: [Parameter],
                  wantInput: [Bool], context: inout OpContext) -> [Blob?]

    /// Whether forward reads input `i` (a loss's label is not read at inference and may be absent).
    func forwardReads(input i: Int) -> Bool
    /// Whether backward reads input `i` / the output (what the executor keeps after forward).
    func backwardReads(input i: Int) -> Bool
    var backwardReadsOutput: Bool { get }

    /// MXNet's attribute strings for this op ("kernel": "(3, 3)", "no_bias": "True"), as symbol JSON
    /// carries them.
    var attributes: [String: String] { get }
    /// Multiply-adds ×2 of one forward pass for these input shapes (0 for ops that only move data).
    func flops(_ inputs: [[Int]], output: [Int]) -> Double

    /// Records the pass's decisions for a comparison with another implementation (ReLU and pooling
    /// layers; see ForwardProbe). `inputName` names the node that produced input 0.
    func probe(_ probe: inout ForwardProbe, node: String, inputName: String, inputs: OpValues, output: inout Blob, state: inout OpState)
}

public extension Op {
    var parameterSuffixes: [String] { [] }
    var auxSuffixes: [String] { [] }
    var labelInputs: Set<Int> { [] }
    var isLoss: Bool { false }
    func parameterShapes(_ inputs: [[Int]]) -> [[Int]] { [] }
    func forwardReads(input i: Int) -> Bool { true }
    var attributes: [String: String] { [:] }
    func flops(_ inputs: [[Int]], output: [Int]) -> Double { 0 }
    func backwardReads(input i: Int) -> Bool { false }
    var backwardReadsOutput: Bool { false }
    func probe(_ probe: inout ForwardProbe, node: String, inputName: String, inputs: OpValues, output: inout Blob, state: inout OpState) {}
}

/// MXNet's spelling of attribute values.
enum MXNetAttribute {
    static func tuple(_ values: [Int]) -> String { "(" + values.map(String.init).joined(separator: ", ") + ")" }
    static func pair(_ v: (Int, Int)) -> String { tuple([v.0, v.1]) }
    static func bool(_ b: Bool) -> String { b ? "True" : "False" }
    static func float(_ f: Float) -> String { "\(f)" }
}

/// Runs `body` with the gradient pointers of a weight and an optional bias (nil where fixed or
/// absent): the layers with parameters (Convolution, FullyConnected) accumulate into them.
func withWeightAndBiasGradients<R>(_ params: [Parameter], hasBias: Bool,
                                   _ body: (UnsafeMutablePointer<Float>?, UnsafeMutablePointer<Float>?) -> R) -> R {
    withGradient(params[0]) { gw in withGradient(hasBias ? params[1] : nil) { gb in body(gw, gb) } }
}

/// Runs `body` with a mutable pointer to a parameter's gradient, or nil when the parameter is fixed.
@inline(__always)
func withGradient<R>(_ p: Parameter?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
    guard let p, !p.fixed else { return body(nil) }
    return p.grad.withUnsafeMutableBufferPointer { body($0.baseAddress) }
}
