// Recording (and aligning) a forward pass's decisions against another implementation's.

import Foundation
import ParamKit

/// What a forward pass computed and decided, for comparing a step with another implementation's
/// (MXNet's) layer by layer: each ReLU output (MXNet's names relu1_1 … relu5_3, the R-CNN's relu6 and
/// relu7) and each
/// max-pool and ROI-pool argmax (pool1 … pool4 as indices into each input plane, roi_pool5 as flat
/// indices into the feature map, −1 for an empty bin).
///
/// Two float32 implementations that sum in different orders agree only to rounding, so a ReLU input
/// within rounding of 0, or two window values within rounding of each other, can be decided
/// differently (a "flip"); the gradient then goes through (or to) different elements, and a whole
/// product of the backward pass moves. With `reference` activations (by the same names) the probe
/// finds each flip, records how far apart the reference's own values were (the gap, relative to the
/// layer's largest magnitude), and takes the reference's decision there: the ReLU output takes the
/// reference value, the pool takes the reference's argmax (computed by the same pooling code over the
/// reference input) and this pass's input value at it. Everything else stays this pass's own.
public struct ForwardProbe: Sendable {
    public struct Flips: Sendable {
        public var count = 0
        /// Largest reference-value gap of a flip, relative to the layer's largest |reference|.
        public var maxGap: Float = 0
    }

    public var activations: [(name: String, value: Blob)] = []
    public var argmax: [(name: String, value: [Int32])] = []
    public var reference: [String: Blob]
    /// Per layer with a reference, the decisions that went the other way (ReLU and pooling layers).
    public private(set) var flips: [String: Flips] = [:]

    public init(reference: [String: Blob] = [:]) { self.reference = reference }

    func referenceBlob(_ name: String, like shape: [Int]) -> Blob? {
        guard let r = reference[name] else { return nil }
        precondition(r.shape == shape, "reference \(name) has shape \(r.shape), this pass \(shape)")
        return r
    }

    static func largest(_ b: Blob) -> Float { b.data.reduce(0) { max($0, abs($1)) } }

    /// A ReLU output: flips are elements positive in one pass and not in the other.
    mutating func relu(_ name: String, _ y: inout Blob) {
        if let ref = referenceBlob(name, like: y.shape) {
            var f = Flips()
            let scale = max(ForwardProbe.largest(ref), .leastNormalMagnitude)
            for i in 0..<y.count where (y.data[i] > 0) != (ref.data[i] > 0) {
                f.count += 1
                f.maxGap = max(f.maxGap, max(y.data[i], ref.data[i]) / scale)
                y.data[i] = ref.data[i]
            }
            flips[name] = f
        }
        activations.append((name, y))
    }

    /// A pooling layer's choices over `input` (this pass's) given the reference's choices over its
    /// own input; `planeSize`/`outPlaneSize` turn per-plane indices (max pooling) into flat ones.
    mutating func pool(_ name: String, input: Blob, referenceInput: String, output: inout Blob, argmax: inout [Int32],
                       planeSize: Int?, outPlaneSize: Int, referenceChoices: (Blob) -> [Int32]) {
        if let refIn = referenceBlob(referenceInput, like: input.shape) {
            let refArg = referenceChoices(refIn)
            var f = Flips()
            let scale = max(ForwardProbe.largest(refIn), .leastNormalMagnitude)
            for i in 0..<argmax.count where refArg[i] != argmax[i] {
                let base = planeSize.map { (i / outPlaneSize) * $0 } ?? 0
                func at(_ b: Blob, _ j: Int32) -> Float { j < 0 ? 0 : b.data[base + Int(j)] }
                f.count += 1
                f.maxGap = max(f.maxGap, abs(at(refIn, refArg[i]) - at(refIn, argmax[i])) / scale)
                argmax[i] = refArg[i]
                output.data[i] = at(input, refArg[i])
            }
            flips[name] = f
        }
        self.argmax.append((name, argmax))
    }
}
