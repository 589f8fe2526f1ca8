// The topology of the Inception-v3 detection network of the reference's fork (likelyzhao/mxnet,
// dev-faster-rcnn, rcnn/symbol/symbol_inceptionv3.py), as data: a padded stem, the modules
// mixed … mixed_7 as the shared backbone (768 channels at stride 16), and mixed_8 … mixed_10 as the
// R-CNN head after 17×17 ROI pooling. Every convolution is a "Conv" unit: a bias-free convolution
// NAME_conv2d, a BatchNorm NAME_batchnorm (fix_gamma, batch statistics in training) and a ReLU
// NAME_relu. `NetworkDefinition` turns the layout into parameters; the engine into a graph. Only
// the widths vary (the tiny twin divides them); names, kernels, strides and pads are the fork's.

public struct InceptionLayout: Sendable {
    /// One Conv unit: NAME_conv2d (filters, kernel, stride, pad per axis), NAME_batchnorm, NAME_relu.
    public struct Conv: Sendable {
        public var name: String
        public var filters: Int
        public var kernel: (Int, Int)
        public var stride: Int
        public var pad: (Int, Int)
    }

    public enum Step: Sendable {
        case conv(Conv)
        /// A max or average pooling (MXNet's 'valid' convention, count_include_pad).
        case pool(name: String, max: Bool, kernel: Int, stride: Int, pad: Int)
    }

    /// A tower of a module: its steps in order, then optionally `split`, Conv units that each read
    /// the tower's last output and each become a part of the module's concatenation (module E).
    public struct Branch: Sendable {
        public var steps: [Step]
        public var split: [Conv] = []
    }

    /// A module: towers concatenated over channels by `ch_concat_NAME_chconcat`.
    public struct Module: Sendable {
        public var name: String
        public var branches: [Branch]
        public var concat: String { "ch_concat_\(name)_chconcat" }
    }

    public var stem: [Step]
    /// mixed … mixed_7: the shared backbone.
    public var backbone: [Module]
    /// mixed_8 … mixed_10: the R-CNN head after roi_pool5.
    public var head: [Module]

