//! HTTP/1.x messages (RFC 9112), the application layer of a web request, parsed with `httparse`.
//!
//! ```text
//! request:   GET /index.html HTTP/1.1\r\n      request line: method SP URI SP version CRLF
//!            Host: 127.0.0.1:8000\r\n          one header per line: name ":" value CRLF
//!            Accept: */*\r\n
//!            \r\n                              the blank line ends the headers
//!            ...body (Content-Length bytes, or chunks)...
//! response:  HTTP/1.0 404 File not found\r\n   status line: version SP code SP reason CRLF
//!            Content-Length: 335\r\n
//!            \r\n
//!            ...body...
//! ```
//!
//! Unlike a TCP or IP header, nothing here has a fixed place: every field's offset is where the
//! parser found it. [`FIELDS`] names them all (Wireshark's names, `http.request.method` ...);
//! [`parse`] returns the fields of one message with their byte ranges, or says that more bytes
//! are needed (a message split across TCP segments), or why the bytes are not HTTP.

use std::borrow::Cow;
use std::ops::Range;

use super::payload::escape_bytes;
use super::{DecodeError, Field, FieldSpec, Layer, Value};

/// Wireshark's names of the fields (the keys of [`FIELDS`]).
pub mod key {
    /// `http.request.method`.
    pub const METHOD: &str = "http.request.method";
    /// `http.request.uri`.
    pub const URI: &str = "http.request.uri";
    /// `http.request.version`.
    pub const REQUEST_VERSION: &str = "http.request.version";
    /// `http.response.version`.
    pub const RESPONSE_VERSION: &str = "http.response.version";
    /// `http.response.code`.
    pub const CODE: &str = "http.response.code";
    /// `http.response.phrase`.
    pub const PHRASE: &str = "http.response.phrase";
    /// `http.request.line`: one header line of a request, as tshark names it.
    pub const REQUEST_LINE: &str = "http.request.line";
    /// `http.response.line`: one header line of a response.
    pub const RESPONSE_LINE: &str = "http.response.line";
    /// `http.content_length`: the Content-Length header's value as a number.
    pub const CONTENT_LENGTH: &str = "http.content_length";
    /// The blank line that ends the headers (Wireshark shows it, with no field name of its own).
    pub const BLANK: &str = "http.blank_line";
    /// `http.file_data`: the body.
    pub const BODY: &str = "http.file_data";
}

/// A row of the field table whose place depends on the message (`bytes` is empty).
const fn row(name: &'static str, key: &'static str, meaning: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        key,
        bytes: 0..0,
        mask: None,
        meaning,
    }
}

/// The field table: every field an HTTP message can have, in the order they appear. The byte
/// ranges are found by the parser, so they are empty here.
pub const FIELDS: [FieldSpec; 10] = [
    row(
        "Method",
        key::METHOD,
        "what the client asks the server to do (GET reads, POST submits, HEAD reads the headers only...)",
    ),
    row(
        "Request URI",
        key::URI,
        "the resource asked for: a path on the server, with its query",
    ),
    row(
        "Request version",
        key::REQUEST_VERSION,
        "the HTTP version the client speaks",
    ),
    row(
        "Response version",
        key::RESPONSE_VERSION,
        "the HTTP version the server answers in (HTTP/1.0: it closes the connection after the response)",
    ),
    row(
        "Status code",
        key::CODE,
        "three digits: the first gives the class (1 informational, 2 success, 3 redirection, 4 client error, 5 server error)",
    ),
    row(
        "Reason phrase",
        key::PHRASE,
        "the code in words, for people (clients act on the code)",
    ),
    row(
        "Header",
        key::REQUEST_LINE,
        "one header line: a name, a colon and a value, ended by CRLF",
    ),
    row(
        "Content length",
        key::CONTENT_LENGTH,
        "the body's length in bytes: where this message ends and the next one starts on the connection",
    ),
    row(
        "Blank line",
        key::BLANK,
        "the empty line (CRLF) that ends the headers",
    ),
    row(
        "Body",
        key::BODY,
        "the message's content (a page, a file, a form), as many bytes as Content-Length says",
    ),
];

