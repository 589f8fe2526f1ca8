// Every valid fixture reads with exactly the dtype, shape and bytes (sha256) that expected.json records.

import Foundation
import Testing
@testable import ParamKit

struct FixtureTests {
    static let readable = Fixtures.files.keys.filter { !$0.hasSuffix(".json") }.sorted()

    /// (key as ParamKit names it, expected array entry) for one fixture.
    static func expectedArrays(_ file: String) -> [(String, [String: Any])] {
        let arrays = Fixtures.files[file]!["arrays"] as! [[String: Any]]
        return arrays.enumerated().map { i, a in
            var name = (a["name"] as? String) ?? String(i)
            if file.hasSuffix(".h5"), let layer = a["weight_name"] as? String {
                name = layer
            } else if file.hasSuffix(".h5") {
                name = String(name.dropFirst(1)).replacingOccurrences(of: "/", with: ":")   // "/arg/x" → "arg:x"
            }
            if !name.hasPrefix("arg:") && !name.hasPrefix("aux:") {
                let role = name.contains("moving_mean") || name.contains("moving_variance") ? "aux" : "arg"
                name = role + ":" + name
            }
            return (name, a)
        }
    }

    @Test("every valid fixture matches expected.json", arguments: readable)
    func fixtureMatchesExpected(file: String) throws {
        let checkpoint = try Formats.load(path: Fixtures.path(file))
        let expected = Self.expectedArrays(file)
        #expect(checkpoint.tensors.count == expected.count)
        for (key, a) in expected {
            let t = try #require(checkpoint[key], "\(file): missing \(key)")
            // Sparse arrays are read as dense: compare with the dense form expected.json gives.
            let ref = (a["dense"] as? [String: Any]) ?? a
            #expect(t.dtype.rawValue == ref["dtype"] as? String, "\(file) \(key) dtype")
            #expect(t.shape == ref["shape"] as? [Int], "\(file) \(key) shape")
            #expect(sha256Hex(t.byteArray) == ref["sha256"] as? String, "\(file) \(key) bytes")
        }
    }

    @Test func combinedCheckpointWrittenBackAsV2IsByteIdentical() throws {
        let dir = temporaryDirectory()
        let source = Fixtures.path("combined_expected-0000.params")
        _ = try Convert.run(input: source, output: dir + "/out.params", format: nil)
        let a = try Data(contentsOf: URL(fileURLWithPath: source))
        let b = try Data(contentsOf: URL(fileURLWithPath: dir + "/out.params"))
        #expect(a == b)
    }

    @Test func sameContentHasSameRootDigestInEveryFormat() throws {
        let dir = temporaryDirectory()
        let rpn = try Formats.load(path: Fixtures.path("tiny_vgg_rpn-0001.params")).rootDigest
        #expect(try Formats.load(path: Fixtures.path("tiny_vgg_rpn.h5")).rootDigest == rpn)
        #expect(try Formats.load(path: Fixtures.path("tiny_vgg_rpn.safetensors")).rootDigest == rpn)
        let h5 = try Convert.run(input: Fixtures.path("tiny_vgg_rpn.safetensors"), output: dir + "/r.h5", format: nil)
        #expect(h5.rootDigest == rpn)
        #expect(try Formats.open(path: dir + "/r.h5").storedRootDigest == rpn)
    }

    @Test func checkpointPrefixAndEpochNameTheParamsFile() {
        #expect(Formats.paramsPath(prefix: "model/rpn1", epoch: 1) == "model/rpn1-0001.params")
        #expect(Formats.paramsPath(prefix: "m", epoch: 12345) == "m-12345.params")
        #expect(Formats.paramsPath(prefix: "model/vgg16.v2", epoch: 3) == "model/vgg16.v2-0003.params")
        #expect(Formats.epochPath("out/rpn1.h5", epoch: 3) == "out/rpn1-0003.h5")
        #expect(Formats.epochPath("/runs/a.b/rpn1.v1.h5", epoch: 8) == "/runs/a.b/rpn1.v1-0008.h5")
        #expect(Formats.epochPath("out.d/rpn1", epoch: 2) == "out.d/rpn1-0002")
        #expect(Formats.epochPath("out/.hidden", epoch: 1) == "out/.hidden-0001")
    }
}
