// The reference's pre-activation ResNet as graph pieces (symbol_resnet.py): BatchNorm everywhere on
// the moving statistics (use_global_stats, eps 2e-5), convolutions without bias, units named
// stage{s}_unit{u}_{bn1,relu1,conv1,bn2,relu2,conv2,bn3,relu3,conv3,sc,plus}. The unit count per
// stage and every width come from the definition's parameter names and shapes.

import ParamKit

public enum ResNetGraph: DetectionFamily {
    static let eps: Float = 2e-5

    static func bn(_ g: Graph, _ name: String, _ x: Int, fixGamma: Bool = false) -> Int {
        g.add(name, BatchNormOp(eps: eps, momentum: 0.9, fixGamma: fixGamma, useGlobalStats: true), [x])
    }

    static func conv(_ g: Graph, _ name: String, _ x: Int, _ def: NetworkDefinition, kernel: Int, stride: Int = 1) -> Int {
        let shape = def.params.first { $0.name == name + "_weight" }!.shape
        return g.add(name, ConvolutionOp(kernel: (kernel, kernel), stride: (stride, stride), pad: (kernel / 2, kernel / 2),
                                         numFilter: shape[0], noBias: true), [x])
    }

    /// The units of stage `s` (1-based) in the definition.
    static func units(_ def: NetworkDefinition, stage s: Int) -> Int {
        def.params.filter { $0.name.hasPrefix("stage\(s)_unit") && $0.name.hasSuffix("_conv1_weight") }.count
    }

    /// One bottleneck unit; returns its sum and the nodes with parameters.
    static func unit(_ g: Graph, _ def: NetworkDefinition, _ name: String, _ x: Int, stride: Int) -> (Int, [String]) {
        let act1 = g.add(name + "_relu1", ReLUOp(), [bn(g, name + "_bn1", x)])
        let c1 = conv(g, name + "_conv1", act1, def, kernel: 1)
        let act2 = g.add(name + "_relu2", ReLUOp(), [bn(g, name + "_bn2", c1)])
        let c2 = conv(g, name + "_conv2", act2, def, kernel: 3, stride: stride)
        let act3 = g.add(name + "_relu3", ReLUOp(), [bn(g, name + "_bn3", c2)])
        let c3 = conv(g, name + "_conv3", act3, def, kernel: 1)
        var layers = ["_bn1", "_conv1", "_bn2", "_conv2", "_bn3", "_conv3"].map { name + $0 }
        var shortcut = x
        if def.params.contains(where: { $0.name == name + "_sc_weight" }) {
            shortcut = conv(g, name + "_sc", act1, def, kernel: 1, stride: stride)
            layers.append(name + "_sc")
        }
        return (g.add(name + "_plus", ElementwiseOp(.add), [c3, shortcut]), layers)
    }

    static func stage(_ g: Graph, _ def: NetworkDefinition, _ s: Int, _ x: Int) -> (Int, [String]) {
        var x = x, layers: [String] = []
        for u in 1...max(units(def, stage: s), 1) {
            let (y, l) = unit(g, def, "stage\(s)_unit\(u)", x, stride: u == 1 && s > 1 ? 2 : 1)
            x = y
            layers += l
        }
        return (x, layers)
    }

    /// bn_data → conv0 7×7/2 → bn0 → relu0 → pool0 3×3/2 pad 1 → stages 1–3 (stride 16).
    static func backbone(_ g: Graph, _ def: NetworkDefinition, data: Int) -> (top: Int, layers: [String]) {
        var x = bn(g, "bn_data", data, fixGamma: true)
        x = conv(g, "conv0", x, def, kernel: 7, stride: 2)
        x = g.add("relu0", ReLUOp(), [bn(g, "bn0", x)])
        x = g.add("pool0", PoolingOp(.max, kernel: (3, 3), stride: (2, 2), pad: (1, 1)), [x])
        var layers = ["bn_data", "conv0", "bn0"]
        for s in 1...3 {
            let (y, l) = stage(g, def, s, x)
            x = y
            layers += l
        }
        return (x, layers)
    }

    /// roi_pool5 14×14 at 1/16 → stage 4 → bn1 → relu1 → pool1 (global average) → cls_score / bbox_pred.
    static func rcnnHead(_ g: Graph, _ def: NetworkDefinition, feature: Int, rois: Int, dropout: Float) -> (score: Int, box: Int) {
        var x = g.add("roi_pool5", ROIPoolingOp(pooled: (14, 14), spatialScale: 1.0 / 16), [feature, rois])
        (x, _) = stage(g, def, 4, x)
        x = g.add("relu1", ReLUOp(), [bn(g, "bn1", x)])
        x = g.add("pool1", PoolingOp(.avg, kernel: (7, 7), global: true), [x])
        return (g.add("cls_score", FullyConnectedOp(numHidden: DetectionGraphs.width(def, "cls_score_weight")), [x]),
                g.add("bbox_pred", FullyConnectedOp(numHidden: DetectionGraphs.width(def, "bbox_pred_weight")), [x]))
    }
}
