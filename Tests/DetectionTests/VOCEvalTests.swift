// vocAP and vocEval against rcnn/dataset/pascal_voc_eval.py (ref_voc_ap_*). Recall and precision are
// cumulative counts divided once, and AP repeats numpy's summation order, so all are exact.

import Testing
@testable import Detection

struct VOCEvalTests {
    @Test("AP of a recall/precision curve equals voc_ap", .enabled(if: Golden.hasReferenceGroups, Golden.referenceNote), arguments: try Golden.groups(prefix: "ref_voc_ap").filter {
        try RefCase($0).f.children(of: $0).contains("rec")
    })
    func apMatchesReference(group: String) throws {
        let c = try RefCase(group)
        let ap = vocAP(rec: try c.doubles("rec"), prec: try c.doubles("prec"), use07: try c.attrInt("use_07_metric") == 1)
        #expect(ap == (try c.doubles("ap"))[0])
    }

    @Test("recall, precision and both APs equal voc_eval for every class", .enabled(if: Golden.hasReferenceGroups, Golden.referenceNote), arguments: try Golden.groups(prefix: "ref_voc_ap").filter {
        try RefCase($0).f.children(of: $0).contains("gt")
    })
    func evalMatchesReference(group: String) throws {
        let c = try RefCase(group)
        let names = try c.attrString("class_names").split(separator: ",").map(String.init)
        let threshold = try c.attr("ovthresh")[0]
        // gt rows: [image, class index, difficult, xmin, ymin, xmax, ymax] as in the XML.
        let gt = try c.doubleRows("gt")
        for (ci, name) in names.enumerated() {
            let truth = gt.filter { Int($0[1]) == ci }.map {
                VOCGroundTruth(imageID: String(Int($0[0])), box: Array($0[3...6]), difficult: $0[2] != 0)
            }
            // det rows: [image, score, x1, y1, x2, y2].
            let dets = try c.doubleRows("det_\(name)").map {
                VOCDetection(imageID: String(Int($0[0])), score: $0[1], box: Array($0[2...5]))
            }
            let r07 = vocEval(detections: dets, groundTruth: truth, overlapThreshold: threshold, use07: true)
            let area = vocEval(detections: dets, groundTruth: truth, overlapThreshold: threshold, use07: false)
            #expect(r07.rec == (try c.doubles("\(name)_rec")), "\(name) rec")
            #expect(r07.prec == (try c.doubles("\(name)_prec")), "\(name) prec")
            #expect(r07.ap == (try c.doubles("\(name)_ap_07"))[0], "\(name) ap 07")
            #expect(area.ap == (try c.doubles("\(name)_ap_area"))[0], "\(name) ap area")
        }
    }

    @Test func difficultMatchesCountNeitherWayAndDuplicatesAreFalsePositives() {
        let gt = [VOCGroundTruth(imageID: "a", box: [0, 0, 9, 9], difficult: false),
                  VOCGroundTruth(imageID: "a", box: [20, 20, 29, 29], difficult: true)]
        let dets = [VOCDetection(imageID: "a", score: 0.9, box: [20, 20, 29, 29]),   // difficult: ignored
                    VOCDetection(imageID: "a", score: 0.8, box: [0, 0, 9, 9]),       // tp
                    VOCDetection(imageID: "a", score: 0.7, box: [0, 0, 9, 8]),       // duplicate: fp
                    VOCDetection(imageID: "b", score: 0.6, box: [0, 0, 9, 9])]       // no gt there: fp
        let r = vocEval(detections: dets, groundTruth: gt, use07: false)
        #expect(r.rec == [0, 1, 1, 1])
        #expect(r.prec == [0, 1, 0.5, 1.0 / 3])
        #expect(r.ap == 1)
    }

    @Test func anIoUOfExactlyTheThresholdIsNotAMatch() {
        // [0,0,9,4] inside [0,0,9,9]: IoU exactly 0.5, which must be exceeded.
        let gt = [VOCGroundTruth(imageID: "a", box: [0, 0, 9, 9], difficult: false)]
        let r = vocEval(detections: [VOCDetection(imageID: "a", score: 1, box: [0, 0, 9, 4])], groundTruth: gt, use07: true)
        #expect(r.rec == [0] && r.prec == [0] && r.ap == 0)
    }

    @Test func elevenPointAPAveragesTheBestPrecisionAtEachRecallLevel() {
        // Recall reaches 0.5 at precision 1, then 1.0 at precision 0.5: points 0…0.5 give 1, 0.6…1 give 0.5.
        let ap = vocAP(rec: [0.5, 1], prec: [1, 0.5], use07: true)
        #expect(abs(ap - (6 * 1 + 5 * 0.5) / 11) < 1e-15)
        #expect(vocAP(rec: [0.5, 1], prec: [1, 0.5], use07: false) == 0.5 * 1 + 0.5 * 0.5)
    }
}
