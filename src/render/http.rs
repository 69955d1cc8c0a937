//! HTTP as `encap decode` shows it: one line per message under the frame's line (the layer tree
//! with `-v`), a mark on the frames that carry part of a message, and the JSON keys Wireshark
//! gives (`http.request.method`, `http.response.code`, `tcp.segment`...).

use std::io;

use serde_json::{Map, Value as Json};
use termcolor::{ColorSpec, WriteColor};

use super::hexdump::{self, Mark};
use super::{field_position, layer_color, layer_letters};
use crate::http_stream::{HttpFrame, Reassembled};
use crate::layers::http::{key, Kind, Message};
use crate::layers::payload::escape_bytes;
use crate::layers::{Layer, Value};

/// Adds `v` under `k`, making a list when the key is there already (several header lines, or
/// several messages in one frame, as tshark lists occurrences).
fn push(obj: &mut Map<String, Json>, k: &str, v: Json) {
    match obj.get_mut(k) {
        Some(Json::Array(list)) => list.push(v),
        Some(old) => {
            let first = old.take();
            *old = Json::Array(vec![first, v]);
        }
        None => {
            obj.insert(k.to_string(), v);
        }
    }
}

/// Adds what `h` holds to a frame's JSON object: each message's fields (text as Wireshark shows
/// it, control characters escaped), `http.request` or `http.response`, the frames of a
/// reassembled message (`tcp.segment`, `tcp.segment.count`, `tcp.reassembled.length`), and two
/// keys of encap's own: `http.cut` (why a message is not whole) and `http.continued` (the bytes so
/// far of a message this frame carries part of).
pub fn add_json(obj: &mut Map<String, Json>, h: &HttpFrame) {
    for r in &h.messages {
        let m = &r.message;
        if !m.fields.is_empty() {
            let kind = match m.kind {
                Kind::Request => "http.request",
                Kind::Response => "http.response",
            };
            push(obj, kind, Json::from(1));
        }
        for f in &m.fields {
            let v = match (&f.value, f.key.as_ref()) {
                (Value::Number(n), _) => Json::from(*n),
                (Value::Bytes(b), key::BODY) => Json::from(escape_bytes(b)),
                (Value::Bytes(_), _) => Json::from(f.display.clone()),
            };
            push(obj, &f.key, v);
        }
        if let Some((phrase, _)) = m
            .get(key::CODE)
            .and_then(|c| c.number())
            .and_then(|c| crate::layers::http::status_meaning(c as u16))
        {
            push(obj, "http.response.code.desc", Json::from(phrase));
        }
        if r.reassembled() {
            for f in &r.frames {
                push(obj, "tcp.segment", Json::from(*f));
            }
            push(obj, "tcp.segment.count", Json::from(r.frames.len()));
            push(obj, "tcp.reassembled.length", Json::from(m.len));
        }
        if let Some(why) = &r.cut {
            push(obj, "http.cut", Json::from(why.clone()));
        }
    }
    if let Some((have, _)) = h.pending {
        obj.insert("http.continued".into(), Json::from(have));
    }
    if let Some(e) = &h.error {
        obj.entry("_ws.malformed")
            .or_insert_with(|| Json::from(e.to_string()));
    }
}

/// One line on a message: what it is, what its status code means, where its bytes came from.
#[must_use]
pub fn message_line(r: &Reassembled) -> String {
    let m = &r.message;
    let mut s = m.summary();
    if let Some(c) = m.get(key::CODE) {
        s.push_str(": ");
        s.push_str(&c.meaning);
    }
    if let Some(host) = m.get("http.host") {
        s.push_str(&format!(" (Host {})", host.display));
    }
    if let Some(b) = m.get(key::BODY) {
        s.push_str(&format!(", {}-byte body", b.bytes.len()));
    }
    if r.reassembled() {
        let frames: Vec<String> = r.frames.iter().map(u64::to_string).collect();
        s.push_str(&format!(
            "; reassembled from frames {} ({} bytes)",
            frames.join(", "),
            m.len
        ));
    }
    s
}

/// Writes what `h` holds under a frame's line: one line per message (and its field tree when
/// `verbose`), `CUT` where a message is not whole, the mark of a frame that carries part of one.
///
/// # Errors
/// An I/O error from `w`.
pub fn write_text<W: WriteColor>(w: &mut W, h: &HttpFrame, verbose: bool) -> io::Result<()> {
    for r in &h.messages {
        write_message(w, r, verbose)?;
    }
    if let Some((have, need)) = h.pending {
        let total = need.map_or(String::new(), |n| format!(" of {n}"));
        writeln!(
            w,
            "    HTTP: part of a message not yet whole ({have}{total} bytes so far; shown on the frame that completes it)"
        )?;
    }
    if let Some(e) = &h.error {
        w.set_color(
            ColorSpec::new()
                .set_fg(Some(termcolor::Color::Red))
                .set_bold(true),
        )?;
        write!(w, "    not HTTP")?;
        w.reset()?;
        writeln!(w, ": {e}")?;
    }
    Ok(())
}

