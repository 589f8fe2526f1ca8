// Network definitions as data: every parameter's name, shape, role, group and default
// initialisation, for VGG16, ResNet-101 and Inception-v3 Faster R-CNN and their small twins
// tiny-vgg, tiny-resnet and tiny-inception (same names and topology, few channels). `init` and the
// training engine both build from these.

public enum Initialisation: Sendable, Equatable, CustomStringConvertible {
    /// Comes from the pretrained (ImageNet) checkpoint.
    case pretrained
    /// Gaussian with mean 0 and this standard deviation (MXNet's mx.random.normal(0, σ)).
    case normal(std: Double)
    case zeros
    /// All 1 (a BatchNorm's gamma and moving variance when not pretrained, as MXNet initialises them).
    case ones

    public var description: String {
        switch self {
        case .pretrained: return "pretrained"
        case let .normal(std): return "normal(0, \(std))"
        case .zeros: return "zeros"
        case .ones: return "ones"
        }
    }

    /// Draws a tensor's values: normal from the stream seeded by (seed, key), e.g. key
    /// "arg:rpn_cls_score_weight", so the same seed gives the same bytes whoever draws them (`init`,
    /// or a training stage redrawing a head); zeros or ones. `.pretrained` has nothing to draw: zeros.
    public func fill(_ values: UnsafeMutableBufferPointer<Float>, seed: UInt64, key: String) {
        switch self {
        case let .normal(std):
            var g = SeededGenerator(seed: seed, name: key)
            g.fillNormal(values, std: std)
        case .ones: values.initialize(repeating: 1)
        case .zeros, .pretrained: values.initialize(repeating: 0)
        }
    }

    /// How a tensor that should be pretrained starts when there is no pretrained file (training from
    /// scratch): weights He-normal N(0, √(2/fan-in)), BatchNorm gamma and moving variance 1, the rest
    /// (biases, beta, moving mean) 0 — MXNet's own initialisation of each.
    public static func fromScratch(_ spec: ParamSpec) -> Initialisation {
        if spec.name.hasSuffix("_gamma") || spec.name.hasSuffix("_moving_var") { return .ones }
        guard spec.name.hasSuffix("_weight") else { return .zeros }
        let fanIn = spec.shape.dropFirst().reduce(1, *)
        return .normal(std: (2.0 / Double(max(fanIn, 1))).squareRoot())
    }

    /// A head's start for a tensor the pretrained file lacks (`--missing init`): weights N(0, 0.01),
    /// BatchNorm gamma and moving variance 1, the rest 0.
    public static func headFallback(_ spec: ParamSpec) -> Initialisation {
        if spec.name.hasSuffix("_gamma") || spec.name.hasSuffix("_moving_var") { return .ones }
        return spec.name.hasSuffix("_weight") ? .normal(std: 0.01) : .zeros
    }
}

public struct ParamSpec: Sendable {
    public var name: String
    public var role: Role
    public var shape: [Int]
    /// `backbone`, `rpn` or `rcnn`: heads are selected by group.
    public var group: String
    /// How a head parameter starts (the reference's random init); backbone parameters are pretrained.
    public var initialisation: Initialisation

    public var info: TensorInfo { TensorInfo(name: name, role: role, dtype: .float32, shape: shape) }

    public init(name: String, role: Role, shape: [Int], group: String, initialisation: Initialisation) {
        self.name = name
        self.role = role
        self.shape = shape
        self.group = group
        self.initialisation = initialisation
    }
}

public struct NetworkDefinition: Sendable {
    public var name: String
    public var family: NetworkFamily
    public var classes: Int
    public var anchors: Int
    public var params: [ParamSpec]

    public static let names = ["vgg16", "tiny-vgg", "resnet-101", "tiny-resnet", "inception-v3", "tiny-inception"]

