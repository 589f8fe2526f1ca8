// Network definitions as data: every parameter's name, shape, role, group and default
// initialisation, for VGG16 Faster R-CNN and its small twin tiny-vgg. `init` and the training
// engine both build from these.

public enum Initialisation: Sendable, Equatable, CustomStringConvertible {
    /// Comes from the pretrained (ImageNet) checkpoint.
    case pretrained
    /// Gaussian with mean 0 and this standard deviation (MXNet's mx.random.normal(0, σ)).
    case normal(std: Double)
    case zeros

    public var description: String {
        switch self {
        case .pretrained: return "pretrained"
        case let .normal(std): return "normal(0, \(std))"
        case .zeros: return "zeros"
        }
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

    public static let names = ["vgg16", "tiny-vgg"]

    public static func named(_ name: String, classes: Int? = nil, anchors: Int? = nil, width: Int = 1) throws -> NetworkDefinition {
        switch name {
        case "vgg16":
            return vgg(name: name, channels: [64, 128, 256, 512, 512], fc: 4096, classes: classes ?? 21, anchors: anchors ?? 9)
        case "tiny-vgg":
            guard width >= 1 && width <= 64 else { throw UsageError("--width must be 1…64") }
            return vgg(name: name, channels: [4, 8, 8, 16, 16].map { $0 * width }, fc: 32 * width,
                       classes: classes ?? 4, anchors: anchors ?? 9)
        default:
            throw UsageError("unknown network '\(name)': choose one of \(names.joined(separator: ", "))")
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
        add("rpn_conv_3x3_weight", [feat, feat, 3, 3], "rpn", .normal(std: 0.01))
        add("rpn_conv_3x3_bias", [feat], "rpn", .zeros)
        add("rpn_cls_score_weight", [2 * anchors, feat, 1, 1], "rpn", .normal(std: 0.01))
        add("rpn_cls_score_bias", [2 * anchors], "rpn", .zeros)
        add("rpn_bbox_pred_weight", [4 * anchors, feat, 1, 1], "rpn", .normal(std: 0.01))
        add("rpn_bbox_pred_bias", [4 * anchors], "rpn", .zeros)
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
}
