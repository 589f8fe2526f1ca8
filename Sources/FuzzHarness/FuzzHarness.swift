// What the fuzzers run, and what the corpus replay in the test suite runs: one entry per input kind,
// each handing a byte string to every reader of that kind the way a verb would. A reader must
// accept the input or throw one of the project's errors; a crash, a hang or an allocation larger
// than the input justifies is a finding. The libFuzzer executable (Sources/ParamKitFuzz, built by
// tools/fuzz.sh) and Tests/StagesTests/FuzzCorpusTests.swift both call `FuzzHarness.run`.

import Detection
import Foundation
import ParamKit
import Stages

/// The input kinds with a fuzz target, named as on the command line of tools/fuzz.sh.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// MXNet `.params` and safetensors bytes, parsed in memory.
    case params
    /// Any checkpoint file as `verify` and `inspect` open it: ParamKit HDF5, Keras, plain HDF5,
    /// through the libhdf5 probe.
    case checkpoint
    /// A ParamKit dataset store (`paramkit.dataset`): headers and every image's pixels.
    case dataset
    /// A ParamKit proposals file (`paramkit.proposals`).
    case proposals
    /// YAML as the pipeline, stage-config, recipe and network-definition loaders read it.
    case yaml
    /// A Pascal-VOC annotation XML file.
    case voc
}

/// How one reader took one input.
public enum FuzzOutcome: Sendable {
    case accepted(reader: String)
    case rejected(reader: String, error: any Error)

    public var reader: String {
        switch self {
        case .accepted(let r), .rejected(let r, _): r
        }
    }
}

public final class FuzzHarness {
    public let target: FuzzTarget
    /// The file an input is written to for the readers that take a path (a fresh directory of its own).
    public let inputPath: String

    public init(target: FuzzTarget, scratch: String = NSTemporaryDirectory()) throws {
        self.target = target
        let dir = URL(fileURLWithPath: scratch).appendingPathComponent("paramkit-fuzz-\(target.rawValue)-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let suffix = switch target {
        case .params: ".params"
        case .checkpoint, .dataset, .proposals: ".h5"
        case .yaml: ".yaml"
        case .voc: ".xml"
        }
        inputPath = dir + "/input" + suffix
    }

    /// Hands `bytes` to every reader of the target's kind; one outcome per reader.
    public func run(_ bytes: [UInt8]) -> [FuzzOutcome] {
        var outcomes: [FuzzOutcome] = []
        func attempt(_ reader: String, _ body: () throws -> Void) {
            do {
                try body()
                outcomes.append(.accepted(reader: reader))
            } catch {
                outcomes.append(.rejected(reader: reader, error: error))
            }
        }
        if target == .params {
            let file = MappedFile(name: "fuzz-input", contents: bytes)
            for policy in [DuplicatePolicy.reject, .keepLast] {
                attempt("params(\(policy))") {
                    let r = try ParamsReader(file: file, options: ReadOptions(duplicates: policy))
                    for i in r.entries.indices { _ = try r.read(i) }
                }
            }
            attempt("safetensors") {
                let r = try SafetensorsReader(file: file)
                for i in r.entries.indices { _ = try r.read(i) }
            }
            return outcomes
        }
        guard FileManager.default.createFile(atPath: inputPath, contents: Data(bytes)) else {
            fatalError("cannot write the fuzz input to \(inputPath)")
        }
        let path = inputPath
        switch target {
        case .params: break   // read in memory above
        case .checkpoint:
            attempt("verify") {
                let report = try Verify.run(path: path)
                _ = report.mismatched.count + report.nonFinite.count
            }
            attempt("inspect") { _ = try Inspect.run(path: path, stats: true) }
        case .dataset:
            attempt("dataset store") {
                let store = try HDF5DetectionDataset(path: path)
                for i in 0..<min(store.count, 8) { _ = try store.image(i) }
            }
        case .proposals:
            attempt("proposals") { _ = try ProposalSet.read(path: path) }
        case .yaml:
            let text = String(decoding: bytes, as: UTF8.self)
            attempt("stage config") { _ = try StageConfig.load(text: text, named: path) }
            attempt("pipeline") { _ = try Pipeline.load(path: path) }
            attempt("recipe") { _ = try Recipe.load(path: path) }
            attempt("network file") { _ = try NetworkFile.load(path: path).definition }
        case .voc:
            let classes = Dictionary(uniqueKeysWithValues: VOCDataset.vocClassNames.enumerated().map { ($1, $0) })
            attempt("voc annotation") { _ = try VOCDataset.parseAnnotation(path, id: "input", classes: classes) }
        }
        return outcomes
    }

    /// Small valid inputs of the target's kind, written by the project's own writers: the fuzzer's
    /// starting corpus (tools/fuzz.sh adds the fixtures and examples when they are there).
    public static func writeSeeds(_ target: FuzzTarget, into dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let tensors: [(TensorInfo, Tensor)] = [
            (TensorInfo(name: "conv1_weight", role: .arg, dtype: .float32, shape: [2, 1, 3, 3]),
             Tensor((0..<18).map { Float($0) / 8 - 1 }, shape: [2, 1, 3, 3])),
            (TensorInfo(name: "conv1_bias", role: .arg, dtype: .float32, shape: [2]), Tensor([0.5, -0.25], shape: [2])),
            (TensorInfo(name: "bn_moving_var", role: .aux, dtype: .float32, shape: [2]), Tensor([1, 1], shape: [2])),
        ]
        let checkpoint = Checkpoint(tensors: tensors.map { (info: $0.0, tensor: $0.1) })
        switch target {
        case .params:
            try Formats.save(checkpoint, to: dir + "/seed.params")
            try Formats.save(checkpoint, to: dir + "/seed.safetensors")
        case .checkpoint:
            try Formats.save(checkpoint, to: dir + "/seed.h5", provenance: Provenance(operation: "fuzz-seed"))
        case .dataset:
            try SyntheticDataset.writeStore(count: 2, size: 16, classes: 2, seed: 1, to: dir + "/seed.h5")
        case .proposals:
            try ProposalSet(boxes: [[0, 0, 7, 7, 2, 2, 9, 9], []], scores: [[0.9, 0.5], []], imageIDs: ["a", "b"],
                            datasetDigest: "sha256:00", modelDigest: "sha256:11").write(to: dir + "/seed.h5", settings: "{}")
        case .yaml:
            try "epochs: 2\nlr: 0.001\nanchor_scales: [2, 4, 8]\n".write(toFile: dir + "/config.yaml", atomically: true, encoding: .utf8)
            try "family: vgg\nname: small\nchannels: [4, 8, 8, 16, 16]\nfc: 32\nclasses: 3\n"
                .write(toFile: dir + "/network.yaml", atomically: true, encoding: .utf8)
        case .voc:
            try """
            <annotation><filename>000005.jpg</filename><size><width>500</width><height>375</height><depth>3</depth></size>
            <object><name>chair</name><difficult>0</difficult><bndbox><xmin>263</xmin><ymin>211</ymin><xmax>324</xmax><ymax>339</ymax></bndbox></object>
            <object><name>person</name><difficult>1</difficult><part><name>head</name><bndbox><xmin>1</xmin><ymin>2</ymin><xmax>3</xmax><ymax>4</ymax></bndbox></part>
            <bndbox><xmin>5</xmin><ymin>6</ymin><xmax>70</xmax><ymax>80</ymax></bndbox></object></annotation>
            """.write(toFile: dir + "/seed.xml", atomically: true, encoding: .utf8)
        }
    }
}
