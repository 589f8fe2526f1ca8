// `paramkit network show|export`: what a network computes, layer by layer, and its MXNet symbol.

import ArgumentParser
import Engine
import Foundation
import ParamKit

struct NetworkCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "network",
        abstract: "Show a network's layers, shapes, parameters and FLOPs, or export it as MXNet symbol JSON.",
        subcommands: [Show.self, Export.self, Infer.self])

    /// Which network and which of its graphs.
    struct Selection: ParsableArguments {
        @Argument(help: "Network: \(NetworkDefinition.names.joined(separator: ", ")), or a network file (NAME.yaml, see `network infer`).")
        var network: String
        @Option(help: "Which graph: rpn (RPN training, with its losses), rcnn (R-CNN training, with its losses) or test (both heads over one backbone).")
        var graph: String = "test"
        @Option(help: "Number of classes including background (default: 21 for vgg16 and resnet-101, 4 for the tiny twins).") var classes: Int?
        @Option(help: "Anchors per position (default 9).") var anchors: Int?
        @Option(help: "tiny-vgg, tiny-resnet and tiny-inception only: multiply every channel count by this (tiny-inception: the fork's widths × N/16).") var width: Int = 1

        func build() throws -> (NetworkDefinition, Graph, [String]) {
            let def = try NetworkDefinition.named(network, classes: classes, anchors: anchors, width: width)
            switch graph {
            case "rpn": return (def, DetectionGraphs.rpn(def, bboxGradScale: 1.0 / 256).graph, ["rpn_cls_prob", "rpn_bbox_loss"])
            case "rcnn": return (def, DetectionGraphs.rcnn(def, dropout: 0.5, bboxGradScale: 1.0 / 128).graph, ["cls_prob", "bbox_loss"])
            case "test": return (def, DetectionGraphs.detection(def).graph, ["rpn_cls_prob", "rpn_bbox_pred", "cls_prob", "bbox_pred"])
            default: throw UsageError("--graph must be rpn, rcnn or test, not '\(graph)'")
            }
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every layer of a network's graph: op, output shape, parameters and forward FLOPs for an input size.",
            discussion: """
            The R-CNN graphs are shown for --rois regions. With --json, every parameter and aux state is listed \
            with its name, role and shape (the names and shapes a checkpoint for this network holds).
            Example: paramkit network show resnet-101 --graph rcnn --input 600x1000
            """)

        @OptionGroup var selection: Selection
        @Option(help: "Input size HxW.") var input: String = "600x1000"
        @Option(help: "Regions of interest fed to the R-CNN head.") var rois: Int = 128
        @OptionGroup var options: ReadingOptions

        func run() throws {
            let (def, graph, _) = try selection.build()
            let hw = input.lowercased().split(separator: "x").compactMap { Int($0) }
            guard hw.count == 2, hw.allSatisfy({ $0 > 0 && $0 <= 1 << 15 }) else { throw UsageError("--input must be HxW, e.g. 600x1000") }
            guard rois > 0 && rois <= 1 << 16 else { throw UsageError("--rois must be 1…65536") }
            let layers = try graph.summary(inputs: ["data": [1, 3, hw[0], hw[1]], "rois": [rois, 5]])
            let params = layers.reduce(0) { $0 + $1.parameterCount }, flops = layers.reduce(0) { $0 + $1.flops }
            if options.json {
                Render.out(JSON.object([
                    ("network", .string(def.name)), ("graph", .string(selection.graph)), ("input", .array(hw.map { .int($0) })),
                    ("parameters", .int(params)), ("gflops", .double(flops / 1e9)),
                    ("layers", .array(layers.map { l in
                        .object([("name", .string(l.name)), ("op", .string(l.op)), ("inputs", .array(l.inputs.map { .string($0) })),
                                 ("output_shape", .array(l.outputShape.map { .int($0) })), ("parameters", .int(l.parameterCount)),
                                 ("gflops", .double(l.flops / 1e9))])
                    })),
                    ("tensors", .array(layers.flatMap(\.params).map { p in
                        .object([("name", .string(p.name)), ("role", .string(p.role.rawValue)), ("shape", .array(p.shape.map { .int($0) }))])
                    })),
                ]).pretty)
                return
            }
            Render.out(Render.table(["layer", "op", "output", "params", "GFLOP"], layers.map { l in
                [l.name, l.op, Shape.text(l.outputShape), l.parameterCount == 0 ? "" : Render.count(l.parameterCount),
                 l.flops == 0 ? "" : String(format: "%.3f", l.flops / 1e9)]
            }, right: [3, 4]))
            Render.out("\(def.name) \(selection.graph) graph at \(hw[0])×\(hw[1]): \(layers.count) layers, \(Render.count(params)) parameters, "
                       + String(format: "%.2f GFLOP forward", flops / 1e9))
        }
    }

    struct Export: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a network's graph as MXNet symbol JSON (PREFIX-symbol.json) that mx.sym.load reads.",
            discussion: """
            The symbol names every parameter as ParamKit's checkpoints do, so it binds with a checkpoint converted to .params.
            Example: paramkit network export tiny-resnet --graph test -o model/tiny-resnet-symbol.json
            """)

        @OptionGroup var selection: Selection
        @Option(name: .shortAndLong, help: "Output file.") var output: String

        func run() throws {
            let (_, graph, heads) = try selection.build()
            try AtomicOutput.write(try SymbolJSON.export(graph, heads: heads), to: output)
            Render.out("wrote \(output): \(graph.nodes.count) nodes, heads \(heads.joined(separator: ", "))")
        }
    }

    struct Infer: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write the network file (YAML) that matches a checkpoint's names and shapes.",
            discussion: """
            The family (vgg or resnet) comes from the names, every width from the shapes, classes and anchors from \
            the heads when the checkpoint has them (else the reference's 21 and 9, said on stderr). A tensor the inferred \
            network does not have, or has with another shape, is an error naming it (exit 2). The file works wherever a \
            network name does: init --network FILE, network show FILE, `network: FILE` in a stage config.
            Example: paramkit network infer model/rcnn1-0008.params -o my-net.yaml
            """)

        @Argument(help: "The checkpoint (any format).") var checkpoint: String
        @Option(name: .shortAndLong, help: "Output file (default: print the YAML).") var output: String?
        @Option(help: "The network's name (default: the output file's stem, else 'inferred').") var name: String?
        @OptionGroup var options: ReadingOptions

        func run() throws {
            let reader = try Formats.open(path: options.resolve(checkpoint), options: options.readOptions)
            let stem = output.map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent } ?? "inferred"
            let inferred: (file: NetworkFile, assumed: [String])
            do {
                inferred = try NetworkFile.infer(reader.entries, name: name ?? stem)
            } catch let e as UsageError {
                throw UsageError("\(checkpoint): \(e.message)")
            }
            if let output { try AtomicOutput.write(Data(inferred.file.yaml.utf8), to: output) }
            if options.json {
                Render.out(JSON.object([
                    ("network", .string(inferred.file.name)), ("family", .string(inferred.file.family.rawValue)),
                    ("output", output.map { .string($0) } ?? .null), ("assumed", .array(inferred.assumed.map { .string($0) })),
                    ("tensors", .int(inferred.file.definition.params.count)),
                ]).pretty)
            } else if let output {
                Render.out("wrote \(output): a \(inferred.file.family.rawValue) network, \(inferred.file.definition.params.count) tensors")
            } else {
                Render.out(String(inferred.file.yaml.dropLast()))
            }
            for a in inferred.assumed { FileHandle.standardError.write(Data("paramkit: assumed \(a)\n".utf8)) }
        }
    }
}