    /// A built-in network by name, or a network file (`NetworkFile`) by path.
    public static func named(_ name: String, classes: Int? = nil, anchors: Int? = nil, width: Int = 1) throws -> NetworkDefinition {
        if NetworkFile.isPath(name) {
            var file = try NetworkFile.load(path: name)
            guard width == 1 else { throw UsageError("\(name): a width multiplier applies to the built-in tiny networks; write the widths in the file", setting: "width") }
            if let classes { file.classes = classes }
            if let anchors { file.anchors = anchors }
            return file.definition
        }
        switch name {
        case "vgg16":
            return vgg(name: name, channels: [64, 128, 256, 512, 512], fc: 4096, classes: classes ?? 21, anchors: anchors ?? 9)
        case "tiny-vgg":
            guard width >= 1 && width <= 64 else { throw UsageError("the width multiplier must be 1…64, got \(width)", setting: "width") }
            return vgg(name: name, channels: [4, 8, 8, 16, 16].map { $0 * width }, fc: 32 * width,
                       classes: classes ?? 4, anchors: anchors ?? 9)
        case "resnet-101":
            return resnet(name: name, stem: 64, filters: [256, 512, 1024, 2048], units: [3, 4, 23, 3], rpn: 512,
                          classes: classes ?? 21, anchors: anchors ?? 9)
        case "tiny-resnet":
            guard width >= 1 && width <= 64 else { throw UsageError("the width multiplier must be 1…64, got \(width)", setting: "width") }
            return resnet(name: name, stem: 4 * width, filters: [8, 16, 32, 64].map { $0 * width }, units: [3, 4, 23, 3],
                          rpn: 16 * width, classes: classes ?? 4, anchors: anchors ?? 9)
        case "inception-v3":
            return inception(name: name, layout: InceptionLayout.v3 { $1 }, rpn: 512, classes: classes ?? 21, anchors: anchors ?? 9)
        case "tiny-inception":
            // Every width of the fork's divided by 16 (by 16/N with --width N): 2 … 28 channels.
            guard width >= 1 && width <= 16 else { throw UsageError("tiny-inception's width multiplier must be 1…16, got \(width)", setting: "width") }
            return inception(name: name, layout: InceptionLayout.v3 { max(1, $1 * width / 16) }, rpn: 32 * width,
                             classes: classes ?? 4, anchors: anchors ?? 9)
        default:
            throw UsageError("unknown network '\(name)': choose one of \(names.joined(separator: ", ")), or give a network file (NAME.yaml)")
        }
    }

    /// VGG16's layout (13 convs in 5 blocks, RPN head on conv5_3, ROI-pooled 7×7 R-CNN head) with
    /// the given channel widths per block.
    static func vgg(name: String, channels: [Int], fc: Int, classes: Int, anchors: Int) -> NetworkDefinition {
        var params: [ParamSpec] = []
        func add(_ n: String, _ shape: [Int], _ group: String, _ initialisation: Initialisation) {
            params.append(ParamSpec(name: n, role: .arg, shape: shape, group: group, initialisation: initialisation))
        }
        var inChannels = 3
        for (block, convs) in [2, 2, 3, 3, 3].enumerated() {
            for k in 1...convs {
                let out = channels[block]
                add("conv\(block + 1)_\(k)_weight", [out, inChannels, 3, 3], "backbone", .pretrained)
                add("conv\(block + 1)_\(k)_bias", [out], "backbone", .pretrained)
                inChannels = out
            }
        }
        let feat = channels[4]
        params += rpnHead(feature: feat, width: feat, anchors: anchors)
        add("fc6_weight", [fc, feat * 7 * 7], "rcnn", .pretrained)
        add("fc6_bias", [fc], "rcnn", .pretrained)
        add("fc7_weight", [fc, fc], "rcnn", .pretrained)
        add("fc7_bias", [fc], "rcnn", .pretrained)
        add("cls_score_weight", [classes, fc], "rcnn", .normal(std: 0.01))
        add("cls_score_bias", [classes], "rcnn", .zeros)
        add("bbox_pred_weight", [4 * classes, fc], "rcnn", .normal(std: 0.001))
        add("bbox_pred_bias", [4 * classes], "rcnn", .zeros)
        return NetworkDefinition(name: name, family: .vgg, classes: classes, anchors: anchors, params: params)
    }

    /// The reference's pre-activation ResNet (symbol_resnet.py): bn_data, conv0 7×7/2 (no bias), bn0,
    /// ReLU, pool0 3×3/2; stages of bottleneck units (BN-ReLU-conv1 1×1, BN-ReLU-conv2 3×3 with the
    /// stride, BN-ReLU-conv3 1×1, plus the shortcut, a 1×1 `_sc` conv in unit 1). Stages 1–3 are the
    /// shared backbone (stride 16, `filters[2]` channels); the R-CNN head is stage 4 after 14×14 ROI
    /// pooling, then bn1, ReLU, global average pooling, cls_score and bbox_pred. BatchNorm gamma and
    /// beta are args, moving mean and variance aux states.
    static func resnet(name: String, stem: Int, filters: [Int], units: [Int], rpn: Int, classes: Int, anchors: Int) -> NetworkDefinition {
        var params: [ParamSpec] = []
        func add(_ n: String, _ shape: [Int], _ group: String, _ initialisation: Initialisation, role: Role = .arg) {
            params.append(ParamSpec(name: n, role: role, shape: shape, group: group, initialisation: initialisation))
        }
        func bn(_ n: String, _ c: Int, _ group: String) {
            add(n + "_gamma", [c], group, .pretrained)
            add(n + "_beta", [c], group, .pretrained)
            add(n + "_moving_mean", [c], group, .pretrained, role: .aux)
            add(n + "_moving_var", [c], group, .pretrained, role: .aux)
        }
        bn("bn_data", 3, "backbone")
        add("conv0_weight", [stem, 3, 7, 7], "backbone", .pretrained)
        bn("bn0", stem, "backbone")
        var inChannels = stem
        for (stage, count) in units.enumerated() {
            let f = filters[stage], group = stage < 3 ? "backbone" : "rcnn"
            for unit in 1...count {
                let u = "stage\(stage + 1)_unit\(unit)"
                bn(u + "_bn1", inChannels, group)
                add(u + "_conv1_weight", [f / 4, inChannels, 1, 1], group, .pretrained)
                bn(u + "_bn2", f / 4, group)
                add(u + "_conv2_weight", [f / 4, f / 4, 3, 3], group, .pretrained)
                bn(u + "_bn3", f / 4, group)
                add(u + "_conv3_weight", [f, f / 4, 1, 1], group, .pretrained)
                if unit == 1 { add(u + "_sc_weight", [f, inChannels, 1, 1], group, .pretrained) }
                inChannels = f
            }
            if stage == 2 { params += rpnHead(feature: f, width: rpn, anchors: anchors) }
        }
        bn("bn1", inChannels, "rcnn")
        add("cls_score_weight", [classes, inChannels], "rcnn", .normal(std: 0.01))
        add("cls_score_bias", [classes], "rcnn", .zeros)
        add("bbox_pred_weight", [4 * classes, inChannels], "rcnn", .normal(std: 0.001))
        add("bbox_pred_bias", [4 * classes], "rcnn", .zeros)
        return NetworkDefinition(name: name, family: .resnet, classes: classes, anchors: anchors, params: params)
    }

