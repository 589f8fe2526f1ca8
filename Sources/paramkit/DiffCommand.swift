// `paramkit diff`: compare two checkpoints in any formats.

import ArgumentParser
import ParamKit

struct DiffCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Compare two checkpoints: missing names, dtype/shape changes and value differences.",
        discussion: """
        An element differs when |a − b| > atol + rtol·|b|. Exit 0 when equal within tolerance, 1 when different, 2 on error.
        Example: paramkit diff rpn1-0001.params rpn1.h5 --atol 1e-6
        """)

    @Argument(help: "First checkpoint (A).") var a: String
    @Argument(help: "Second checkpoint (B); tolerances are relative to its values.") var b: String
    @Option(help: "Absolute tolerance.") var atol: Double = 0
    @Option(help: "Relative tolerance (times |b|).") var rtol: Double = 0
    @Flag(help: "List every compared tensor, not only the ones that differ.") var all = false
    @OptionGroup var options: ReadingOptions

    func validate() throws {
        guard atol >= 0, rtol >= 0, atol.isFinite, rtol.isFinite else { throw ValidationError("--atol and --rtol must be finite and ≥ 0") }
    }

    func run() throws {
        let r = try ParamKit.Diff.run(options.resolve(a), options.resolve(b), atol: atol, rtol: rtol,
                                      options: options.readOptions, progress: Render.progress("diff"))
        if options.json {
            Render.out(json(r).pretty)
        } else {
            Render.out(text(r))
        }
        if !r.equal { throw Finding(code: 1) }
    }

    func text(_ r: DiffReport) -> String {
        var lines: [String] = []
        for i in r.onlyInA { lines.append("only in A: \(i.key) \(i.dtype.rawValue) \(Shape.text(i.shape))") }
        for i in r.onlyInB { lines.append("only in B: \(i.key) \(i.dtype.rawValue) \(Shape.text(i.shape))") }
        for c in r.typeChanged {
            lines.append("changed type: \(c.a.key) \(c.a.dtype.rawValue) \(Shape.text(c.a.shape)) → \(c.b.dtype.rawValue) \(Shape.text(c.b.shape))")
        }
        let shown = r.values.filter { all || $0.diff.outside > 0 }
        if !shown.isEmpty {
            lines.append(Render.table(["tensor", "max_abs", "rel_l2", "cosine", "outside"], shown.map { v in
                [v.info.key, Render.number(v.diff.maxAbs), Render.number(v.diff.relL2), String(format: "%.9f", v.diff.cosine),
                 v.diff.identical ? "identical" : String(format: "%.6f", v.diff.fractionOutside)]
            }, right: [1, 2, 3, 4]))
        }
        let differing = r.values.filter { $0.diff.outside > 0 }.count
        lines.append(r.equal
            ? "equal: \(r.values.count) tensors within atol \(r.atol) rtol \(r.rtol)"
            : "different: \(r.onlyInA.count) only in A, \(r.onlyInB.count) only in B, \(r.typeChanged.count) dtype/shape changed, "
              + "\(differing) of \(r.values.count) compared tensors outside tolerance")
        return lines.joined(separator: "\n")
    }

    func json(_ r: DiffReport) -> JSON {
        .object([
            ("a", .string(r.pathA)), ("b", .string(r.pathB)), ("atol", .double(r.atol)), ("rtol", .double(r.rtol)),
            ("equal", .bool(r.equal)),
            ("only_in_a", .array(r.onlyInA.map { .object(Render.json($0)) })),
            ("only_in_b", .array(r.onlyInB.map { .object(Render.json($0)) })),
            ("type_changed", .array(r.typeChanged.map { c in
                .object([("name", .string(c.a.name)), ("role", .string(c.a.role.rawValue)),
                         ("a", .object([("dtype", .string(c.a.dtype.rawValue)), ("shape", .array(c.a.shape.map { .int($0) }))])),
                         ("b", .object([("dtype", .string(c.b.dtype.rawValue)), ("shape", .array(c.b.shape.map { .int($0) }))]))])
            })),
            ("values", .array(r.values.map { v in
                .object([("name", .string(v.info.name)), ("role", .string(v.info.role.rawValue)),
                         ("identical", .bool(v.diff.identical)), ("max_abs", .double(v.diff.maxAbs)),
                         ("rel_l2", .double(v.diff.relL2)), ("cosine", .double(v.diff.cosine)),
                         ("elements", .int(v.diff.count)), ("outside", .int(v.diff.outside)),
                         ("fraction_outside", .double(v.diff.fractionOutside))])
            })),
        ])
    }
}
