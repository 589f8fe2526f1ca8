// `run: train-rcnn` — an R-CNN stage on an RPN's proposals, through `TrainRCNN.run` as `paramkit train rcnn`.

import Detection
import ParamKit

enum TrainRCNNStage: PipelineStage {
    static let name = "train-rcnn"
    static let roles = ["init", "proposals", "data", "rpn_model"]
    static let required = ["init", "proposals", "data"]
    static let settings = ["freeze", "split"]

    static func run(_ stage: StageRun) throws -> String {
        let dataset = try stage.dataset()
        let r = try TrainRCNN.run(initPath: stage.input("init")!, proposals: stage.input("proposals")!, freeze: stage.freeze(dataset),
                                  dataset: dataset, config: stage.config, output: stage.output, rpnModel: stage.input("rpn_model"))
        return StageSupport.metricsLine(r.metrics) + String(format: "; %.1f images/s", r.imagesPerSecond)
    }
}
