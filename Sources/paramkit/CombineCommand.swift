// `paramkit combine`: MXNet combine_model (first input wins) or a YAML recipe.

import ArgumentParser
import Foundation
import ParamKit

struct CombineCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "combine",
        abstract: "Merge checkpoints: MXNet combine_model (union of keys, first input wins), or a recipe.",
        discussion: """
        Without --recipe every key of every input is taken and, for a key in several inputs, the first \
        input wins (MXNet example/rcnn combine_model). Every conflict is reported with its winner and whether \
        the values were equal; --strict fails on a conflict with unequal values. With --recipe FILE, inputs \
        are bound to the recipe's names in order, or by NAME=PATH; undeclared conflicts are errors.
        Examples:
          paramkit combine model/rpn2-0008.params model/rcnn1-0008.params -o model/rcnn2-0000.params
          paramkit combine --recipe examples/combine-rpn2-rcnn1.yaml rpn2=rpn2.h5 rcnn1=rcnn1.h5 -o rcnn2.h5
        """)

    @Argument(help: "Input checkpoints in order (PATH or NAME=PATH).") var inputs: [String]
    @Option(help: "YAML recipe (schemas/recipe.schema.json) instead of first-input-wins.") var recipe: String?
    @Flag(help: "Fail when two inputs hold different values for the same name.") var strict = false
    @Flag(help: "List every conflict, also those whose values are equal.") var verbose = false
    @OptionGroup var write: WritingOptions
    @OptionGroup var options: ReadingOptions

    func validate() throws {
        if recipe == nil && inputs.count < 2 { throw ValidationError("combine needs at least two inputs") }
    }

    func run() throws {
        let bound = inputs.map { arg -> (String?, String) in
            if let eq = arg.firstIndex(of: "="), !FileManager.default.fileExists(atPath: arg) {
                return (String(arg[..<eq]), options.resolve(String(arg[arg.index(after: eq)...])))
            }
            return (nil, options.resolve(arg))
        }
        var plan: MergePlan
        let readers: [CheckpointReader]
        let r: Recipe
        if let recipe {
            r = try Recipe.load(path: recipe)
            readers = try r.bind(bound.map { (name: $0.0, path: $0.1) }).map { try Formats.open(path: $0, options: options.readOptions) }
        } else {
            let labels = Self.labels(bound)
            r = Recipe.combineModel(labels: labels)
            readers = try bound.map { try Formats.open(path: $0.1, options: options.readOptions) }
        }
        plan = try Merge.plan(r, readers: readers)
        let digests = DigestCache(readers)
        var digest: String?
        var violation: PolicyViolation?
        if !write.dryRun, let (output, format) = try write.target() {
            do {
                digest = try Merge.write(&plan, digests: digests, output: output, format: format,
                                         operation: recipe == nil ? "combine" : "combine-recipe",
                                         settings: [("recipe", .string(recipe ?? "combine_model (first input wins)"))],
                                         strict: strict, progress: Render.progress("combine"))
            } catch let v as PolicyViolation {
                violation = v
            }
        } else {
            try Merge.compareConflicts(&plan, digests: digests)
            let unequal = plan.conflicts.filter { $0.equal == false }
            if strict && !unequal.isEmpty { violation = PolicyViolation("strict: \(unequal.count) conflict(s) with unequal values") }
        }
        if options.json {
            Render.out(json(plan, digest: digest).pretty)
        } else {
            Render.out(text(plan, digest: digest))
        }
        if let violation { throw violation }
    }

    /// Labels for positional inputs: NAME= when given, else the file name without extension.
    static func labels(_ bound: [(String?, String)]) -> [String] {
        var labels: [String] = []
        for (i, (label, path)) in bound.enumerated() {
            var l = label ?? URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            if labels.contains(l) { l = "input\(i + 1)" }
            labels.append(l)
        }
        return labels
    }

    func text(_ plan: MergePlan, digest: String?) -> String {
        var lines: [String] = []
        let counts = plan.labels.indices.map { i in plan.items.filter { $0.input == i }.count }
        lines.append("plan: \(plan.items.count) tensors — " + zip(plan.labels, counts).map { "\($1) from \($0)" }.joined(separator: ", "))
        // Conflicts with different values are listed one by one; equal ones (shared layers that were
        // frozen, say) are summed up unless --verbose.
        let equal = plan.conflicts.filter { $0.equal == true }
        for c in plan.conflicts where verbose || c.equal != true {
            let eq = c.equal.map { $0 ? "equal" : "DIFFERENT" } ?? "not compared"
            lines.append("conflict \(c.key): \(plan.labels[c.winner]) wins over \(plan.labels[c.loser]) (\(c.reason); values \(eq))")
        }
        if !verbose && !equal.isEmpty {
            lines.append("\(equal.count) conflict(s) with equal values (\(equal.first!.key) … \(equal.last!.key)); --verbose lists them")
        }
        if write.dryRun {
            lines.append(Render.table(["tensor", "from", "dtype", "shape", "transforms"], plan.items.map {
                [$0.info.key, plan.labels[$0.input] + ":" + $0.sourceKey, $0.info.dtype.rawValue, Shape.text($0.info.shape), $0.transforms.joined(separator: ", ")]
            }))
            lines.append("dry run: nothing written")
        } else if let digest, let out = write.output {
            lines.append("wrote \(out): \(plan.items.count) tensors, \(plan.conflicts.count) conflicts, digest \(digest)")
        }
        return lines.joined(separator: "\n")
    }

    func json(_ plan: MergePlan, digest: String?) -> JSON {
        .object([
            ("inputs", .array(plan.labels.map { .string($0) })),
            ("output", write.output.map { .string($0) } ?? .null),
            ("dry_run", .bool(write.dryRun)),
            ("digest", digest.map { .string($0) } ?? .null),
            ("tensors", .array(plan.items.map {
                .object([("key", .string($0.info.key)), ("from", .string(plan.labels[$0.input])), ("source_key", .string($0.sourceKey)),
                         ("dtype", .string($0.info.dtype.rawValue)), ("shape", .array($0.info.shape.map { .int($0) })),
                         ("transforms", .array($0.transforms.map { .string($0) }))])
            })),
            ("conflicts", .array(plan.conflicts.map {
                .object([("key", .string($0.key)), ("winner", .string(plan.labels[$0.winner])), ("loser", .string(plan.labels[$0.loser])),
                         ("reason", .string($0.reason)), ("equal", $0.equal.map { .bool($0) } ?? .null)])
            })),
        ])
    }
}

