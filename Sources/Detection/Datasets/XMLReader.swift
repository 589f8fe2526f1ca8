// A small non-validating XML reader for annotation files, in place of Foundation's XMLParser (which
// traps on some malformed files: the VOC fuzz target found one, fuzz/findings/voc). It reads
// elements, attributes (checked, not kept), text, CDATA, comments, processing instructions and a
// DOCTYPE (skipped, so a DTD's entities are never expanded), the five predefined entities and
// character references. It checks what a reader of annotations relies on: UTF-8 throughout, one
// root element, tags that nest and match, quoted attribute values, no text outside the root.
// Memory stays within a small multiple of the file; nesting is limited to `maxDepth`.

struct XMLReader {
    enum Event: Equatable { case start(String), text(String), end(String) }

    struct Failure: Error, Equatable {
        let line: Int
        let message: String
    }

    static let maxDepth = 256

    /// Reads `bytes`, handing each element start, text run and element end to `handle` in order.
    static func parse(_ bytes: [UInt8], _ handle: (Event) -> Void) throws(Failure) {
        var reader = XMLReader(bytes: bytes)
        try reader.run(handle)
    }

    private let b: [UInt8]
    private var i = 0
    private var line = 1
    private var stack: [String] = []
    private var sawRoot = false
    private var text: [UInt8] = []

    private init(bytes: [UInt8]) {
        b = bytes
        if b.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
    }

    private func fail(_ message: String) -> Failure { Failure(line: line, message: message) }

    /// A value from the file as a message shows it: quoted, escaped, at most 40 characters.
    private static func quoted(_ value: String) -> String {
        (value.count > 40 ? String(value.prefix(40)) + "…" : value).debugDescription
    }

    private func starts(_ s: String, at k: Int) -> Bool {
        let u = Array(s.utf8)
        return k + u.count <= b.count && b[k..<(k + u.count)].elementsEqual(u)
    }

    /// Index of the first occurrence of `s` at or after `k`.
    private func find(_ s: String, from k: Int) -> Int? {
        let u = Array(s.utf8)
        guard u.count <= b.count else { return nil }
        var j = k
        while j + u.count <= b.count {
            if b[j] == u[0], b[j..<(j + u.count)].elementsEqual(u) { return j }
            j += 1
        }
        return nil
    }

    /// Moves to `j`, counting the lines passed.
    private mutating func advance(to j: Int) {
        for k in i..<min(j, b.count) where b[k] == 0x0A { line += 1 }
        i = j
    }

