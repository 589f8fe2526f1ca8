// `run: init` — a network's parameters from a pretrained file (or none) plus seeded random heads,
// through `Init.run` as `paramkit init`.

import Detection
import ParamKit

enum InitStage: PipelineStage {
    static let name = "init"
    static let roles = ["data"]
    static let ownKeys = ["pretrained"]
    static let required: [String] = []
    static let settings = ["network", "heads", "seed", "classes", "width"]

    /// `pretrained: none` (or no key) is a setting, not an input: the stage draws every tensor.
    static func parse(_ map: [String: Any], _ context: StageParsing) throws -> (inputs: [Pipeline.Stage.Input], settings: [(String, String)]) {
        guard let v = map["pretrained"], (v as? String) != "none" else { return ([], [("pretrained", "none")]) }
        return ([.init(role: "pretrained", source: try context.source(v, key: "pretrained"))], [])
    }

    static func run(_ stage: StageRun) throws -> String {
        let network = stage.setting("network") ?? stage.config.network
        var classes = stage.setting("classes").flatMap(Int.init)
        if classes == nil, stage.input("data") != nil { classes = try stage.dataset().classNames.count }
        let r = try Init.run(Init.Request(network: network, classes: classes, width: stage.setting("width").flatMap(Int.init) ?? stage.config.width,
                                          pretrained: stage.input("pretrained"), heads: Init.heads(stage.setting("heads") ?? "rpn,rcnn"),
                                          seed: stage.setting("seed").flatMap(UInt64.init) ?? stage.config.seed,
                                          output: (path: stage.output, format: .hdf5)))
        if let p = r.plan.problems.first {
            throw StageError.cannotInitialise(stage: stage.name, count: r.plan.problems.count, first: p.spec.name, reason: Init.describe(p.action))
        }
        return "\(network): \(r.plan.rows.count) tensors, digest \(r.digest!)"
    }
}
