// Writing and reading back: every dtype, 0-d and empty tensors, awkward names, in every format;
// atomic writes; and the digest definition.

import Foundation
import Testing
@testable import ParamKit

struct RoundTripTests {
    static func everyDtype() -> Checkpoint {
        var c = Checkpoint()
        for (i, dtype) in DType.allCases.enumerated() {
            let shape = [2, 3]
            var bytes = (0..<(6 * dtype.size)).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ i) }
            if dtype == .bool { bytes = bytes.map { $0 & 1 } }
            if dtype == .float16 || dtype == .bfloat16 { bytes = bytes.enumerated().map { i, b in i % 2 == 1 ? b & 0x3f : b } }
            c.append("t_\(dtype.rawValue)", Tensor(dtype: dtype, shape: shape, bytes: bytes))
        }
        c.append("scalar", Tensor([3.25], shape: []))
        c.append("empty", Tensor([], shape: [2, 0, 3]))
        c.append("bn_moving_mean", role: .aux, Tensor(sampleFloats(4, seed: 1), shape: [4]))
        return c
    }

    @Test("every dtype, 0-d and empty tensors survive each format", arguments: Formats.Output.allCases)
    func roundTrip(format: Formats.Output) throws {
        let dir = temporaryDirectory()
        let c = Self.everyDtype()
        let path = dir + "/c." + (format == .hdf5 ? "h5" : format.rawValue)
        let written = try Formats.save(c, to: path)
        #expect(written == c.rootDigest)
        let back = try Formats.load(path: path)
        #expect(back.tensors.map(\.info.key) == c.tensors.map(\.info.key))
        for ((ia, ta), (ib, tb)) in zip(c.tensors, back.tensors) {
            #expect(ia.dtype == ib.dtype && ia.shape == ib.shape, "\(ia.key)")
            #expect(ta.bitwiseEqual(tb), "\(ia.key)")
        }
    }

    /// Tensors of 4 MB and more take the direct-I/O path (HDF5 datasets allocated up front, aligned
    /// blocks with O_DIRECT, partial blocks buffered); an odd size exercises the unaligned tail.
    @Test("large tensors survive each format", arguments: Formats.Output.allCases)
    func largeTensorsRoundTrip(format: Formats.Output) throws {
        var c = Checkpoint()
        c.append("small", Tensor(sampleFloats(7, seed: 1), shape: [7]))
        c.append("big", Tensor(sampleFloats(1_234_567, seed: 2), shape: [1_234_567]))
        c.append("big2", Tensor(dtype: .int8, shape: [5 << 20]) { dst in
            for i in 0..<dst.count { dst[i] = UInt8(truncatingIfNeeded: i &* 31) }
        })
        let dir = temporaryDirectory()
        let path = dir + "/big." + (format == .hdf5 ? "h5" : format.rawValue)
        #expect(try Formats.save(c, to: path) == c.rootDigest)
        let back = try Formats.load(path: path)
        for ((_, a), (_, b)) in zip(c.tensors, back.tensors) { #expect(a.bitwiseEqual(b)) }
        // Views into the mapped file see the same bytes as owned copies.
        let r = try Formats.open(path: path)
        for i in r.entries.indices { #expect(try r.view(i).bitwiseEqual(try r.read(i))) }
        #expect(try Verify.run(path: path).mismatched.isEmpty)
    }

    @Test func awkwardNamesAreEscapedReversiblyInHDF5() throws {
        let names = ["a/b", ".", "", " lead", "trail ", "100%", "wéight/ü:0", "%2F"]
        for n in names { #expect(NativeFormat.unescape(NativeFormat.escape(n)) == n, "\(n)") }
        var c = Checkpoint()
        for (i, n) in names.enumerated() { c.append(n, Tensor([Float(i)], shape: [1])) }
        let path = temporaryDirectory() + "/names.h5"
        try Formats.save(c, to: path)
        let back = try Formats.load(path: path)
        #expect(back.tensors.map(\.info.name) == names)
    }

    @Test func plainAndListParamsKeepTheirKeyStyle() throws {
        let dir = temporaryDirectory()
        for file in ["list.params", "np_shape.params"] {
            let h5 = dir + "/\(file).h5", out = dir + "/\(file)"
            _ = try Convert.run(input: Fixtures.path(file), output: h5, format: nil)
            _ = try Convert.run(input: h5, output: out, format: nil)
            let a = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path(file)))
            #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == a, "\(file)")
        }
    }

    @Test func failedWriteLeavesNothingAndRefusesToOverwriteInput() throws {
        let dir = temporaryDirectory()
        let c = Self.everyDtype()
        let w = try Formats.writer(path: dir + "/x.h5", format: .hdf5, entries: c.tensors.map(\.info), metadata: [:])
        try w.write(c.tensors[0].tensor)
        #expect(throws: UsageError.self) { _ = try w.commit(provenance: "{}") }   // not all tensors written
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir).isEmpty)

        let input = dir + "/in.params"
        try Formats.save(c, to: input)
        let before = try Data(contentsOf: URL(fileURLWithPath: input))
        #expect(throws: UsageError.self) { _ = try Convert.run(input: input, output: input, format: .params) }
        #expect(try Data(contentsOf: URL(fileURLWithPath: input)) == before)
    }

    @Test func xxh64MatchesPublishedVectors() {
        #expect(XXH64.hash([]) == 0xEF46_DB37_51D8_E999)
        #expect(XXH64.hash(Array("abc".utf8)) == 0x44BC_2CF5_AD77_0999)
        // Streaming in odd pieces gives the one-shot result.
        let data = (0..<1000).map { UInt8(truncatingIfNeeded: $0 * 7) }
        var s = XXH64()
        var i = 0
        for step in [1, 3, 31, 32, 33, 100, 800] where i < data.count {
            s.update(Array(data[i..<min(data.count, i + step)])); i += step
        }
        #expect(s.finalize() == XXH64.hash(data))
    }

    @Test func verifyCatchesOneChangedByteInAStoredTensor() throws {
        let dir = temporaryDirectory()
        let path = dir + "/c.h5"
        var c = Checkpoint()
        c.append("w", Tensor(sampleFloats(1000, seed: 7), shape: [10, 100]))
        c.append("b", Tensor(sampleFloats(10, seed: 8), shape: [10]))
        try Formats.save(c, to: path)
        #expect(try Verify.run(path: path).mismatched.isEmpty)
        // Flip one bit of w's data where it sits in the file.
        var bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        let needle = c.tensors[0].tensor.byteArray.prefix(16)
        let at = try #require((0..<(bytes.count - 16)).first { Array(bytes[$0..<$0 + 16]) == Array(needle) })
        bytes[at + 123] ^= 0x01
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        let report = try Verify.run(path: path)
        #expect(report.mismatched.map(\.info.name) == ["w"])
        #expect(report.rootMatches == false)
        // convert refuses to carry the corruption along.
        #expect(throws: FormatError.self) { _ = try Convert.run(input: path, output: dir + "/o.params", format: nil) }
    }

    @Test func diffReportsMissingChangedAndOutOfToleranceTensors() throws {
        let dir = temporaryDirectory()
        var a = Checkpoint(), b = Checkpoint()
        let w = sampleFloats(5000, seed: 3)
        var w2 = w; w2[4321] += 0.5
        a.append("w", Tensor(w, shape: [50, 100])); b.append("w", Tensor(w2, shape: [50, 100]))
        a.append("same", Tensor([1, 2, 3], shape: [3])); b.append("same", Tensor([1, 2, 3], shape: [3]))
        a.append("shape", Tensor([1, 2], shape: [2])); b.append("shape", Tensor([1, 2], shape: [1, 2]))
        a.append("onlyA", Tensor([1], shape: [1])); b.append("onlyB", Tensor([1], shape: [1]))
        try Formats.save(a, to: dir + "/a.h5"); try Formats.save(b, to: dir + "/b.safetensors")
        let r = try Diff.run(dir + "/a.h5", dir + "/b.safetensors", atol: 0.1, rtol: 0)
        #expect(!r.equal)
        #expect(r.onlyInA.map(\.name) == ["onlyA"] && r.onlyInB.map(\.name) == ["onlyB"])
        #expect(r.typeChanged.map(\.a.name) == ["shape"])
        let wd = try #require(r.values.first { $0.info.name == "w" }).diff
        #expect(wd.outside == 1 && abs(wd.maxAbs - 0.5) < 1e-6)
        #expect(r.values.first { $0.info.name == "same" }!.diff.identical)
        let loose = try Diff.run(dir + "/a.h5", dir + "/a.h5", atol: 0, rtol: 0)
        #expect(loose.equal)
    }

    @Test func statsAreComputedInOnePass() throws {
        let t = Tensor([1, 2, 0, .nan, .infinity, -3], shape: [6])
        let s = TensorStats.of(t)
        #expect(s.nanCount == 1 && s.infCount == 1)
        #expect(s.min == -3 && s.max == .infinity)
        #expect(s.mean == 0 && abs(s.zeroFraction - 1.0 / 6) < 1e-12)
        #expect(abs(s.std! - (14.0 / 4).squareRoot()) < 1e-12)
    }
}