/// The Wireshark name of a header's value, for the headers Wireshark names.
#[must_use]
pub fn header_key(name: &str) -> Option<&'static str> {
    const KNOWN: [(&str, &str); 22] = [
        ("host", "http.host"),
        ("user-agent", "http.user_agent"),
        ("accept", "http.accept"),
        ("accept-encoding", "http.accept_encoding"),
        ("accept-language", "http.accept_language"),
        ("authorization", "http.authorization"),
        ("cache-control", "http.cache_control"),
        ("connection", "http.connection"),
        ("content-encoding", "http.content_encoding"),
        ("content-length", "http.content_length_header"),
        ("content-type", "http.content_type"),
        ("cookie", "http.cookie"),
        ("date", "http.date"),
        ("last-modified", "http.last_modified"),
        ("location", "http.location"),
        ("referer", "http.referer"),
        ("server", "http.server"),
        ("set-cookie", "http.set_cookie"),
        ("transfer-encoding", "http.transfer_encoding"),
        ("www-authenticate", "http.www_authenticate"),
        ("upgrade", "http.upgrade"),
        ("x-forwarded-for", "http.x_forwarded_for"),
    ];
    KNOWN
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, k)| *k)
}

/// What a status code means: its reason phrase as RFC 9110 gives it and one line on what a client
/// does with it; `None` for a code this table does not know (its class still says, see
/// [`class_meaning`]).
#[must_use]
pub fn status_meaning(code: u16) -> Option<(&'static str, &'static str)> {
    Some(match code {
        100 => ("Continue", "the client may send the request's body"),
        101 => (
            "Switching Protocols",
            "the connection now speaks the protocol the client asked to upgrade to (WebSocket...)",
        ),
        200 => ("OK", "the request worked; the body is the resource"),
        201 => (
            "Created",
            "the request created a resource (Location says where)",
        ),
        204 => ("No Content", "the request worked and there is no body"),
        301 => (
            "Moved Permanently",
            "the resource is now at Location, for good: update links",
        ),
        302 => (
            "Found",
            "the resource is at Location for now: keep the old address",
        ),
        304 => (
            "Not Modified",
            "the copy the client has cached is still good: no body",
        ),
        400 => ("Bad Request", "the server could not parse the request"),
        401 => (
            "Unauthorized",
            "authentication is needed (WWW-Authenticate says how)",
        ),
        403 => (
            "Forbidden",
            "the server understood and refuses; authenticating will not help",
        ),
        404 => ("Not Found", "the server has nothing at this URI"),
        405 => (
            "Method Not Allowed",
            "the resource exists but not for this method (Allow lists the ones it takes)",
        ),
        500 => (
            "Internal Server Error",
            "the server failed while handling the request",
        ),
        502 => (
            "Bad Gateway",
            "a proxy or gateway got a bad answer from the server behind it",
        ),
        503 => (
            "Service Unavailable",
            "the server cannot handle it now (overloaded or down for maintenance); try later",
        ),
        _ => return None,
    })
}

/// What the class of a status code (its first digit) means.
#[must_use]
pub fn class_meaning(code: u16) -> &'static str {
    match code / 100 {
        1 => "1xx informational: the request goes on, a final response follows",
        2 => "2xx success: the request was received, understood and accepted",
        3 => "3xx redirection: the client must go elsewhere (or use its cache) to finish",
        4 => "4xx client error: the request is wrong (bad syntax, no such resource, not allowed)",
        5 => "5xx server error: the request may be fine, the server failed to answer it",
        _ => "not a valid HTTP status class (100-599)",
    }
}

/// Whether a message is a request or a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// From client to server: a request line.
    Request,
    /// From server to client: a status line.
    Response,
}

/// How the body of a message ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// After this many bytes (Content-Length, or 0 for a request without one or a 1xx/204/304).
    Length(usize),
    /// Chunked transfer coding: after the last (zero-length) chunk.
    Chunked,
    /// When the server closes the connection (a response without a length, RFC 9112 6.3).
    Close,
}

