// `paramkit detect`: run a combined model on JPEG/PNG files; write each image with its boxes drawn
// (PNG) and one JSON file of every detection.

import ArgumentParser
import Detection
import Foundation
import ParamKit
import Stages

struct DetectCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "detect",
        abstract: "Detect objects in JPEG/PNG images with a combined model; write the images with boxes drawn and a JSON of detections.",
        discussion: """
        For each IMAGE, DIR/<name>.png is the image with one outline per detection, coloured by class, and \
        DIR/detections.json lists per image its size and every detection: class, score and box (x1, y1, x2, y2 in the \
        image's pixels). Class names come from the model's metadata (written by train rcnn) unless --classes is given. \
        The stage config must be the one the model was trained with (scale, anchors, network).
        Example: paramkit detect --model model/final.h5 --config stage.yaml photos/*.jpg -o detections/
        """)

    @Option(help: "Combined checkpoint (RPN + R-CNN).") var model: String
    @Argument(help: "JPEG or PNG files.") var images: [String]
    @Option(name: .shortAndLong, help: "Output directory (created if missing).") var output: String
    @Option(help: "Class names without the background, comma-separated (default: the model's metadata).") var classes: String?
    @Option(help: "Keep detections scoring above this (default: the config's score_threshold).") var threshold: Float?
    @Flag(help: "Print the detections as JSON instead of a summary.") var json = false
    @OptionGroup var stage: StageOptions

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image") }
    }

    func run() throws {
        let config = try stage.resolve()
        let names: [String]
        if let classes {
            names = ["__background__"] + classes.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        } else if let stored = try Detector.classNames(of: model) {
            names = stored
        } else {
            throw UsageError("\(model): the model records no class names; give them with --classes a,b,c")
        }
        let detector = try Detector(model: model, classNames: names, config: config)
        try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
        var results: [JSON] = [], used = Set<String>()
        for path in images {
            let (h, w, pixels) = try PNG.decodeImage(file: path)
            let image = DetectionImage(id: path, height: h, width: w, pixels: pixels, boxes: [], labels: [], difficult: [])
            let found = detector.detect(image, threshold: threshold)
            var drawn = pixels
            for d in found { Drawing.rectangle(&drawn, height: h, width: w, box: d.box, colour: Drawing.colour(d.classIndex)) }
            var stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent, k = 1
            while used.contains(stem) { k += 1; stem = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent + "-\(k)" }
            used.insert(stem)
            let drawnPath = URL(fileURLWithPath: output).appendingPathComponent(stem + ".png").path
            try AtomicOutput.write(Data(try PNG.encode(drawn, height: h, width: w)), to: drawnPath)
            results.append(.object([
                ("image", .string(path)), ("drawn", .string(drawnPath)), ("width", .int(w)), ("height", .int(h)),
                ("detections", .array(found.map { d in
                    .object([("class", .string(d.className)), ("class_index", .int(d.classIndex)), ("score", .double(Double(d.score))),
                             ("box", .array(d.box.corners.map { .double(Double($0)) }))])
                })),
            ]))
            if !json { Render.out("\(path): \(found.count) detections → \(drawnPath)") }
        }
        let document = JSON.object([("model", .string(model)), ("classes", .array(names.dropFirst().map { .string($0) })),
                                    ("images", .array(results))])
        try AtomicOutput.write(Data((document.pretty + "\n").utf8), to: URL(fileURLWithPath: output).appendingPathComponent("detections.json").path)
        if json { Render.out(document.pretty) }
    }
}

struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one self-contained HTML page about a pipeline run directory or a checkpoint.",
        discussion: """
        For a run directory: the stages (skip/run, time, output digest), per training stage every logged metric against \
        the update (raw and smoothed, learning-rate steps dashed), its freeze audit and the relative L2 change of every \
        tensor between its init and its output (frozen tensors grey, a frozen tensor that moved red), and per eval stage \
        AP per class and the first test images with ground truth (white) and detections drawn. For a checkpoint: tensors \
        with statistics, NaN/Inf, digests and lineage. Plots are inline SVG, images inline PNG; the page loads nothing.
        Example: paramkit report runs/tiny -o report.html
        """)

    @Argument(help: "A pipeline run directory or a checkpoint file.") var path: String
    @Option(name: .shortAndLong, help: "The HTML file to write.") var output: String
    @Option(help: "Test images to draw detections on, per eval stage.") var images = 6

    func run() throws {
        let page = try Report.run(path: path, images: images)
        try AtomicOutput.write(Data(page.utf8), to: output)
        Render.out("wrote \(output) (\(Render.bytes(page.utf8.count)))")
    }
}
