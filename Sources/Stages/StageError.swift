// What can stop a stage or a pipeline before or while it runs, one case per kind of problem, each
// with what a program needs to act on it (the file, the stage, the key, the values that disagree).
// The description is the one-line message the CLI prints; tests and callers match the cases.

import ParamKit

public enum StageError: ParamKitError, Equatable {
    /// Where a reference inside a pipeline file leads nowhere.
    public enum Reference: Sendable, Equatable {
        /// It names a stage that runs later.
        case later
        /// It is no earlier stage, no input name and no existing file (`lookedFor` is the path tried).
        case nothing(lookedFor: String)
    }

    // Pipeline and stage-config files. `stage` is the pipeline stage the key belongs to (nil at the top
    // level or in a stage config); `key` is a key path such as `inputs.train` or `stages[2].name`.

    /// The file cannot be read (`what`: "the pipeline", "the config").
    case unreadable(file: String, what: String)
    /// Not YAML (`detail` says why), or YAML that is not a mapping (`detail` nil).
    case notYAML(file: String, detail: String?)
    /// A key the file's place does not take; `kind` is the stage kind whose keys `known` lists.
    case unknownKey(file: String, stage: String?, kind: String?, key: String, known: [String])
    /// A key that was renamed or removed, and what to write instead.
    case retiredKey(file: String, key: String, advice: String)
    /// A stage kind that needs this key.
    case missingKey(file: String, stage: String, kind: String, key: String)
    /// A value that is not what its key takes (`expected`, e.g. "a path"); `found` when worth showing.
    case badValue(file: String, stage: String?, key: String, expected: String, found: String? = nil)
    /// Two stages, or a stage and an input, with one name.
    case duplicateStage(file: String, stage: String)
    /// A stage input that names something it cannot use.
    case badReference(file: String, stage: String, key: String, value: String, problem: Reference)
    /// A `key=value` override that is not one (`problem`: "must look like key=value", "value is not YAML").
    case badOverride(override: String, problem: String)
    /// `--from` names no stage of the pipeline.
    case noSuchStage(file: String, name: String, stages: [String])
    /// An input a stage reads is not there when the stage is about to run.
    case missingInput(file: String, stage: String, role: String, path: String)
    /// Another error, raised while a pipeline stage was checked or run.
    case inStage(file: String?, stage: String, problem: String)
    /// `init` could not initialise every tensor of the network (the first one and why).
    case cannotInitialise(stage: String, count: Int, first: String, reason: String)

    // Artifacts that do not belong together.

    /// Proposals made by another RPN than the one named.
    case proposalsFromAnotherModel(proposals: String, digest: String, model: String, modelDigest: String)
    /// Proposals made from another dataset.
    case proposalsFromAnotherDataset(proposals: String, digest: String, images: Int, dataset: String, datasetDigest: String,
                                     datasetImages: Int)
    /// Proposals whose image `index` is another image than the dataset's.
    case proposalsForAnotherImage(proposals: String, index: Int, image: String, datasetImage: String)
    /// Proposals that cover another number of images than the dataset has.
    case proposalsCount(dataset: String, images: Int, proposals: Int)

    // Training.

    /// No image of the dataset has a non-difficult ground-truth box (nothing for the RPN to learn).
    case noTrainingImages(dataset: String)
    /// Fewer usable R-CNN training entries than one batch takes.
    case tooFewEntries(dataset: String, usable: Int, batchImages: Int)
    /// A loss or a parameter became NaN/Inf; `tensor` nil when only the loss did.
    case diverged(stage: String, step: Int, epoch: Int, image: String, tensor: String?, lastGood: String?)
    /// A file the stage writes cannot be opened (`what`: "the log").
    case cannotWrite(file: String, what: String)

    // Reports.

    case noSuchPath(String)
    case notARunDirectory(String)

    public var exitStatus: Int32 { 2 }

    public var setting: String? {
        switch self {
        case .noSuchStage: "from"
        case .tooFewEntries: "rcnn_batch_images"
        default: nil
        }
    }