/// One HTTP message, parsed whole or as far as its bytes go.
#[derive(Debug, Clone)]
pub struct Message {
    /// Request or response.
    pub kind: Kind,
    /// Every field, with its byte range relative to the start of the message plus the base given
    /// to [`parse`].
    pub fields: Vec<Field>,
    /// Bytes of the start line and the headers, blank line included.
    pub header_len: usize,
    /// Bytes of the whole message (headers and body) as far as they were given.
    pub len: usize,
    /// How the body ends.
    pub body_end: BodyEnd,
    /// Whether the message is whole; false when it was cut (see [`parse_cut`]).
    pub complete: bool,
}

impl Message {
    /// The value shown for the field `key`, if the message has it.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// One line as Wireshark's Info column gives it: `GET / HTTP/1.1` or `HTTP/1.0 200 OK`.
    #[must_use]
    pub fn summary(&self) -> String {
        let d = |k: &str| self.get(k).map_or("", |f| f.display.as_str());
        match self.kind {
            Kind::Request => format!(
                "{} {} {}",
                d(key::METHOD),
                d(key::URI),
                d(key::REQUEST_VERSION)
            ),
            Kind::Response => format!(
                "{} {} {}",
                d(key::RESPONSE_VERSION),
                self.get(key::CODE)
                    .and_then(Field::number)
                    .map_or(String::new(), |c| c.to_string()),
                d(key::PHRASE)
            ),
        }
    }
}

/// The outcome of [`parse`].
#[derive(Debug, Clone)]
pub enum Parsed {
    /// A whole message.
    Complete(Message),
    /// The bytes are the start of a message: more are needed (`Some(n)`: at least `n` in all,
    /// when the headers are whole and say how long the body is).
    Partial(Option<usize>),
}

/// The HTTP methods RFC 9110 defines, and PATCH: what a payload must start with to be taken for
/// a request on a port that is not HTTP's.
pub const METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
];

/// Whether `b` starts like an HTTP message: a known method and a space, or `HTTP/1.`.
#[must_use]
pub fn looks_like_http(b: &[u8]) -> bool {
    b.starts_with(b"HTTP/1.")
        || METHODS
            .iter()
            .any(|m| b.len() > m.len() && b.starts_with(m.as_bytes()) && b[m.len()] == b' ')
}

/// Most headers one message may have.
const MAX_HEADERS: usize = 64;

fn invalid(why: &'static str, field: &'static str, offset: usize, b: &[u8]) -> DecodeError {
    let end = b.len().min(offset + 16);
    DecodeError::Invalid {
        layer: Layer::Http,
        field,
        offset,
        value: format!(
            "\"{}\"",
            escape_bytes(b.get(offset..end).unwrap_or_default())
        ),
        why,
    }
}

/// Where `part`, a slice of `whole`, starts in it.
fn offset_in(whole: &[u8], part: &[u8]) -> usize {
    (part.as_ptr() as usize).saturating_sub(whole.as_ptr() as usize)
}

fn text_field(spec: &FieldSpec, bytes: Range<usize>, b: &[u8], base: usize) -> Field {
    let raw = b.get(bytes.clone()).unwrap_or_default();
    Field {
        name: Cow::Borrowed(spec.name),
        key: Cow::Borrowed(spec.key),
        bytes: bytes.start + base..bytes.end + base,
        mask: None,
        value: Value::Bytes(raw.to_vec()),
        display: escape_bytes(raw),
        meaning: Cow::Borrowed(spec.meaning),
    }
}

fn spec(key: &str) -> &'static FieldSpec {
    FIELDS.iter().find(|f| f.key == key).unwrap_or(&FIELDS[0])
}

/// The end of the line that starts at `from` (the offset of its CR), if `b` holds it.
fn line_end(b: &[u8], from: usize) -> Option<usize> {
    b.get(from..)?
        .windows(2)
        .position(|w| w == b"\r\n")
        .map(|p| from + p)
}

/// Parses the start line and headers of the message at the start of `b` (whose first byte is at
/// absolute offset `base`) and, when the headers are whole, its body as far as `b` holds it.
///
/// # Errors
/// The bytes are not an HTTP message: the error names the field and its offset.
pub fn parse(b: &[u8], base: usize) -> Result<Parsed, DecodeError> {
    parse_at(b, base, false)
}

