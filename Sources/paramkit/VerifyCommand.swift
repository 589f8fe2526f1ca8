// `paramkit verify`: recompute digests and look for NaN/Inf.

import ArgumentParser
import ParamKit

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Recompute every digest of a checkpoint and report tensors whose bytes changed, and NaN/Inf values.",
        discussion: """
        Exit 1 names each tensor whose stored digest no longer matches (and NaN/Inf unless --allow-nonfinite). Files \
        without stored digests (.params, safetensors) are checked for NaN/Inf and their content digest is printed.
        Example: paramkit verify final.h5
        """)

    @Argument(help: "Checkpoint file, or an MXNet prefix with --epoch.") var file: String
    @Flag(help: "Do not fail on NaN or Inf values (still reported).") var allowNonfinite = false
    @OptionGroup var options: ReadingOptions

    func run() throws {
        let r = try ParamKit.Verify.run(path: options.resolve(file), options: options.readOptions, progress: Render.progress("verify"))
        let header = r.headerMismatches ?? []
        let failed = !r.mismatched.isEmpty || r.rootMatches == false || !header.isEmpty || (!allowNonfinite && !r.nonFinite.isEmpty)
        if options.json {
            Render.out(JSON.object([
                ("file", .string(r.path)), ("format", .string(r.format.rawValue)), ("ok", .bool(!failed)),
                ("has_digests", .bool(r.hasDigests)),
                ("stored_digest", r.storedRootDigest.map { .string($0) } ?? .null), ("computed_digest", .string(r.computedRootDigest)),
                ("tensors", .int(r.rows.count)),
                ("header_checked", .bool(r.headerMismatches != nil)),
                ("header_mismatched", .array(header.map { .string($0) })),
                ("mismatched", .array(r.mismatched.map { .object([("name", .string($0.info.name)), ("role", .string($0.info.role.rawValue)),
                                                                  ("stored", .string($0.info.storedDigest ?? "")), ("computed", .string($0.computed))]) })),
                ("nonfinite", .array(r.nonFinite.map { .object([("name", .string($0.info.name)), ("role", .string($0.info.role.rawValue)),
                                                                ("nan", .int($0.nanCount)), ("inf", .int($0.infCount))]) })),
                ("warnings", .array(r.warnings.map { .string($0) })),
            ]).pretty)
        } else {
            for w in r.warnings { Render.warn("\(r.path): \(w)") }
            for m in r.mismatched { Render.out("CHANGED \(m.info.key): stored \(m.info.storedDigest ?? "none (its digest attribute is missing)"), data hashes to \(m.computed)") }
            for part in header { Render.out("CHANGED \(part): its bytes no longer match the stored \(part)_digest") }
            if r.rootMatches == false { Render.out("CHANGED root digest: stored \(r.storedRootDigest ?? "-"), computed \(r.computedRootDigest)") }
            for n in r.nonFinite { Render.out("NONFINITE \(n.info.key): \(n.nanCount) NaN, \(n.infCount) Inf") }
            let how = r.hasDigests ? (r.headerMismatches == nil && r.format == .hdf5 ? "digests checked (no provenance/metadata digests: written by an older ParamKit)" : "digests checked") : "no stored digests in this format; content digest \(r.computedRootDigest)"
            Render.out("\(failed ? "FAILED" : "OK"): \(r.path), \(r.rows.count) tensors, \(how)")
        }
        if failed { throw Finding(code: 1) }
    }
}
