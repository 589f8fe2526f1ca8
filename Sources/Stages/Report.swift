// `paramkit report`: one self-contained HTML page (inline SVG plots, PNG images as data URIs, no
// script, nothing fetched) for a pipeline run directory or a single checkpoint.
//
// Run directory: the stages in the order the pipeline log ran them (kind, skip/run, seconds, output
// digest, summary); per training stage the logged metrics against the update (raw and smoothed)
// with the learning-rate steps marked, the freeze audit of its frozen set, and the relative L2
// change of every tensor between its init and its output; per eval stage AP per class and a grid
// of test images with ground truth (white) and detections (class colours) drawn.
// Checkpoint: tensors with statistics, NaN/Inf counts, digests checked, and lineage.

import Detection
import Foundation
import ParamKit

public enum Report {
    public static func run(path: String, images: Int = 6) throws -> String {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw StageError.noSuchPath(path) }
        return isDir.boolValue ? try runDirectory(path, images: images) : try checkpoint(path)
    }

    // MARK: run directory

    static func runDirectory(_ dir: String, images: Int) throws -> String {
        let url = URL(fileURLWithPath: dir)
        let logPath = url.appendingPathComponent("pipeline.log.jsonl").path
        guard let logText = try? String(contentsOfFile: logPath, encoding: .utf8) else {
            throw StageError.notARunDirectory(dir)
        }
        var order: [String] = [], actions: [String: String] = [:]
        for line in logText.split(separator: "\n") {
            guard let row = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let stage = row["stage"] as? String, let action = row["action"] as? String else { continue }
            if !order.contains(stage) { order.append(stage) }
            if action != "done" { actions[stage] = action }
        }
        var body = "<h1>Run \(html(dir))</h1>"
        var rows: [[String]] = []
        var records: [(String, [String: Any])] = []
        for name in order {
            let file = url.appendingPathComponent(name + ".stage.json").path
            guard let data = FileManager.default.contents(atPath: file),
                  let r = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
                rows.append([name, "?", actions[name] ?? "?", "", "", "not finished"])
                continue
            }
            records.append((name, r))
            rows.append([name, r["run"] as? String ?? "", actions[name] ?? "", (r["seconds"] as? Double).map { String(format: "%.1f s", $0) } ?? "",
                         r["output_digest"] as? String ?? "", r["summary"] as? String ?? ""])
        }
        body += "<h2>Stages</h2>" + table(["stage", "kind", "last action", "time", "output digest", "summary"], rows)
        for (name, r) in records {
            let kind = r["run"] as? String ?? ""
            let inputs = r["inputs"] as? [String: String] ?? [:]
            let output = r["output"] as? String ?? url.appendingPathComponent(name + ".h5").path
            if kind == "train-rpn" || kind == "train-rcnn" {
                body += "<h2>\(html(name)): \(html(kind))</h2>"
                body += try curves(output + ".log.jsonl")
                if let initPath = inputs["init"] {
                    let freeze = (r["settings"] as? [String: String])?["freeze"] ?? "FIXED_PARAMS"
                    body += try changes(before: initPath, after: output, freeze: freeze)
                }
            } else if kind == "propose", let dataPath = inputs["data"] {
                body += "<h2>\(html(name)): propose</h2>" + (try proposalRecall(output, dataset: dataPath))
            } else if kind == "eval" {
                body += "<h2>\(html(name)): eval</h2>" + (try evaluation(output, inputs: inputs, runDirectory: url, images: images))
            }
        }
        return page(title: "ParamKit report: \(dir)", body: body)
    }

    /// Every metric of a training log against the update: raw (thin) and smoothed (thick, EMA 0.9),
    /// with a dashed line where the learning rate changes.
    static func curves(_ logPath: String) throws -> String {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return "<p>no training log at \(html(logPath))</p>" }
        var series: [String: [(Double, Double)]] = [:], lrChanges: [Double] = [], lastLR: Double?
        for line in text.split(separator: "\n") {
            guard let row = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], let step = row["step"] as? Double else { continue }
            if let lr = row["lr"] as? Double {
                if let lastLR, lr != lastLR { lrChanges.append(step) }
                lastLR = lr
            }
            for (k, v) in row where !["epoch", "step", "lr", "stage"].contains(k) {
                if let v = v as? Double { series[k, default: []].append((step, v)) }
            }
        }
        guard !series.isEmpty else { return "<p>the log holds no metrics</p>" }
        return "<div class=row>" + series.keys.sorted().map { chart($0, series[$0]!, marks: lrChanges) }.joined() + "</div>"
    }

    static func chart(_ title: String, _ points: [(Double, Double)], marks: [Double]) -> String {
        let w = 360.0, h = 200.0, pad = 36.0
        let xs = points.map(\.0), ys = points.map(\.1)
        let x0 = xs.min()!, x1 = max(xs.max()!, x0 + 1), y0 = min(ys.min()!, 0), y1 = max(ys.max()!, y0 + 1e-9)
        func px(_ x: Double) -> Double { pad + (x - x0) / (x1 - x0) * (w - 2 * pad) }
        func py(_ y: Double) -> Double { h - pad - (y - y0) / (y1 - y0) * (h - 2 * pad) }
        var smooth: [(Double, Double)] = [], s = ys[0]
        for (x, y) in points { s = 0.9 * s + 0.1 * y; smooth.append((x, s)) }
        func path(_ p: [(Double, Double)]) -> String {
            p.enumerated().map { String(format: "%@%.1f,%.1f", $0.offset == 0 ? "M" : "L", px($0.element.0), py($0.element.1)) }.joined(separator: " ")
        }
        var svg = "<svg class=chart width=\(Int(w)) height=\(Int(h)) viewBox='0 0 \(Int(w)) \(Int(h))' role=img aria-label='\(html(title))'>"
        svg += "<text x=\(Int(pad)) y=16 class=title>\(html(title))</text>"
        svg += "<line x1=\(pad) y1=\(h - pad) x2=\(w - pad) y2=\(h - pad) class=axis /><line x1=\(pad) y1=\(pad) x2=\(pad) y2=\(h - pad) class=axis />"
        svg += String(format: "<text x='%.0f' y='%.0f' class=tick>%.3g</text><text x='%.0f' y='%.0f' class=tick>%.3g</text>", 2.0, py(y1) + 4, y1, 2.0, py(y0), y0)
        svg += String(format: "<text x='%.0f' y='%.0f' class=tick>update %.0f</text>", w - pad - 60, h - 8, x1)
        for m in marks { svg += String(format: "<line x1='%.1f' y1='%.0f' x2='%.1f' y2='%.0f' class=lr />", px(m), pad, px(m), h - pad) }
        svg += "<path d='\(path(points))' class=raw /><path d='\(path(smooth))' class=smooth /></svg>"
        return svg
    }

    /// The freeze audit and the relative L2 change per tensor (bars; red when a frozen tensor moved).
    static func changes(before: String, after: String, freeze: String) throws -> String {
        let diff = try Diff.run(before, after, atol: 0, rtol: 0)
        var out = ""
        if !diff.onlyInB.isEmpty {
            out += "<p>new in the output (drawn afresh, no init value): \(html(diff.onlyInB.map(\.key).joined(separator: ", ")))</p>"
        }
        if !diff.onlyInA.isEmpty { out += "<p>in the init only: \(html(diff.onlyInA.map(\.key).joined(separator: ", ")))</p>" }
        if freeze != "none" {
            let audit = try Audit.run(before: before, after: after, spec: freeze, mode: .substring, family: .vgg)
            out += "<p class=\(audit.violations.isEmpty ? "ok" : "bad")>freeze audit (\(html(freeze))): \(audit.freeze.frozen.count) frozen tensors, "
                + (audit.violations.isEmpty ? "all bit-identical" : "\(audit.violations.count) changed: " + html(audit.violations.map(\.key).joined(separator: ", "))) + "</p>"
            let frozen = Set(audit.freeze.frozen.map(\.key))
            out += bars(diff.values.map { ($0.info.key, $0.diff.relL2, frozen.contains($0.info.key)) })
        } else {
            out += "<p>no frozen tensors</p>" + bars(diff.values.map { ($0.info.key, $0.diff.relL2, false) })
        }
        return out
    }

    static func bars(_ items: [(String, Double, Bool)]) -> String {
        let top = max(items.map(\.1).max() ?? 0, 1e-12), rowH = 14.0, w = 620.0, label = 200.0
        var svg = "<svg class=bars width=\(Int(w)) height=\(Int(rowH * Double(items.count) + 24)) role=img aria-label='relative L2 change per tensor'>"
        svg += "<text x=0 y=12 class=title>relative L2 change, init → output (largest \(String(format: "%.3g", top)))</text>"
        for (i, (name, v, frozen)) in items.enumerated() {
            let y = 20 + Double(i) * rowH, len = max(v / top * (w - label - 60), v > 0 ? 1 : 0)
            svg += String(format: "<text x='0' y='%.1f' class=tick>%@</text><rect x='%.0f' y='%.1f' width='%.1f' height='%.0f' class='%@' /><text x='%.1f' y='%.1f' class=tick>%.2g</text>",
                          y + 10, html(name), label, y + 2, len, rowH - 4, frozen ? (v > 0 ? "moved" : "frozen") : "bar", label + len + 4, y + 10, v)
        }
        return svg + "</svg>"
    }

    /// Recall at IoU 0.5 and 0.7 against the number of proposals kept per image.
    static func proposalRecall(_ output: String, dataset path: String) throws -> String {
        let set = try ProposalSet.read(path: output)
        let dataset = try Datasets.open(path: path, split: "trainval")
        let most = set.scores.map(\.count).max() ?? 0
        let counts = [1, 5, 10, 20, 50, 100, 200, 300, 500, 1000, 2000].filter { $0 < most } + [most]
        var at05: [(Double, Double)] = [], at07: [(Double, Double)] = []
        for n in counts {
            let r = try set.recall(dataset, topN: n, thresholds: [0.5, 0.7])
            at05.append((Double(n), r[0])); at07.append((Double(n), r[1]))
        }
        let rows = zip(at05, at07).map { [String(Int($0.0)), String(format: "%.3f", $0.1), String(format: "%.3f", $1.1)] }
        return "<div class=row>" + lines("recall against proposals per image", [("IoU 0.5", at05, "#036"), ("IoU 0.7", at07, "#c60")],
                                         xLabel: "proposals", yMax: 1) + table(["proposals per image", "recall@0.5", "recall@0.7"], rows) + "</div>"
    }

    /// Several series in one chart (x may be any positive range; y from 0 to yMax), with a legend.
    static func lines(_ title: String, _ series: [(String, [(Double, Double)], String)], xLabel: String, yMax: Double) -> String {
        let w = 360.0, h = 220.0, pad = 36.0
        let xs = series.flatMap { $0.1.map(\.0) }
        let x0 = xs.min() ?? 0, x1 = max(xs.max() ?? 1, x0 + 1e-9)
        func px(_ x: Double) -> Double { pad + (x - x0) / (x1 - x0) * (w - 2 * pad) }
        func py(_ y: Double) -> Double { h - pad - y / yMax * (h - 2 * pad) }
        var svg = "<svg class=chart width=\(Int(w)) height=\(Int(h)) viewBox='0 0 \(Int(w)) \(Int(h))' role=img aria-label='\(html(title))'>"
        svg += "<text x=\(Int(pad)) y=16 class=title>\(html(title))</text>"
        svg += "<line x1=\(pad) y1=\(h - pad) x2=\(w - pad) y2=\(h - pad) class=axis /><line x1=\(pad) y1=\(pad) x2=\(pad) y2=\(h - pad) class=axis />"
        svg += String(format: "<text x='2' y='%.0f' class=tick>%.3g</text><text x='2' y='%.0f' class=tick>0</text>", py(yMax) + 4, yMax, py(0))
        svg += String(format: "<text x='%.0f' y='%.0f' class=tick>%@ %.3g</text>", w - pad - 80, h - 8, html(xLabel), x1)
        for (i, (name, points, colour)) in series.enumerated() {
            let d = points.enumerated().map { String(format: "%@%.1f,%.1f", $0.offset == 0 ? "M" : "L", px($0.element.0), py($0.element.1)) }.joined(separator: " ")
            svg += "<path d='\(d)' fill=none stroke='\(colour)' stroke-width=2 class=series />"
            svg += String(format: "<text x='%.0f' y='%.0f' class=tick fill='%@'>%@</text>", w - pad - 80, pad + 12 * Double(i), colour, html(name))
        }
        return svg + "</svg>"
    }

    static func hex(_ c: (UInt8, UInt8, UInt8)) -> String { String(format: "#%02x%02x%02x", c.0, c.1, c.2) }

    /// AP per class (bars) and detections drawn on the first test images.
    static func evaluation(_ output: String, inputs: [String: String], runDirectory: URL, images: Int) throws -> String {
        guard let data = FileManager.default.contents(atPath: output),
              let r = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return "<p>no eval output at \(html(output))</p>" }
        var out = String(format: "<p>mAP (VOC07 11-point) %.4f, mAP (area) %.4f</p>", r["map_07"] as? Double ?? 0, r["map_area"] as? Double ?? 0)
        let classInfo = (r["classes"] as? [String: [String: Any]] ?? [:])
        out += bars(classInfo.keys.sorted().map { ($0 + " AP07", classInfo[$0]?["ap_07"] as? Double ?? 0, false) })
        let curves = classInfo.keys.sorted().enumerated().compactMap { i, name -> (String, [(Double, Double)], String)? in
            guard let p = classInfo[name]?["precision_at_recall"] as? [Double], p.count == 101 else { return nil }
            return (name, p.enumerated().map { (Double($0.offset) / 100, $0.element) }, hex(Drawing.colour(i + 1)))
        }
        if !curves.isEmpty { out += lines("precision against recall (IoU 0.5)", curves, xLabel: "recall", yMax: 1) }
        guard let model = inputs["model"], let dataPath = inputs["data"], images > 0 else { return out }
        // The resolved stage config the model was trained with, from a training checkpoint's provenance.
        guard let config = try trainingConfig(in: runDirectory) else { return out + "<p>no training checkpoint records its config: no detections drawn</p>" }
        let dataset = try Datasets.open(path: dataPath, split: "test")
        let detector = try Detector(model: model, classNames: dataset.classNames, config: config)
        out += "<div class=row>"
        for i in 0..<min(images, dataset.count) {
            let image = try dataset.image(i)
            var pixels = image.pixels
            for b in image.boxes { Drawing.rectangle(&pixels, height: image.height, width: image.width, box: b, colour: (255, 255, 255), thickness: 1) }
            let found = detector.detect(image)
            for d in found { Drawing.rectangle(&pixels, height: image.height, width: image.width, box: d.box, colour: Drawing.colour(d.classIndex)) }
            let png = Data(try PNG.encode(pixels, height: image.height, width: image.width)).base64EncodedString()
            let caption = found.sorted { $0.score > $1.score }.prefix(4).map { String(format: "%@ %.2f", $0.className, $0.score) }.joined(separator: ", ")
            out += "<figure><img alt='\(html(image.id))' width=\(image.width) height=\(image.height) src='data:image/png;base64,\(png)'><figcaption>\(html(image.id)): \(html(caption.isEmpty ? "no detection" : caption))</figcaption></figure>"
        }
        return out + "</div>"
    }

    static func trainingConfig(in dir: URL) throws -> StageConfig? {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []
        for f in files.sorted() where f.hasSuffix(".stage.json") {
            guard let data = FileManager.default.contents(atPath: dir.appendingPathComponent(f).path),
                  let r = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
                  (r["run"] as? String)?.hasPrefix("train-") == true, let output = r["output"] as? String,
                  let provenance = try Formats.open(path: output).provenance,
                  let p = try? JSONSerialization.jsonObject(with: Data(provenance.utf8)) as? [String: Any],
                  let settings = p["settings"] as? [String: Any], let config = settings["config"] as? String else { continue }
            return try StageConfig.load(text: config, named: output + " (provenance)")
        }
        return nil
    }

    // MARK: checkpoint

    static func checkpoint(_ path: String) throws -> String {
        let inspect = try Inspect.run(path: path, stats: true)
        let verify = try Verify.run(path: path)
        var body = "<h1>Checkpoint \(html(path))</h1>"
        body += "<p>\(inspect.format.rawValue), \(inspect.rows.count) tensors, \(inspect.totalElements) elements, \(inspect.totalBytes) bytes</p>"
        let failed = !verify.mismatched.isEmpty || verify.rootMatches == false || !(verify.headerMismatches ?? []).isEmpty
        body += "<p class=\(failed ? "bad" : "ok")>digests: " + (verify.hasDigests ? (failed ? "CHANGED: " + html(verify.mismatched.map(\.info.key).joined(separator: ", ")) : "all match") : "none stored (content digest \(verify.computedRootDigest))") + "</p>"
        let nonFinite = verify.nonFinite
        body += "<p class=\(nonFinite.isEmpty ? "ok" : "bad")>NaN/Inf: " + (nonFinite.isEmpty ? "none" : html(nonFinite.map { "\($0.info.key) (\($0.nanCount) NaN, \($0.infCount) Inf)" }.joined(separator: ", "))) + "</p>"
        body += table(["tensor", "dtype", "shape", "min", "max", "mean", "std", "NaN", "Inf", "zeros"], inspect.rows.map { row in
            let s = row.stats
            func f(_ v: Double?) -> String { v.map { String(format: "%.4g", $0) } ?? "" }
            return [row.info.key, row.info.dtype.rawValue, Shape.text(row.info.shape), f(s?.min), f(s?.max), f(s?.mean), f(s?.std),
                    s.map { String($0.nanCount) } ?? "", s.map { String($0.infCount) } ?? "", s.map { String(format: "%.3f", $0.zeroFraction) } ?? ""]
        })
        if let provenance = try Formats.open(path: path).provenance {
            body += "<h2>Lineage</h2><pre>\(html(provenance.prefix(20000).description))</pre>"
        }
        return page(title: "ParamKit report: \(path)", body: body)
    }

    // MARK: HTML

    static func html(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "'", with: "&#39;").replacingOccurrences(of: "\"", with: "&quot;")
    }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        "<table><tr>" + header.map { "<th>\(html($0))</th>" }.joined() + "</tr>"
            + rows.map { "<tr>" + $0.map { "<td>\(html($0))</td>" }.joined() + "</tr>" }.joined() + "</table>"
    }

    static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>\(html(title))</title><style>
        body{font:14px sans-serif;margin:24px;color:#222}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid #ccc;padding:2px 6px;font-size:12px}
        .row{display:flex;flex-wrap:wrap;gap:12px}.chart,.bars{background:#fafafa;border:1px solid #ddd;margin:4px 0}
        .axis{stroke:#888}.raw{fill:none;stroke:#9ab;stroke-width:1}.smooth{fill:none;stroke:#036;stroke-width:2}.lr{stroke:#c60;stroke-dasharray:4 3}
        .title{font-size:12px;font-weight:bold}.tick{font-size:10px;fill:#555}.bar{fill:#48a}.frozen{fill:#bbb}.moved{fill:#d22}
        .ok{color:#070}.bad{color:#b00;font-weight:bold}figure{margin:4px}figcaption{font-size:11px;max-width:260px}pre{font-size:11px;white-space:pre-wrap}
        </style></head><body>\(body)<p class=tick>written by \(html(Provenance.toolVersion))</p></body></html>
        """
    }
}
