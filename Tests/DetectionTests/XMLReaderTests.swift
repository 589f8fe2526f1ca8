// The annotation XML reader: the events of a VOC-style file with a declaration, comments, a
// DOCTYPE, attributes, entities and CDATA; and the well-formedness errors it reports by line.
// Its verdicts are compared with Python's expat on mutated annotations in
// tools/interop/test_voc_xml.py.

@testable import Detection
import Testing

@Suite struct XMLReaderTests {
    static func events(_ text: String) throws(XMLReader.Failure) -> [XMLReader.Event] {
        var out: [XMLReader.Event] = []
        try XMLReader.parse(Array(text.utf8)) { out.append($0) }
        return out
    }

    static func failure(_ text: String) -> XMLReader.Failure? {
        do {
            _ = try events(text)
            return nil
        } catch {
            return error
        }
    }

    @Test func readsElementsTextEntitiesAndCDATA() throws {
        let text = """
        \u{FEFF}<?xml version="1.0" encoding="utf-8"?>
        <!DOCTYPE annotation [ <!ELEMENT annotation ANY> ]>
        <!-- written by hand -->
        <annotation verified="no">
          <name>a &amp; b &lt;&#65;&#x42;&gt;<![CDATA[<raw>&amp;]]></name>
          <empty/><x a='1' b = "2" ></x>
        </annotation>
        """
        let e = try Self.events(text)
        #expect(e == [.start("annotation"), .text("\n  "), .start("name"), .text("a & b <AB><raw>&amp;"), .end("name"),
                      .text("\n  "), .start("empty"), .end("empty"), .start("x"), .end("x"), .text("\n"), .end("annotation")])
    }

    @Test(arguments: [
        ("<a><b></a>", 1, "</a> closes <b>"),
        ("<a>\n<b>\n", 3, "the file ends inside <b>"),
        ("<a/><b/>", 1, "a second root element <b>"),
        ("x<a/>", 1, "text outside the root element"),
        ("<a>&nbsp;</a>", 1, "unknown entity &nbsp;"),
        ("<a>&#0;</a>", 1, "is not a character"),
        ("<a>& b</a>", 1, "does not start an entity reference"),
        ("<a b=1/>", 1, "no quoted value"),
        ("<a b='<'/>", 1, "'<' in the value"),
        ("<a\n\nb='1'c='2'/>", 3, "expected a space"),
        ("<a><!-- x </a>", 1, "comment that does not end"),
        ("<1a/>", 1, "expected an element name"),
        ("", 1, "no root element"),
        ("<a>\u{1}</a>", 1, "control character"),
    ])
    func reportsWhatIsWrongAndWhere(_ text: String, line: Int, message: String) {
        let f = Self.failure(text)
        #expect(f?.line == line, "\(text.debugDescription)")
        #expect(f?.message.contains(message) == true, "\(text.debugDescription): \(f?.message ?? "accepted")")
    }

    @Test func rejectsBytesThatAreNotUTF8AndDeepNesting() {
        var bad = Array("<a>".utf8)
        bad += [0xC3, 0x28]
        bad += Array("</a>".utf8)
        #expect(throws: XMLReader.Failure.self) { try XMLReader.parse(bad) { _ in } }
        let deep = String(repeating: "<a>", count: XMLReader.maxDepth + 1)
        #expect(Self.failure(deep)?.message.contains("nested deeper") == true)
        let fine = String(repeating: "<a>", count: 10) + String(repeating: "</a>", count: 10)
        #expect(Self.failure(fine) == nil)
    }
}