    /// The fork's Inception-v3 (`InceptionLayout`): every Conv unit a bias-free NAME_conv2d and a
    /// BatchNorm NAME_batchnorm (gamma and beta args, moving mean and variance aux states). The stem
    /// and mixed … mixed_7 are the backbone; rpn_conv_3x3 sits on mixed_7; mixed_8 … mixed_10,
    /// cls_score and bbox_pred (on the 8×8-pooled head's channels) are the R-CNN head.
    static func inception(name: String, layout: InceptionLayout, rpn: Int, classes: Int, anchors: Int) -> NetworkDefinition {
        var params: [ParamSpec] = []
        func add(_ n: String, _ shape: [Int], _ group: String, _ initialisation: Initialisation, role: Role = .arg) {
            params.append(ParamSpec(name: n, role: role, shape: shape, group: group, initialisation: initialisation))
        }
        func unit(_ c: InceptionLayout.Conv, input: Int, _ group: String) {
            add(c.name + "_conv2d_weight", [c.filters, input, c.kernel.0, c.kernel.1], group, .pretrained)
            add(c.name + "_batchnorm_gamma", [c.filters], group, .pretrained)
            add(c.name + "_batchnorm_beta", [c.filters], group, .pretrained)
            add(c.name + "_batchnorm_moving_mean", [c.filters], group, .pretrained, role: .aux)
            add(c.name + "_batchnorm_moving_var", [c.filters], group, .pretrained, role: .aux)
        }
        /// The units of a module, each with the channels it reads.
        func module(_ m: InceptionLayout.Module, input: Int, _ group: String) -> Int {
            for branch in m.branches {
                var c = input
                for case .conv(let conv) in branch.steps {
                    unit(conv, input: c, group)
                    c = conv.filters
                }
                for conv in branch.split { unit(conv, input: c, group) }
            }
            return InceptionLayout.channels(m, input: input)
        }
        var channels = 3
        for case .conv(let conv) in layout.stem {
            unit(conv, input: channels, "backbone")
            channels = conv.filters
        }
        for m in layout.backbone { channels = module(m, input: channels, "backbone") }
        params += rpnHead(feature: channels, width: rpn, anchors: anchors)
        for m in layout.head { channels = module(m, input: channels, "rcnn") }
        add("cls_score_weight", [classes, channels], "rcnn", .normal(std: 0.01))
        add("cls_score_bias", [classes], "rcnn", .zeros)
        add("bbox_pred_weight", [4 * classes, channels], "rcnn", .normal(std: 0.001))
        add("bbox_pred_bias", [4 * classes], "rcnn", .zeros)
        return NetworkDefinition(name: name, family: .inception, classes: classes, anchors: anchors, params: params)
    }

    /// The reference's RPN head on a `feature`-channel map: rpn_conv_3x3 (`width` filters) and the two
    /// 1×1 predictors, weights N(0, 0.01), biases 0.
    static func rpnHead(feature: Int, width: Int, anchors: Int) -> [ParamSpec] {
        [("rpn_conv_3x3_weight", [width, feature, 3, 3]), ("rpn_conv_3x3_bias", [width]),
         ("rpn_cls_score_weight", [2 * anchors, width, 1, 1]), ("rpn_cls_score_bias", [2 * anchors]),
         ("rpn_bbox_pred_weight", [4 * anchors, width, 1, 1]), ("rpn_bbox_pred_bias", [4 * anchors])].map { name, shape in
            ParamSpec(name: name, role: .arg, shape: shape, group: "rpn", initialisation: name.hasSuffix("_weight") ? .normal(std: 0.01) : .zeros)
        }
    }
}
