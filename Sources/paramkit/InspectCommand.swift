// `paramkit inspect`: tensor list, totals, optional statistics and per-layer totals.

import ArgumentParser
import Foundation
import ParamKit
import Stages

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List a checkpoint's tensors: name, role, dtype, shape, elements and bytes.",
        discussion: """
        Reads only the file's structure unless --stats is given.
        Example: paramkit inspect model/rpn1-0001.params --group-by-prefix
        """)

    @Argument(help: "Checkpoint file (.params, .safetensors, .h5), or an MXNet prefix with --epoch.")
    var file: String

    @Flag(help: "Add min, max, mean, std, NaN/Inf counts and the zero fraction of each tensor (reads all data).")
    var stats = false

    @Flag(help: "Sum tensors, elements and bytes per layer (conv5_3, rpn_cls_score, …).")
    var groupByPrefix = false

    @OptionGroup var options: ReadingOptions

    func run() throws {
        let report: InspectReport
        do {
            report = try ParamKit.Inspect.run(path: options.resolve(file), stats: stats, options: options.readOptions)
        } catch let e as FormatError where e.artifactKind == ProposalSet.kind {
            return try inspectProposals(e.file)
        }
        if options.json {
            Render.out(json(report).pretty)
        } else {
            for w in report.warnings { Render.warn("\(report.path): \(w)") }
            Render.out(text(report))
        }
    }

    func text(_ r: InspectReport) -> String {
        var lines = ["\(r.path): \(r.format.rawValue), \(r.rows.count) tensors, \(Render.count(r.totalElements)) elements, \(Render.bytes(r.totalBytes))"]
        if let d = r.storedRootDigest { lines.append("digest \(d)") }
        if groupByPrefix {
            lines.append(Render.table(["layer", "tensors", "elements", "bytes"],
                                      r.groups.map { [$0.prefix, String($0.tensors), Render.count($0.elements), Render.bytes($0.bytes)] },
                                      right: [1, 2, 3]))
            return lines.joined(separator: "\n")
        }
        var header = ["name", "role", "dtype", "shape", "elements", "bytes"]
        if stats { header += ["min", "max", "mean", "std", "nan", "inf", "zeros"] }
        lines.append(Render.table(header, r.rows.map { row in
            var cells = Render.info(row.info)
            if let s = row.stats {
                cells += [Render.number(s.count > s.nanCount ? s.min : nil), Render.number(s.count > s.nanCount ? s.max : nil),
                          Render.number(s.mean), Render.number(s.std), String(s.nanCount), String(s.infCount),
                          String(format: "%.3f", s.zeroFraction)]
            }
            return cells
        }, right: Set(4..<header.count)))
        return lines.joined(separator: "\n")
    }

    func json(_ r: InspectReport) -> JSON {
        var fields: [(String, JSON)] = [
            ("file", .string(r.path)), ("format", .string(r.format.rawValue)),
            ("digest", r.storedRootDigest.map { .string($0) } ?? .null),
            ("tensors", .array(r.rows.map { row in
                var t = Render.json(row.info)
                if let s = row.stats {
                    let finite = s.count > s.nanCount
                    t.append(("stats", .object([
                        ("min", finite ? .double(s.min) : .null), ("max", finite ? .double(s.max) : .null),
                        ("mean", s.mean.map { .double($0) } ?? .null), ("std", s.std.map { .double($0) } ?? .null),
                        ("nan", .int(s.nanCount)), ("inf", .int(s.infCount)), ("zero_fraction", .double(s.zeroFraction)),
                    ])))
                }
                return .object(t)
            })),
            ("totals", .object([("tensors", .int(r.rows.count)), ("elements", .int(r.totalElements)), ("bytes", .int(r.totalBytes))])),
        ]
        if groupByPrefix {
            fields.append(("groups", .array(r.groups.map {
                .object([("prefix", .string($0.prefix)), ("tensors", .int($0.tensors)), ("elements", .int($0.elements)), ("bytes", .int($0.bytes))])
            })))
        }
        fields.append(("metadata", .object(r.metadata.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        fields.append(("warnings", .array(r.warnings.map { .string($0) })))
        return .object(fields)
    }

    /// A proposals file (`paramkit propose`): images, proposals per image, and what it came from.
    func inspectProposals(_ path: String) throws {
        let p = try ProposalSet.read(path: path)
        let counts = p.scores.map(\.count)
        let total = counts.reduce(0, +)
        if options.json {
            Render.out(JSON.object([
                ("file", .string(path)), ("kind", .string(ProposalSet.kind)), ("images", .int(counts.count)), ("proposals", .int(total)),
                ("per_image", .object([("min", .int(counts.min() ?? 0)), ("max", .int(counts.max() ?? 0))])),
                ("dataset_digest", .string(p.datasetDigest)), ("model_digest", .string(p.modelDigest)),
            ]).pretty)
            return
        }
        let mean = counts.isEmpty ? 0 : Double(total) / Double(counts.count)
        Render.out("\(path): proposals for \(counts.count) images, \(Render.count(total)) boxes (\(counts.min() ?? 0)…\(counts.max() ?? 0) per image, mean \(String(format: "%.1f", mean)))")
        Render.out("from model \(p.modelDigest) on dataset \(p.datasetDigest)")
    }
}
