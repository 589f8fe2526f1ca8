// The detection networks of alternate training on the engine: the VGG backbone (3×3 convs + ReLU,
// 2×2 max pools after blocks 1–4), the RPN head and the R-CNN head, each with forward, losses and
// a backward that computes nothing below the lowest trainable layer.

import Foundation
import ParamKit

/// conv1_1 … conv5_3 with ReLU, and a pool after the last conv of blocks 1–4 (stride 16, no pool5).
struct Backbone {
    struct Layer {
        let name: String
        let conv: Convolution
        let poolAfter: Bool
    }

    let layers: [Layer]

    init(_ def: NetworkDefinition) {
        let names = def.params.filter { $0.group == "backbone" && $0.name.hasSuffix("_weight") }
        layers = names.map { spec in
            let base = String(spec.name.dropLast("_weight".count))
            let block = Int(base.dropFirst(4).prefix(1))!
            let last = !names.contains { $0.name.hasPrefix("conv\(block)_") && $0.name > spec.name }
            return Layer(name: base, conv: Convolution(kernel: (3, 3), pad: (1, 1), numFilter: spec.shape[0]), poolAfter: last && block < 5)
        }
    }

    struct Cache {
        var inputs: [Blob] = []      // each conv's input
        var outputs: [Blob] = []     // each ReLU's output
        var pools: [(argmax: [Int32], shape: [Int])?] = []
    }

    /// MXNet's name of the top ReLU (the feature map: "relu5_3").
    var topName: String { "relu" + layers.last!.name.dropFirst(4) }

    /// MXNet's name of the pool after layer `i` ("pool1" after conv1_2, … "pool4").
    func poolName(_ i: Int) -> String { "pool" + layers[i].name.dropFirst(4).prefix(1) }

    func forward(_ data: Blob, _ params: ParameterSet, cache: inout Cache, probe: inout ForwardProbe?) -> Blob {
        var x = data
        for layer in layers {
            cache.inputs.append(x)
            var y = ReLU.forward(layer.conv.forward(x, weight: params[layer.name + "_weight"].value, bias: params[layer.name + "_bias"].value))
            let reluName = "relu" + layer.name.dropFirst(4)
            probe?.relu(reluName, &y)
            cache.outputs.append(y)
            if layer.poolAfter {
                var (p, arg) = MaxPool2x2().forward(y)
                probe?.pool(poolName(cache.outputs.count - 1), input: y, referenceInput: reluName, output: &p, argmax: &arg,
                            planeSize: y.shape[2] * y.shape[3], outPlaneSize: p.shape[2] * p.shape[3]) { MaxPool2x2().forward($0).1 }
                cache.pools.append((arg, y.shape))
                x = p
            } else {
                cache.pools.append(nil)
                x = y
            }
        }
        return x
    }

    /// Index of the lowest layer with a trainable parameter (nil: all fixed).
    func lowestTrainable(_ params: ParameterSet) -> Int? {
        layers.firstIndex { !params[$0.name + "_weight"].fixed || !params[$0.name + "_bias"].fixed }
    }

    /// Backward from the feature gradient; stops below the lowest trainable layer. Returns what was
    /// computed per layer ("conv3_2: dW db dX"), for tests and logs.
    @discardableResult
    func backward(_ dFeature: Blob, _ params: ParameterSet, cache: Cache) -> [String] {
        var trace: [String] = []
        guard let lowest = lowestTrainable(params) else { return trace }
        var dy = dFeature
        for i in stride(from: layers.count - 1, through: lowest, by: -1) {
            let layer = layers[i]
            if let pool = cache.pools[i] { dy = MaxPool2x2().backward(dy, argmax: pool.argmax, inputShape: pool.shape) }
            dy = ReLU.backward(dy, output: cache.outputs[i])
            let input = cache.inputs[i], grad = dy
            let (dx, computed) = params.withGradients(layer.name) { w, gw, gb in
                (layer.conv.backward(grad, input: input, weight: w.value, gradWeight: gw, gradBias: gb, inputGrad: i > lowest),
                 (gw == nil ? "" : " dW") + (gb == nil ? "" : " db"))
            }
            trace.append("\(layer.name):" + computed + (dx == nil ? "" : " dX"))
            guard let dx else { break }
            dy = dx
        }
        return trace
    }
}

