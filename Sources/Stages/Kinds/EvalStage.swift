// `run: eval` — VOC mAP of a detector on a split, through `Evaluate.run` as `paramkit eval`; the
// output is the result's JSON (without the timing, so that it is the same on every run).

import Detection
import Foundation
import ParamKit

enum EvalStage: PipelineStage {
    static let name = "eval"
    static let roles = ["model", "data"]
    static let required = ["model", "data"]
    static let settings = ["split"]
    static let outputExtension = "json"
    static let outputDigestOfBytes = true

    static func run(_ stage: StageRun) throws -> String {
        let r = try Evaluate.run(model: stage.input("model")!, dataset: try stage.dataset(), config: stage.config)
        try AtomicOutput.write(Data((r.json(withSpeed: false).pretty + "\n").utf8), to: stage.output)
        return r.summary
    }
}
