// The graphs of alternate training for any network family: the RPN training graph, the R-CNN
// training graph and the test graph (both heads over one backbone), with the reference's losses.

import Foundation
import ParamKit

/// The graph pieces of a network family: the shared backbone and the R-CNN head on its feature.
protocol DetectionFamily {
    /// Adds the backbone from `data`; returns its feature value and the names of its nodes with parameters.
    static func backbone(_ g: Graph, _ def: NetworkDefinition, data: Int) -> (top: Int, layers: [String])
    /// Adds the R-CNN head; returns (cls_score, bbox_pred).
    static func rcnnHead(_ g: Graph, _ def: NetworkDefinition, feature: Int, rois: Int, dropout: Float) -> (score: Int, box: Int)
}

/// The training and test graphs of alternate training for any family: backbone, RPN head with its
/// losses, R-CNN head with its losses, named as the reference's symbols name them.
public enum DetectionGraphs {
    static func family(_ def: NetworkDefinition) -> any DetectionFamily.Type {
        switch def.family {
        case .vgg: return VGGGraph.self
        case .resnet: return ResNetGraph.self
        case .inception: return InceptionGraph.self
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
