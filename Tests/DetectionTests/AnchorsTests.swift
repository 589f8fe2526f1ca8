// generateAnchors against generate_anchor.py's outputs (every ref_generate_anchors_* group, read by
// its attributes) and the shift layout. Anchor coordinates are small integers or halves, so exact.

import Testing
@testable import Detection

struct AnchorsTests {
    @Test("base anchors equal the reference's, ratio-major then scale", .enabled(if: Golden.hasReferenceGroups, Golden.referenceNote), arguments: try Golden.groups(prefix: "ref_generate_anchors"))
    func baseAnchorsMatchReference(group: String) throws {
        let c = try RefCase(group)
        let anchors = generateAnchors(baseSize: try c.attrInt("base_size"), ratios: try c.attr("ratios"), scales: try c.attr("scales"))
        #expect(anchors == (try c.doubleRows("anchors")))
    }

    @Test func defaultAnchorsAreTheDocumentedBoxes() {
        let a = generateAnchors()
        #expect(a.count == 9)
        #expect(a[0] == [-84, -40, 99, 55] && a[4] == [-120, -120, 135, 135] && a[8] == [-168, -344, 183, 359])
    }

    @Test func widthsRoundHalfToEvenLikeNumpy() {
        // 256 / 1.6384 = 156.25 = 12.5², so the unscaled width is round(12.5) = 12 under np.round
        // (floor(x + 0.5) would give 13); height = round(12 · 1.6384 = 19.66) = 20.
        let a = generateAnchors(baseSize: 16, ratios: [1.6384], scales: [1])[0]
        #expect(a[2] - a[0] + 1 == 12)
        #expect(a[3] - a[1] + 1 == 20)
    }

    @Test func shiftedAnchorsAreIndexedByCellThenAnchor() {
        let base = generateAnchors(scales: [2, 4])
        let h = 3, w = 5, stride = 16
        let all = shiftedAnchors(featureHeight: h, featureWidth: w, stride: stride, base: base)
        #expect(all.count == h * w * base.count)
        for y in 0..<h {
            for x in 0..<w {
                for (k, b) in base.enumerated() {
                    let dx = Double(x * stride), dy = Double(y * stride)
                    #expect(all[(y * w + x) * base.count + k] == [b[0] + dx, b[1] + dy, b[2] + dx, b[3] + dy])
                }
            }
        }
    }
}
