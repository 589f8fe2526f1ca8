// Where a training stage stands after an epoch, so that a stage stopped in any way (kill -9, a
// crash, a reboot) continues from its last finished epoch instead of its first, and ends on exactly
// the digest an uninterrupted run ends on. Written atomically beside the output after every epoch
// checkpoint as OUTPUT.resume.h5 (a ParamKit checkpoint): every parameter's value (`value/NAME`)
// and SGD momentum (`momentum/NAME`), and in its metadata the epoch, the SGD update count, the
// random streams' states and the run's key. The key is a digest of everything that decides the
// run (stage, init file digest, dataset digest, resolved config, frozen set, heads choice); a file
// under another key is ignored (and replaced). It is removed when the stage finishes.

import Engine
import Foundation
import ParamKit

struct StageResume {
    let path: String
    let key: String

    struct Point {
        var epoch: Int
        var updates: Int
        var streams: [String: [UInt64]]
    }

    init(output: String, stage: String, initial: Checkpoint, dataset: String, config: StageConfig, frozen: [String], extra: String = "") {
        path = output + ".resume.h5"
        let text = [stage, initial.rootDigest, dataset, config.json, frozen.joined(separator: ","), extra].joined(separator: "\n")
        key = Digest.format(XXH64.hash(Array(text.utf8)))
    }

    func save(epoch: Int, params: ParameterSet, sgd: SGD, streams: [String: [UInt64]]) throws {
        var c = Checkpoint()
        for p in params.ordered {
            c.append("value/" + p.name, Tensor(p.value, shape: p.shape))
            c.append("momentum/" + p.name, Tensor(p.momentum, shape: p.shape))
        }
        let streamText = JSON.object(streams.sorted { $0.key < $1.key }.map { ($0.key, .array($0.value.map { .string(String($0)) })) }).compact
        c.metadata = ["resume.key": key, "resume.epoch": String(epoch), "resume.updates": String(sgd.updates), "resume.streams": streamText]
        try Formats.save(c, to: path, provenance: Provenance(operation: "resume-point"))
    }

    /// The saved point when the file exists, belongs to this run and reads completely; its values and
    /// momenta are copied into `params`. Anything else (no file, another run's, damaged) is nil.
    func load(into params: ParameterSet) -> Point? {
        guard FileManager.default.fileExists(atPath: path), let c = try? Formats.load(path: path),
              c.metadata["resume.key"] == key, let epoch = c.metadata["resume.epoch"].flatMap(Int.init),
              let updates = c.metadata["resume.updates"].flatMap(Int.init),
              let data = c.metadata["resume.streams"]?.data(using: .utf8),
              let raw = try? JSONSerialization.jsonObject(with: data) as? [String: [String]] else { return nil }
        var streams: [String: [UInt64]] = [:]
        for (name, words) in raw {
            let values = words.compactMap { UInt64($0) }
            guard values.count == words.count else { return nil }
            streams[name] = values
        }
        var values: [(Parameter, [Float], [Float])] = []
        for p in params.ordered {
            guard let v = c["arg:value/" + p.name], let m = c["arg:momentum/" + p.name], v.shape == p.shape, m.shape == p.shape,
                  v.dtype == .float32, m.dtype == .float32 else { return nil }
            values.append((p, v.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }, m.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }))
        }
        for (p, v, m) in values { p.value = v; p.momentum = m }
        return Point(epoch: epoch, updates: updates, streams: streams)
    }

    func remove() { unlink(path) }
}