    private static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D }

    private mutating func skipSpace() {
        while i < b.count, Self.isSpace(b[i]) { advance(to: i + 1) }
    }

    private static func isNameByte(_ c: UInt8, first: Bool) -> Bool {
        switch c {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"), UInt8(ascii: ":"), 0x80...:
            true
        case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."): !first
        default: false
        }
    }

    private func decode(_ bytes: ArraySlice<UInt8>) throws(Failure) -> String {
        guard let s = String(validating: bytes, as: UTF8.self) else { throw fail("the text is not UTF-8") }
        return s
    }

    private mutating func name(_ what: String) throws(Failure) -> String {
        let start = i
        while i < b.count, Self.isNameByte(b[i], first: i == start) { i += 1 }
        guard i > start else { throw fail("expected \(what)") }
        return try decode(b[start..<i])
    }

    private mutating func flushText(_ handle: (Event) -> Void) throws(Failure) {
        guard !text.isEmpty else { return }
        defer { text.removeAll(keepingCapacity: true) }
        if stack.isEmpty {
            guard text.allSatisfy(Self.isSpace) else { throw fail("text outside the root element") }
            return
        }
        handle(.text(try decode(text[...])))
    }

    /// `&…;` at `k`: the character it stands for, and the index after the ';'.
    private func entity(at k: Int) throws(Failure) -> (bytes: [UInt8], end: Int) {
        var semi = k + 1
        while semi < b.count, b[semi] == UInt8(ascii: "#") || Self.isNameByte(b[semi], first: false), b[semi] < 0x80 { semi += 1 }
        guard semi < b.count, b[semi] == UInt8(ascii: ";"), semi > k + 1 else {
            throw fail("'&' that does not start an entity reference (write &amp;)")
        }
        let body = String(decoding: b[(k + 1)..<semi], as: UTF8.self)
        let named: [String: UInt8] = ["lt": 0x3C, "gt": 0x3E, "amp": 0x26, "quot": 0x22, "apos": 0x27]
        if let c = named[body] { return ([c], semi + 1) }
        guard body.hasPrefix("#") else {
            throw fail("unknown entity &\(body); (only &lt; &gt; &amp; &quot; &apos; and character references are read)")
        }
        let hex = body.hasPrefix("#x")
        let digits = body.dropFirst(hex ? 2 : 1)
        let allowed = hex ? "0123456789abcdefABCDEF" : "0123456789"
        // XML's Char: tab, line feed, carriage return, and U+0020 on without the surrogates, U+FFFE and U+FFFF
        guard !digits.isEmpty, digits.allSatisfy({ allowed.contains($0) }), let value = UInt32(digits, radix: hex ? 16 : 10),
              value == 0x9 || value == 0xA || value == 0xD || (0x20...0xD7FF).contains(value) || (0xE000...0xFFFD).contains(value)
              || (0x10000...0x10FFFF).contains(value), let scalar = Unicode.Scalar(value) else {
            throw fail("character reference &\(body); is not a character")
        }
        return (Array(String(Character(scalar)).utf8), semi + 1)
    }

    /// The XML declaration's pseudo-attributes, after `<?xml`: version, then optionally encoding
    /// (one that reads ASCII as itself) and standalone (yes or no), in that order.
    private mutating func declaration() throws(Failure) {
        func bad(_ what: String) -> Failure { fail("XML declaration not well-formed: \(what)") }
        var pending = ["version", "encoding", "standalone"]
        while true {
            let hadSpace = i < b.count && Self.isSpace(b[i])
            skipSpace()
            if starts("?>", at: i) {
                guard pending.first != "version" else { throw bad("no version") }
                i += 2
                return
            }
            guard hadSpace, i < b.count else { throw bad("expected a space or '?>'") }
            let key = try name("version, encoding or standalone")
            // in order, and nothing before the version
            guard let k = pending.firstIndex(of: key), k == 0 || pending.first != "version" else {
                throw bad("'\(key)' is not expected here")
            }
            pending.removeFirst(k + 1)
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: "=") else { throw bad("\(key) has no '='") }
            i += 1
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: "\"") || b[i] == UInt8(ascii: "'"),
                  let end = b[(i + 1)...].firstIndex(of: b[i]) else { throw bad("\(key) has no quoted value") }
            let value = String(decoding: b[(i + 1)..<end], as: UTF8.self)
            switch key {
            case "encoding":
                guard let first = value.first, first.isASCII, first.isLetter,
                      value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "._-".contains($0)) }) else {
                    throw bad("\(Self.quoted(value)) is not an encoding name")
                }
                let plain = value.lowercased().filter { $0 != "-" && $0 != "_" }
                guard ["utf8", "usascii", "ascii", "iso88591", "latin1"].contains(plain) else {
                    throw fail("encoding \(Self.quoted(value)) is not read (annotations are read as UTF-8)")
                }
            case "standalone":
                guard value == "yes" || value == "no" else { throw bad("standalone is \(Self.quoted(value)), expected yes or no") }
            default:
                guard !value.contains("<") else { throw bad("'<' in the version") }
            }
            advance(to: end + 1)
        }
    }

    /// A start tag at `i` (just after '<').
    private mutating func startTag(_ handle: (Event) -> Void) throws(Failure) {
        let element = try name("an element name after '<'")
        guard !(stack.isEmpty && sawRoot) else { throw fail("a second root element <\(element)>") }
        var attributes: Set<String> = []
        while true {
            let hadSpace = i < b.count && Self.isSpace(b[i])
            skipSpace()
            guard i < b.count else { throw fail("the file ends inside the tag <\(element)>") }
            if b[i] == UInt8(ascii: ">") || starts("/>", at: i) {
                let closes = b[i] == UInt8(ascii: "/")
                i += closes ? 2 : 1
                sawRoot = true
                handle(.start(element))
                if closes {
                    handle(.end(element))
                } else {
                    guard stack.count < Self.maxDepth else { throw fail("elements nested deeper than \(Self.maxDepth)") }
                    stack.append(element)
                }
                return
            }
            guard hadSpace else { throw fail("expected a space, '>' or '/>' in the tag <\(element)>") }
            let attribute = try name("an attribute name in <\(element)>")
            guard attributes.insert(attribute).inserted else { throw fail("attribute \(attribute) of <\(element)> given twice") }
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: "=") else { throw fail("attribute \(attribute) of <\(element)> has no '='") }
            i += 1
            skipSpace()
            guard i < b.count, b[i] == UInt8(ascii: "\"") || b[i] == UInt8(ascii: "'") else {
                throw fail("attribute \(attribute) of <\(element)> has no quoted value")
            }
            let quote = b[i]
            guard let end = b[(i + 1)...].firstIndex(of: quote) else { throw fail("attribute \(attribute) of <\(element)> is not closed") }
            guard !b[(i + 1)..<end].contains(UInt8(ascii: "<")) else { throw fail("'<' in the value of attribute \(attribute)") }
            var k = i + 1
            while k < end {
                if b[k] == UInt8(ascii: "&") {
                    let (_, after) = try entity(at: k)
                    guard after <= end else { throw fail("attribute \(attribute) of <\(element)> is not closed") }
                    k = after
                } else {
                    k += 1
                }
            }
            _ = try decode(b[(i + 1)..<end])
            advance(to: end + 1)
        }
    }

    private mutating func run(_ handle: (Event) -> Void) throws(Failure) {
        if let k = b.firstIndex(where: { $0 < 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }) {
            advance(to: k)
            throw fail("control character 0x\(String(b[k], radix: 16)) (XML allows only tab, line feed and carriage return)")
        }
        let start = i
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "&") {
                guard !stack.isEmpty else { throw fail("an entity reference outside the root element") }
                let (bytes, end) = try entity(at: i)
                text.append(contentsOf: bytes)
                i = end
                continue
            }
            guard c == UInt8(ascii: "<") else {
                if c == UInt8(ascii: "]"), starts("]]>", at: i) { throw fail("']]>' outside a CDATA section") }
                text.append(c)
                if c == 0x0A { line += 1 }
                i += 1
                continue
            }
            if starts("<![CDATA[", at: i) {
                guard !stack.isEmpty else { throw fail("CDATA outside the root element") }
                guard let end = find("]]>", from: i + 9) else { throw fail("CDATA section that does not end") }
                text.append(contentsOf: b[(i + 9)..<end])
                advance(to: end + 3)
                continue
            }
            try flushText(handle)
            if starts("<?", at: i) {
                let at = i
                i += 2
                let target = try name("a processing instruction's name after '<?'")
                if target.lowercased() == "xml" {
                    guard target == "xml", at == start else { throw fail("an XML declaration that is not at the start") }
                    try declaration()
                    continue
                }
                guard i < b.count, Self.isSpace(b[i]) || starts("?>", at: i) else { throw fail("expected a space or '?>' after <?\(target)") }
                guard let end = find("?>", from: i) else { throw fail("processing instruction that does not end") }
                advance(to: end + 2)
            } else if starts("<!--", at: i) {
                guard let end = find("--", from: i + 4) else { throw fail("comment that does not end") }
                guard end + 2 < b.count, b[end + 2] == UInt8(ascii: ">") else { throw fail("'--' inside a comment") }
                advance(to: end + 3)
            } else if starts("<!DOCTYPE", at: i) {
                guard !sawRoot else { throw fail("DOCTYPE after the root element") }
                var j = i + 9, brackets = 0
                var quote: UInt8? = nil
                while j < b.count {
                    let d = b[j]
                    if let q = quote {
                        if d == q { quote = nil }
                    } else if d == 0x22 || d == 0x27 {
                        quote = d
                    } else if d == UInt8(ascii: "[") {
                        brackets += 1
                    } else if d == UInt8(ascii: "]") {
                        brackets -= 1
                    } else if d == UInt8(ascii: ">"), brackets <= 0 {
                        break
                    }
                    j += 1
                }
                guard j < b.count else { throw fail("DOCTYPE that does not end") }
                advance(to: j + 1)
            } else if starts("</", at: i) {
                i += 2
                let element = try name("an element name after '</'")
                skipSpace()
                guard i < b.count, b[i] == UInt8(ascii: ">") else { throw fail("expected '>' after </\(element)") }
                i += 1
                guard let open = stack.last else { throw fail("</\(element)> closes no element") }
                guard open == element else { throw fail("</\(element)> closes <\(open)>") }
                stack.removeLast()
                handle(.end(element))
            } else {
                i += 1
                try startTag(handle)
            }
        }
        try flushText(handle)
        if let open = stack.last { throw fail("the file ends inside <\(open)>") }
        guard sawRoot else { throw fail("no root element") }
    }
}
