// `run: propose` — an RPN's proposals for every image, through `Propose.run` as `paramkit propose`.

import Detection
import ParamKit

enum ProposeStage: PipelineStage {
    static let name = "propose"
    static let roles = ["model", "data"]
    static let required = ["model", "data"]
    static let settings = ["split"]
    static let outputDigestOfBytes = true

    static func run(_ stage: StageRun) throws -> String {
        let r = try Propose.run(model: stage.input("model")!, dataset: try stage.dataset(), config: stage.config, output: stage.output)
        return r.summary
    }
}
