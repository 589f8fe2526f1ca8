// The detection networks of alternate training as graphs: the VGG backbone (3×3 convs + ReLU, 2×2
// max pools after blocks 1–4, stride 16), the RPN head with its losses and the R-CNN head with its
// losses, named as the reference's symbols name them (conv1_1 … relu5_3, rpn_cls_score, roi_pool5,
// fc6 … bbox_loss). GraphRun executes them; backward stops below the lowest trainable layer.

import Foundation
import ParamKit

/// The graph pieces of a network family: the shared backbone and the R-CNN head on its feature.
protocol DetectionFamily {
    /// Adds the backbone from `data`; returns its feature value and the names of its nodes with parameters.
    static func backbone(_ g: Graph, _ def: NetworkDefinition, data: Int) -> (top: Int, layers: [String])
    /// Adds the R-CNN head; returns (cls_score, bbox_pred).
    static func rcnnHead(_ g: Graph, _ def: NetworkDefinition, feature: Int, rois: Int, dropout: Float) -> (score: Int, box: Int)
}

/// Graph builders for the VGG family.
public enum VGGGraph: DetectionFamily {
    /// conv1_1 … conv5_3 with ReLU and a 2×2 max pool after the last conv of blocks 1–4; returns
    /// the top value (relu5_3) and the conv names.
    static func backbone(_ g: Graph, _ def: NetworkDefinition, data: Int) -> (top: Int, layers: [String]) {
        let weights = def.params.filter { $0.group == "backbone" && $0.name.hasSuffix("_weight") }
        var x = data
        var convs: [String] = []
        for spec in weights {
            let base = String(spec.name.dropLast("_weight".count))   // conv3_2
            let block = Int(base.dropFirst(4).prefix(1)) ?? 0
            let layer = base.dropFirst(4)                              // 3_2
            x = g.add(base, ConvolutionOp(kernel: (3, 3), pad: (1, 1), numFilter: spec.shape[0]), [x])
            x = g.add("relu" + layer, ReLUOp(), [x])
            convs.append(base)
            let last = !weights.contains { $0.name.hasPrefix("conv\(block)_") && $0.name > spec.name }
            if last && block < 5 { x = g.add("pool\(block)", PoolingOp(.max, kernel: (2, 2), stride: (2, 2)), [x]) }
        }
        return (x, convs)
    }

    static func width(_ def: NetworkDefinition, _ name: String) -> Int { def.params.first { $0.name == name }!.shape[0] }

    /// ROIPooling 7×7 at 1/16 → flatten → fc6 → relu6 → drop6 → fc7 → relu7 → drop7 →
    /// cls_score / bbox_pred: returns (cls_score, bbox_pred).
    static func rcnnHead(_ g: Graph, _ def: NetworkDefinition, feature: Int, rois: Int, dropout: Float) -> (score: Int, box: Int) {
        var x = g.add("roi_pool5", ROIPoolingOp(pooled: (7, 7), spatialScale: 1.0 / 16), [feature, rois])
        x = g.add("flatten", FlattenOp(), [x])
        for k in [6, 7] {
            x = g.add("fc\(k)", FullyConnectedOp(numHidden: width(def, "fc\(k)_weight")), [x])
            x = g.add("relu\(k)", ReLUOp(), [x])
            x = g.add("drop\(k)", DropoutOp(p: dropout), [x])
        }
        return (g.add("cls_score", FullyConnectedOp(numHidden: width(def, "cls_score_weight")), [x]),
                g.add("bbox_pred", FullyConnectedOp(numHidden: width(def, "bbox_pred_weight")), [x]))
    }

}

/// The training and test graphs of alternate training for any family: backbone, RPN head with its
/// losses, R-CNN head with its losses, named as the reference's symbols name them.
public enum DetectionGraphs {
    static func family(_ def: NetworkDefinition) -> any DetectionFamily.Type {
        switch def.family {
        case .vgg: return VGGGraph.self
        case .resnet: return ResNetGraph.self
        }
    }

    static func width(_ def: NetworkDefinition, _ name: String) -> Int { def.params.first { $0.name == name }!.shape[0] }