/// As [`parse`], for a message that will get no more bytes (the connection closed, or the capture
/// ended): what `b` holds of it, marked incomplete, or `None` when not even the start line is whole.
///
/// # Errors
/// The bytes are not an HTTP message.
pub fn parse_cut(b: &[u8], base: usize) -> Result<Option<Message>, DecodeError> {
    match parse_at(b, base, true)? {
        Parsed::Complete(m) => Ok(Some(m)),
        Parsed::Partial(_) => Ok(None),
    }
}

fn parse_at(b: &[u8], base: usize, cut: bool) -> Result<Parsed, DecodeError> {
    let mut storage = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let response = b.starts_with(b"HTTP/");
    let mut fields = Vec::with_capacity(16);
    let (status, headers): (httparse::Status<usize>, Vec<HeaderSpan>);
    let code;
    if response {
        let mut r = httparse::Response::new(&mut storage);
        status = r.parse(b).map_err(|e| parse_error(e, b, Kind::Response))?;
        code = r.code;
        if r.code.is_some() && r.reason.is_some() {
            start_line_response(
                b,
                base,
                r.code.unwrap_or(0),
                r.reason.unwrap_or(""),
                &mut fields,
            );
        }
        headers = header_spans(b, r.headers);
    } else {
        let mut r = httparse::Request::new(&mut storage);
        status = r.parse(b).map_err(|e| parse_error(e, b, Kind::Request))?;
        code = None;
        if let (Some(m), Some(p)) = (r.method, r.path) {
            start_line_request(b, base, m, p, &mut fields);
        }
        headers = header_spans(b, r.headers);
    }
    let header_len = match status {
        httparse::Status::Complete(n) => n,
        httparse::Status::Partial if cut && !fields.is_empty() => {
            // What the cut message holds: its start line, and the headers httparse could not yet
            // hand back are left out (it returns them only once the blank line is there).
            return Ok(Parsed::Complete(Message {
                kind: if response {
                    Kind::Response
                } else {
                    Kind::Request
                },
                fields,
                header_len: b.len(),
                len: b.len(),
                body_end: BodyEnd::Length(0),
                complete: false,
            }));
        }
        httparse::Status::Partial => return Ok(Parsed::Partial(None)),
    };
    let kind = if response {
        Kind::Response
    } else {
        Kind::Request
    };
    let body_end = add_headers(b, base, kind, &headers, &mut fields, code)?;
    fields.push(text_field(
        spec(key::BLANK),
        header_len - 2..header_len,
        b,
        base,
    ));
    let (body_len, complete) = match body_end {
        BodyEnd::Length(n) => (n.min(b.len() - header_len), b.len() - header_len >= n),
        BodyEnd::Close => (b.len() - header_len, cut),
        BodyEnd::Chunked => match chunked_len(&b[header_len..]) {
            Some(n) => (n, true),
            None => (b.len() - header_len, false),
        },
    };
    if !complete && !cut {
        return Ok(Parsed::Partial(match body_end {
            BodyEnd::Length(n) => Some(header_len + n),
            _ => None,
        }));
    }
    if body_len > 0 {
        let body = header_len..header_len + body_len;
        let mut f = text_field(spec(key::BODY), body.clone(), b, base);
        f.display = format!(
            "\"{}\"{} ({body_len} bytes)",
            escape_bytes(&b[body.start..body.end.min(body.start + 64)]),
            if body_len > 64 { "..." } else { "" }
        );
        fields.push(f);
    }
    Ok(Parsed::Complete(Message {
        kind,
        fields,
        header_len,
        len: header_len + body_len,
        body_end,
        complete,
    }))
}

