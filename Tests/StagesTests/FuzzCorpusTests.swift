// The fuzzers' corpus and findings replayed through the same harness the fuzzers run
// (FuzzHarness): every kept input either reads or fails with one of the project's errors, in one
// line that names the file. fuzz/corpus/KIND holds the minimised corpus of each kind's fuzzer,
// fuzz/findings/KIND every input that once crashed, hung or over-allocated (tools/fuzz.sh); the
// findings that hung are replayed through the CLI instead (test_corrupt_corpus.py).

import Detection
import Engine
import Foundation
import FuzzHarness
import ParamKit
import Stages
import Testing

@Suite struct FuzzCorpusTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fuzz").path

    static func inputs(_ folder: String, _ target: FuzzTarget) -> [String] {
        let dir = "\(root)/\(folder)/\(target.rawValue)"
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted().map { "\(dir)/\($0)" }
    }

    /// The message a reader's error would print, if it is one of the project's errors.
    static func message(_ error: any Error) -> String? {
        switch error {
        case let e as FormatError: e.description
        case let e as UsageError: e.description
        case let e as PolicyViolation: e.description
        case let e as StageError: e.description
        case let e as GraphError: e.description
        default: nil
        }
    }

    @Test(arguments: FuzzTarget.allCases)
    func everyKeptInputReadsOrFailsCleanly(_ target: FuzzTarget) throws {
        let corpus = Self.inputs("corpus", target)
        // Inputs that hung (libFuzzer's timeout-*, slow-unit-*) are replayed through the CLI instead,
        // where a deadline ends a reader that libhdf5 keeps looping (tools/interop/test_corrupt_corpus.py).
        let findings = Self.inputs("findings", target).filter {
            let name = URL(fileURLWithPath: $0).lastPathComponent
            return !name.hasPrefix("timeout-") && !name.hasPrefix("slow-unit-")
        }
        let files = corpus + findings
        #expect(corpus.count >= 10, "fuzz/corpus/\(target.rawValue) holds \(corpus.count) inputs")
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-replay-\(UUID().uuidString)").path
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let harness = try FuzzHarness(target: target, scratch: scratch)
        var accepted = 0, rejected = 0
        for file in files {
            let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: file)))
            for outcome in harness.run(bytes) {
                guard case .rejected(let reader, let error) = outcome else { accepted += 1; continue }
                rejected += 1
                let name = URL(fileURLWithPath: file).lastPathComponent
                guard let text = Self.message(error) else {
                    Issue.record("\(name): \(reader) threw \(type(of: error)), not one of the project's errors: \(error)")
                    continue
                }
                #expect(!text.contains("\n"), "\(name): \(reader): the message is more than one line: \(text)")
                let named = text.contains(harness.inputPath) || (target == .params && text.contains("fuzz-input"))
                #expect(named, "\(name): \(reader): the message does not name the file: \(text)")
            }
        }
        // Both outcomes occur, so the replay exercises the readers past their first check.
        #expect(accepted > 0, "no input of fuzz/corpus/\(target.rawValue) was read")
        #expect(rejected > 0, "no input of fuzz/corpus/\(target.rawValue) was rejected")
    }
}
