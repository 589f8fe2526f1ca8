// The fork's Inception-v3 as graph pieces (symbol_inceptionv3.py; topology in
// ParamKit.InceptionLayout): each Conv unit a bias-free convolution NAME_conv2d, a BatchNorm
// NAME_batchnorm (MXNet's defaults: eps 1e-3, momentum 0.9, fix_gamma, batch statistics in
// training, which update the moving ones) and a ReLU NAME_relu; modules concatenate their towers.
// Widths come from the definition's parameter shapes.

import ParamKit

public enum InceptionGraph: DetectionFamily {
    static func layout(_ def: NetworkDefinition) -> InceptionLayout {
        let widths = Dictionary(uniqueKeysWithValues: def.params.map { ($0.name, $0.shape) })
        return InceptionLayout.v3 { name, _ in widths[name + "_conv2d_weight"]![0] }
    }

    static func unit(_ g: Graph, _ c: InceptionLayout.Conv, _ x: Int, layers: inout [String]) -> Int {
        let conv = g.add(c.name + "_conv2d", ConvolutionOp(kernel: c.kernel, stride: (c.stride, c.stride), pad: c.pad,
                                                           numFilter: c.filters, noBias: true), [x])
        let bn = g.add(c.name + "_batchnorm", BatchNormOp(eps: 1e-3, momentum: 0.9, fixGamma: true, useGlobalStats: false), [conv])
        layers += [c.name + "_conv2d", c.name + "_batchnorm"]
        return g.add(c.name + "_relu", ReLUOp(), [bn])
    }

    static func steps(_ g: Graph, _ steps: [InceptionLayout.Step], _ x: Int, layers: inout [String]) -> Int {
        var x = x
        for step in steps {
            switch step {
            case .conv(let c):
                x = unit(g, c, x, layers: &layers)
            case let .pool(name, max, kernel, stride, pad):
                x = g.add(name, PoolingOp(max ? .max : .avg, kernel: (kernel, kernel), stride: (stride, stride), pad: (pad, pad)), [x])
            }
        }
        return x
    }

    static func module(_ g: Graph, _ m: InceptionLayout.Module, _ x: Int, layers: inout [String]) -> Int {
        var parts: [Int] = []
        for branch in m.branches {
            let y = steps(g, branch.steps, x, layers: &layers)
            if branch.split.isEmpty { parts.append(y) } else { parts += branch.split.map { unit(g, $0, y, layers: &layers) } }
        }
        return g.add(m.concat, ConcatOp(), parts)
    }

    /// The padded stem (conv … pool1, stride 8) and mixed … mixed_7 (768 channels at stride 16).
    static func backbone(_ g: Graph, _ def: NetworkDefinition, data: Int) -> (top: Int, layers: [String]) {
        let l = layout(def)
        var layers: [String] = []
        var x = steps(g, l.stem, data, layers: &layers)
        for m in l.backbone { x = module(g, m, x, layers: &layers) }
        return (x, layers)
    }

    /// roi_pool5 17×17 at 1/16 → mixed_8 (stride 2: 8×8) → mixed_9 → mixed_10 → global_pool (8×8
    /// average) → flatten → cls_score / bbox_pred. The fork has no dropout here.
    static func rcnnHead(_ g: Graph, _ def: NetworkDefinition, feature: Int, rois: Int, dropout: Float) -> (score: Int, box: Int) {
        var layers: [String] = []
        var x = g.add("roi_pool5", ROIPoolingOp(pooled: (17, 17), spatialScale: 1.0 / 16), [feature, rois])
        for m in layout(def).head { x = module(g, m, x, layers: &layers) }
        x = g.add("global_pool", PoolingOp(.avg, kernel: (8, 8), stride: (1, 1)), [x])
        x = g.add("flatten", FlattenOp(), [x])
        return (g.add("cls_score", FullyConnectedOp(numHidden: DetectionGraphs.width(def, "cls_score_weight")), [x]),
                g.add("bbox_pred", FullyConnectedOp(numHidden: DetectionGraphs.width(def, "bbox_pred_weight")), [x]))
    }
}
