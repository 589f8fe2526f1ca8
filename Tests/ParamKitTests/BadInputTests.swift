// Bad input: every corrupt fixture and hand-made broken file fails with a FormatError that names the
// file and a byte offset; quirks MXNet accepts get ParamKit's documented treatment.

import Foundation
import Testing
@testable import ParamKit

struct BadInputTests {
    @Test("corrupt .params fixtures are rejected with an offset", arguments: Fixtures.corrupt.keys.sorted())
    func corruptFixtureIsRejected(file: String) throws {
        let path = Fixtures.path(file)
        let error = try #require(throws: FormatError.self) { _ = try Formats.load(path: path) }
        #expect(error.file == path)
        #expect(error.offset != nil)
        #expect(error.offset! <= (Fixtures.corrupt[file]!["size"] as! Int))
    }

    @Test func hugeShapeFailsBeforeAllocating() throws {
        let error = try #require(throws: FormatError.self) { _ = try Formats.open(path: Fixtures.path("huge_shape.params")) }
        #expect(error.message.contains("4398046511104"))
    }

    @Test func overflowingShapeIsRejectedNotWrapped() throws {
        let error = try #require(throws: FormatError.self) { _ = try Formats.open(path: Fixtures.path("overflow_shape.params")) }
        #expect(error.message.contains("overflows"))
    }

    @Test func trailingBytesAndReservedWordLoadWithWarnings() throws {
        for file in ["trailing_garbage.params", "reserved_nonzero.params"] {
            let r = try Formats.open(path: Fixtures.path(file))
            #expect(r.entries.map(\.name) == ["a", "b"])
            #expect(r.warnings.count == 1)
        }
    }

    @Test func duplicateNamesAreRejectedUnlessLastWinsIsAsked() throws {
        let path = Fixtures.path("duplicate_names.params")
        let error = try #require(throws: FormatError.self) { _ = try Formats.open(path: path) }
        #expect(error.message.contains("duplicate name 'a'"))
        // the setting that changes the outcome, for the caller to offer (the CLI: --duplicates last)
        #expect(error.setting == "duplicates" && error.exitStatus == 2 && error.location == "record 1")
        let c = try Formats.load(path: path, options: ReadOptions(duplicates: .keepLast))
        #expect(c.tensors.count == 1)
        #expect(c.tensors[0].info.shape == [3])   // MXNet's rule: the last one wins
    }

    @Test func missingFileAndDirectoryAreErrors() throws {
        #expect(throws: FormatError.self) { _ = try Formats.open(path: "/nonexistent/x.params") }
        #expect(throws: FormatError.self) { _ = try Formats.open(path: temporaryDirectory()) }
    }

    @Test func truncatedAndFakeHDF5AreRejected() throws {
        let dir = temporaryDirectory()
        let good = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("tiny_vgg_rpn.h5")))
        for cut in [100, 2000, good.count / 2, good.count - 10] {
            let path = dir + "/cut\(cut).h5"
            try good.prefix(cut).write(to: URL(fileURLWithPath: path))
            #expect(throws: FormatError.self, "cut at \(cut)") {
                let c = try Formats.load(path: path)
                _ = c
            }
        }
        let fake = dir + "/fake.h5"
        try Data("this is not a checkpoint at all".utf8).write(to: URL(fileURLWithPath: fake))
        #expect(throws: FormatError.self) { _ = try Formats.open(path: fake) }
        let empty = dir + "/empty.h5"
        try Data().write(to: URL(fileURLWithPath: empty))
        #expect(throws: FormatError.self) { _ = try Formats.open(path: empty) }
    }

    /// A safetensors file from a header and a data length.
    func safetensors(_ header: String, data: Int, dir: String, _ name: String) throws -> String {
        var w = ByteWriter()
        w.put(UInt64(header.utf8.count))
        w.put(Array(header.utf8))
        w.put([UInt8](repeating: 0, count: data))
        let path = dir + "/" + name
        try Data(w.bytes).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func safetensorsWithBadOffsetsOrHeaderAreRejected() throws {
        let dir = temporaryDirectory()
        let overlap = try safetensors(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
                                      data: 12, dir: dir, "overlap.safetensors")
        let e1 = try #require(throws: FormatError.self) { _ = try Formats.open(path: overlap) }
        #expect(e1.message.contains("overlaps"))
        let outside = try safetensors(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: 8, dir: dir, "range.safetensors")
        let e2 = try #require(throws: FormatError.self) { _ = try Formats.open(path: outside) }
        #expect(e2.message.contains("past the end"))
        let wrongSize = try safetensors(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: 8, dir: dir, "size.safetensors")
        #expect(throws: FormatError.self) { _ = try Formats.open(path: wrongSize) }
        var w = ByteWriter()
        w.put(UInt64(1) << 40)
        w.put(Array("{}".utf8))
        let huge = dir + "/huge.safetensors"
        try Data(w.bytes).write(to: URL(fileURLWithPath: huge))
        let e3 = try #require(throws: FormatError.self) { _ = try Formats.open(path: huge) }
        #expect(e3.message.contains("limit"))
        let notJSON = try safetensors("{nope", data: 0, dir: dir, "json.safetensors")
        #expect(throws: FormatError.self) { _ = try Formats.open(path: notJSON) }
    }

    /// Found by the fuzzer: a csr record whose dense shape overflows once densified.
    @Test func sparseRecordWithHugeDenseShapeIsRejected() throws {
        var w = ByteWriter()
        w.put(UInt64(0x112)); w.put(UInt64(0)); w.put(UInt64(1))
        w.put(UInt32(0xF993_FAC9)); w.put(Int32(2))                 // V2, csr
        w.put(Int32(1)); w.put(Int64(1))                            // storage shape (1,)
        w.put(Int32(2)); w.put(Int64(1) << 40); w.put(Int64(1) << 40) // dense shape (2^40, 2^40)
        w.put(Int32(1)); w.put(Int32(0)); w.put(Int32(0))           // cpu, float32
        w.put(Int32(6)); w.put(Int32(1)); w.put((Int64(1) << 40) + 1) // indptr
        w.put(Int32(6)); w.put(Int32(1)); w.put(Int64(1))           // indices
        w.put(Float(1).bitPattern)
        let error = try #require(throws: FormatError.self) {
            let r = try ParamsReader(file: MappedFile(name: "sparse", contents: w.bytes))
            _ = try r.read(0)
        }
        #expect(error.message.contains("dense shape"))
    }

    /// Every input the .params fuzzer ever crashed on (fuzz/findings/params) now reads or fails cleanly.
    @Test func fuzzerFindingsNoLongerCrash() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("fuzz/findings/params").path
        let files = try FileManager.default.contentsOfDirectory(atPath: dir)
        #expect(!files.isEmpty)
        for name in files {
            let file = MappedFile(name: name, contents: Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/" + name))))
            #expect(throws: FormatError.self, "\(name)") {
                let r = try ParamsReader(file: file)
                for i in r.entries.indices { _ = try r.read(i) }
            }
        }
    }

    @Test func everyTruncationOfAValidParamsFileIsRejected() throws {
        let bytes = Array(try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("dtypes.params"))))
        for cut in 0..<bytes.count {
            let file = MappedFile(name: "cut\(cut)", contents: Array(bytes.prefix(cut)))
            #expect(throws: FormatError.self, "cut at \(cut)") { _ = try ParamsReader(file: file) }
        }
    }
}