fn parse_error(e: httparse::Error, b: &[u8], kind: Kind) -> DecodeError {
    // httparse says what is wrong, not where: the first byte of the offending part is found by
    // walking the start line as the grammar has it.
    let first_line = line_end(b, 0).unwrap_or(b.len());
    let sp1 = b.iter().position(|&c| c == b' ').unwrap_or(first_line);
    match (e, kind) {
        (httparse::Error::Version, Kind::Response) => {
            invalid("not HTTP/1.0 or HTTP/1.1", "Response version", 0, b)
        }
        (httparse::Error::Version, Kind::Request) => {
            let sp2 = b[sp1.min(b.len())..]
                .iter()
                .skip(1)
                .position(|&c| c == b' ')
                .map_or(first_line, |p| sp1 + 1 + p + 1);
            invalid("not HTTP/1.0 or HTTP/1.1", "Request version", sp2, b)
        }
        (httparse::Error::Status, _) => {
            invalid("not a three-digit status code", "Status code", sp1 + 1, b)
        }
        (httparse::Error::Token, Kind::Request) => {
            invalid("not a method token followed by a space", "Method", 0, b)
        }
        (httparse::Error::HeaderName | httparse::Error::HeaderValue, _) => {
            let at = line_end(b, 0).map_or(first_line, |e| e + 2);
            invalid(
                "a header line that is not `name: value` CRLF",
                "Header",
                at,
                b,
            )
        }
        (httparse::Error::TooManyHeaders, _) => invalid(
            "more than 64 headers: not taken for HTTP",
            "Header",
            first_line + 2,
            b,
        ),
        (httparse::Error::NewLine, _) => invalid(
            "a line that does not end in CRLF",
            "Request URI",
            sp1 + 1,
            b,
        ),
        (_, _) => invalid(
            "not an HTTP/1.x start line",
            "Request URI",
            sp1.min(b.len()),
            b,
        ),
    }
}

/// A header's line start, name end, value start and value end, relative to the message.
type HeaderSpan = (usize, usize, usize, usize);

