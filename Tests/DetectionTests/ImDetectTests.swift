// im_detect's arithmetic after the network (decode, clip, back to original pixels, per-class threshold
// and NMS), against values worked out by hand from the reference's formulas.

import Foundation
import Testing
@testable import Detection

struct ImDetectTests {
    /// Three rois in a 60 × 100 preprocessed image at scale 2, classes background / a / b.
    /// - roi 0 (10,10)–(49,29): w 40, h 20, centre (29.5, 19.5); class a deltas (0.1, −0.2, ln 1.5, 0)
    ///   move the centre to (33.5, 15.5) and widen it to 60: (4, 6)–(63, 25), halved (2, 3)–(31.5, 12.5).
    /// - roi 1 (12,10)–(51,29), zero deltas, class a 0.8: IoU with roi 0's box 640 / 1360 = 0.47 > 0.3,
    ///   so NMS drops it; its class b score 0.1 is not above the threshold 0.1.
    /// - roi 2 (90,50)–(99,59), class b dx 0.5: x (95, 104) clipped to (95, 99), y stays (50, 59);
    ///   halved (47.5, 25)–(49.5, 29.5).
    @Test func decodesClipsRescalesThresholdsAndSuppressesPerClass() {
        let rois = [Box(10, 10, 49, 29), Box(12, 10, 51, 29), Box(90, 50, 99, 59)]
        let prob: [Float] = [0.05, 0.9, 0.05, 0.1, 0.8, 0.1, 0.25, 0.05, 0.7]
        var delta = [Float](repeating: 0, count: 3 * 12)
        delta[4] = 0.1; delta[5] = -0.2; delta[6] = Float(log(1.5))
        delta[2 * 12 + 8] = 0.5
        let found = detections(rois: rois, prob: prob, delta: delta, classes: 3, imageHeight: 60, imageWidth: 100,
                               scale: 2, settings: DetectionSettings(scoreThreshold: 0.1, nms: 0.3))
        let expected = [Detected(classIndex: 1, score: 0.9, box: Box(2, 3, 31.5, 12.5)),
                        Detected(classIndex: 2, score: 0.7, box: Box(47.5, 25, 49.5, 29.5))]
        #expect(found.count == expected.count)
        for (f, e) in zip(found, expected) {
            #expect(f.classIndex == e.classIndex && f.score == e.score)
            #expect(zip(f.box.corners, e.box.corners).allSatisfy { abs($0 - $1) < 1e-4 }, "\(f.box) vs \(e.box)")
        }
    }

    /// The two rois overlap by 760 / 840 = 0.905 (inclusive pixels): NMS at 0.95 keeps both, at 0.9 only the better.
    @Test func aLooserNMSKeepsBothAndOrdersByScore() {
        let rois = [Box(12, 10, 51, 29), Box(10, 10, 49, 29)]
        let prob: [Float] = [0.2, 0.6, 0.1, 0.9]
        let found = detections(rois: rois, prob: prob, delta: [Float](repeating: 0, count: 16), classes: 2,
                               imageHeight: 60, imageWidth: 100, scale: 1, settings: DetectionSettings(scoreThreshold: 0.5, nms: 0.95))
        #expect(found.map { $0.score } == [0.9, 0.6])
        #expect(found.map { $0.box } == [Box(10, 10, 49, 29), Box(12, 10, 51, 29)])
        let tighter = detections(rois: rois, prob: prob, delta: [Float](repeating: 0, count: 16), classes: 2,
                                 imageHeight: 60, imageWidth: 100, scale: 1, settings: DetectionSettings(scoreThreshold: 0.5, nms: 0.9))
        #expect(tighter.map { $0.score } == [0.9])
        #expect(detections(rois: [], prob: [], delta: [], classes: 2, imageHeight: 60, imageWidth: 100, scale: 1,
                           settings: DetectionSettings(scoreThreshold: 0.5, nms: 0.3)).isEmpty)
    }
}
