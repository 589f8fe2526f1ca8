// The training metrics on small hand-computed inputs (rcnn/core/metric.py definitions).

import Foundation
import Testing
@testable import Detection

struct MetricsTests {
    // One image, 4 anchor positions, channels (bg, fg) laid out (1, 2, 4):
    // position:   0    1    2    3
    // p(bg):     0.9  0.2  0.6  0.3
    // p(fg):     0.1  0.8  0.4  0.7
    let rpnProb: [Float] = [0.9, 0.2, 0.6, 0.3, 0.1, 0.8, 0.4, 0.7]
    let rpnLabel: [Float] = [0, 1, 1, -1]

    @Test func rpnAccuracyIgnoresUnlabelledAnchors() {
        var m = RPNAcc()
        m.update(clsProb: rpnProb, label: rpnLabel)
        // Predictions 0, 1, 0 against labels 0, 1, 1; anchor 3 is ignored.
        #expect(m.sumMetric == 2 && m.numInst == 3)
        #expect(m.value == 2.0 / 3)
    }

    @Test func rpnLogLossAveragesOverLabelledAnchors() {
        var m = RPNLogLoss()
        m.update(clsProb: rpnProb, label: rpnLabel)
        let expected = -(log(Double(Float(0.9)) + 1e-14) + log(Double(Float(0.8)) + 1e-14) + log(Double(Float(0.4)) + 1e-14)) / 3
        #expect(abs(m.value - expected) < 1e-12)
    }

    @Test func rpnMetricsRunOverSeveralBatchesAndImages() {
        var m = RPNAcc()
        m.update(clsProb: rpnProb + rpnProb, batch: 2, label: rpnLabel + [1, 1, 1, 1])
        // Image 2: predictions 0, 1, 0, 1 against all-1 labels: 2 right of 4.
        #expect(m.sumMetric == 4 && m.numInst == 7)
        m.update(clsProb: rpnProb, label: [-1, -1, -1, -1])
        #expect(m.numInst == 7)
        m.reset()
        #expect(m.value.isNaN)
    }

    @Test func rpnL1LossIsPerForegroundAnchor() {
        var m = RPNL1Loss()
        // Two fg anchors: 8 positive weights of 12.
        m.update(bboxLoss: [0.5, 0.25, 0, 0, 1, 0, 0, 0, 0.25, 0, 0, 0],
                 bboxWeight: [1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, 1])
        #expect(m.sumMetric == 2 && m.numInst == 2 && m.value == 1)
    }

    // 3 rois, 3 classes.
    let rcnnProb: [Float] = [0.7, 0.2, 0.1,
                             0.1, 0.3, 0.6,
                             0.25, 0.5, 0.25]
    let rcnnLabel: [Float] = [0, 2, 2]

    @Test func rcnnAccuracyCountsEveryRoi() {
        var m = RCNNAcc()
        m.update(clsProb: rcnnProb, numClasses: 3, label: rcnnLabel)
        #expect(m.sumMetric == 2 && m.numInst == 3)
    }

    @Test func rcnnLogLossAveragesOverEveryRoi() {
        var m = RCNNLogLoss()
        m.update(clsProb: rcnnProb, numClasses: 3, label: rcnnLabel)
        let expected = -(log(Double(Float(0.7)) + 1e-14) + log(Double(Float(0.6)) + 1e-14) + log(Double(Float(0.25)) + 1e-14)) / 3
        #expect(abs(m.value - expected) < 1e-12)
    }

    @Test func rcnnL1LossIsPerForegroundRoi() {
        var m = RCNNL1Loss()
        m.update(bboxLoss: [0.5, 0.5, 0.5, 0.5, 0, 0, 0, 0, 0, 0, 0, 1], label: rcnnLabel)
        #expect(m.sumMetric == 3 && m.numInst == 2 && m.value == 1.5)
    }

    @Test func metricsReportNaNBeforeAnyInstance() {
        #expect(RPNAcc().value.isNaN && RCNNL1Loss().value.isNaN)
        #expect(RPNAcc().name == "RPNAcc" && RCNNLogLoss().name == "RCNNLogLoss")
    }
}