/// Each header's span, relative to `b`.
fn header_spans(b: &[u8], headers: &[httparse::Header<'_>]) -> Vec<HeaderSpan> {
    headers
        .iter()
        .take_while(|h| !h.name.is_empty())
        .map(|h| {
            let start = offset_in(b, h.name.as_bytes());
            let value = offset_in(b, h.value);
            (start, start + h.name.len(), value, value + h.value.len())
        })
        .collect()
}

fn start_line_request(b: &[u8], base: usize, method: &str, path: &str, out: &mut Vec<Field>) {
    let m = offset_in(b, method.as_bytes());
    out.push(text_field(spec(key::METHOD), m..m + method.len(), b, base));
    let p = offset_in(b, path.as_bytes());
    out.push(text_field(spec(key::URI), p..p + path.len(), b, base));
    let v = p + path.len() + 1;
    let end = line_end(b, v).unwrap_or(b.len()).max(v);
    out.push(text_field(spec(key::REQUEST_VERSION), v..end, b, base));
}

fn start_line_response(b: &[u8], base: usize, code: u16, reason: &str, out: &mut Vec<Field>) {
    let sp = b.iter().position(|&c| c == b' ').unwrap_or(0);
    out.push(text_field(spec(key::RESPONSE_VERSION), 0..sp, b, base));
    let c = spec(key::CODE);
    let known = status_meaning(code);
    out.push(Field {
        name: Cow::Borrowed(c.name),
        key: Cow::Borrowed(c.key),
        bytes: base + sp + 1..base + sp + 4,
        mask: None,
        value: Value::Number(u64::from(code)),
        display: match known {
            Some((phrase, _)) => format!("{code} ({phrase})"),
            None => code.to_string(),
        },
        meaning: Cow::Owned(match known {
            Some((_, what)) => format!("{}; {code}: {what}", class_meaning(code)),
            None => class_meaning(code).to_string(),
        }),
    });
    let r = offset_in(b, reason.as_bytes());
    let r = if reason.is_empty() { sp + 5 } else { r };
    out.push(text_field(spec(key::PHRASE), r..r + reason.len(), b, base));
}

/// Adds each header's line and, for the ones Wireshark names, its value; returns how the body
/// ends.
fn add_headers(
    b: &[u8],
    base: usize,
    kind: Kind,
    headers: &[HeaderSpan],
    out: &mut Vec<Field>,
    code: Option<u16>,
) -> Result<BodyEnd, DecodeError> {
    let line_key = match kind {
        Kind::Request => key::REQUEST_LINE,
        Kind::Response => key::RESPONSE_LINE,
    };
    let mut body = match (kind, code) {
        (Kind::Request, _) => BodyEnd::Length(0),
        (Kind::Response, Some(c)) if c < 200 || c == 204 || c == 304 => BodyEnd::Length(0),
        (Kind::Response, _) => BodyEnd::Close,
    };
    let no_body = body == BodyEnd::Length(0) && kind == Kind::Response;
    for &(start, name_end, vstart, vend) in headers {
        let name = String::from_utf8_lossy(&b[start..name_end]);
        let end = line_end(b, vend).map_or(vend, |e| e + 2);
        let mut line = text_field(spec(key::REQUEST_LINE), start..end, b, base);
        line.key = Cow::Borrowed(line_key);
        line.name = Cow::Owned(format!("Header {name}"));
        out.push(line);
        let Some(k) = header_key(&name) else {
            continue;
        };
        let mut v = text_field(spec(key::REQUEST_LINE), vstart..vend, b, base);
        v.key = Cow::Borrowed(k);
        v.name = Cow::Owned(format!("{name} value"));
        v.meaning = Cow::Borrowed("the header's value");
        out.push(v);
        if k == "http.content_length_header" {
            let text = std::str::from_utf8(&b[vstart..vend]).unwrap_or("");
            let n: usize = text.trim().parse().map_err(|_| {
                invalid(
                    "Content-Length is not a decimal number",
                    "Content length",
                    vstart,
                    b,
                )
            })?;
            let mut f = text_field(spec(key::CONTENT_LENGTH), vstart..vend, b, base);
            f.value = Value::Number(n as u64);
            f.display = n.to_string();
            out.push(f);
            if !no_body && body != BodyEnd::Chunked {
                body = BodyEnd::Length(n);
            }
        }
        if k == "http.transfer_encoding"
            && String::from_utf8_lossy(&b[vstart..vend])
                .to_ascii_lowercase()
                .contains("chunked")
            && !no_body
        {
            body = BodyEnd::Chunked;
        }
    }
    Ok(body)
}

/// The length of a chunked body at the start of `b`, last chunk and trailer CRLF included, when
/// `b` holds all of it.
fn chunked_len(b: &[u8]) -> Option<usize> {
    let mut at = 0;
    loop {
        let httparse::Status::Complete((n, size)) =
            httparse::parse_chunk_size(b.get(at..)?).ok()?
        else {
            return None;
        };
        at += n;
        if size == 0 {
            // No trailer fields: the final CRLF.
            return (b.get(at..at + 2)? == b"\r\n").then_some(at + 2);
        }
        at = at
            .checked_add(usize::try_from(size).ok()?)?
            .checked_add(2)?;
        if at > b.len() {
            return None;
        }
    }
}

/// Builds the bytes of a message from its start line, header lines and body, as a client or a
/// server writes it: each line ended by CRLF, the blank line, then the body.
#[must_use]
pub fn build(start_line: &str, headers: &[String], body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + body.len());
    out.extend_from_slice(start_line.as_bytes());
    out.extend_from_slice(b"\r\n");
    for h in headers {
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const REQUEST: &[u8] =
        b"GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";

    fn complete(b: &[u8]) -> Message {
        match parse(b, 0).unwrap() {
            Parsed::Complete(m) => m,
            Parsed::Partial(n) => panic!("partial, needs {n:?}"),
        }
    }

    #[test]
    fn parse_request_fields_and_offsets() {
        let m = complete(REQUEST);
        assert_eq!(m.kind, Kind::Request);
        assert_eq!(m.len, REQUEST.len());
        let at = |k: &str| m.get(k).unwrap().bytes.clone();
        assert_eq!(at(key::METHOD), 0..3);
        assert_eq!(at(key::URI), 4..15);
        assert_eq!(at(key::REQUEST_VERSION), 16..24);
        let host = m.get("http.host").unwrap();
        assert_eq!(host.display, "127.0.0.1:8000");
        assert_eq!(&REQUEST[host.bytes.clone()], b"127.0.0.1:8000");
        assert_eq!(&REQUEST[at(key::BLANK)], b"\r\n");
        assert_eq!(at(key::BLANK).end, REQUEST.len());
        assert_eq!(m.summary(), "GET /index.html HTTP/1.1");
        // Every field's bytes are inside the message.
        assert!(m.fields.iter().all(|f| f.bytes.end <= REQUEST.len()));
    }

    #[test]
    fn parse_response_with_body_and_meaning() {
        let r = b"HTTP/1.0 404 File not found\r\nContent-Length: 5\r\n\r\nnope!";
        let m = complete(r);
        assert_eq!(m.kind, Kind::Response);
        let code = m.get(key::CODE).unwrap();
        assert_eq!(code.number(), Some(404));
        assert_eq!(&r[code.bytes.clone()], b"404");
        assert!(
            code.meaning.contains("4xx client error"),
            "{}",
            code.meaning
        );
        assert!(code.meaning.contains("nothing at this URI"));
        assert_eq!(m.get(key::PHRASE).unwrap().display, "File not found");
        assert_eq!(m.get(key::CONTENT_LENGTH).unwrap().number(), Some(5));
        assert_eq!(&r[m.get(key::BODY).unwrap().bytes.clone()], b"nope!");
        assert_eq!(m.summary(), "HTTP/1.0 404 File not found");
    }

    #[test]
    fn every_common_code_has_a_meaning() {
        for c in [
            200, 201, 204, 301, 302, 304, 400, 401, 403, 404, 405, 500, 502, 503,
        ] {
            assert!(status_meaning(c).is_some(), "{c}");
        }
        assert!(class_meaning(418).starts_with("4xx"));
        assert!(class_meaning(299).starts_with("2xx"));
        assert!(class_meaning(600).contains("not a valid"));
    }

    #[test]
    fn split_message_is_partial_until_whole() {
        for cut in 1..REQUEST.len() {
            assert!(
                matches!(parse(&REQUEST[..cut], 0), Ok(Parsed::Partial(_))),
                "cut at {cut}"
            );
        }
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello";
        assert!(matches!(parse(r, 0), Ok(Parsed::Partial(Some(49)))));
        let m = parse_cut(r, 0).unwrap().unwrap();
        assert!(!m.complete);
        assert_eq!(m.len, r.len());
    }

    #[test]
    fn chunked_body_ends_at_last_chunk() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET";
        let m = complete(r);
        assert_eq!(m.body_end, BodyEnd::Chunked);
        assert_eq!(m.len, r.len() - 3);
    }

    #[test]
    fn not_http_names_field_and_offset() {
        let e = parse(b"GET / HTTP/9.9\r\n\r\n", 100)
            .map(|_| ())
            .unwrap_err();
        assert_eq!(e.layer(), Layer::Http);
        assert!(e.to_string().contains("Request version"), "{e}");
        assert!(parse(b"HTTP/1.1 2x0 OK\r\n\r\n", 0).is_err());
        assert!(parse(b"\x00\x01\x02 garbage\r\n\r\n", 0).is_err());
        assert!(!looks_like_http(b"hello\n"));
        assert!(looks_like_http(b"POST /x HTTP/1.1\r\n"));
    }

    #[test]
    fn no_panic_on_any_cut_or_byte() {
        let r = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        for msg in [REQUEST, &r[..]] {
            for cut in 0..=msg.len() {
                let _ = parse(&msg[..cut], 0);
                let _ = parse_cut(&msg[..cut], 0);
                for flip in 0..cut {
                    let mut m = msg[..cut].to_vec();
                    m[flip] ^= 0x55;
                    let _ = parse(&m, 0);
                    let _ = parse_cut(&m, 0);
                }
            }
        }
    }

    #[test]
    fn build_round_trips() {
        let b = build("GET / HTTP/1.1", &["Host: 127.0.0.1".into()], b"");
        assert_eq!(b, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        assert_eq!(complete(&b).len, b.len());
    }
}