    public var site: ErrorSite? {
        switch self {
        case let .unreadable(file, _), let .notYAML(file, _), let .retiredKey(file, _, _): ErrorSite(file: file)
        case let .unknownKey(file, stage, _, key, _): ErrorSite(file: file, place: Self.place(stage, key))
        case let .missingKey(file, stage, _, key): ErrorSite(file: file, place: Self.place(stage, key))
        case let .badValue(file, stage, key, _, _): ErrorSite(file: file, place: Self.place(stage, key))
        case let .duplicateStage(file, stage), let .missingInput(file, stage, _, _): ErrorSite(file: file, place: Self.place(stage, nil))
        case let .badReference(file, stage, key, _, _): ErrorSite(file: file, place: Self.place(stage, key))
        case let .noSuchStage(file, _, _): ErrorSite(file: file)
        case let .inStage(file, stage, _): file.map { ErrorSite(file: $0, place: Self.place(stage, nil)) }
        case let .proposalsFromAnotherModel(proposals, _, _, _), let .proposalsFromAnotherDataset(proposals, _, _, _, _, _):
            ErrorSite(file: proposals)
        case let .proposalsForAnotherImage(proposals, index, _, _): ErrorSite(file: proposals, place: "image \(index)")
        case let .proposalsCount(dataset, _, _), let .noTrainingImages(dataset), let .tooFewEntries(dataset, _, _): ErrorSite(file: dataset)
        case let .cannotWrite(file, _), let .noSuchPath(file), let .notARunDirectory(file): ErrorSite(file: file)
        case .badOverride, .cannotInitialise, .diverged: nil
        }
    }

    static func place(_ stage: String?, _ key: String?) -> String? {
        switch (stage, key) {
        case let (s?, k?): "stage '\(s)', \(k)"
        case let (s?, nil): "stage '\(s)'"
        case let (nil, k?): k
        case (nil, nil): nil
        }
    }

    public var description: String {
        func at(_ file: String, _ stage: String?) -> String { stage.map { "\(file): stage '\($0)'" } ?? file }
        switch self {
        case let .unreadable(file, what): return "\(file): cannot read \(what)"
        case let .notYAML(file, detail?): return "\(file): not valid YAML: \(detail)"
        case let .notYAML(file, nil): return "\(file): not a YAML mapping"
        case let .unknownKey(file, stage, kind, key, known):
            return "\(at(file, stage)): unknown key '\(key)'\(kind.map { " for \($0)" } ?? "") (known: \(known.joined(separator: ", ")))"
        case let .retiredKey(file, _, advice): return "\(file): \(advice)"
        case let .missingKey(file, stage, kind, key): return "\(at(file, stage)): \(kind) needs '\(key)'"
        case let .badValue(file, stage, key, expected, found):
            return "\(at(file, stage)): \(key) must be \(expected)" + (found.map { ", not \($0)" } ?? "")
        case let .duplicateStage(file, stage): return "\(at(file, stage)): the name is used twice"
        case let .badReference(file, stage, key, value, .later): return "\(at(file, stage)): \(key) refers to stage '\(value)', which comes later"
        case let .badReference(file, stage, key, value, .nothing(path)):
            return "\(at(file, stage)): \(key) '\(value)' is no earlier stage, no input and no file (looked for \(path))"
        case let .badOverride(o, problem): return "override '\(o)' \(problem)"
        case let .noSuchStage(file, name, stages): return "\(file): no stage '\(name)' to start from (stages: \(stages.joined(separator: ", ")))"
        case let .missingInput(file, stage, role, path): return "\(at(file, stage)): \(role) \(path) does not exist"
        case let .inStage(file, stage, problem): return "\(file.map { "\($0): " } ?? "")stage '\(stage)': \(problem)"
        case let .cannotInitialise(stage, count, first, reason):
            return "stage '\(stage)': \(count) tensor(s) cannot be initialised (first: \(first): \(reason))"
        case let .proposalsFromAnotherModel(proposals, digest, model, modelDigest):
            return "\(proposals) was made by another model (digest \(digest)) than \(model) (digest \(modelDigest))"
        case let .proposalsFromAnotherDataset(proposals, digest, images, dataset, datasetDigest, datasetImages):
            return "\(proposals) was made from another dataset (digest \(digest), \(images) images) than \(dataset) "
                + "(digest \(datasetDigest), \(datasetImages) images); run `paramkit propose` on it first"
        case let .proposalsForAnotherImage(proposals, index, image, datasetImage):
            return "\(proposals): image \(index) is '\(image)' but the dataset has '\(datasetImage)'"
        case let .proposalsCount(dataset, images, proposals): return "\(dataset): \(images) images, the proposals cover \(proposals)"
        case let .noTrainingImages(dataset): return "\(dataset): no image has a non-difficult ground-truth box to train the RPN on"
        case let .tooFewEntries(dataset, usable, batchImages):
            return "\(dataset): \(usable) usable training entries, fewer than rcnn_batch_images (\(batchImages))"
        case let .diverged(stage, step, epoch, image, tensor, lastGood):
            return "\(stage): NaN/Inf at step \(step) (epoch \(epoch), image \(image)) in \(tensor ?? "the loss"); "
                + "stopped. Last good checkpoint: \(lastGood ?? "none (first epoch)")"
        case let .cannotWrite(file, what): return "\(file): cannot write \(what)"
        case let .noSuchPath(path): return "\(path): no such file or directory"
        case let .notARunDirectory(dir):
            return "\(dir): no pipeline.log.jsonl: not a pipeline run directory (give a checkpoint for its health report)"
        }
    }
}
