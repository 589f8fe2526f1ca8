// `run: train-rpn` — an RPN stage, through `TrainRPN.run` as `paramkit train rpn`.

import Detection
import ParamKit

enum TrainRPNStage: PipelineStage {
    static let name = "train-rpn"
    static let roles = ["init", "data"]
    static let required = ["init", "data"]
    static let settings = ["freeze", "keep_heads", "split"]

    static func run(_ stage: StageRun) throws -> String {
        let dataset = try stage.dataset()
        let r = try TrainRPN.run(initPath: stage.input("init")!, freeze: stage.freeze(dataset), dataset: dataset, config: stage.config,
                                 output: stage.output, keepHeads: stage.setting("keep_heads") == "true")
        return StageSupport.metricsLine(r.metrics) + String(format: "; %.1f images/s", r.imagesPerSecond)
    }
}
