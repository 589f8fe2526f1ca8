// `paramkit dataset …`, `paramkit train rpn|rcnn`, `paramkit propose`, `paramkit eval`: the stages of
// alternate training, each reading and writing artifacts only.

import ArgumentParser
import Detection
import Engine
import Foundation
import ParamKit
import Stages

/// Config for a stage: reference defaults, then a YAML file, then `--set key=value` overrides.
struct StageOptions: ParsableArguments {
    @Option(help: "Stage config in YAML (schemas/stage-config.schema.json); missing keys keep the reference defaults.")
    var config: String?

    @Option(name: .customLong("set"), help: "Override one config value, e.g. --set epochs=2 --set lr_steps=[1] (repeatable).")
    var overrides: [String] = []

    @Option(help: "Threads for OpenBLAS and the engine's loops (default: all cores).")
    var threads: Int?

    func resolve() throws -> StageConfig {
        if let threads { Threads.set(threads) }
        return try StageConfig.load(path: config, overrides: overrides)
    }
}

func openDataset(_ path: String, split: String) throws -> DetectionDataset {
    try Datasets.open(path: path, split: split)
}

struct DatasetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dataset",
        abstract: "Make, import and inspect detection datasets (the paramkit.dataset HDF5 image store).",
        subcommands: [Synth.self, ImportVOC.self, InspectDataset.self])

    struct Synth: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a deterministic synthetic detection set: coloured shapes on textured backgrounds.",
            discussion: "Example: paramkit dataset synth --images 200 --size 128 --classes 3 -o synth.h5")
        @Option(help: "Number of images.") var images = 200
        @Option(help: "Image side in pixels (the height, when --width is given).") var size = 128
        @Option(help: "Image width in pixels (default: square).") var width: Int?
        @Option(help: "Number of object classes (shapes).") var classes = 3
        @Option(help: "Seed; the same seed gives the same bytes.") var seed: UInt64 = 0
        @Option(name: [.short, .customLong("output")], help: "Output store (.h5).") var output: String

        func run() throws {
            let digest = try SyntheticDataset.writeStore(count: images, size: size, classes: classes, seed: seed, to: output, width: width)
            let names = SyntheticDataset.classNames(classes: classes).dropFirst()
            Render.out("wrote \(output): \(images) images, classes \(names.joined(separator: ", ")), digest \(digest)")
        }
    }

    struct ImportVOC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "import-voc",
            abstract: "Import a Pascal-VOC directory (Annotations, JPEGImages, ImageSets/Main) into an image store.",
            discussion: """
                The class list sets the labels: label k is the k-th name (background is 0). It is stored in the dataset \
                and carried into every checkpoint trained on it and every eval result.
                Examples:
                  paramkit dataset import-voc data/VOCdevkit/VOC2007 --split trainval -o voc07-trainval.h5
                  paramkit dataset import-voc shapes/ --classes circle,square,triangle -o shapes.h5
                  paramkit dataset import-voc shapes/ --classes auto -o shapes.h5   # the names found, sorted
                """)
        @Argument(help: "VOC directory (the one holding Annotations/ and JPEGImages/).") var directory: String
        @Option(help: "ImageSets/Main split.") var split = "trainval"
        @Option(help: ArgumentHelp("Object classes in label order: a,b,c, @FILE (one name a line), auto (the names in the split's annotations, sorted), or voc (the 20 VOC classes).", valueName: "LIST"))
        var classes = "voc"
        @Option(name: [.short, .customLong("output")], help: "Output store (.h5).") var output: String

        func run() throws {
            let list: [String]?
            switch classes {
            case "voc": list = nil
            case "auto": list = try VOCDataset.classNames(inAnnotationsOf: directory, split: split)
            case let s where s.hasPrefix("@"):
                let file = String(s.dropFirst())
                guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw UsageError("\(file): cannot read the class list") }
                list = text.split(whereSeparator: \.isNewline).map { VOCDataset.normalisedName(String($0)) }.filter { !$0.isEmpty }
            default:
                list = classes.split(separator: ",").map { VOCDataset.normalisedName(String($0)) }.filter { !$0.isEmpty }
            }
            if let list {
                guard !list.isEmpty else { throw UsageError("--classes \(classes): no class names") }
                if let twice = Dictionary(grouping: list, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
                    throw UsageError("--classes \(classes): '\(twice)' is named twice")
                }
                if list.contains(DatasetStore.background) { throw UsageError("--classes: '\(DatasetStore.background)' is added first by itself") }
            }
            let digest = try Datasets.importVOC(directory: directory, split: split, classes: list, to: output, progress: Render.progress("import-voc"))
            Render.out("wrote \(output): digest \(digest)")
        }
    }

    struct InspectDataset: ParsableCommand {
        static let configuration = CommandConfiguration(commandName: "inspect", abstract: "Summarise a dataset: images, sizes, objects per class.")
        @Argument(help: "Image store (.h5) or VOC directory.") var path: String
        @Option(help: "VOC split.") var split = "trainval"
        @Flag(help: "JSON output.") var json = false

        func run() throws {
            let d = try openDataset(path, split: split)
            var perClass = [Int](repeating: 0, count: d.classNames.count), difficult = 0
            var minSide = Int.max, maxSide = 0
            for i in 0..<d.count {
                let image = try d.image(i)
                minSide = min(minSide, min(image.height, image.width)); maxSide = max(maxSide, max(image.height, image.width))
                for (l, dd) in zip(image.labels, image.difficult) { perClass[l] += 1; if dd { difficult += 1 } }
            }
            if json {
                Render.out(JSON.object([("path", .string(d.path)), ("images", .int(d.count)), ("digest", .string(d.digest)),
                                        ("classes", .object(zip(d.classNames, perClass).dropFirst().map { ($0, .int($1)) })),
                                        ("difficult", .int(difficult))]).pretty)
                return
            }
            Render.out("\(d.path): \(d.count) images (sides \(d.count > 0 ? "\(minSide)…\(maxSide)" : "-") px), digest \(d.digest)")
            Render.out(Render.table(["class", "objects"], zip(d.classNames, perClass).dropFirst().map { [$0, String($1)] }, right: [1]))
            if difficult > 0 { Render.out("\(difficult) objects marked difficult") }
        }
    }
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a stage of alternate training: the RPN or the R-CNN.",
        subcommands: [RPN.self, RCNN.self])

    struct RPN: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rpn",
            abstract: "Train the RPN from an initial checkpoint (rpn_* heads re-drawn N(0, 0.01) as the reference does).",
            discussion: """
            Writes OUT-0001…OUT-NNNN (one checkpoint per epoch, atomically), OUT itself after the last epoch, and \
            OUT.log.jsonl with the metrics RPNAcc, RPNLogLoss and RPNL1Loss.
            Example: paramkit train rpn --init init.h5 --freeze FIXED_PARAMS --data synth.h5 -o model/rpn1.h5 --set epochs=4
            """)
        @Option(help: "Initial checkpoint (from `paramkit init`, or an R-CNN for stage 3).") var `init`: String
        @Option(help: "Freeze spec: FIXED_PARAMS, FIXED_PARAMS_SHARED, a,b,c, @FILE or none.") var freeze = "FIXED_PARAMS"
        @Option(help: "Dataset: image store (.h5) or VOC directory.") var data: String
        @Option(help: "VOC split.") var split = "trainval"
        @Flag(help: "Keep rpn_* from the init file instead of re-drawing them.") var keepHeads = false
        @Option(name: [.short, .customLong("output")], help: "Output checkpoint.") var output: String
        @Flag(help: "Print the result as JSON (schemas/train.schema.json); progress stays on stderr.") var json = false
        @OptionGroup var stage: StageOptions
        @OptionGroup var replay: ReplayOptions

        func run() throws {
            let config = try stage.resolve()
            let dataset = try openDataset(data, split: split)
            let spec = try StageSupport.freezeSpec(freeze, config: config, classes: dataset.classNames.count)
            let r = try TrainRPN.run(initPath: `init`, freeze: spec, dataset: dataset, config: config,
                                     output: output, keepHeads: keepHeads, dump: replay.dump)
            Render.trained(r, dump: replay.dump, json: json)
        }
    }

    struct RCNN: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rcnn",
            abstract: "Train the R-CNN from an initial checkpoint and a proposals file (cls_score/bbox_pred re-drawn).",
            discussion: """
            Every checkpoint also holds bbox_pred_weight_test / bbox_pred_bias_test, de-normalised by the per-class \
            target statistics. Refuses proposals made from another dataset.
            Example: paramkit train rcnn --init init.h5 --proposals rpn1.proposals.h5 --data synth.h5 -o model/rcnn1.h5
            """)
        @Option(help: "Initial checkpoint.") var `init`: String
        @Option(help: "Proposals from `paramkit propose` on the same dataset.") var proposals: String
        @Option(help: "The RPN checkpoint the proposals must come from (refused if they do not).") var rpnModel: String?
        @Option(help: "Freeze spec: FIXED_PARAMS, FIXED_PARAMS_SHARED, a,b,c, @FILE or none.") var freeze = "FIXED_PARAMS"
        @Option(help: "Dataset: image store (.h5) or VOC directory.") var data: String
        @Option(help: "VOC split.") var split = "trainval"
        @Option(name: [.short, .customLong("output")], help: "Output checkpoint.") var output: String
        @Flag(help: "Print the result as JSON (schemas/train.schema.json); progress stays on stderr.") var json = false
        @OptionGroup var stage: StageOptions
        @OptionGroup var replay: ReplayOptions

        func run() throws {
            let config = try stage.resolve()
            let dataset = try openDataset(data, split: split)
            let spec = try StageSupport.freezeSpec(freeze, config: config, classes: dataset.classNames.count)
            let r = try TrainRCNN.run(initPath: `init`, proposals: proposals, freeze: spec, dataset: dataset,
                                      config: config, output: output, rpnModel: rpnModel, dump: replay.dump)
            Render.trained(r, dump: replay.dump, json: json)
        }
    }
}