    /// rpn_conv_3x3 + ReLU → rpn_cls_score (2A) / rpn_bbox_pred (4A), and the score viewed as
    /// (N, 2, A·H, W) for the softmax over (bg, fg): returns (rpn_cls_score_reshape, rpn_bbox_pred).
    static func rpnHead(_ g: Graph, _ def: NetworkDefinition, feature: Int) -> (pairs: Int, box: Int) {
        let c = g.add("rpn_conv_3x3", ConvolutionOp(kernel: (3, 3), pad: (1, 1), numFilter: width(def, "rpn_conv_3x3_weight")), [feature])
        let r = g.add("rpn_relu_3x3", ReLUOp(), [c])
        let score = g.add("rpn_cls_score", ConvolutionOp(kernel: (1, 1), numFilter: 2 * def.anchors), [r])
        let box = g.add("rpn_bbox_pred", ConvolutionOp(kernel: (1, 1), numFilter: 4 * def.anchors), [r])
        return (g.add("rpn_cls_score_reshape", ReshapeOp(shape: [0, 2, -1, 0]), [score]), box)
    }

    /// The RPN training graph: inputs data, rpn_label, rpn_bbox_target, rpn_bbox_weight; outputs
    /// rpn_cls_prob (SoftmaxOutput over (N, 2, A·H, W), ignore −1, normalised by the valid labels)
    /// and rpn_bbox_loss (MakeLoss of weight × smooth_l1(σ=3) with `bboxGradScale`).
    public static func rpn(_ def: NetworkDefinition, bboxGradScale: Float) -> (graph: Graph, backbone: [String]) {
        let g = Graph()
        let data = g.input("data"), label = g.input("rpn_label")
        let target = g.input("rpn_bbox_target"), weight = g.input("rpn_bbox_weight")
        let (top, convs) = family(def).backbone(g, def, data: data)
        let (pairs, box) = rpnHead(g, def, feature: top)
        g.add("rpn_cls_prob", SoftmaxOutputOp(normalization: .valid, useIgnore: true, ignoreLabel: -1, multiOutput: true), [pairs, label])
        boxLoss(g, prefix: "rpn_", pred: box, target: target, weight: weight, sigma: 3, gradScale: bboxGradScale)
        return (g, convs)
    }

    /// The R-CNN training graph: inputs data, rois, label, bbox_target, bbox_weight; outputs
    /// cls_prob (normalised by the rois of the batch) and bbox_loss (σ = 1, `bboxGradScale`).
    public static func rcnn(_ def: NetworkDefinition, dropout: Float, bboxGradScale: Float) -> (graph: Graph, backbone: [String]) {
        let g = Graph()
        let data = g.input("data"), rois = g.input("rois"), label = g.input("label")
        let target = g.input("bbox_target"), weight = g.input("bbox_weight")
        let (top, convs) = family(def).backbone(g, def, data: data)
        let (score, box) = family(def).rcnnHead(g, def, feature: top, rois: rois, dropout: dropout)
        g.add("cls_prob", SoftmaxOutputOp(normalization: .batch), [score, label])
        boxLoss(g, prefix: "", pred: box, target: target, weight: weight, sigma: 1, gradScale: bboxGradScale)
        return (g, convs)
    }

    /// The test network of a combined model: one backbone under both heads; inputs data and rois,
    /// outputs rpn_cls_prob, rpn_bbox_pred, cls_prob, bbox_pred. Also returns the feature map's name.
    public static func detection(_ def: NetworkDefinition) -> (graph: Graph, feature: String) {
        let g = Graph()
        let data = g.input("data"), rois = g.input("rois")
        let (top, _) = family(def).backbone(g, def, data: data)
        let (pairs, _) = rpnHead(g, def, feature: top)
        g.add("rpn_cls_prob", SoftmaxOutputOp(multiOutput: true), [pairs])
        let (score, _) = family(def).rcnnHead(g, def, feature: top, rois: rois, dropout: 0.5)
        g.add("cls_prob", SoftmaxOutputOp(), [score])
        return (g, g.name(ofValue: top))
    }

