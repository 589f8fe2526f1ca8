// The pipeline engine on a tiny synthetic set: a full alternate-training pipeline runs once, a
// second run skips every stage, --from and an edited setting re-run exactly the stages they should,
// a lost or altered output is rebuilt, a dry run writes nothing, and bad pipeline files are refused
// with the stage and key named.

import Foundation
import Testing
import Detection
import ParamKit
import Stages

struct PipelineTests {
    /// A directory with train/test sets, a stage config and a pipeline file of the 4-step schedule.
    static func workspace(epochs: Int = 1) throws -> String {
        let dir = NSTemporaryDirectory() + "paramkit-pipeline-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try SyntheticDataset.writeStore(count: 3, size: 64, classes: 3, seed: 1, to: dir + "/train.h5")
        try SyntheticDataset.writeStore(count: 2, size: 64, classes: 3, seed: 2, to: dir + "/test.h5")
        try """
        scale: 64
        max_size: 64
        anchor_scales: [1, 2, 4]
        epochs: \(epochs)
        lr_steps: []
        flip: false
        proposal_pre_nms_top_n: 200
        proposal_post_nms_top_n: 50
        test_pre_nms_top_n: 100
        test_post_nms_top_n: 20
        """.write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
        try pipelineText().write(toFile: dir + "/alt.yaml", atomically: true, encoding: .utf8)
        return dir
    }

    static func pipelineText(rpn2Freeze: String = "FIXED_PARAMS_SHARED") -> String {
        """
        config: config.yaml
        inputs: {train: train.h5, test: test.h5}
        stages:
          - {name: init, run: init, pretrained: none, data: train}
          - {name: rpn1, run: train-rpn, init: init, data: train, freeze: none}
          - {name: props1, run: propose, model: rpn1, data: train}
          - {name: rcnn1, run: train-rcnn, init: init, proposals: props1, data: train, freeze: none}
          - {name: rpn2, run: train-rpn, init: rcnn1, data: train, freeze: \(rpn2Freeze)}
          - {name: props2, run: propose, model: rpn2, data: train}
          - {name: rcnn2-init, run: combine, inputs: [rpn2, rcnn1]}
          - {name: rcnn2, run: train-rcnn, init: rcnn2-init, proposals: props2, data: train, freeze: FIXED_PARAMS_SHARED}
          - {name: final, run: combine, inputs: [rpn2, rcnn2]}
          - {name: eval, run: eval, model: final, data: test, set: {test_post_nms_top_n: 10}}
        """
    }

    static func actions(_ events: [Pipeline.Event]) -> [String: Pipeline.Action] {
        Dictionary(uniqueKeysWithValues: events.map { ($0.stage, $0.action) })
    }