/// What one training iteration outputs for the metrics (Detection's RPNAcc … RCNNL1Loss read
/// these exactly as rcnn/core/metric.py reads the symbol's outputs).
public struct StepLosses: Sendable {
    /// The softmax output: (N, 2, A·H, W) for the RPN, (R, C) for the R-CNN.
    public var prob: Blob
    /// The weighted smooth-L1 map MakeLoss passes forward.
    public var bboxLoss: Blob
}

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

/// The RPN training network: backbone → rpn_conv_3x3 + ReLU → rpn_cls_score (2A) / rpn_bbox_pred (4A).
public final class RPNNetwork {
    public let definition: NetworkDefinition
    public let params: ParameterSet
    let backbone: Backbone
    let conv3x3: Convolution, cls: Convolution, bbox: Convolution
    /// What the last backward computed in the backbone, top layer first ("conv3_1: dW db").
    public private(set) var backwardTrace: [String] = []
    /// When set, training passes record (and may override) their activations and pooling choices.
    public var probe: ForwardProbe?

    public init(_ def: NetworkDefinition) {
        definition = def
        params = ParameterSet(def.params.filter { $0.group != "rcnn" })
        backbone = Backbone(def)
        let feat = def.params.first { $0.name == "rpn_conv_3x3_weight" }!.shape[0]
        conv3x3 = Convolution(kernel: (3, 3), pad: (1, 1), numFilter: feat)
        cls = Convolution(kernel: (1, 1), numFilter: 2 * def.anchors)
        bbox = Convolution(kernel: (1, 1), numFilter: 4 * def.anchors)
    }

    /// Feature map size for an input size (four 'valid' 2×2 pools).
    public func featureSize(height: Int, width: Int) -> (Int, Int) {
        var (h, w) = (height, width)
        for layer in backbone.layers where layer.poolAfter { h = (h - 2) / 2 + 1; w = (w - 2) / 2 + 1 }
        return (h, w)
    }

    /// Scores (N, 2A, H, W) as probabilities after the (bg, fg) softmax, and box deltas (N, 4A, H, W).
    public func predict(_ data: Blob) -> (prob: Blob, bbox: Blob) {
        var cache = Backbone.Cache()
        var noProbe: ForwardProbe? = nil
        let f = backbone.forward(data, params, cache: &cache, probe: &noProbe)
        let r = ReLU.forward(conv3x3.forward(f, weight: params["rpn_conv_3x3_weight"].value, bias: params["rpn_conv_3x3_bias"].value))
        let score = cls.forward(r, weight: params["rpn_cls_score_weight"].value, bias: params["rpn_cls_score_bias"].value)
        let box = bbox.forward(r, weight: params["rpn_bbox_pred_weight"].value, bias: params["rpn_bbox_pred_bias"].value)
        return (softmaxPairs(score), box)
    }

    /// (N, 2A, H, W) viewed as (N, 2, A·H, W): softmax over the two channels per anchor and cell.
    func softmaxPairs(_ score: Blob) -> Blob {
        let s = score.shape
        var p = SoftmaxOutput.forward(Blob(shape: [s[0], 2, s[1] / 2 * s[2], s[3]], data: score.data))
        p.shape = s
        return p
    }

