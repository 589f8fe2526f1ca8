// `paramkit rename`, `cast`, `bbox-denorm` and `lineage`: tensor-by-tensor rewrites and their history.

import ArgumentParser
import Foundation
import ParamKit

/// Runs a rewrite plan: prints it (dry run) or streams it to the output.
func runRewrite(_ plan: RewritePlan, reader: CheckpointReader, write: WritingOptions, json: Bool,
                extra: (RewritePlan.Item) -> String = { _ in "" }) throws {
    var digest: String?
    if !write.dryRun, let (output, format) = try write.target() {
        digest = try Rewrite.write(plan, reader: reader, output: output, format: format, progress: Render.progress(plan.operation))
    }
    let changed = plan.items.filter { $0.transforms != ["copied"] }
    if json {
        Render.out(JSON.object([
            ("operation", .string(plan.operation)), ("input", .string(reader.path)),
            ("output", write.output.map { .string($0) } ?? .null), ("dry_run", .bool(write.dryRun)),
            ("digest", digest.map { .string($0) } ?? .null),
            ("tensors", .array(plan.items.map { item in
                .object([("key", .string(item.info.key)), ("source_key", .string(reader.entries[item.source].key)),
                         ("dtype", .string(item.info.dtype.rawValue)), ("shape", .array(item.info.shape.map { .int($0) })),
                         ("transforms", .array(item.transforms.map { .string($0) })), ("note", .string(extra(item)))])
            })),
        ]).pretty)
        return
    }
    Render.out(Render.table(["tensor", "from", "transforms", ""], changed.map {
        [$0.info.key, reader.entries[$0.source].key, $0.transforms.joined(separator: ", "), extra($0)]
    }))
    Render.out("\(changed.count) of \(plan.items.count) tensors changed" + (write.dryRun ? "; dry run: nothing written" : ""))
    if let digest, let out = write.output { Render.out("wrote \(out): digest \(digest)") }
}

struct RenameCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rename",
        abstract: "Rename tensors with ordered regular-expression rules.",
        discussion: """
        Each rule is REGEX=>REPLACEMENT; rules apply in order to every name ($1 refers to a group). Two tensors \
        renamed to the same name are an error.
        Example: paramkit rename gluon.params --rule '^vgg0_conv(\\d+)_=>conv$1_' -o renamed.h5
        """)

    @Argument(help: "Input checkpoint.") var file: String
    @Option(name: .customLong("rule"), help: "A rule REGEX=>REPLACEMENT (repeatable).") var rules: [String]
    @OptionGroup var write: WritingOptions
    @OptionGroup var options: ReadingOptions

    func run() throws {
        let reader = try Formats.open(path: options.resolve(file), options: options.readOptions)
        let plan = try Rewrite.rename(reader, rules: try rules.map(Rewrite.RenameRule.init))
        try runRewrite(plan, reader: reader, write: write, json: options.json)
    }
}

struct CastCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cast",
        abstract: "Cast floating-point tensors to another dtype and report the largest error.",
        discussion: """
        Integer and bool tensors are copied unchanged. bfloat16 rounding defaults to truncation, which is what \
        MXNet's astype does; --rounding nearest rounds to nearest even.
        Example: paramkit cast final.h5 --dtype float16 -o final-f16.h5
        """)

    @Argument(help: "Input checkpoint.") var file: String
    @Option(help: "Target dtype: float16, bfloat16, float32 or float64.") var dtype: String
    @Option(help: "bfloat16 rounding: truncate (MXNet) or nearest (ties to even).") var rounding: Rewrite.BFloat16Rounding = .truncate
    @OptionGroup var write: WritingOptions
    @OptionGroup var options: ReadingOptions

    func run() throws {
        guard let target = DType(rawValue: dtype) else { throw ValidationError("unknown dtype '\(dtype)'") }
        let reader = try Formats.open(path: options.resolve(file), options: options.readOptions)
        let errors = Rewrite.CastErrors()
        let plan = try Rewrite.cast(reader, to: target, rounding: rounding, errors: errors)
        try runRewrite(plan, reader: reader, write: write, json: options.json) { item in
            errors.maxAbs[reader.entries[item.source].key].map { "max abs error \(Render.number($0))" } ?? ""
        }
        if !write.dryRun, !options.json, let worst = errors.maxAbs.max(by: { $0.value < $1.value }) {
            Render.out("largest error: \(Render.number(worst.value)) in \(worst.key)")
        }
    }
}