/// Writes one message: its line, `CUT` and why, and with `verbose` every field with its bytes.
///
/// # Errors
/// An I/O error from `w`.
pub fn write_message<W: WriteColor>(w: &mut W, r: &Reassembled, verbose: bool) -> io::Result<()> {
    w.set_color(
        ColorSpec::new()
            .set_fg(Some(layer_color(Layer::Http)))
            .set_bold(true),
    )?;
    write!(w, "    HTTP")?;
    w.reset()?;
    writeln!(w, " {}", message_line(r))?;
    if let Some(why) = &r.cut {
        w.set_color(
            ColorSpec::new()
                .set_fg(Some(termcolor::Color::Red))
                .set_bold(true),
        )?;
        write!(w, "    CUT")?;
        w.reset()?;
        writeln!(
            w,
            ": the message is not whole, {} bytes seen: {why}",
            r.message.len
        )?;
    }
    if verbose && !r.message.fields.is_empty() {
        writeln!(
            w,
            "      ({})",
            if r.reassembled() {
                "offsets in the reassembled message"
            } else {
                "offsets in the frame"
            }
        )?;
        let name_w = r
            .message
            .fields
            .iter()
            .map(|f| f.name.chars().count())
            .max()
            .unwrap_or(0);
        for f in &r.message.fields {
            let (range, _) = field_position(f, 0, &[]);
            writeln!(w, "      {range:<9} {:<name_w$}  {}", f.name, f.display)?;
        }
    }
    Ok(())
}

/// Writes a message as the application stage of the pipeline: what the application builds before
/// `send()`, field by field with byte offsets in the message (and what each means with `full`),
/// then its hex dump with the headers and the body marked; with `full` false, one line.
///
/// # Errors
/// An I/O error from `w`.
pub fn stage<W: WriteColor>(w: &mut W, bytes: &[u8], m: &Message, full: bool) -> io::Result<()> {
    let headers = m
        .fields
        .iter()
        .filter(|f| f.key == key::REQUEST_LINE || f.key == key::RESPONSE_LINE)
        .count();
    let body = m.get(key::BODY).map_or(0, |b| b.bytes.len());
    w.set_color(
        ColorSpec::new()
            .set_fg(Some(layer_color(Layer::Http)))
            .set_bold(true),
    )?;
    if !full {
        write!(w, "  {:<11}{:>6} bytes", "HTTP", bytes.len())?;
        w.reset()?;
        let host = m
            .get("http.host")
            .map_or(String::new(), |h| format!("  Host {}", h.display));
        return writeln!(
            w,
            "   {}{host}  {headers} header line(s)  body {body} bytes",
            m.summary()
        );
    }
    write!(w, "[HTTP] application protocol")?;
    w.reset()?;
    let line = match m.kind {
        Kind::Request => "a request line",
        Kind::Response => "a status line",
    };
    writeln!(
        w,
        ": {line}, {headers} header lines, the blank line and a {body}-byte body -> {} bytes for send()",
        bytes.len()
    )?;
    let name_w = m
        .fields
        .iter()
        .map(|f| f.name.chars().count())
        .max()
        .unwrap_or(0);
    for f in &m.fields {
        let (range, _) = field_position(f, 0, &[]);
        writeln!(w, "  {range:<9} {:<name_w$}  {}", f.name, f.display)?;
        if f.key == key::CODE || f.key == key::METHOD {
            writeln!(w, "  {:<9} {:<name_w$}  ({})", "", "", f.meaning)?;
        }
    }
    let header_end = m.header_len.min(bytes.len());
    let marks = [
        Mark {
            range: 0..header_end,
            letters: layer_letters(Layer::Http),
            color: layer_color(Layer::Http),
        },
        Mark {
            range: header_end..bytes.len(),
            letters: layer_letters(Layer::Application),
            color: layer_color(Layer::Application),
        },
    ];
    if !w.supports_color() {
        writeln!(w, "  (hh start line and headers, dd body)")?;
    }
    hexdump::write(w, bytes, &marks, "  ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dissect::slice;
    use crate::http_stream::HttpStreams;
    use crate::pipeline::{encapsulate, Params};

    #[test]
    fn json_and_text_of_a_response() {
        let mut p = Params::default();
        p.tcp.src_port = 8000;
        let body = b"HTTP/1.0 404 File not found\r\nServer: x\r\nContent-Length: 0\r\n\r\n";
        let f = encapsulate(body, &p).unwrap().frame().to_vec();
        let h = HttpStreams::new().feed(1, &slice(&f));
        let mut obj = Map::new();
        add_json(&mut obj, &h);
        assert_eq!(obj["http.response.code"], 404);
        assert_eq!(obj["http.response.phrase"], "File not found");
        assert_eq!(obj["http.server"], "x");
        assert_eq!(obj["http.response.code.desc"], "Not Found");
        assert_eq!(obj["http.response.line"].as_array().map(Vec::len), Some(2));
        let mut out = termcolor::NoColor::new(Vec::new());
        write_text(&mut out, &h, true).unwrap();
        let text = String::from_utf8(out.into_inner()).unwrap();
        assert!(
            text.contains("HTTP HTTP/1.0 404 File not found: 4xx client error"),
            "{text}"
        );
        assert!(text.contains("nothing at this URI"), "{text}");
        assert!(text.contains("Status code"), "{text}");
    }
}
