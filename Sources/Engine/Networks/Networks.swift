// The networks the stages train and run: RPNNetwork and RCNNNetwork (one training step each, on
// their family's graph) and DetectionNetwork (the test network of a combined model).

import Foundation
import ParamKit

/// What one training iteration outputs for the metrics (Detection's RPNAcc … RCNNL1Loss read
/// these exactly as rcnn/core/metric.py reads the symbol's outputs).
public struct StepLosses: Sendable {
    /// The softmax output: (N, 2, A·H, W) for the RPN, (R, C) for the R-CNN.
    public var prob: Blob
    /// The weighted smooth-L1 map MakeLoss passes forward.
    public var bboxLoss: Blob
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
        return rpnOutputs(run)
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
        let losses: StepLosses
        (losses, backwardTrace, probe) = trainingStep(&run, prob: "rpn_cls_prob", bboxLoss: "rpn_bbox_loss", backbone: built.backbone)
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
        let losses: StepLosses
        (losses, backwardTrace, probe) = trainingStep(&run, prob: "cls_prob", bboxLoss: "bbox_loss", backbone: built.backbone)
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
        let (prob, box) = rpnOutputs(run)
        return Pass(run: run, rpnProb: prob, rpnBBox: box)
    }

    /// Class probabilities (R, C) and box deltas (R, 4C) for rois (R, 5) of the pass's image.
    public func classify(_ pass: inout Pass, rois: Blob) -> (prob: Blob, bbox: Blob) {
        pass.run.set("rois", rois)
        pass.run.forward(["cls_prob", "bbox_pred"])
        return (pass.run["cls_prob"], pass.run["bbox_pred"])
    }
}

/// The RPN's test outputs: probabilities back in the score's (N, 2A, H, W) layout, and the deltas.
func rpnOutputs(_ run: GraphRun) -> (prob: Blob, bbox: Blob) {
    let box = run["rpn_bbox_pred"]
    var prob = run["rpn_cls_prob"]
    prob.shape = [box.shape[0], box.shape[1] / 2, box.shape[2], box.shape[3]]
    return (prob, box)
}

/// Forward to the two losses, then backward: the losses for the metrics, what the backbone's
/// layers computed ("conv3_1: dW db"), and the probe as the pass left it.
func trainingStep(_ run: inout GraphRun, prob: String, bboxLoss: String, backbone: Set<String>)
    -> (StepLosses, [String], ForwardProbe?) {
    run.forward([prob, bboxLoss])
    let losses = StepLosses(prob: run[prob], bboxLoss: run[bboxLoss])
    let trace = run.backward().filter { backbone.contains($0.node) }.map { $0.node + ":" + $0.computed }
    return (losses, trace, run.probe)
}