struct BBoxDenormCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bbox-denorm",
        abstract: "Add bbox_pred_weight_test / bbox_pred_bias_test de-normalised by per-class means and stds.",
        discussion: """
        As the reference R-CNN callback: W_test[r,:] = W[r,:]·stds[r], b_test[r] = b[r]·stds[r] + means[r] for every \
        row r of bbox_pred (4 per class). Give 4 values (tiled over classes) or 4·C values.
        Example: paramkit bbox-denorm rcnn.h5 --means 0,0,0,0 --stds 0.1,0.1,0.2,0.2 -o rcnn-test.h5
        """)

    @Argument(help: "Input checkpoint with bbox_pred_weight and bbox_pred_bias.") var file: String
    @Option(help: "Comma-separated means (4 or 4·C values).") var means: String
    @Option(help: "Comma-separated stds (4 or 4·C values).") var stds: String
    @OptionGroup var write: WritingOptions
    @OptionGroup var options: ReadingOptions

    static func numbers(_ s: String, _ what: String) throws -> [Double] {
        try s.split(separator: ",").map {
            guard let v = Double($0.trimmingCharacters(in: .whitespaces)), v.isFinite else { throw ValidationError("--\(what): '\($0)' is not a number") }
            return v
        }
    }

    func run() throws {
        let reader = try Formats.open(path: options.resolve(file), options: options.readOptions)
        let plan = try Rewrite.bboxDenorm(reader, means: try Self.numbers(means, "means"), stds: try Self.numbers(stds, "stds"))
        try runRewrite(plan, reader: reader, write: write, json: options.json)
    }
}

struct LineageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lineage",
        abstract: "Show where each tensor of a ParamKit checkpoint came from and what was done to it.",
        discussion: "Example: paramkit lineage model/final.h5 rpn_conv_3x3_weight")

    @Argument(help: "A checkpoint written by ParamKit (HDF5).") var file: String
    @Argument(help: "Only this tensor (name or role:name).") var tensor: String?
    @OptionGroup var options: ReadingOptions

    func run() throws {
        let r = try Lineage.read(path: options.resolve(file), tensor: tensor)
        if options.json {
            Render.out(JSON.object([
                ("file", .string(r.path)), ("operation", .string(r.operation)), ("tool", .string(r.tool)), ("created", .string(r.created)),
                ("inputs", .array(r.inputs.map { .object([("label", .string($0.label)), ("path", .string($0.path)), ("digest", .string($0.digest))]) })),
                ("tensors", .array(r.rows.map { .object([("key", .string($0.key)), ("source", .string($0.source)),
                                                        ("source_digest", $0.sourceDigest.map { .string($0) } ?? .null),
                                                        ("source_key", .string($0.sourceKey)), ("transforms", .array($0.transforms.map { .string($0) }))]) })),
            ]).pretty)
            return
        }
        Render.out("\(r.path): written by \(r.operation) (\(r.tool), \(r.created))")
        for i in r.inputs { Render.out("  input \(i.label): \(i.path) \(i.digest)") }
        for row in r.rows {
            let at = row.sourceDigest.map { "@" + String($0.dropFirst(Digest.prefix.count).prefix(8)) + "…" } ?? ""
            Render.out("\(row.key): from \(row.source)\(at) key \(row.sourceKey), \(row.transforms.joined(separator: ", "))")
        }
    }
}