    @Test func runsOnceThenSkipsAndRerunsWhatChanged() throws {
        let dir = try Self.workspace()
        let file = dir + "/alt.yaml", run = dir + "/run"
        let all = ["init", "rpn1", "props1", "rcnn1", "rpn2", "props2", "rcnn2-init", "rcnn2", "final", "eval"]

        // Dry run before anything exists: every stage would run, nothing is written.
        let planned = try Pipeline.load(path: file).run({ var o = Pipeline.Options(directory: run); o.dryRun = true; return o }())
        #expect(planned.map(\.stage) == all && planned.allSatisfy { $0.action == .run })
        #expect(!FileManager.default.fileExists(atPath: run))

        let first = try Pipeline.load(path: file).run(Pipeline.Options(directory: run))
        #expect(first.map(\.stage) == all && first.allSatisfy { $0.action == .run && $0.outputDigest != nil })
        for s in all {
            #expect(FileManager.default.fileExists(atPath: "\(run)/\(s).stage.json"), "\(s): no record")
        }
        let eval = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: run + "/eval.json"))) as? [String: Any]
        #expect(eval?["map_07"] is Double)
        // The stage-3 RPN kept rcnn1's shared convs bit for bit (FIXED_PARAMS_SHARED).
        let rcnn1 = try Formats.load(path: run + "/rcnn1.h5"), rpn2 = try Formats.load(path: run + "/rpn2.h5")
        for name in ["arg:conv1_1_weight", "arg:conv5_3_weight"] {
            let a = try #require(rcnn1[name]), b = try #require(rpn2[name])
            #expect(a.digest == b.digest, "\(name) changed in stage 3")
        }

        // Second run: everything up to date.
        let second = try Pipeline.load(path: file).run(Pipeline.Options(directory: run))
        #expect(second.allSatisfy { $0.action == .skip }, "\(Self.actions(second))")
        #expect(zip(first, second).allSatisfy { $0.key == $1.key && $0.outputDigest == $1.outputDigest })

        // --from rcnn2: rcnn2 and after re-run; same inputs and seed, so the same digests.
        var from = Pipeline.Options(directory: run)
        from.from = "rcnn2"
        let third = try Pipeline.load(path: file).run(from)
        #expect(Self.actions(third) == Dictionary(uniqueKeysWithValues: all.map { ($0, ["rcnn2", "final", "eval"].contains($0) ? .run : .skip) }))
        #expect(zip(first, third).allSatisfy { $0.outputDigest == $1.outputDigest }, "re-running gave other bytes")

        // An edited setting (stage 3 freezes nothing): rpn2 re-runs, and so does everything its new output feeds.
        try Self.pipelineText(rpn2Freeze: "none").write(toFile: file, atomically: true, encoding: .utf8)
        let fourth = try Pipeline.load(path: file).run(Pipeline.Options(directory: run))
        #expect(Self.actions(fourth) == Dictionary(uniqueKeysWithValues: all.map { ($0, ["init", "rpn1", "props1", "rcnn1"].contains($0) ? .skip : .run) }))

        // A deleted output and an altered one are rebuilt; the rest is skipped.
        try FileManager.default.removeItem(atPath: run + "/eval.json")
        try "{}".write(toFile: run + "/props1.h5", atomically: true, encoding: .utf8)
        let fifth = try Pipeline.load(path: file).run(Pipeline.Options(directory: run))
        #expect(Self.actions(fifth)["eval"] == .run && Self.actions(fifth)["props1"] == .run && Self.actions(fifth)["rpn1"] == .skip)
        #expect(fifth.first { $0.stage == "props1" }?.reason.contains("differs") == true)
        let log = try String(contentsOfFile: run + "/pipeline.log.jsonl", encoding: .utf8)
        #expect(log.contains("\"action\":\"skip\"") || log.contains("\"action\": \"skip\""))
        // Every line names its stage once (a key twice is read differently by different parsers).
        for line in log.split(separator: "\n") {
            #expect(line.components(separatedBy: "\"stage\"").count == 2, "\(line)")
        }
    }

    @Test func badPipelineFilesAreRefusedNamingTheStage() throws {
        let dir = try Self.workspace()
        let file = dir + "/bad.yaml"
        func refused(_ text: String, _ expected: (StageError) -> Bool) throws {
            try text.write(toFile: file, atomically: true, encoding: .utf8)
            let e = try #require(throws: StageError.self) { _ = try Pipeline.load(path: file) }
            #expect(expected(e), "\(e)")
            #expect(e.site?.file == file, "\(e)")
        }
        let head = "config: config.yaml\ninputs: {train: train.h5}\nstages:\n"
        try refused(head + "  - {name: a, run: train-fast, init: x}\n") {
            if case .badValue(_, "a", "run", let expected, _) = $0 { expected.hasPrefix("one of") } else { false }
        }
        try refused(head + "  - {name: a, run: propose, model: b, data: train}\n  - {name: b, run: init}\n") {
            $0 == .badReference(file: file, stage: "a", key: "model", value: "b", problem: .later)
        }
        try refused(head + "  - {name: a, run: propose, model: nowhere.h5, data: train}\n") {
            if case .badReference(_, "a", "model", "nowhere.h5", .nothing(let path)) = $0 { path.hasSuffix("/nowhere.h5") } else { false }
        }
        try refused(head + "  - {name: a, run: init}\n  - {name: a, run: init}\n") { $0 == .duplicateStage(file: file, stage: "a") }
        try refused(head + "  - {name: a, run: train-rpn, data: train}\n") {
            $0 == .missingKey(file: file, stage: "a", kind: "train-rpn", key: "init")
        }
        try refused(head + "  - {name: a, run: init, epochs: 3}\n") {
            if case .unknownKey(_, "a", "init", "epochs", let known) = $0 { known.contains("pretrained") } else { false }
        }
        // A stage's config override is checked at load, and the error says which stage set it.
        try refused(head + "  - {name: a, run: init, set: {epoch: 3}}\n") {
            if case .inStage(_, "a", let problem) = $0 { problem.contains("unknown key 'epoch'") } else { false }
        }
        try refused(head + "  - {name: a, run: combine, inputs: [train]}\n") {
            if case .badValue(_, "a", "inputs", let expected, _) = $0 { expected.contains("at least two") } else { false }
        }
        try refused("stages: []\n") { $0 == .badValue(file: file, stage: nil, key: "stages", expected: "a non-empty list") }

        // --from naming no stage.
        try (head + "  - {name: a, run: init, data: train}\n").write(toFile: file, atomically: true, encoding: .utf8)
        var o = Pipeline.Options(directory: dir + "/r")
        o.from = "b"
        let e = try #require(throws: StageError.self) { try Pipeline.load(path: file).run(o) }
        #expect(e == .noSuchStage(file: file, name: "b", stages: ["a"]) && e.setting == "from")
    }
}
