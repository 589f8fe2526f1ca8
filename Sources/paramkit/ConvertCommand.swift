// `paramkit convert`: rewrite a checkpoint in another format, streaming tensor by tensor.

import ArgumentParser
import ParamKit

struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert a checkpoint between ParamKit HDF5, MXNet .params and safetensors.",
        discussion: """
        The output format comes from --format or the output's extension (.h5, .params, .safetensors). The output is \
        written to a temporary file and renamed into place; an input is never overwritten.
        Example: paramkit convert model/final-0000.params final.h5
        """)

    @Argument(help: "Input checkpoint (any supported format), or an MXNet prefix with --epoch.") var input: String
    @Argument(help: "Output path.") var output: String
    @Option(help: "Output format: hdf5, params or safetensors.") var format: Formats.Output?
    @Flag(help: "Print what would be written and write nothing.") var dryRun = false
    @OptionGroup var options: ReadingOptions

    func run() throws {
        if dryRun {
            let f = try Formats.Output(path: output, explicit: format)
            let r = try Formats.open(path: options.resolve(input), options: options.readOptions)
            try OutputGuard.refuseOverwrite(output: output, inputs: [r.path])
            Render.out(Render.table(["name", "role", "dtype", "shape", "elements", "bytes"], r.entries.map(Render.info), right: [4, 5]))
            Render.out("dry run: would write \(output) as \(f.rawValue), \(r.entries.count) tensors, "
                       + "\(Render.bytes(r.entries.reduce(0) { $0 + $1.byteCount })); nothing written")
            return
        }
        let r = try ParamKit.Convert.run(input: options.resolve(input), output: output, format: format,
                                         options: options.readOptions, progress: Render.progress("convert"))
        if options.json {
            Render.out(JSON.object([
                ("input", .string(options.resolve(input))), ("output", .string(r.output)), ("format", .string(r.format.rawValue)),
                ("tensors", .int(r.tensors)), ("bytes", .int(r.bytes)), ("digest", .string(r.rootDigest)),
                ("warnings", .array(r.warnings.map { .string($0) })),
            ]).pretty)
        } else {
            for w in r.warnings { Render.warn("\(options.resolve(input)): \(w)") }
            Render.out("wrote \(r.output): \(r.format.rawValue), \(r.tensors) tensors, \(Render.bytes(r.bytes)), digest \(r.rootDigest)")
        }
    }
}
