// The stage protocol: what one kind of pipeline stage reads, which settings it takes, how its output
// is identified, and how it runs. Each kind is one file in Kinds/ and one entry in `Pipeline.kinds`;
// the pipeline reads, keys, skips and runs stages only through this protocol, so a new kind of stage
// is a new file and a new line in that list.

import Detection
import Foundation
import ParamKit

public protocol PipelineStage {
    /// The kind's `run:` name in a pipeline file.
    static var name: String { get }
    /// Inputs given as one reference each (an earlier stage, an input name or a path), in the order
    /// they enter the content key.
    static var roles: [String] { get }
    /// Literal settings (freeze spec, seed, …), kept as given.
    static var settings: [String] { get }
    /// Keys the kind reads itself, in `parse` (combine's recipe and inputs, init's pretrained).
    static var ownKeys: [String] { get }
    /// Keys the stage cannot run without.
    static var required: [String] { get }
    /// The output file's extension (default h5).
    static var outputExtension: String { get }
    /// How the output is identified: by its bytes (proposals, JSON), or as a checkpoint by its root
    /// digest (the default), which does not change when only provenance does.
    static var outputDigestOfBytes: Bool { get }
    /// Whether the resolved stage config enters the content key (default true; combine reads none).
    static var readsConfig: Bool { get }
    /// Inputs and settings from the kind's own keys; they come before the roles' and settings' own.
    static func parse(_ map: [String: Any], _ context: StageParsing) throws -> (inputs: [Pipeline.Stage.Input], settings: [(String, String)])
    /// Runs the stage through the same library call as its CLI verb; returns a one-line summary.
    static func run(_ stage: StageRun) throws -> String
}

extension PipelineStage {
    public static var ownKeys: [String] { [] }
    public static var outputExtension: String { "h5" }
    public static var outputDigestOfBytes: Bool { false }
    public static var readsConfig: Bool { true }
    public static func parse(_ map: [String: Any], _ context: StageParsing) throws -> (inputs: [Pipeline.Stage.Input], settings: [(String, String)]) {
        ([], [])
    }
}

/// What a kind's `parse` may use: the place for errors, reference resolution and relative paths.
public struct StageParsing {
    /// The pipeline file and the stage being read, the place of every error about it.
    public let file: String
    public let stage: String
    /// Names of the stages before this one, of the pipeline's inputs (name → path), and of every stage.
    let earlier: [String]
    let named: [String: String]
    let all: [String]
    /// The pipeline file's directory.
    let base: URL

    /// `key`'s value is not what it takes.
    public func badValue(_ key: String, expected: String) -> StageError {
        .badValue(file: file, stage: stage, key: key, expected: expected)
    }

    /// A reference under `key`: an earlier stage, an input name or an existing path.
    public func source(_ value: Any, key: String) throws -> Pipeline.Source {
        guard let s = value as? String else { throw badValue(key, expected: "a stage name, an input name or a path") }
        if earlier.contains(s) { return .stage(s) }
        if let p = named[s] { return .file(p) }
        if all.contains(s) { throw StageError.badReference(file: file, stage: stage, key: key, value: s, problem: .later) }
        let p = path(s)
        guard FileManager.default.fileExists(atPath: p) else {
            throw StageError.badReference(file: file, stage: stage, key: key, value: s, problem: .nothing(lookedFor: p))
        }
        return .file(p)
    }

    /// A path relative to the pipeline file.
    public func path(_ text: String) -> String { text.hasPrefix("/") ? text : base.appendingPathComponent(text).path }
}

/// One stage as it runs: its resolved inputs, settings, config and output path.
public struct StageRun {
    public let name: String
    public let settings: [(String, String)]
    public let inputs: [(role: String, path: String)]
    public let config: StageConfig
    public let output: String

    public func setting(_ key: String) -> String? { settings.first { $0.0 == key }?.1 }
    public func input(_ role: String) -> String? { inputs.first { $0.role == role }?.path }
    /// The dataset split the stage reads (setting `split`, default trainval).
    public var split: String { setting("split") ?? "trainval" }
    /// The `data` input's split.
    public func dataset() throws -> DetectionDataset { try Datasets.open(path: input("data")!, split: split) }
    /// The `freeze` setting (default FIXED_PARAMS; `none` trains every layer) for this dataset's classes.
    public func freeze(_ dataset: DetectionDataset) throws -> FreezeSpec? {
        try StageSupport.freezeSpec(setting("freeze") ?? "FIXED_PARAMS", config: config, classes: dataset.classNames.count)
    }
}