    /// weight × smooth_l1(σ, pred − target) → MakeLoss(grad_scale), as the reference writes it.
    static func boxLoss(_ g: Graph, prefix: String, pred: Int, target: Int, weight: Int, sigma: Float, gradScale: Float) {
        let diff = g.add(prefix + "bbox_diff", ElementwiseOp(.sub), [pred, target])
        let l1 = g.add(prefix + "bbox_loss_", SmoothL1Op(sigma: sigma), [diff])
        let weighted = g.add(prefix + "bbox_weighted", ElementwiseOp(.mul), [weight, l1])
        g.add(prefix + "bbox_loss", MakeLossOp(gradScale: gradScale), [weighted])
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
    /// What the last backward computed in the backbone, top layer first ("conv3_1: dW db").
    public private(set) var backwardTrace: [String] = []
    /// When set, training passes record (and may override) their activations and pooling choices.
    public var probe: ForwardProbe?
    private var built: (scale: Float, graph: Graph, backbone: Set<String>)

    public init(_ def: NetworkDefinition) {
        definition = def
        params = ParameterSet(def.params.filter { $0.group != "rcnn" })
        let (g, convs) = DetectionGraphs.rpn(def, bboxGradScale: 1.0 / 256)
        built = (1.0 / 256, g, Set(convs))
    }

    /// The training graph (rebuilt when the box-loss scale changes).
    public func graph(bboxGradScale: Float = 1.0 / 256) -> Graph {
        if built.scale != bboxGradScale {
            let (g, convs) = DetectionGraphs.rpn(definition, bboxGradScale: bboxGradScale)
            built = (bboxGradScale, g, Set(convs))
        }
        return built.graph
    }

    /// Feature map size for an input size.
    public func featureSize(height: Int, width: Int) -> (Int, Int) {
        let g = built.graph
        let shapes = (try? g.valueShapes(inputs: ["data": [1, 3, height, width]])) ?? []
        guard let s = g.id("rpn_cls_score").flatMap({ shapes.indices.contains($0) ? shapes[$0] : nil }) else { return (0, 0) }
        return (s[2], s[3])
    }

    /// Scores (N, 2A, H, W) as probabilities after the (bg, fg) softmax, and box deltas (N, 4A, H, W).
    public func predict(_ data: Blob) -> (prob: Blob, bbox: Blob) {
        var run = GraphRun(built.graph, params: params, context: OpContext(training: false))
        run.set("data", data)
        run.forward(["rpn_cls_prob", "rpn_bbox_pred"])
        let box = run["rpn_bbox_pred"]
        var prob = run["rpn_cls_prob"]
        prob.shape = [box.shape[0], box.shape[1] / 2, box.shape[2], box.shape[3]]
        return (prob, box)
    }

    /// One forward/backward pass; gradients accumulate into the parameters (zero them first).
    /// label (A·H·W) in (a, h, w) order with −1 ignored; bbox target/weight (1, 4A, H, W).
    /// `bboxGradScale`: MakeLoss's grad_scale on the box loss, 1/RPN_BATCH_SIZE in the reference.
    public func forwardBackward(data: Blob, label: [Float], bboxTarget: Blob, bboxWeight: Blob,
                                bboxGradScale: Float = 1.0 / 256) -> StepLosses {
        var run = GraphRun(graph(bboxGradScale: bboxGradScale), params: params, context: OpContext(training: true))
        run.probe = probe
        run.set("data", data)
        run.set("rpn_label", Blob(shape: [data.shape[0], label.count / max(data.shape[0], 1)], data: label))
        run.set("rpn_bbox_target", bboxTarget)
        run.set("rpn_bbox_weight", bboxWeight)
        run.forward(["rpn_cls_prob", "rpn_bbox_loss"])
        let losses = StepLosses(prob: run["rpn_cls_prob"], bboxLoss: run["rpn_bbox_loss"])
        probe = run.probe
        let backbone = built.backbone
        backwardTrace = run.backward().filter { backbone.contains($0.node) }.map { $0.node + ":" + $0.computed }
        return losses
    }
}

/// The R-CNN training network: backbone → ROIPooling 7×7 at 1/16 → fc6 → ReLU → dropout → fc7 →
/// ReLU → dropout → cls_score / bbox_pred.
public final class RCNNNetwork {
    public let definition: NetworkDefinition
    public let params: ParameterSet
    /// Dropout probability (0.5 in the reference; 0 turns it off, e.g. to compare with MXNet exactly).
    public var dropout: Float = 0.5
    public var generator: SeededGenerator
    /// What the last backward computed in the backbone, top layer first.
    public private(set) var backwardTrace: [String] = []
    /// When set, training passes record (and may override) their activations and pooling choices.
    public var probe: ForwardProbe?
    private var built: (dropout: Float, scale: Float, graph: Graph, backbone: Set<String>)

