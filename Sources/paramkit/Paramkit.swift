// The `paramkit` command: one subcommand per verb; each parses, calls the library and renders.

import ArgumentParser
import Foundation
import ParamKit
import Stages

struct Paramkit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "paramkit",
        abstract: "Inspect, diff, convert, verify, combine and initialise deep-learning parameter files (MXNet .params, safetensors, HDF5).",
        discussion: """
        Formats are detected from a file's first bytes. Exit codes: 0 success or equal, 1 differences \
        or a failed check, 2 error (bad input, I/O).
        """,
        version: Provenance.toolVersion,
        subcommands: [Inspect.self, DiffCommand.self, ConvertCommand.self, VerifyCommand.self, CombineCommand.self,
                      FreezeCommand.self, AuditCommand.self, InitCommand.self, RenameCommand.self, CastCommand.self,
                      BBoxDenormCommand.self, LineageCommand.self, DatasetCommand.self, TrainCommand.self, ProposeCommand.self,
                      EvalCommand.self, DetectCommand.self, ReportCommand.self, PipelineCommand.self, NetworkCommand.self])
}

/// Options every reading verb shares.
struct ReadingOptions: ParsableArguments {
    @Flag(help: "Print machine-readable JSON (schemas/ describes each command's output).")
    var json = false

    @Option(help: "What to do with a name that appears twice in a .params file: reject (default) or last (keep the last, as MXNet does).")
    var duplicates: DuplicatePolicy = .reject

    @Option(help: "Epoch number: read PREFIX-%04d.params for a FILE given as an MXNet checkpoint prefix.")
    var epoch: Int?

    var readOptions: ReadOptions { ReadOptions(duplicates: duplicates) }

    /// `model/rpn` + `--epoch 1` → `model/rpn-0001.params`.
    func resolve(_ path: String) -> String {
        guard let epoch else { return path }
        return Formats.paramsPath(prefix: path, epoch: epoch)
    }
}

extension DuplicatePolicy: ExpressibleByArgument {}
extension Formats.Output: ExpressibleByArgument {}

/// Exit with a status code but no message (differences found, check failed).
struct Finding: Error {
    let code: Int32
}

enum Main {
    static func run() -> Never {
        installInterruptHandlers()
        // A reader that libhdf5 keeps looping on a damaged file ends the run with a clean error.
        H5Watchdog.onTimeout = { fail($0) }
        do {
            var command = try Paramkit.parseAsRoot()
            try command.run()
            exit(0)
        } catch let f as Finding {
            exit(f.code)
        } catch let e as any ParamKitError {
            let text = "\(e)" + (e.setting.flatMap { flagHints[$0] }.map { "; \($0)" } ?? "")
            if e.exitStatus == 1 {
                FileHandle.standardError.write(Data("paramkit: \(text)\n".utf8))
                exit(1)
            }
            fail(text)
        } catch {
            let code = Paramkit.exitCode(for: error)
            if code == .success { Paramkit.exit(withError: error) }
            // Argument errors: the parser's own message and usage, with the project's exit code 2.
            FileHandle.standardError.write(Data((Paramkit.fullMessage(for: error) + "\n").utf8))
            exit(2)
        }
    }

    /// What to pass for the request setting a library error names (`ParamKitError.setting`).
    static let flagHints: [String: String] = [
        "missing": "pass --missing init / --mismatch init to initialise such tensors like a head",
        "format": "pass --format hdf5|params|safetensors",
        "duplicates": "pass --duplicates last to keep the last one",
        "width": "see --width in --help",
        "means": "--means takes 4 comma-separated values, or 4 per class",
        "stds": "--stds takes 4 comma-separated values, or 4 per class",
        "from": "--from takes the name of one of the pipeline's stages",
    ]

    static func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("paramkit: error: \(message)\n".utf8))
        // After a failed write libhdf5 may still hold the half-written file; its exit handler would
        // try to flush it (and crashes doing so when the write failed for lack of space). Remove the
        // temporary outputs and leave without running exit handlers.
        AtomicOutput.removeAllPending()
        fflush(nil)
        _exit(2)
    }

    /// On Ctrl-C or SIGTERM, remove unfinished temporary outputs before exiting.
    static func installInterruptHandlers() {
        // Over a file-size limit (RLIMIT_FSIZE) a write should fail with EFBIG and be reported like
        // a full disk, not kill the process with the file half written.
        signal(SIGXFSZ, SIG_IGN)
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                AtomicOutput.removeAllPending()
                FileHandle.standardError.write(Data("paramkit: interrupted; no output was written\n".utf8))
                _exit(130)   // at once: no atexit teardown racing the interrupted write
            }
            source.resume()
            sources.append(source)
        }
    }

    nonisolated(unsafe) static var sources: [DispatchSourceSignal] = []
}