    /// One forward/backward pass; gradients accumulate into the parameters (zero them first).
    /// label (A·H·W) in (a, h, w) order with −1 ignored; bbox target/weight (1, 4A, H, W).
    /// `bboxGradScale`: MakeLoss's grad_scale on the box loss, 1/RPN_BATCH_SIZE in the reference.
    public func forwardBackward(data: Blob, label: [Float], bboxTarget: Blob, bboxWeight: Blob,
                                bboxGradScale: Float = 1.0 / 256) -> StepLosses {
        var cache = Backbone.Cache()
        let f = backbone.forward(data, params, cache: &cache, probe: &probe)
        let pre = conv3x3.forward(f, weight: params["rpn_conv_3x3_weight"].value, bias: params["rpn_conv_3x3_bias"].value)
        let r = ReLU.forward(pre)
        let score = cls.forward(r, weight: params["rpn_cls_score_weight"].value, bias: params["rpn_cls_score_bias"].value)
        let box = bbox.forward(r, weight: params["rpn_bbox_pred_weight"].value, bias: params["rpn_bbox_pred_bias"].value)
        let s = score.shape
        let pairs = Blob(shape: [s[0], 2, s[1] / 2 * s[2], s[3]], data: score.data)
        let prob = SoftmaxOutput.forward(pairs)
        var dScore = SoftmaxOutput.backwardValid(prob: prob, label: label)
        dScore.shape = s
        let (l1, dBox) = SmoothL1.weightedLoss(pred: box, target: bboxTarget, weight: bboxWeight, sigma: 3, gradScale: bboxGradScale)
        // Heads, then the shared 3×3 conv, then the backbone.
        var dr = Blob(zeros: r.shape)
        for (layer, name, dy) in [(cls, "rpn_cls_score", dScore), (bbox, "rpn_bbox_pred", dBox)] {
            let d = backwardConv(layer, name, dy, input: r, inputGrad: true)!
            for i in 0..<dr.count { dr.data[i] += d.data[i] }
        }
        let needFeature = backbone.lowestTrainable(params) != nil
        backwardTrace = []
        if let df = backwardConv(conv3x3, "rpn_conv_3x3", ReLU.backward(dr, output: r), input: f, inputGrad: needFeature) {
            backwardTrace = backbone.backward(df, params, cache: cache)
        }
        return StepLosses(prob: prob, bboxLoss: l1)
    }

    func backwardConv(_ conv: Convolution, _ name: String, _ dy: Blob, input: Blob, inputGrad: Bool) -> Blob? {
        params.withGradients(name) { w, gw, gb in
            conv.backward(dy, input: input, weight: w.value, gradWeight: gw, gradBias: gb, inputGrad: inputGrad)
        }
    }
}

/// The R-CNN training network: backbone → ROIPooling 7×7 at 1/16 → fc6 → ReLU → dropout → fc7 →
/// ReLU → dropout → cls_score / bbox_pred.
public final class RCNNNetwork {
    public let definition: NetworkDefinition
    public let params: ParameterSet
    let backbone: Backbone
    let roiPool = ROIPooling(pooled: (7, 7), spatialScale: 1.0 / 16)
    let fc6: FullyConnected, fc7: FullyConnected, cls: FullyConnected, bbox: FullyConnected
    /// Dropout probability (0.5 in the reference; 0 turns it off, e.g. to compare with MXNet exactly).
    public var dropout: Float = 0.5
    public var generator: SeededGenerator
    /// What the last backward computed in the backbone, top layer first.
    public private(set) var backwardTrace: [String] = []
    /// When set, training passes record (and may override) their activations and pooling choices.
    public var probe: ForwardProbe?

    public init(_ def: NetworkDefinition, seed: UInt64 = 0) {
        definition = def
        params = ParameterSet(def.params.filter { $0.group != "rpn" && !$0.name.hasSuffix("_test") })
        backbone = Backbone(def)
        func width(_ n: String) -> Int { def.params.first { $0.name == n }!.shape[0] }
        fc6 = FullyConnected(numHidden: width("fc6_weight"))
        fc7 = FullyConnected(numHidden: width("fc7_weight"))
        cls = FullyConnected(numHidden: width("cls_score_weight"))
        bbox = FullyConnected(numHidden: width("bbox_pred_weight"))
        generator = SeededGenerator(seed: seed)
    }

    func fc(_ layer: FullyConnected, _ name: String, _ x: Blob) -> Blob {
        layer.forward(x, weight: params[name + "_weight"].value, bias: params[name + "_bias"].value)
    }