    /// The fork's Inception-v3 with each convolution's width from `width(name, fork's width)`.
    public static func v3(width: (String, Int) -> Int) -> InceptionLayout {
        func conv(_ name: String, _ filters: Int, _ kernel: (Int, Int) = (1, 1), stride: Int = 1, pad: (Int, Int) = (0, 0)) -> Conv {
            Conv(name: name, filters: width(name, filters), kernel: kernel, stride: stride, pad: pad)
        }
        func c(_ name: String, _ filters: Int, _ kernel: (Int, Int) = (1, 1), stride: Int = 1, pad: (Int, Int) = (0, 0)) -> Step {
            .conv(conv(name, filters, kernel, stride: stride, pad: pad))
        }
        func pool(_ kind: String, _ module: String, stride: Int, pad: Int) -> Step {
            .pool(name: "\(kind)_pool_\(module)_pool", max: kind == "max", kernel: 3, stride: stride, pad: pad)
        }
        // Inception7A: 1×1 | 1×1 → 5×5 | 1×1 → 3×3 → 3×3 | pool 3×3/1 → 1×1.
        func a(_ n: String, _ proj: Int) -> Module {
            Module(name: n, branches: [
                Branch(steps: [c("\(n)_conv", 64)]),
                Branch(steps: [c("\(n)_tower_conv", 48), c("\(n)_tower_conv_1", 64, (5, 5), pad: (2, 2))]),
                Branch(steps: [c("\(n)_tower_1_conv", 64), c("\(n)_tower_1_conv_1", 96, (3, 3), pad: (1, 1)),
                               c("\(n)_tower_1_conv_2", 96, (3, 3), pad: (1, 1))]),
                Branch(steps: [pool("avg", n, stride: 1, pad: 1), c("\(n)_tower_2_conv", proj)]),
            ])
        }
        // Inception7B (stride 2): 3×3/2 | 1×1 → 3×3 → 3×3/2 | max pool 3×3/2, all padded by 1.
        func b(_ n: String) -> Module {
            Module(name: n, branches: [
                Branch(steps: [c("\(n)_conv", 384, (3, 3), stride: 2, pad: (1, 1))]),
                Branch(steps: [c("\(n)_tower_conv", 64), c("\(n)_tower_conv_1", 96, (3, 3), pad: (1, 1)),
                               c("\(n)_tower_conv_2", 96, (3, 3), stride: 2, pad: (1, 1))]),
                Branch(steps: [pool("max", n, stride: 2, pad: 1)]),
            ])
        }
        // Inception7C: 1×1 | 1×1 → 1×7 → 7×1 | 1×1 → 7×1 → 1×7 → 7×1 → 1×7 | avg pool → 1×1.
        func cModule(_ n: String, _ d7: Int) -> Module {
            Module(name: n, branches: [
                Branch(steps: [c("\(n)_conv", 192)]),
                Branch(steps: [c("\(n)_tower_conv", d7), c("\(n)_tower_conv_1", d7, (1, 7), pad: (0, 3)),
                               c("\(n)_tower_conv_2", 192, (7, 1), pad: (3, 0))]),
                Branch(steps: [c("\(n)_tower_1_conv", d7), c("\(n)_tower_1_conv_1", d7, (7, 1), pad: (3, 0)),
                               c("\(n)_tower_1_conv_2", d7, (1, 7), pad: (0, 3)), c("\(n)_tower_1_conv_3", d7, (7, 1), pad: (3, 0)),
                               c("\(n)_tower_1_conv_4", 192, (1, 7), pad: (0, 3))]),
                Branch(steps: [pool("avg", n, stride: 1, pad: 1), c("\(n)_tower_2_conv", 192)]),
            ])
        }
        // Inception7D (stride 2, unpadded): 1×1 → 3×3/2 | 1×1 → 1×7 → 7×1 → 3×3/2 | max pool 3×3/2.
        func d(_ n: String) -> Module {
            Module(name: n, branches: [
                Branch(steps: [c("\(n)_tower_conv", 192), c("\(n)_tower_conv_1", 320, (3, 3), stride: 2)]),
                Branch(steps: [c("\(n)_tower_1_conv", 192), c("\(n)_tower_1_conv_1", 192, (1, 7), pad: (0, 3)),
                               c("\(n)_tower_1_conv_2", 192, (7, 1), pad: (3, 0)), c("\(n)_tower_1_conv_3", 192, (3, 3), stride: 2)]),
                Branch(steps: [pool("max", n, stride: 2, pad: 0)]),
            ])
        }
        // Inception7E: 1×1 | 1×1 → (1×3, 3×1) | 1×1 → 3×3 → (1×3, 3×1) | pool → 1×1.
        func e(_ n: String, _ poolKind: String) -> Module {
            Module(name: n, branches: [
                Branch(steps: [c("\(n)_conv", 320)]),
                Branch(steps: [c("\(n)_tower_conv", 384)],
                       split: [conv("\(n)_tower_mixed_conv", 384, (1, 3), pad: (0, 1)), conv("\(n)_tower_mixed_conv_1", 384, (3, 1), pad: (1, 0))]),
                Branch(steps: [c("\(n)_tower_1_conv", 448), c("\(n)_tower_1_conv_1", 384, (3, 3), pad: (1, 1))],
                       split: [conv("\(n)_tower_1_mixed_conv", 384, (1, 3), pad: (0, 1)), conv("\(n)_tower_1_mixed_conv_1", 384, (3, 1), pad: (1, 0))]),
                Branch(steps: [pool(poolKind, n, stride: 1, pad: 1), c("\(n)_tower_2_conv", 192)]),
            ])
        }
        let stem: [Step] = [
            c("conv", 32, (3, 3), stride: 2, pad: (1, 1)), c("conv_1", 32, (3, 3), pad: (1, 1)), c("conv_2", 64, (3, 3), pad: (1, 1)),
            .pool(name: "pool", max: true, kernel: 3, stride: 2, pad: 1),
            c("conv_3", 80), c("conv_4", 192, (3, 3), pad: (1, 1)),
            .pool(name: "pool1", max: true, kernel: 3, stride: 2, pad: 1),
        ]
        return InceptionLayout(stem: stem,
                               backbone: [a("mixed", 32), a("mixed_1", 64), a("mixed_2", 64), b("mixed_3"),
                                          cModule("mixed_4", 128), cModule("mixed_5", 160), cModule("mixed_6", 160), cModule("mixed_7", 192)],
                               head: [d("mixed_8"), e("mixed_9", "avg"), e("mixed_10", "max")])
    }

    /// Channels out of a module given the channels into it.
    public static func channels(_ module: Module, input: Int) -> Int {
        module.branches.reduce(0) { total, branch in
            if !branch.split.isEmpty { return total + branch.split.reduce(0) { $0 + $1.filters } }
            var c = input
            for case .conv(let conv) in branch.steps { c = conv.filters }
            return total + c
        }
    }
}
