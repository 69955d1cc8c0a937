//! Escaping for the SVG and HTML renderers: every piece of text that reaches a page (a payload, a
//! field's display, a peer's address) goes through [`Esc`], so bytes from a frame can never open an
//! element, an attribute or a script.
//!
//! The figures and the page are written with plain writers (`write!` into an `io::Write`), not a
//! template crate: the same SVG is written both as a standalone XML file and inline in the page, so
//! it must be well-formed XML (maud writes HTML void elements, `<rect ...>` without `/>`), the
//! layout is computed from the field tables anyway, and one escape function is simpler to test
//! than a macro's rules. No dependency is added.

use std::fmt;

/// Text escaped for XML and HTML, in element content and in quoted attributes alike: `&`, `<`,
/// `>`, `"` and `'` become entities, and the characters XML 1.0 forbids (C0 controls other than
/// tab and newline, U+FFFE, U+FFFF) become U+FFFD, so the SVG still parses.
#[derive(Debug, Clone, Copy)]
pub struct Esc<'a>(pub &'a str);

impl fmt::Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        let mut start = 0;
        for (i, c) in s.char_indices() {
            let rep = match c {
                '&' => "&amp;",
                '<' => "&lt;",
                '>' => "&gt;",
                '"' => "&quot;",
                '\'' => "&#39;",
                '\t' | '\n' => continue,
                '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => "\u{fffd}",
                _ => continue,
            };
            f.write_str(&s[start..i])?;
            f.write_str(rep)?;
            start = i + c.len_utf8();
        }
        f.write_str(&s[start..])
    }
}

/// A CSS class name for a layer, as the page's style sheet knows them.
#[must_use]
pub fn layer_class(layer: crate::layers::Layer) -> &'static str {
    use crate::layers::Layer;
    match layer {
        Layer::Application | Layer::Raw | Layer::Http => "l-data",
        Layer::Tcp | Layer::Udp | Layer::Icmp | Layer::Icmpv6 => "l-tcp",
        Layer::Ipv4 | Layer::Ipv6 | Layer::Arp => "l-ip",
        Layer::Ethernet | Layer::Vlan | Layer::Link => "l-eth",
    }
}

#[cfg(test)]
mod tests {
    use super::Esc;

    #[test]
    fn markup_and_forbidden_characters_are_escaped() {
        let s = Esc("<script>alert('x')</script> & \"q\" \u{1}\u{7f} 你好").to_string();
        assert_eq!(
            s,
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot; \u{fffd}\u{7f} 你好"
        );
    }

    #[test]
    fn plain_text_is_kept() {
        assert_eq!(Esc("hello, world\n").to_string(), "hello, world\n");
    }
}