    func backwardFC(_ layer: FullyConnected, _ name: String, _ dy: Blob, input: Blob, inputGrad: Bool) -> Blob? {
        params.withGradients(name) { w, gw, gb in
            layer.backward(dy, input: input, weight: w.value, gradWeight: gw, gradBias: gb, inputGrad: inputGrad)
        }
    }

    /// Class probabilities (R, C) and box deltas (R, 4C) for rois (R, 5) on one image (no dropout).
    public func predict(_ data: Blob, rois: Blob) -> (prob: Blob, bbox: Blob) {
        var cache = Backbone.Cache()
        var noProbe: ForwardProbe? = nil
        let f = backbone.forward(data, params, cache: &cache, probe: &noProbe)
        let (pooled, _) = roiPool.forward(f, rois: rois)
        let h7 = ReLU.forward(fc(fc7, "fc7", ReLU.forward(fc(fc6, "fc6", pooled))))
        return (SoftmaxOutput.forward(fc(cls, "cls_score", h7)), fc(bbox, "bbox_pred", h7))
    }

    /// One forward/backward pass over sampled rois (R, 5) = [batch index, x1, y1, x2, y2] of the
    /// images in `data` (N, 3, H, W), with labels (R), targets and weights (R, 4C). The
    /// classification loss is normalised by R (SoftmaxOutput normalization='batch': every roi of the
    /// batch together), the box loss by `bboxGradScale` (MakeLoss grad_scale, 1/BATCH_ROIS).
    public func forwardBackward(data: Blob, rois: Blob, label: [Float], bboxTarget: Blob, bboxWeight: Blob,
                                bboxGradScale: Float = 1.0 / 128) -> StepLosses {
        var cache = Backbone.Cache()
        let f = backbone.forward(data, params, cache: &cache, probe: &probe)
        var (pooled, argmax) = roiPool.forward(f, rois: rois)
        probe?.pool("roi_pool5", input: f, referenceInput: backbone.topName, output: &pooled, argmax: &argmax,
                    planeSize: nil, outPlaneSize: 1) { roiPool.forward($0, rois: rois).1 }
        var h6 = ReLU.forward(fc(fc6, "fc6", pooled))
        probe?.relu("relu6", &h6)
        let (d6, mask6) = dropout > 0 ? Dropout(p: dropout).forward(h6, using: &generator) : (h6, [])
        var h7 = ReLU.forward(fc(fc7, "fc7", d6))
        probe?.relu("relu7", &h7)
        let (d7, mask7) = dropout > 0 ? Dropout(p: dropout).forward(h7, using: &generator) : (h7, [])
        let prob = SoftmaxOutput.forward(fc(cls, "cls_score", d7))
        let box = fc(bbox, "bbox_pred", d7)
        let dScore = SoftmaxOutput.backwardBatch(prob: prob, label: label)
        let (l1, dBox) = SmoothL1.weightedLoss(pred: box, target: bboxTarget, weight: bboxWeight, sigma: 1, gradScale: bboxGradScale)
        var dd7 = backwardFC(cls, "cls_score", dScore, input: d7, inputGrad: true)!
        let db = backwardFC(bbox, "bbox_pred", dBox, input: d7, inputGrad: true)!
        for i in 0..<dd7.count { dd7.data[i] += db.data[i] }
        let dh7 = ReLU.backward(dropout > 0 ? Dropout(p: dropout).backward(dd7, mask: mask7) : dd7, output: h7)
        let dd6 = backwardFC(fc7, "fc7", dh7, input: d6, inputGrad: true)!
        let dh6 = ReLU.backward(dropout > 0 ? Dropout(p: dropout).backward(dd6, mask: mask6) : dd6, output: h6)
        let needFeature = backbone.lowestTrainable(params) != nil
        backwardTrace = []
        if let dPooled = backwardFC(fc6, "fc6", dh6, input: pooled, inputGrad: needFeature) {
            backwardTrace = backbone.backward(roiPool.backward(dPooled, argmax: argmax, dataShape: f.shape), params, cache: cache)
        }
        return StepLosses(prob: prob, bboxLoss: l1)
    }
}
