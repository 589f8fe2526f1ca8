// Options every writing verb shares: output, format, dry run.

import ArgumentParser
import ParamKit

struct WritingOptions: ParsableArguments {
    @Option(name: [.short, .customLong("output")], help: "Output checkpoint (.h5, .params or .safetensors).")
    var output: String?

    @Option(help: "Output format: hdf5, params or safetensors (default: from the output's extension).")
    var format: Formats.Output?

    @Flag(help: "Print the plan and write nothing.")
    var dryRun = false

    func validate() throws {
        if !dryRun && output == nil { throw ValidationError("give an output with -o FILE (or --dry-run)") }
    }

    /// The output path and format; nil for a dry run without -o.
    func target() throws -> (String, Formats.Output)? {
        guard let output else { return nil }
        return (output, try Formats.Output(path: output, explicit: format))
    }
}

extension MatchMode: ExpressibleByArgument {}
extension NetworkFamily: ExpressibleByArgument {}
extension InitPolicy: ExpressibleByArgument {}
extension Rewrite.BFloat16Rounding: ExpressibleByArgument {}
