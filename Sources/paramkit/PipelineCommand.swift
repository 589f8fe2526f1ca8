// `paramkit pipeline run`: a declared list of stages run in order, each skipped when its output
// already exists with the same content key.

import ArgumentParser
import Engine
import Foundation
import ParamKit
import Stages

struct PipelineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pipeline",
        abstract: "Run a declared pipeline of stages (YAML), resuming where it stopped.",
        subcommands: [Run.self])

    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run every stage of a pipeline file whose output is missing or out of date.",
            discussion: """
            Stages (run: init, train-rpn, propose, train-rcnn, combine, eval) write DIR/NAME.h5 (eval: DIR/NAME.json) \
            and DIR/NAME.stage.json, which records the stage's content key: a hash of the tool version, the stage's \
            settings, its resolved stage config and its inputs' content digests. A stage whose output exists under \
            the same key is skipped, so an interrupted run continues where it stopped and an edited setting re-runs \
            that stage and everything its output changes. DIR/pipeline.log.jsonl logs every decision.
            Examples:
              paramkit pipeline run examples/alternate-tiny.yaml --input train=train.h5 --input test=test.h5 --dry-run
              paramkit pipeline run examples/alternate-tiny.yaml --input train=train.h5 --input test=test.h5 --dir runs/tiny --from rcnn2
            """)
        @Argument(help: "Pipeline file (YAML): config, set, inputs, stages.") var file: String
        @Option(help: "Run directory (default: the file's name with .run, beside it).") var dir: String?
        @Option(name: .customLong("input"), help: "Bind one of the file's named inputs to a path: --input train=data/train.h5 (repeatable).")
        var inputs: [String] = []
        @Option(help: "Re-run this stage and every later one, even when up to date.") var from: String?
        @Flag(help: "Re-run every stage.") var force = false
        @Flag(help: "Print what would run and what would be skipped; write nothing.") var dryRun = false
        @Flag(help: "JSON output (one object with the stages).") var json = false
        @Option(help: "Threads for the engine (default: all cores).") var threads: Int?

        func run() throws {
            if let threads { Threads.set(threads) }
            var bound: [String: String] = [:]
            for i in inputs {
                guard let eq = i.firstIndex(of: "="), eq != i.startIndex else { throw ValidationError("--input '\(i)' must look like NAME=PATH") }
                bound[String(i[..<eq])] = String(i[i.index(after: eq)...])
            }
            let pipeline = try Pipeline.load(path: file, inputs: bound)
            var options = Pipeline.Options(directory: dir ?? Pipeline.defaultDirectory(for: file))
            options.from = from
            options.force = force
            options.dryRun = dryRun
            let events = try pipeline.run(options) { e in
                guard !json else { return }
                if e.action == .skip {
                    Render.out("skip \(e.stage) (\(e.kind.rawValue)): \(e.reason)")
                } else if dryRun {
                    Render.out("run  \(e.stage) (\(e.kind.rawValue)): \(e.reason)")
                } else if let seconds = e.seconds {
                    Render.out(String(format: "done %@ in %.1f s: %@", e.stage, seconds, e.summary ?? ""))
                } else {
                    Render.out("run  \(e.stage) (\(e.kind.rawValue)): \(e.reason)")
                }
            }
            if json {
                Render.out(JSON.object([
                    ("pipeline", .string(file)), ("directory", .string(options.directory)), ("dry_run", .bool(dryRun)),
                    ("stages", .array(events.map { e in
                        .object([("stage", .string(e.stage)), ("run", .string(e.kind.rawValue)), ("action", .string(e.action.rawValue)),
                                 ("reason", .string(e.reason)), ("key", e.key.map { .string($0) } ?? .null), ("output", .string(e.output)),
                                 ("output_digest", e.outputDigest.map { .string($0) } ?? .null),
                                 ("seconds", e.seconds.map { .double($0) } ?? .null), ("summary", e.summary.map { .string($0) } ?? .null)])
                    })),
                ]).pretty)
            } else if dryRun {
                Render.out("dry run: nothing written")
            }
        }
    }
}