extension Render {
    /// A training stage's one-line result: the checkpoint written, or where a --max-updates run stopped.
    static func trained(_ r: TrainRPN.Result, dump: BatchDump?, json: Bool) {
        if json {
            out(JSON.object([
                ("output", r.stoppedAfterUpdates == nil ? .string(r.output) : .null),
                ("digest", r.stoppedAfterUpdates == nil ? .string(r.digest) : .null),
                ("metrics", .object(r.metrics.sorted { $0.key < $1.key }.map { ($0.key, .double($0.value)) })),
                ("images_per_second", .double(r.imagesPerSecond)),
                ("stopped_after_updates", r.stoppedAfterUpdates.map { .int($0) } ?? .null),
            ]).pretty)
            return
        }
        let metrics = StageSupport.metricsLine(r.metrics)
        let head = r.stoppedAfterUpdates.map { "stopped after \($0) updates (--max-updates), no checkpoint written; batches in \(dump?.directory ?? "")" }
            ?? "wrote \(r.output): digest \(r.digest)"
        out(head + "; " + metrics + String(format: "; %.1f images/s", r.imagesPerSecond))
    }
}

/// Writing a stage's batches for replay in another framework (Stages.BatchDump).
struct ReplayOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Also write every update's inputs, the starting and the final parameters to DIR (for replaying the stage in MXNet).",
                               valueName: "DIR"))
    var dumpBatches: String?
    @Option(help: "Stop after this many updates (with --dump-batches; no checkpoint is written).") var maxUpdates: Int?
    @Flag(help: "With --dump-batches: also write every parameter and momentum after each update (DIR/state-NNNNN.params), so a replay can start every update from this run's own state.")
    var dumpStates = false

    func validate() throws {
        if maxUpdates != nil && dumpBatches == nil { throw ValidationError("--max-updates goes with --dump-batches") }
        if dumpStates && dumpBatches == nil { throw ValidationError("--dump-states goes with --dump-batches") }
        if let m = maxUpdates, m < 1 { throw ValidationError("--max-updates must be at least 1") }
    }

    var dump: BatchDump? { dumpBatches.map { BatchDump(directory: $0, maxUpdates: maxUpdates, states: dumpStates) } }
}

