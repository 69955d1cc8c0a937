//! `encap http METHOD URL`: a small HTTP/1.1 client on a kernel TCP socket (loopback only), each
//! message shown as the application stage and through the pipeline.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use termcolor::WriteColor;

use encap::layers::http::{self, Message, Parsed};
use encap::pipeline::{self, Params};
use encap::render;

use super::show::View;
use super::UsageError;

/// Arguments of `encap http`.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Example, against python's server: python3 -m http.server 8000 --bind 127.0.0.1, \
then encap http GET http://127.0.0.1:8000/. One request on one connection (Connection: close): \
HTTP is short-lived, where the chat keeps one long connection."
)]
pub struct Args {
    /// The method: GET, HEAD, POST, PUT, DELETE...
    pub method: String,
    /// The URL: http://127.0.0.1:PORT/PATH or http://[::1]:PORT/PATH (loopback only; `localhost`
    /// is 127.0.0.1).
    pub url: String,
    /// An extra header line (`Accept: text/html`); repeat it for more.
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// A body to send, as curl -d (Content-Length is added).
    #[arg(short = 'd', long = "data", value_name = "TEXT")]
    pub data: Option<String>,
    /// How much of each message's pipeline to show.
    #[arg(long, value_enum, default_value_t = View::Summary)]
    pub view: View,
}

/// Most bytes of a response read: past this the client stops.
const MAX_RESPONSE: usize = 16 << 20;

/// How long connect and each read may wait.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Builds an HTTP message from its start line, header lines and body, adding Content-Length for
/// a body when no header gives it, and parses it back.
///
/// # Errors
/// A header line without a colon, or a message that is not HTTP (the error says which field, at
/// which offset).
pub fn build_message(
    start: &str,
    headers: &[String],
    body: &[u8],
) -> anyhow::Result<(Vec<u8>, Message)> {
    let mut lines: Vec<String> = Vec::with_capacity(headers.len() + 1);
    for h in headers {
        if !h.contains(':') {
            return Err(UsageError(format!(
                "--header {h:?}: a header is `Name: value`, with a colon"
            ))
            .into());
        }
        lines.push(h.clone());
    }
    let has_length = headers.iter().any(|h| {
        h.split(':')
            .next()
            .is_some_and(|n| n.trim().eq_ignore_ascii_case("content-length"))
    });
    if !body.is_empty() && !has_length {
        lines.push(format!("Content-Length: {}", body.len()));
    }
    let bytes = http::build(start, &lines, body);
    match http::parse(&bytes, 0) {
        Ok(Parsed::Complete(m)) => Ok((bytes, m)),
        Ok(Parsed::Partial(_)) => Err(UsageError(format!(
            "{start:?}: the headers announce more body than was given"
        ))
        .into()),
        Err(e) => Err(UsageError(format!("not an HTTP message: {e}")).into()),
    }
}

/// The server's address, the Host header and the path of `url`.
fn parse_url(url: &str) -> Result<(SocketAddr, String, String), UsageError> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        UsageError(format!(
            "{url}: only http:// URLs (no TLS here: the bytes are the point)"
        ))
    })?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !p.contains(']') => (
            h,
            p.parse::<u16>()
                .map_err(|_| UsageError(format!("{url}: the port {p:?} is not a number")))?,
        ),
        _ => (authority, 80),
    };
    let ip: IpAddr = match host.trim_start_matches('[').trim_end_matches(']') {
        "localhost" => Ipv4Addr::LOCALHOST.into(),
        h => h.parse().map_err(|_| {
            UsageError(format!(
                "{url}: give the host as a loopback address (127.0.0.1, [::1]); names are not looked up"
            ))
        })?,
    };
    if !ip.is_loopback() {
        return Err(UsageError(format!(
            "{url}: {ip} is not a loopback address; this client talks to 127.0.0.0/8 and ::1 only"
        )));
    }
    Ok((
        SocketAddr::new(ip, port),
        authority.to_string(),
        path.to_string(),
    ))
}

