//! A small XML writer for the phonebooks: characters XML 1.0 forbids are dropped, line breaks
//! and tabs become spaces (phones show them as garbage), and `& < > " '` are escaped, so any
//! name from Microsoft 365 yields a well-formed document.

/// Builds one XML document as text, always UTF-8 with a declaration.
#[derive(Debug)]
pub struct XmlWriter {
    out: String,
}

impl Default for XmlWriter {
    fn default() -> Self {
        Self::new()
    }
}

impl XmlWriter {
    /// Starts a document with `<?xml version="1.0" encoding="UTF-8"?>`.
    pub fn new() -> Self {
        Self {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
        }
    }

    /// Opens `<name attr="value" …>`.
    pub fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.start_tag(name, attrs);
        self.out.push('>');
        self
    }

    /// Closes `</name>`.
    pub fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
        self
    }

    /// Writes `<name attr="value" …/>`.
    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) -> &mut Self {
        self.start_tag(name, attrs);
        self.out.push_str("/>\n");
        self
    }

    /// Writes `<name>text</name>` with the text cleaned and escaped.
    pub fn leaf(&mut self, name: &str, text: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        escape_into(&mut self.out, text);
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push_str(">\n");
        self
    }

    /// The finished document.
    pub fn finish(self) -> String {
        self.out
    }

    fn start_tag(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.out.push('<');
        self.out.push_str(name);
        for (key, value) in attrs {
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            escape_into(&mut self.out, value);
            self.out.push('"');
        }
    }
}

/// True for characters XML 1.0 allows in a document (production `Char`).
pub fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{9}' | '\u{A}' | '\u{D}' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Appends `text` escaped for element content and attribute values alike.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if is_xml_char(c) => out.push(c),
            _ => {}
        }
    }
}

/// `text` escaped (see [`escape_into`]).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_strips() {
        assert_eq!(
            escape("A&B <C> \"D\" 'E'"),
            "A&amp;B &lt;C&gt; &quot;D&quot; &apos;E&apos;"
        );
        assert_eq!(escape("a\u{0}b\u{1B}c\u{FFFE}d\u{FFFF}"), "abcd");
        assert_eq!(escape("line\nbreak\ttab"), "line break tab");
        assert_eq!(escape("Jürgen Øre 😀"), "Jürgen Øre 😀");
    }

    #[test]
    fn writes_a_document() {
        let mut xml = XmlWriter::new();
        xml.open("a", &[("x", "1<2")])
            .leaf("b", "&")
            .empty("c", &[]);
        xml.close("a");
        assert_eq!(
            xml.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<a x=\"1&lt;2\"><b>&amp;</b>\n<c/>\n</a>\n"
        );
    }
}
