// libFuzzer entry points. The input kind comes from PARAMKIT_FUZZ_TARGET (params, checkpoint,
// dataset, proposals, yaml, voc: see FuzzHarness); with PARAMKIT_FUZZ_WRITE_SEEDS=DIR the program
// writes that kind's seed inputs into DIR and exits. tools/fuzz.sh sets both.

import Foundation
import FuzzHarness

nonisolated(unsafe) private var harness: FuzzHarness?

@_cdecl("LLVMFuzzerInitialize")
public func fuzzInitialize(_ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>) -> CInt {
    let env = ProcessInfo.processInfo.environment
    guard let name = env["PARAMKIT_FUZZ_TARGET"], let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        FileHandle.standardError.write(Data("set PARAMKIT_FUZZ_TARGET to one of: \(names)\n".utf8))
        exit(2)
    }
    do {
        if let seeds = env["PARAMKIT_FUZZ_WRITE_SEEDS"] {
            try FuzzHarness.writeSeeds(target, into: seeds)
            exit(0)
        }
        harness = try FuzzHarness(target: target)
    } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        exit(2)
    }
    return 0
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    _ = harness!.run(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}