/// Runs `encap http`.
///
/// # Errors
/// A bad URL or header, nothing listening, a connection that fails, an answer that is not HTTP.
pub fn run<W: WriteColor>(args: &Args, out: &mut W) -> anyhow::Result<ExitCode> {
    let (addr, authority, path) = parse_url(&args.url)?;
    let method = args.method.to_ascii_uppercase();
    let mut headers = vec![
        format!("Host: {authority}"),
        format!("User-Agent: encap/{}", env!("CARGO_PKG_VERSION")),
        "Accept: */*".to_string(),
        "Connection: close".to_string(),
    ];
    // A header given with -H replaces the default of that name.
    for h in &args.headers {
        let name = h
            .split(':')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        headers.retain(|d| !d.to_ascii_lowercase().starts_with(&format!("{name}:")));
        headers.push(h.clone());
    }
    let body = args.data.as_deref().unwrap_or("").as_bytes();
    let (request, req) = build_message(&format!("{method} {path} HTTP/1.1"), &headers, body)?;

    let mut stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| {
        if e.kind() == std::io::ErrorKind::ConnectionRefused {
            anyhow::anyhow!("nothing is listening on {addr} (ECONNREFUSED): start the server first, e.g. python3 -m http.server {} --bind {}", addr.port(), addr.ip())
        } else {
            anyhow::Error::new(e).context(format!("cannot connect to {addr}"))
        }
    })?;
    stream.set_read_timeout(Some(TIMEOUT))?;
    stream.set_nodelay(true)?;
    let local = stream.local_addr()?;
    writeln!(
        out,
        "connected {local} -> {addr}: one request on this connection (Connection: close), as HTTP/1.0 always did; the chat keeps its connection for the whole dialogue"
    )?;
    writeln!(out, "\n-> request, {} bytes", request.len())?;
    show(out, &request, &req, local, addr, args.view)?;
    stream
        .write_all(&request)
        .with_context(|| format!("sending the request to {addr}"))?;

    let (response, reads) = read_response(&mut stream, method == "HEAD")
        .with_context(|| format!("reading the response from {addr}"))?;
    let resp = match http::parse_cut(&response, 0) {
        Ok(Some(m)) => m,
        Ok(None) => anyhow::bail!(
            "{addr} closed the connection after {} bytes, before a whole status line",
            response.len()
        ),
        Err(e) => anyhow::bail!("{addr} answered with something that is not HTTP: {e}"),
    };
    writeln!(
        out,
        "\n<- response, {} bytes in {reads} read(s) (a socket hands bytes, not segments: how the server's writes were cut is not visible here)",
        resp.len
    )?;
    show(out, &response[..resp.len], &resp, addr, local, args.view)?;
    writeln!(out)?;
    match resp.get(http::key::CODE) {
        Some(c) => writeln!(out, "{}: {}", resp.summary(), c.meaning)?,
        None => writeln!(out, "{}", resp.summary())?,
    }
    if let Some(b) = resp.get(http::key::BODY) {
        writeln!(out, "body: {}", b.display)?;
    }
    if !resp.complete {
        writeln!(
            out,
            "CUT: the server closed the connection before the body Content-Length announced was whole"
        )?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// Reads until the response is whole (or, for a HEAD, its headers), or the server closes.
/// Returns the bytes and the number of reads.
fn read_response(stream: &mut TcpStream, head: bool) -> anyhow::Result<(Vec<u8>, usize)> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 16384];
    let mut reads = 0;
    loop {
        let n = stream.read(&mut chunk)?;
        reads += 1;
        if n == 0 {
            return Ok((buf, reads));
        }
        buf.extend_from_slice(&chunk[..n]);
        let end_of_headers = buf.windows(4).position(|w| w == b"\r\n\r\n");
        match (head, end_of_headers) {
            (true, Some(e)) => {
                buf.truncate(e + 4);
                return Ok((buf, reads));
            }
            _ => {
                if let Ok(Parsed::Complete(_)) = http::parse(&buf, 0) {
                    return Ok((buf, reads));
                }
            }
        }
        if buf.len() > MAX_RESPONSE {
            anyhow::bail!("the response is larger than {MAX_RESPONSE} bytes");
        }
    }
}

/// The message as the application stage, then through the pipeline from `from` to `to`.
fn show<W: WriteColor>(
    out: &mut W,
    bytes: &[u8],
    m: &Message,
    from: SocketAddr,
    to: SocketAddr,
    view: View,
) -> anyhow::Result<()> {
    render::http::stage(out, bytes, m, view == View::Full)?;
    let mut p = Params::between_any(from, to);
    p.tcp.seq = 1;
    p.tcp.ack = 1;
    let frames = pipeline::segment(bytes, &p, p.max_payload())?;
    if frames.len() > 1 {
        writeln!(
            out,
            "  ({} segments of at most {} bytes, as one write would leave)",
            frames.len(),
            p.max_payload()
        )?;
    }
    for f in &frames {
        match view {
            View::Full => {
                writeln!(out)?;
                render::pipeline::full(out, f)?;
            }
            View::Summary => render::pipeline::summary(out, f)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_loopback_only() {
        let (a, host, path) = parse_url("http://127.0.0.1:8000/x/y?z=1").unwrap();
        assert_eq!(a, "127.0.0.1:8000".parse().unwrap());
        assert_eq!(
            (host.as_str(), path.as_str()),
            ("127.0.0.1:8000", "/x/y?z=1")
        );
        let (a, _, path) = parse_url("http://[::1]:8080").unwrap();
        assert_eq!((a, path.as_str()), ("[::1]:8080".parse().unwrap(), "/"));
        assert_eq!(parse_url("http://localhost/").unwrap().0.port(), 80);
        assert!(parse_url("http://192.0.2.1/")
            .unwrap_err()
            .0
            .contains("not a loopback"));
        assert!(parse_url("http://example.com/").is_err());
        assert!(parse_url("https://127.0.0.1/").is_err());
        assert!(parse_url("http://127.0.0.1:x/").is_err());
    }

    #[test]
    fn build_adds_content_length_and_checks() {
        let (b, m) = build_message("POST /f HTTP/1.1", &["Host: h".into()], b"abc").unwrap();
        assert!(b.ends_with(b"Content-Length: 3\r\n\r\nabc"));
        assert_eq!(m.len, b.len());
        assert!(build_message("GET / HTTP/1.1", &["nocolon".into()], b"").is_err());
        assert!(build_message("GET / HTTP/7.0", &[], b"").is_err());
    }
}
