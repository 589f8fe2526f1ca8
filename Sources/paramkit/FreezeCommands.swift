// `paramkit freeze resolve` and `paramkit audit`: what a freeze spec covers, and proof it held.

import ArgumentParser
import ParamKit

struct FreezeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "freeze",
        abstract: "Work with freeze specs (FIXED_PARAMS, FIXED_PARAMS_SHARED, or your own lists).",
        subcommands: [Resolve.self])

    struct Resolve: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show which tensors a freeze spec fixes, with counts and warnings about surprising matches.",
            discussion: """
            SPEC is FIXED_PARAMS, FIXED_PARAMS_SHARED (the reference presets for VGG or ResNet names), a comma list \
            (conv1,conv2) or @FILE with one entry per line. Entries match MXNet's way by default: a learnable \
            tensor is frozen when its name contains an entry as a substring; aux states are never frozen.
            Example: paramkit freeze resolve FIXED_PARAMS_SHARED --network vgg16
            """)

        @Argument(help: "The spec: FIXED_PARAMS, FIXED_PARAMS_SHARED, a,b,c or @FILE.") var spec: String
        @Option(help: "Resolve against this checkpoint's names.") var against: String?
        @Option(help: "Resolve against a network definition: \(NetworkDefinition.names.joined(separator: ", ")).") var network: String?
        @Option(help: "How entries match names: substring (MXNet), prefix, exact, glob or regex.") var match: MatchMode = .substring
        @Option(help: "Which presets FIXED_PARAMS* mean: vgg or resnet (default: guessed from the names).") var family: NetworkFamily?
        @Flag(help: "List trainable tensors too.") var all = false
        @OptionGroup var options: ReadingOptions

        func validate() throws {
            if (against == nil) == (network == nil) { throw ValidationError("give exactly one of --against FILE or --network NAME") }
        }

        func run() throws {
            let entries: [TensorInfo]
            var family = self.family
            if let against {
                entries = try Formats.open(path: options.resolve(against), options: options.readOptions).entries
            } else {
                let net = try NetworkDefinition.named(network!)
                entries = net.params.map(\.info)
                family = family ?? net.family
            }
            let spec = try FreezeSpec.parse(self.spec, mode: match, family: family, names: entries.map(\.name))
            let r = try Freeze.resolve(spec, against: entries)
            if options.json { Render.out(FreezeRender.json(r).pretty); return }
            for w in r.warnings { Render.warn(w) }
            Render.out("spec: \(spec.origin): \(spec.entries.joined(separator: ", ")) [\(spec.mode.rawValue)]")
            var rows = r.frozen.map { ["frozen"] + Render.info($0) }
            if all { rows += r.trainable.map { ["trainable"] + Render.info($0) } + r.aux.map { ["aux"] + Render.info($0) } }
            Render.out(Render.table(["state", "name", "role", "dtype", "shape", "elements", "bytes"], rows, right: [5, 6]))
            let f = r.frozenCount, t = r.trainableCount
            Render.out("frozen: \(f.tensors) tensors, \(Render.count(f.elements)) parameters, \(Render.bytes(f.bytes)); "
                       + "trainable: \(t.tensors) tensors, \(Render.count(t.elements)) parameters, \(Render.bytes(t.bytes))"
                       + (r.aux.isEmpty ? "" : "; aux states (not covered): \(r.aux.count)"))
        }
    }
}

enum FreezeRender {
    static func json(_ r: FreezeReport) -> JSON {
        func count(_ c: FreezeReport.Count) -> JSON {
            .object([("tensors", .int(c.tensors)), ("elements", .int(c.elements)), ("bytes", .int(c.bytes))])
        }
        return .object([
            ("spec", .object([("origin", .string(r.spec.origin)), ("mode", .string(r.spec.mode.rawValue)),
                              ("entries", .array(r.spec.entries.map { .string($0) }))])),
            ("frozen", .array(r.frozen.map { .string($0.name) })),
            ("trainable", .array(r.trainable.map { .string($0.name) })),
            ("aux", .array(r.aux.map { .string($0.name) })),
            ("matches", .object(zip(r.spec.entries, r.matches).map { ($0, .array($1.map { .string($0) })) })),
            ("frozen_count", count(r.frozenCount)), ("trainable_count", count(r.trainableCount)),
            ("warnings", .array(r.warnings.map { .string($0) })),
        ])
    }
}

struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Prove that every frozen tensor is bit-identical after a training stage.",
        discussion: """
        Exit 1 names each frozen tensor that changed, went missing or changed shape. Trainable tensors that did \
        not change are reported (a stage that trained nothing shows up here) but do not fail the audit.
        Example: paramkit audit model/rcnn1-0008.params model/rpn2-0008.params --frozen FIXED_PARAMS_SHARED
        """)

    @Argument(help: "Checkpoint before the stage.") var before: String
    @Argument(help: "Checkpoint after the stage.") var after: String
    @Option(help: "The freeze spec the stage used (FIXED_PARAMS, FIXED_PARAMS_SHARED, a,b,c or @FILE).") var frozen: String
    @Option(help: "How entries match names: substring (MXNet), prefix, exact, glob or regex.") var match: MatchMode = .substring
    @Option(help: "Which presets FIXED_PARAMS* mean: vgg or resnet (default: guessed).") var family: NetworkFamily?
    @OptionGroup var options: ReadingOptions

    func run() throws {
        let r = try Audit.run(before: options.resolve(before), after: options.resolve(after), spec: frozen, mode: match,
                              family: family, options: options.readOptions)
        if options.json {
            Render.out(JSON.object([
                ("ok", .bool(r.violations.isEmpty)), ("checked", .int(r.checked)),
                ("frozen", .int(r.freeze.frozen.count)),
                ("violations", .array(r.violations.map { .object([("key", .string($0.key)), ("problem", .string($0.problem))]) })),
                ("unchanged_trainable", .array(r.unchangedTrainable.map { .string($0) })),
                ("warnings", .array(r.freeze.warnings.map { .string($0) })),
            ]).pretty)
        } else {
            for w in r.freeze.warnings { Render.warn(w) }
            for v in r.violations { Render.out("VIOLATION \(v.key): \(v.problem)") }
            for u in r.unchangedTrainable { Render.out("unchanged (trainable) \(u)") }
            Render.out("\(r.violations.isEmpty ? "OK" : "FAILED"): \(r.freeze.frozen.count) frozen tensors checked bit for bit, "
                       + "\(r.violations.count) violation(s); \(r.unchangedTrainable.count) trainable tensor(s) unchanged")
        }
        if !r.violations.isEmpty { throw Finding(code: 1) }
    }
}
