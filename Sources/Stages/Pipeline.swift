// The pipeline engine: a declared list of stages (YAML) run in order in a run directory. Each
// stage's content key is a hash of the tool version, its kind, its settings, its resolved stage
// config and the content digests of its inputs; a stage whose output exists with the key it was
// made under (recorded in NAME.stage.json beside it) is skipped, so an interrupted pipeline resumes
// at the first stage without a finished output, and changing a setting re-runs that stage and,
// through the digests, whatever its output feeds.
//
//     config: synth-tiny.yaml            # stage config for every stage (optional; relative to this file)
//     set: {epochs: 2}                   # overrides for every stage (optional)
//     inputs: {train: train.h5}          # named files (optional; relative to this file)
//     stages:
//       - {name: init, run: init, network: tiny-vgg, pretrained: none, data: train}
//       - {name: rpn1, run: train-rpn, init: init, data: train, freeze: FIXED_PARAMS}
//       - {name: props1, run: propose, model: rpn1, data: train}
//       …
//
// A reference (init:, data:, model:, …) names an earlier stage (its output), an input, or a path.

import Detection
import Engine
import Foundation
import ParamKit
import Yams

public struct Pipeline: Sendable {
    /// Every kind of stage a pipeline file can name, one type each (Kinds/).
    static var kinds: [any PipelineStage.Type] {
        [InitStage.self, TrainRPNStage.self, ProposeStage.self, TrainRCNNStage.self, CombineStage.self, EvalStage.self]
    }

    /// A stage's kind, by its `run:` name.
    public struct Kind: Sendable, Equatable, CustomStringConvertible {
        public let rawValue: String
        public init?(rawValue: String) {
            guard Pipeline.kinds.contains(where: { $0.name == rawValue }) else { return nil }
            self.rawValue = rawValue
        }
        public var description: String { rawValue }
        var type: any PipelineStage.Type { Pipeline.kinds.first { $0.name == rawValue }! }
    }

    /// Where an input comes from: an earlier stage's output, or a file.
    public enum Source: Sendable, Equatable {
        case stage(String)
        case file(String)
    }

    public struct Stage: Sendable {
        public var name: String
        public var kind: Kind
        /// Artifact inputs in a fixed order: (role, source). Combine's inputs are `input1`, `input2`, …
        /// or the recipe's names.
        public var inputs: [Input]
        /// Literal settings (freeze spec, seed, …) as given.
        public var settings: [(String, String)]
        /// Stage-config overrides of this stage (`set:`), after the pipeline's own.
        public var overrides: [String]

        public struct Input: Sendable { public var role: String; public var source: Source }

        public func setting(_ key: String) -> String? { settings.first { $0.0 == key }?.1 }
    }

    public var path: String
    public var config: String?
    public var overrides: [String]
    public var stages: [Stage]