    public init(_ def: NetworkDefinition, seed: UInt64 = 0) {
        definition = def
        params = ParameterSet(def.params.filter { $0.group != "rpn" && !$0.name.hasSuffix("_test") })
        generator = SeededGenerator(seed: seed)
        let (g, convs) = DetectionGraphs.rcnn(def, dropout: 0.5, bboxGradScale: 1.0 / 128)
        built = (0.5, 1.0 / 128, g, Set(convs))
    }

    /// The training graph for the current dropout and a box-loss scale.
    public func graph(bboxGradScale: Float = 1.0 / 128) -> Graph {
        if built.dropout != dropout || built.scale != bboxGradScale {
            let (g, convs) = DetectionGraphs.rcnn(definition, dropout: dropout, bboxGradScale: bboxGradScale)
            built = (dropout, bboxGradScale, g, Set(convs))
        }
        return built.graph
    }

    /// Class probabilities (R, C) and box deltas (R, 4C) for rois (R, 5) on one image (no dropout).
    public func predict(_ data: Blob, rois: Blob) -> (prob: Blob, bbox: Blob) {
        var run = GraphRun(built.graph, params: params, context: OpContext(training: false))
        run.set("data", data)
        run.set("rois", rois)
        run.forward(["cls_prob", "bbox_pred"])
        return (run["cls_prob"], run["bbox_pred"])
    }

    /// One forward/backward pass over sampled rois (R, 5) = [batch index, x1, y1, x2, y2] of the
    /// images in `data` (N, 3, H, W), with labels (R), targets and weights (R, 4C). The
    /// classification loss is normalised by R (SoftmaxOutput normalization='batch': every roi of the
    /// batch together), the box loss by `bboxGradScale` (MakeLoss grad_scale, 1/BATCH_ROIS).
    public func forwardBackward(data: Blob, rois: Blob, label: [Float], bboxTarget: Blob, bboxWeight: Blob,
                                bboxGradScale: Float = 1.0 / 128) -> StepLosses {
        var run = GraphRun(graph(bboxGradScale: bboxGradScale), params: params, context: OpContext(training: true, generator: generator))
        run.probe = probe
        run.set("data", data)
        run.set("rois", rois)
        run.set("label", Blob(shape: [label.count], data: label))
        run.set("bbox_target", bboxTarget)
        run.set("bbox_weight", bboxWeight)
        run.forward(["cls_prob", "bbox_loss"])
        let losses = StepLosses(prob: run["cls_prob"], bboxLoss: run["bbox_loss"])
        probe = run.probe
        let backbone = built.backbone
        backwardTrace = run.backward().filter { backbone.contains($0.node) }.map { $0.node + ":" + $0.computed }
        generator = run.context.generator
        return losses
    }
}

/// A combined model as the test network (im_detect): the backbone runs once per image, feeding the
/// RPN head and then, for the rois chosen from its proposals, the R-CNN head.
public final class DetectionNetwork {
    public let definition: NetworkDefinition
    public let params: ParameterSet
    let graph: Graph
    let feature: String

    public init(_ def: NetworkDefinition) {
        definition = def
        params = ParameterSet(def.params.filter { !$0.name.hasSuffix("_test") })
        (graph, feature) = DetectionGraphs.detection(def)
    }

    /// One image's pass: the RPN's outputs, and the feature map kept for `classify`.
    public struct Pass {
        fileprivate var run: GraphRun
        /// (N, 2A, H, W) probabilities after the (bg, fg) softmax.
        public let rpnProb: Blob
        /// (N, 4A, H, W) box deltas.
        public let rpnBBox: Blob
    }

    public func propose(_ data: Blob) -> Pass {
        var run = GraphRun(graph, params: params, context: OpContext(training: false))
        run.set("data", data)
        run.forward(["rpn_cls_prob", "rpn_bbox_pred"], keep: [feature])
        let box = run["rpn_bbox_pred"]
        var prob = run["rpn_cls_prob"]
        prob.shape = [box.shape[0], box.shape[1] / 2, box.shape[2], box.shape[3]]
        return Pass(run: run, rpnProb: prob, rpnBBox: box)
    }

    /// Class probabilities (R, C) and box deltas (R, 4C) for rois (R, 5) of the pass's image.
    public func classify(_ pass: inout Pass, rois: Blob) -> (prob: Blob, bbox: Blob) {
        pass.run.set("rois", rois)
        pass.run.forward(["cls_prob", "bbox_pred"])
        return (pass.run["cls_prob"], pass.run["bbox_pred"])
    }
}
