// The VGG backbone (3×3 convs + ReLU, 2×2 max pools after blocks 1–4, stride 16) and the VGG R-CNN
// head (ROI pooling 7×7, fc6 and fc7 with ReLU and dropout), named as the reference's symbol_vgg.

import Foundation
import ParamKit

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