struct ProposeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "propose",
        abstract: "Run a trained RPN over a dataset and write its proposals (original-image pixels), with recall.",
        discussion: "Example: paramkit propose --model model/rpn1.h5 --data synth.h5 -o rpn1.proposals.h5")
    @Option(help: "RPN checkpoint.") var model: String
    @Option(help: "Dataset: image store (.h5) or VOC directory.") var data: String
    @Option(help: "VOC split.") var split = "trainval"
    @Option(name: [.short, .customLong("output")], help: "Output proposals file.") var output: String
    @Flag(help: "Print the result as JSON (schemas/propose.schema.json).") var json = false
    @OptionGroup var stage: StageOptions

    func run() throws {
        let config = try stage.resolve()
        let r = try Propose.run(model: model, dataset: try openDataset(data, split: split), config: config, output: output)
        if json {
            Render.out(r.json(output: output).pretty)
            return
        }
        Render.out("wrote \(output): \(r.summary)" + String(format: "; %.1f images/s", r.imagesPerSecond))
    }
}

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Detect with a combined model and report AP per class and mAP (VOC07 11-point and area).",
        discussion: "Example: paramkit eval --model model/final.h5 --data test.h5")
    @Option(help: "Combined checkpoint (RPN + R-CNN).") var model: String
    @Option(help: "Dataset: image store (.h5) or VOC directory.") var data: String
    @Option(help: "VOC split.") var split = "test"
    @Flag(help: "JSON output.") var json = false
    @OptionGroup var stage: StageOptions

    func run() throws {
        let config = try stage.resolve()
        let r = try Evaluate.run(model: model, dataset: try openDataset(data, split: split), config: config)
        if json {
            Render.out(r.json(withSpeed: true).pretty)
            return
        }
        Render.out(Render.table(["class", "AP (07)", "AP (area)"], zip(r.classNames, zip(r.ap07, r.apArea)).map {
            [$0, String(format: "%.4f", $1.0), String(format: "%.4f", $1.1)] }, right: [1, 2]))
        Render.out(r.summary + String(format: "; %.1f images/s", r.imagesPerSecond))
    }
}