    /// Reads and checks a pipeline file: known kinds and keys, unique names, references only to
    /// earlier stages, inputs or existing paths.
    /// `inputs` (name → path, relative to the working directory) replace or add to the file's own.
    public static func load(path: String, inputs bound: [String: String] = [:]) throws -> Pipeline {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw StageError.unreadable(file: path, what: "the pipeline") }
        let root: [String: Any]
        do {
            guard let r = try YAMLValue.load(yaml: text) as? [String: Any] else { throw StageError.notYAML(file: path, detail: nil) }
            root = r
        } catch let e as StageError { throw e } catch { throw StageError.notYAML(file: path, detail: "\(error)") }
        let base = URL(fileURLWithPath: path).deletingLastPathComponent()
        func relative(_ p: String) -> String { p.hasPrefix("/") ? p : base.appendingPathComponent(p).path }
        for key in root.keys where !["config", "set", "inputs", "stages"].contains(key) {
            throw StageError.unknownKey(file: path, stage: nil, kind: nil, key: key, known: ["config", "set", "inputs", "stages"])
        }
        let config = try (root["config"]).map { v -> String in
            guard let s = v as? String else { throw StageError.badValue(file: path, stage: nil, key: "config", expected: "a path") }
            return relative(s)
        }
        let overrides = try overridesList(root["set"], file: path, stage: nil)
        var named: [String: String] = [:]
        if let inputs = root["inputs"] {
            guard let map = inputs as? [String: Any] else { throw StageError.badValue(file: path, stage: nil, key: "inputs", expected: "a mapping of names to paths") }
            for (k, v) in map {
                guard let s = v as? String else { throw StageError.badValue(file: path, stage: nil, key: "inputs.\(k)", expected: "a path") }
                named[k] = relative(s)
            }
        }
        for (k, v) in bound { named[k] = URL(fileURLWithPath: v).path }
        guard let list = root["stages"] as? [Any], !list.isEmpty else { throw StageError.badValue(file: path, stage: nil, key: "stages", expected: "a non-empty list") }
        var stages: [Stage] = []
        for (i, item) in list.enumerated() {
            guard let map = item as? [String: Any] else { throw StageError.badValue(file: path, stage: nil, key: "stages[\(i)]", expected: "a mapping") }
            guard let name = map["name"] as? String, !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw StageError.badValue(file: path, stage: nil, key: "stages[\(i)].name", expected: "a name of letters, digits, '-', '_' or '.'")
            }
            guard !stages.contains(where: { $0.name == name }), named[name] == nil else { throw StageError.duplicateStage(file: path, stage: name) }
            guard let run = map["run"] as? String, let kind = Kind(rawValue: run) else {
                throw StageError.badValue(file: path, stage: name, key: "run", expected: "one of \(kinds.map { $0.name }.joined(separator: ", "))")
            }
            let kindType = kind.type
            let context = StageParsing(file: path, stage: name, earlier: stages.map(\.name), named: named,
                                       all: list.compactMap { ($0 as? [String: Any])?["name"] as? String }, base: base)
            let known = ["name", "run", "set"] + kindType.roles + kindType.ownKeys + kindType.settings
            for key in map.keys where !known.contains(key) {
                throw StageError.unknownKey(file: path, stage: name, kind: kind.rawValue, key: key, known: known.dropFirst(2).sorted())
            }
            for key in kindType.required where map[key] == nil { throw StageError.missingKey(file: path, stage: name, kind: kind.rawValue, key: key) }
            let parsed = try kindType.parse(map, context)
            var inputs = parsed.inputs, settings = parsed.settings
            for role in kindType.roles {
                if let v = map[role] { inputs.append(.init(role: role, source: try context.source(v, key: role))) }
            }
            for key in kindType.settings {
                if let v = map[key] { settings.append((key, "\(v)")) }
            }
            stages.append(Stage(name: name, kind: kind, inputs: inputs, settings: settings.sorted { $0.0 < $1.0 },
                                overrides: try overridesList(map["set"], file: path, stage: name)))
        }
        let pipeline = Pipeline(path: path, config: config, overrides: overrides, stages: stages)
        // bad config keys fail now, not at stage 5; the message says which pipeline named the config
        for s in stages {
            do { _ = try pipeline.stageConfig(s) } catch let e as StageError { throw StageError.inStage(file: path, stage: s.name, problem: "\(e)") }
        }
        return pipeline
    }

    static func overridesList(_ value: Any?, file: String, stage: String?) throws -> [String] {
        guard let value else { return [] }
        guard let map = value as? [String: Any] else {
            throw StageError.badValue(file: file, stage: stage, key: "set", expected: "a mapping of config keys to values")
        }
        return try map.keys.sorted().map { k in
            let text = try Yams.dump(object: map[k]!).trimmingCharacters(in: .whitespacesAndNewlines)
            return "\(k)=\(text.hasPrefix("- ") ? "[" + text.split(separator: "\n").map { $0.dropFirst(2) }.joined(separator: ", ") + "]" : text)"
        }
    }

    func stageConfig(_ stage: Stage) throws -> StageConfig {
        try StageConfig.load(path: config, overrides: overrides + stage.overrides)
    }

    // MARK: - Running

    public struct Options: Sendable {
        public var directory: String
        /// Re-run this stage and every later one even when their keys match.
        public var from: String?
        public var force = false
        public var dryRun = false
        public init(directory: String) { self.directory = directory }
    }

    public enum Action: String, Sendable { case run, skip }

    public struct Event: Sendable {
        public var stage: String
        public var kind: Kind
        public var action: Action
        /// Why it runs or is skipped.
        public var reason: String
        public var key: String?
        public var output: String
        public var outputDigest: String?
        public var seconds: Double?
        public var summary: String?
    }

    /// The run directory a pipeline uses unless told otherwise: `NAME.run` beside the file.
    public static func defaultDirectory(for path: String) -> String {
        let url = URL(fileURLWithPath: path)
        return url.deletingPathExtension().path + ".run"
    }

    public func output(_ stage: Stage, in directory: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent("\(stage.name).\(stage.kind.type.outputExtension)").path
    }

    func record(_ stage: Stage, in directory: String) -> String {
        URL(fileURLWithPath: directory).appendingPathComponent("\(stage.name).stage.json").path
    }

    /// Runs (or, with `dryRun`, plans) every stage in order; `report` sees each stage's event as it
    /// starts and again when it ends. In a dry run a stage whose inputs do not exist yet is planned
    /// as "run" with its key unknown.
    @discardableResult
    public func run(_ options: Options, report: (Event) -> Void = { _ in }) throws -> [Event] {
        if let from = options.from, !stages.contains(where: { $0.name == from }) {
            throw StageError.noSuchStage(file: path, name: from, stages: stages.map(\.name))
        }
        if !options.dryRun { try FileManager.default.createDirectory(atPath: options.directory, withIntermediateDirectories: true) }
        let lock = options.dryRun ? nil : try DirectoryLock(directory: options.directory, what: "pipeline run")
        defer { withExtendedLifetime(lock) {} }
        let log = options.dryRun ? nil : try StageLog(stage: "pipeline", path: URL(fileURLWithPath: options.directory).appendingPathComponent("pipeline.log.jsonl").path)
        var events: [Event] = []
        var forcing = options.force
        var unknownUpstream = Set<String>()   // dry run: stages that would run, so their outputs are not known yet
        for stage in stages {
            if stage.name == options.from { forcing = true }
            let out = output(stage, in: options.directory)
            var event = Event(stage: stage.name, kind: stage.kind, action: .run, reason: "", key: nil, output: out)
            let config = try stageConfig(stage)
            let pending = stage.inputs.contains { if case let .stage(s) = $0.source { return unknownUpstream.contains(s) } else { return false } }
            if pending {
                event.reason = "an input is produced by a stage that runs first"
            } else {
                let key = try contentKey(stage, config: config, directory: options.directory)
                event.key = key
                let previous = try? recorded(stage, in: options.directory)
                if forcing {
                    event.reason = options.force ? "--force" : "--from \(options.from!)"
                } else if let previous, previous.key == key, let digest = try? artifactDigest(out, kind: stage.kind), digest == previous.outputDigest {
                    event.action = .skip
                    event.reason = "output exists with the same key"
                    event.outputDigest = digest
                } else if let previous, previous.key != key {
                    event.reason = "key changed (settings, config or inputs differ from the recorded run)"
                } else if previous != nil {
                    event.reason = FileManager.default.fileExists(atPath: out) ? "output differs from the recorded one" : "output missing"
                } else {
                    event.reason = "not run yet"
                }
            }
            if options.dryRun {
                if event.action == .run { unknownUpstream.insert(stage.name) }
                events.append(event); report(event)
                continue
            }
            if event.action == .skip {
                log?.record([("stage", .string(stage.name)), ("action", .string("skip")), ("key", .string(event.key!))])
                events.append(event); report(event)
                continue
            }
            report(event)
            let started = Date()
            // The record goes first so a half-finished stage is never taken as done: it is rewritten
            // only after the output has been committed.
            try? FileManager.default.removeItem(atPath: record(stage, in: options.directory))
            log?.record([("stage", .string(stage.name)), ("action", .string("run")), ("key", .string(event.key!)), ("reason", .string(event.reason))])
            event.summary = try execute(stage, config: config, output: out, directory: options.directory)
            event.seconds = Date().timeIntervalSince(started)
            event.outputDigest = try artifactDigest(out, kind: stage.kind)
            try writeRecord(stage, event: event, directory: options.directory)
            log?.record([("stage", .string(stage.name)), ("action", .string("done")), ("seconds", .double(event.seconds!)),
                         ("output_digest", .string(event.outputDigest!))])
            events.append(event); report(event)
        }
        return events
    }

    /// xxh64 over the tool version, the kind, the settings, the resolved config and the inputs'
    /// content digests (role by role).
    func contentKey(_ stage: Stage, config: StageConfig, directory: String) throws -> String {
        var h = XXH64()
        h.update("\(Provenance.toolVersion)\n\(stage.kind.rawValue)\n")
        for (k, v) in stage.settings { h.update("setting\t\(k)\t\(v)\n") }
        if stage.kind.type.readsConfig { h.update("config\t\(config.json)\n") }
        for input in stage.inputs {
            let file = resolve(input.source, directory: directory)
            guard FileManager.default.fileExists(atPath: file) else {
                throw StageError.missingInput(file: path, stage: stage.name, role: input.role, path: file)
            }
            h.update("input\t\(input.role)\t\(try inputDigest(file, role: input.role, stage: stage))\n")
        }
        return Digest.format(h.finalize())
    }

    func resolve(_ source: Source, directory: String) -> String {
        switch source {
        case let .file(p): p
        case let .stage(s): output(stages.first { $0.name == s }!, in: directory)
        }
    }

    /// Datasets by their content digest, checkpoints by their root digest, other files by their bytes.
    func inputDigest(_ file: String, role: String, stage: Stage) throws -> String {
        if role == "data" { return try Datasets.open(path: file, split: stage.setting("split") ?? "trainval").digest }
        if role == "proposals" { return try fileDigest(file) }
        return try DigestCache([Formats.open(path: file)]).rootDigest(0)
    }

    func artifactDigest(_ file: String, kind: Kind) throws -> String {
        kind.type.outputDigestOfBytes ? try fileDigest(file) : try DigestCache([Formats.open(path: file)]).rootDigest(0)
    }

    func fileDigest(_ file: String) throws -> String {
        let m = try MappedFile(path: file)
        var h = XXH64()
        h.update(m.bytes)
        return Digest.format(h.finalize())
    }

    struct Record { var key: String; var outputDigest: String }

    func recorded(_ stage: Stage, in directory: String) throws -> Record? {
        let file = record(stage, in: directory)
        guard let data = FileManager.default.contents(atPath: file),
              let obj = try JSONSerialization.jsonObject(with: data) as? [String: Any],
              let key = obj["key"] as? String, let digest = obj["output_digest"] as? String else { return nil }
        return Record(key: key, outputDigest: digest)
    }

    func writeRecord(_ stage: Stage, event: Event, directory: String) throws {
        let inputs: [(String, JSON)] = stage.inputs.map { ($0.role, .string(resolve($0.source, directory: directory))) }
        let json = JSON.object([
            ("stage", .string(stage.name)), ("run", .string(stage.kind.rawValue)), ("key", .string(event.key!)),
            ("tool", .string(Provenance.toolVersion)), ("inputs", .object(inputs)),
            ("settings", .object(stage.settings.map { ($0.0, .string($0.1)) })),
            ("output", .string(event.output)), ("output_digest", .string(event.outputDigest!)),
            ("seconds", .double(event.seconds ?? 0)), ("summary", .string(event.summary ?? "")),
        ])
        try Pipeline.writeAtomically(json.pretty + "\n", to: record(stage, in: directory))
    }

    static func writeAtomically(_ text: String, to path: String) throws {
        try AtomicOutput.write(Data(text.utf8), to: path)
    }

    /// Runs one stage through its kind; returns the kind's one-line summary.
    func execute(_ stage: Stage, config: StageConfig, output: String, directory: String) throws -> String {
        try stage.kind.type.run(StageRun(name: stage.name, settings: stage.settings,
                                         inputs: stage.inputs.map { (role: $0.role, path: resolve($0.source, directory: directory)) },
                                         config: config, output: output))
    }
}
