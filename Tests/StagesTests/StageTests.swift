// The stages on a tiny synthetic set: configs load with reference defaults, training writes a
// checkpoint per epoch, divergence stops with a message naming the step and the tensor while the
// last good checkpoint stays, and proposals from another dataset are refused.

import Foundation
import Testing
import Detection
import ParamKit
import Stages

struct StageTests {
    static func workspace() throws -> (dir: String, data: DetectionDataset, other: DetectionDataset, initial: String) {
        let dir = NSTemporaryDirectory() + "paramkit-stages-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try SyntheticDataset.writeStore(count: 4, size: 64, classes: 3, seed: 1, to: dir + "/train.h5")
        try SyntheticDataset.writeStore(count: 4, size: 64, classes: 3, seed: 2, to: dir + "/other.h5")
        let net = try NetworkDefinition.named("tiny-vgg", classes: 4, anchors: 9)
        let plan = try Init.plan(network: net, pretrained: nil, heads: ["rpn", "rcnn"])
        _ = try Init.write(plan, pretrained: nil, seed: 0, output: dir + "/init.h5", format: .hdf5)
        return (dir, try Datasets.open(path: dir + "/train.h5"), try Datasets.open(path: dir + "/other.h5"), dir + "/init.h5")
    }

    static func config() -> StageConfig {
        var c = StageConfig()
        c.scale = 64; c.maxSize = 64; c.anchorScales = [1, 2, 4]
        c.epochs = 2; c.lrSteps = []; c.flip = false
        c.proposalPreNMSTopN = 200; c.proposalPostNMSTopN = 50
        return c
    }

    @Test func yamlConfigKeepsReferenceDefaultsForMissingKeys() throws {
        let path = NSTemporaryDirectory() + "paramkit-config-\(UUID().uuidString).yaml"
        try "epochs: 3\nanchor_scales: [2, 4]\n".write(toFile: path, atomically: true, encoding: .utf8)
        let c = try StageConfig.load(path: path)
        #expect(c.epochs == 3 && c.anchorScales == [2, 4])
        #expect(c.lr == 0.001 && c.lrSteps == [6] && c.rpnBatchSize == 256 && c.proposalPostNMSTopN == 2000 && c.nms == 0.3)
        let overridden = try StageConfig.load(path: path, overrides: ["epochs=5", "lr_steps=[1, 2]"])
        #expect(overridden.epochs == 5 && overridden.lrSteps == [1, 2] && overridden.anchorScales == [2, 4])
        let unknown = try #require(throws: StageError.self) { _ = try StageConfig.load(path: path, overrides: ["epoch=5"]) }
        if case .unknownKey(path, nil, nil, "epoch", let known) = unknown { #expect(known.contains("epochs")) } else { Issue.record("\(unknown)") }
        try "epochs: many\n".write(toFile: path, atomically: true, encoding: .utf8)
        let wrong = try #require(throws: StageError.self) { _ = try StageConfig.load(path: path) }
        #expect(wrong == .badValue(file: path, stage: nil, key: "epochs", expected: "an integer"), "\(wrong)")
    }

    @Test func trainingWritesACheckpointPerEpochAndProposalsCheckTheirDataset() throws {
        let w = try Self.workspace()
        let r = try TrainRPN.run(initPath: w.initial, freeze: nil, dataset: w.data, config: Self.config(), output: w.dir + "/rpn.h5")
        for e in 1...2 { #expect(FileManager.default.fileExists(atPath: w.dir + "/rpn-000\(e).h5")) }
        #expect(r.metrics["RPNAcc"] != nil)
        #expect(try Verify.run(path: w.dir + "/rpn.h5").mismatched.isEmpty)
        _ = try Propose.run(model: w.dir + "/rpn.h5", dataset: w.data, config: Self.config(), output: w.dir + "/p.h5")
        let e = try #require(throws: StageError.self) {
            _ = try TrainRCNN.run(initPath: w.initial, proposals: w.dir + "/p.h5", freeze: nil, dataset: w.other, config: Self.config(),
                                  output: w.dir + "/rcnn.h5")
        }
        if case let .proposalsFromAnotherDataset(proposals, digest, _, dataset, datasetDigest, _) = e {
            #expect(proposals == w.dir + "/p.h5" && dataset == w.other.path && digest == w.data.digest && datasetDigest == w.other.digest)
        } else {
            Issue.record("\(e)")
        }
        #expect(e.description.contains("another dataset"))
    }

    @Test func divergenceStopsNamingTheStepAndKeepsTheLastGoodCheckpoint() throws {
        let w = try Self.workspace()
        var c = Self.config()
        c.lr = 1e30
        c.clipGradient = -1   // no clipping: let it blow up
        let e = try #require(throws: StageError.self) {
            _ = try TrainRPN.run(initPath: w.initial, freeze: nil, dataset: w.data, config: c, output: w.dir + "/rpn.h5")
        }
        if case let .diverged(stage, step, epoch, _, _, lastGood) = e {
            #expect(stage == "train rpn" && step >= 1 && epoch == 1 && lastGood == nil, "\(e)")
        } else {
            Issue.record("\(e)")
        }
        #expect(e.description.contains("NaN/Inf at step") && e.description.contains("Last good checkpoint"))
        #expect(!FileManager.default.fileExists(atPath: w.dir + "/rpn.h5"))
    }
}
