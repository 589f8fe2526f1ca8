// What a training stage feeds its network, update by update, so that another implementation (MXNet,
// in tools/interop/test_stage_parity.py) can train on exactly the same batches from exactly the same
// parameters and the two runs can be compared over a whole stretch of a stage:
//   DIR/meta.json               stage, network widths, frozen names, optimiser and schedule settings
//   DIR/params-0000.params      every parameter the stage trains from (after heads are re-drawn)
//   DIR/batch-00001.params …    the inputs of each update (data, [rois,] label, bbox_target,
//                               bbox_weight), shaped as the reference's symbols take them
//   DIR/params-after.params     the parameters after the last update
//   DIR/state-00001.params …    with `states`: after each update, every parameter (`value/NAME`) and
//                               every trainable one's momentum (`momentum/NAME`), so that a replay
//                               can start each update from ParamKit's own state (teacher forcing)
// With `maxUpdates` the stage stops after that many updates (and writes no checkpoint).

import Engine
import Foundation
import ParamKit

public struct BatchDump: Sendable {
    public let directory: String
    public let maxUpdates: Int?
    public let states: Bool

    public init(directory: String, maxUpdates: Int?, states: Bool = false) {
        self.directory = directory
        self.maxUpdates = maxUpdates
        self.states = states
    }

    static func save(_ tensors: [(String, Blob)], to path: String) throws {
        var c = Checkpoint()
        for (name, b) in tensors { c.append(name, Tensor(b.data, shape: b.shape)) }
        c.metadata = ["mxnet.keys": "plain"]
        try Formats.save(c, to: path)
    }

    static func save(_ params: ParameterSet, to path: String) throws {
        try save(params.ordered.map { ($0.name, Blob(shape: $0.shape, data: $0.value)) }, to: path)
    }

    func start(stage: String, params: ParameterSet, config: StageConfig, sgd: SGD, extra: [String: Any] = [:]) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try Self.save(params, to: directory + "/params-0000.params")
        var meta: [String: Any] = [
            "stage": stage, "network": config.network, "width": config.width,
            "fixed_param_names": params.ordered.filter(\.fixed).map(\.name),
            "shapes": Dictionary(uniqueKeysWithValues: params.ordered.map { ($0.name, $0.shape) }),
            "optimizer": ["learning_rate": config.lr, "momentum": config.momentum, "wd": config.wd,
                          "clip_gradient": config.clipGradient, "rescale_grad": 1.0],
            "lr_steps_updates": sgd.schedule.steps, "lr_factor": config.lrFactor,
            "rpn_batch_size": config.rpnBatchSize, "rcnn_batch_rois": config.rcnnBatchRois, "dropout": config.dropout,
        ]
        for (k, v) in extra { meta[k] = v }
        let data = try JSONSerialization.data(withJSONObject: meta, options: [.sortedKeys, .prettyPrinted])
        try data.write(to: URL(fileURLWithPath: directory + "/meta.json"))
    }

    func batch(_ update: Int, _ tensors: [(String, Blob)]) throws {
        try Self.save(tensors, to: directory + String(format: "/batch-%05d.params", update))
    }

    /// After update `update`: writes the state when asked; true (and the final parameters written)
    /// when the stage should stop.
    func updated(_ update: Int, params: ParameterSet) throws -> Bool {
        if states {
            let values = params.ordered.map { ("value/" + $0.name, Blob(shape: $0.shape, data: $0.value)) }
            let momenta = params.ordered.filter { !$0.fixed }.map { ("momentum/" + $0.name, Blob(shape: $0.shape, data: $0.momentum)) }
            try Self.save(values + momenta, to: directory + String(format: "/state-%05d.params", update))
        }
        guard let maxUpdates, update >= maxUpdates else { return false }
        try Self.save(params, to: directory + "/params-after.params")
        return true
    }
}
