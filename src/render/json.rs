//! JSON output: one flat object per frame, keyed by Wireshark's display-filter field names
//! (`eth.src`, `ip.id`, `tcp.seq_raw`...), numbers as numbers, addresses as Wireshark writes them,
//! raw bytes as colon-separated hex (as `tshark -T json` writes them).

use serde_json::ser::{CompactFormatter, Formatter};
use serde_json::{Map, Value as Json};

use crate::dissect::{Net, Sliced, Transport};
use crate::layers::ethernet;
use crate::layers::tcp::{self, TcpOption};
use crate::layers::{ipv4, ipv6, payload, Field, FieldSpec, Layer, Value};

/// One JSON object written straight into a byte buffer, key after key, as `serde_json` writes a
/// [`Map`] (compact, numbers by `itoa` and `ryu`, strings escaped alike), but without building
/// one: the writer `encap decode --json` and `encap sniff --json` share, and the one for any
/// other command's `--json` line (`verify --json`'s verdicts, say) that wants their speed.
/// Keys are the program's own (Wireshark's field names): written as they are, never escaped
/// (debug builds check), and not checked for uniqueness: the caller writes each key once.
/// Text values are escaped.
pub struct Obj<'a> {
    out: &'a mut Vec<u8>,
    empty: bool,
}

impl<'a> Obj<'a> {
    /// Opens an object at the end of `out`.
    pub fn new(out: &'a mut Vec<u8>) -> Obj<'a> {
        out.reserve(1024);
        out.push(b'{');
        Obj { out, empty: true }
    }

    fn key(&mut self, key: &str) {
        self.open(key);
        self.out.extend_from_slice(b"\":");
    }

    /// `,"key` (no comma first): a key without its closing quote and colon, which
    /// [`Obj::number`] writes with the digits.
    fn open(&mut self, key: &str) {
        debug_assert!(plain(key), "a JSON key that needs escaping: {key:?}");
        // Whole pieces, each one copy into the buffer: a push per byte costs a capacity check
        // per byte.
        if self.empty {
            self.empty = false;
            self.out.push(b'"');
        } else {
            self.out.extend_from_slice(b",\"");
        }
        self.out.extend_from_slice(key.as_bytes());
    }

    /// `"key":123`.
    pub fn number(&mut self, key: &str, n: u64) {
        self.open(key);
        close_with_decimal(self.out, n);
    }

    /// `"key":1.5`, as `serde_json` writes an `f64` (a whole number keeps its `.0`).
    pub fn float(&mut self, key: &str, x: f64) {
        self.key(key);
        if x.is_finite() {
            let _ = CompactFormatter.write_f64(self.out, x);
        } else {
            self.out.extend_from_slice(b"null");
        }
    }

    /// `"key":"text"`, escaped.
    pub fn text(&mut self, key: &str, text: &str) {
        self.key(key);
        self.string(text);
    }

    /// A JSON string: copied as it is when nothing in it needs escaping (field names,
    /// addresses), else escaped by `serde_json`.
    fn string(&mut self, s: &str) {
        if plain(s) {
            self.out.push(b'"');
            self.out.extend_from_slice(s.as_bytes());
            self.out.push(b'"');
        } else {
            let _ = serde_json::to_writer(&mut *self.out, s);
        }
    }

    /// `"key":"192.0.2.1"`, as `Ipv4Addr` shows it.
    pub fn ipv4(&mut self, key: &str, a: [u8; 4]) {
        self.open(key);
        // `":"`, the four octets and `"`, at most 20 bytes, laid out in a block copied whole.
        let mut block = [0u8; 20];
        block[..3].copy_from_slice(b"\":\"");
        let mut at = 3;
        for (i, b) in a.into_iter().enumerate() {
            if i > 0 {
                block[at] = b'.';
                at += 1;
            }
            if b >= 100 {
                block[at] = b'0' + b / 100;
                at += 1;
            }
            if b >= 10 {
                block[at] = b'0' + b / 10 % 10;
                at += 1;
            }
            block[at] = b'0' + b % 10;
            at += 1;
        }
        block[at] = b'"';
        let len = self.out.len();
        self.out.extend_from_slice(&block);
        self.out.truncate(len + at + 1);
    }

    /// `"key":"68:65:6c"`: bytes as [`colon_hex`] writes them.
    pub fn colon_hex(&mut self, key: &str, bytes: &[u8]) {
        self.key(key);
        self.out.push(b'"');
        colon_hex_into(self.out, bytes);
        self.out.push(b'"');
    }

    /// `"key":` and a field's value as [`value`] gives it, without building it.
    pub fn field(&mut self, key: &str, f: &Field) {
        match &f.value {
            Value::Number(n) => self.number(key, *n),
            Value::Bytes(_) if is_address(&f.key) => self.text(key, &f.display),
            Value::Bytes(b) => self.colon_hex(key, b),
        }
    }

    /// `"key":null`.
    pub fn null(&mut self, key: &str) {
        self.key(key);
        self.out.extend_from_slice(b"null");
    }

    /// `"key":["a","b"]`: a list of strings, each escaped.
    pub fn texts<'s>(&mut self, key: &str, items: impl IntoIterator<Item = &'s str>) {
        self.key(key);
        self.out.push(b'[');
        for (i, t) in items.into_iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.string(t);
        }
        self.out.push(b']');
    }

    /// `"key":[{...},{...}]`: `n` objects, the `i`th written by `item(i, object)`.
    pub fn objects(&mut self, key: &str, n: usize, mut item: impl FnMut(usize, &mut Obj<'_>)) {
        self.key(key);
        self.out.push(b'[');
        for i in 0..n {
            if i > 0 {
                self.out.push(b',');
            }
            let mut o = Obj::new(self.out);
            item(i, &mut o);
            o.end();
        }
        self.out.push(b']');
    }

    /// `"key":` and any JSON value.
    pub fn value(&mut self, key: &str, v: &Json) {
        self.key(key);
        let _ = serde_json::to_writer(&mut *self.out, v);
    }

    /// Closes the object.
    pub fn end(self) {
        self.out.push(b'}');
    }
}

/// `":` and `n` in decimal at the end of `out` (the close of a key and a number, as `itoa`
/// writes it): two digits at a time from a table into a block, right-aligned, the block appended
/// as a copy of a known size and cut back to the digits, so no byte is pushed alone.
fn close_with_decimal(out: &mut Vec<u8>, n: u64) {
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
        2021222324252627282930313233343536373839\
        4041424344454647484950515253545556575859\
        6061626364656667686970717273747576777879\
        8081828384858687888990919293949596979899";
    // The digits end at END (u64::MAX has 20 of them, after the 2 bytes of `":`); the block
    // is long enough to copy BLOCK bytes from wherever the `":` starts.
    const END: usize = 22;
    const BLOCK: usize = 22;
    let mut block = [0u8; END + BLOCK];
    let (mut i, mut rest) = (END, n);
    while rest >= 100 {
        let pair = (rest % 100) as usize * 2;
        rest /= 100;
        block[i - 2..i].copy_from_slice(&PAIRS[pair..pair + 2]);
        i -= 2;
    }
    if rest >= 10 {
        let pair = rest as usize * 2;
        block[i - 2..i].copy_from_slice(&PAIRS[pair..pair + 2]);
        i -= 2;
    } else {
        block[i - 1] = b'0' + rest as u8;
        i -= 1;
    }
    block[i - 2..i].copy_from_slice(b"\":");
    let at = out.len();
    out.extend_from_slice(&block[i - 2..i - 2 + BLOCK]);
    out.truncate(at + END - (i - 2));
}

/// Whether `s` is a JSON string as it stands: no control character, quote or backslash.
fn plain(s: &str) -> bool {
    s.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\')
}

/// What a frame's JSON object starts with: its number, time and lengths.
#[derive(Debug, Clone, Copy)]
pub struct FrameHead {
    /// `frame.number`.
    pub number: u64,
    /// `frame.time_epoch`, seconds.
    pub time_epoch: f64,
    /// `frame.len`: the length on the link.
    pub len: usize,
    /// `frame.cap_len`: the bytes captured.
    pub cap_len: usize,
}

impl FrameHead {
    /// Writes the four keys, as [`crate::render::frames::json`] starts its object.
    pub fn write(&self, o: &mut Obj<'_>) {
        o.number("frame.number", self.number);
        o.float("frame.time_epoch", self.time_epoch);
        o.number("frame.len", self.len as u64);
        o.number("frame.cap_len", self.cap_len as u64);
    }
}

/// Writes the JSON object of an Ethernet frame of the shape most captures are made of (no VLAN
/// tag, IPv4 without options or IPv6 without extension headers, a whole TCP header whose options
/// are only NOP, EOL, MSS, window scale, SACK permitted and timestamps, each at most once, the
/// payload, any padding, no error) straight from the layers' field tables into `out`, and returns
/// true; for any other frame writes nothing and returns false, and the caller builds the object
/// field by field ([`crate::render::frames::json`]). Both give the same bytes, key for key, in
/// the same order: `tests/decode.rs` checks it on every frame of every capture in `captures/`
/// and of the fuzz corpus.
pub fn write_common(out: &mut Vec<u8>, head: &FrameHead, s: &Sliced<'_>) -> bool {
    let Some(eth) = s.ethernet.as_ref() else {
        return false;
    };
    let Transport::Tcp(t) = s.transport else {
        return false;
    };
    let plain_net = match &s.net {
        Net::Ipv4(p) => p.header_len() == ipv4::field::HEADER_LEN,
        Net::Ipv6(p, _) => p.extensions.is_empty(),
        _ => false,
    };
    if !plain_net
        || s.error.is_some()
        || s.vlan.is_some()
        || s.fragment.is_some()
        || usize::from(u16::from(eth.ethertype)) <= ethernet::MAX_8023_LENGTH
        || !common_options(t.options_raw())
    {
        return false;
    }
    let mut o = Obj::new(out);
    head.write(&mut o);
    for spec in &ethernet::FIELDS {
        match s.frame.get(spec.bytes.clone()) {
            // A MAC address as `mac_to_string` writes it: colon-separated lowercase hex.
            Some(mac) if mac.len() == 6 => o.colon_hex(spec.key, mac),
            _ => table_number(&mut o, spec, s.frame),
        }
    }
    match &s.net {
        Net::Ipv4(p) => {
            for spec in &ipv4::FIELDS {
                match <[u8; 4]>::try_from(&p.header()[spec.bytes.clone()]) {
                    Ok(a) if spec.key == "ip.src" || spec.key == "ip.dst" => o.ipv4(spec.key, a),
                    _ => table_number(&mut o, spec, p.header()),
                }
            }
        }
        Net::Ipv6(_, b) => {
            for spec in &ipv6::FIELDS {
                match b.get(spec.bytes.clone()).map(<[u8; 16]>::try_from) {
                    Some(Ok(a)) => o.text(spec.key, &std::net::Ipv6Addr::from(a).to_string()),
                    _ => table_number(&mut o, spec, b),
                }
            }
        }
        _ => {}
    }
    for spec in &tcp::FIELDS {
        table_number(&mut o, spec, t.as_bytes());
    }
    for (_, opt) in tcp::options(t.options_raw()).flatten() {
        match opt {
            TcpOption::Mss(m) => o.number("tcp.options.mss_val", m.into()),
            TcpOption::WindowScale(w) => o.number("tcp.options.wscale.shift", w.into()),
            TcpOption::SackPermitted => {
                o.colon_hex("tcp.options.sack_perm", &[tcp::field::OPT_SACK_PERM, 2]);
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                o.number("tcp.options.timestamp.tsval", tsval.into());
                o.number("tcp.options.timestamp.tsecr", tsecr.into());
            }
            _ => {}
        }
    }
    let data = s.payload();
    if !data.is_empty() {
        o.colon_hex(payload::FIELDS[0].key, data);
        o.number("data.len", data.len() as u64);
    }
    if let Some(padding) = s.frame.get(s.end..).filter(|p| !p.is_empty()) {
        o.colon_hex("eth.padding", padding);
    }
    o.number("tcp.len", t.payload().len() as u64);
    o.end();
    true
}

/// A numeric field of a table as the layer's `fields` gives it: the raw value, but a header
/// length in bytes (IHL and data offset count 4-byte words).
fn table_number(o: &mut Obj<'_>, spec: &FieldSpec, header: &[u8]) {
    let raw = spec.read(header).unwrap_or(0);
    let n = if spec.key == "ip.hdr_len" || spec.key == "tcp.hdr_len" {
        raw * 4
    } else {
        raw
    };
    o.number(spec.key, n);
}

/// Whether TCP options are only those [`write_common`] writes, each at most once, all well-formed.
fn common_options(raw: &[u8]) -> bool {
    let mut seen = 0u16;
    for item in tcp::options(raw) {
        let bit = match item {
            Ok((_, TcpOption::Eol | TcpOption::Nop)) => continue,
            Ok((_, TcpOption::Mss(_))) => 1,
            Ok((_, TcpOption::WindowScale(_))) => 2,
            Ok((_, TcpOption::SackPermitted)) => 4,
            Ok((_, TcpOption::Timestamps { .. })) => 8,
            _ => return false,
        };
        if seen & bit != 0 {
            return false;
        }
        seen |= bit;
    }
    true
}

/// Adds every field of `layers` to `obj`. Keys that occur more than once (a NOP option twice) keep
/// their first value; `tcp.options.nop` and `tcp.options.eol` carry no information and are skipped.
pub fn add_fields(obj: &mut Map<String, Json>, layers: &[(Layer, Vec<Field>)]) {
    for (layer, fields) in layers {
        for f in fields {
            if f.key == "tcp.options.nop"
                || f.key == "tcp.options.eol"
                || obj.contains_key(f.key.as_ref())
            {
                continue;
            }
            obj.insert(f.key.to_string(), value(f));
        }
        if *layer == Layer::Application {
            if let Some(f) = fields.first() {
                obj.insert("data.len".into(), Json::from(f.bytes.len()));
                if let Value::Bytes(b) = &f.value {
                    if b.is_empty() {
                        obj.remove("data.data");
                    }
                }
            }
        }
    }
}

/// MPTCP's option kind (RFC 8684).
const OPT_MPTCP: u8 = 30;
/// TCP MD5 signature's option kind (RFC 2385).
const OPT_MD5: u8 = 19;
/// TCP Fast Open's option kind (RFC 7413).
const OPT_TFO: u8 = 34;
/// The option kinds for experiments (RFC 6994: a 16-bit experiment identifier first).
const OPT_EXPERIMENTS: [u8; 2] = [253, 254];

/// Adds what the field table keeps one row for, as tshark names it: every SACK block's edges
/// (`tcp.options.sack_le`, `tcp.options.sack_re`, a list when there are several, with
/// `tcp.options.sack.count`), the MD5 signature's digest (`tcp.options.md5.digest`), MPTCP's
/// subtype (`tcp.options.mptcp.subtype`), TCP Fast Open's cookie (`tcp.options.tfo.cookie`; a
/// request has none), an experiment's identifier and data (`tcp.options.experimental.exid`,
/// `.data`) and any other unknown option's data
/// (`tcp.options.unknown.payload`, a list when several). Options that do not parse are left to
/// the field table's "Malformed option" row.
pub fn add_tcp_options(obj: &mut Map<String, Json>, options_raw: &[u8]) {
    let (mut le, mut re, mut unknown) = (Vec::new(), Vec::new(), Vec::new());
    for item in tcp::options(options_raw) {
        let Ok((_, opt)) = item else { break };
        match opt {
            TcpOption::Sack(blocks) => {
                obj.insert("tcp.options.sack.count".into(), Json::from(blocks.len()));
                for (l, r) in blocks {
                    le.push(Json::from(l));
                    re.push(Json::from(r));
                }
            }
            TcpOption::Unknown {
                kind: OPT_MD5,
                data,
            } => {
                obj.insert(
                    "tcp.options.md5.digest".into(),
                    Json::from(colon_hex(&data)),
                );
            }
            TcpOption::Unknown {
                kind: OPT_MPTCP,
                data,
            } => {
                if let Some(b) = data.first() {
                    obj.insert("tcp.options.mptcp.subtype".into(), Json::from(b >> 4));
                }
            }
            // A cookie request carries no data, and tshark no value for it.
            TcpOption::Unknown {
                kind: OPT_TFO,
                data,
            } if !data.is_empty() => {
                obj.insert(
                    "tcp.options.tfo.cookie".into(),
                    Json::from(colon_hex(&data)),
                );
            }
            TcpOption::Unknown { kind: OPT_TFO, .. } => {}
            TcpOption::Unknown { kind, data } if OPT_EXPERIMENTS.contains(&kind) => {
                if let [a, b, rest @ ..] = data.as_slice() {
                    obj.insert(
                        "tcp.options.experimental.exid".into(),
                        Json::from(u16::from_be_bytes([*a, *b])),
                    );
                    if !rest.is_empty() {
                        obj.insert(
                            "tcp.options.experimental.data".into(),
                            Json::from(colon_hex(rest)),
                        );
                    }
                }
            }
            TcpOption::Unknown { data, .. } => unknown.push(Json::from(colon_hex(&data))),
            _ => {}
        }
    }
    let one_or_list = |mut v: Vec<Json>| {
        if v.len() == 1 {
            v.remove(0)
        } else {
            Json::Array(v)
        }
    };
    for (key, v) in [
        ("tcp.options.sack_le", le),
        ("tcp.options.sack_re", re),
        ("tcp.options.unknown.payload", unknown),
    ] {
        if !v.is_empty() {
            obj.insert(key.into(), one_or_list(v));
        }
    }
}

/// A field's value as Wireshark's JSON has it: numbers as numbers, addresses as text, other
/// bytes as colon-separated hex.
#[must_use]
pub fn value(f: &Field) -> Json {
    match &f.value {
        Value::Number(n) => Json::from(*n),
        Value::Bytes(_) if is_address(&f.key) => Json::from(f.display.clone()),
        Value::Bytes(b) => Json::from(colon_hex(b)),
    }
}

/// Whether Wireshark writes the field `key` as an address (text), not as hex bytes.
fn is_address(key: &str) -> bool {
    matches!(
        key,
        "ip.src"
            | "ip.dst"
            | "eth.src"
            | "eth.dst"
            | "ipv6.src"
            | "ipv6.dst"
            | "arp.src.hw_mac"
            | "arp.dst.hw_mac"
            | "arp.src.proto_ipv4"
            | "arp.dst.proto_ipv4"
            | "icmpv6.nd.ns.target_address"
            | "icmpv6.nd.na.target_address"
            | "icmpv6.opt.linkaddr"
    )
}

/// Bytes as `68:65:6c`.
#[must_use]
pub fn colon_hex(b: &[u8]) -> String {
    let mut s = Vec::with_capacity(b.len() * 3);
    colon_hex_into(&mut s, b);
    String::from_utf8(s).unwrap_or_default()
}

/// [`colon_hex`], appended to `out`.
pub fn colon_hex_into(out: &mut Vec<u8>, b: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    if b.is_empty() {
        return;
    }
    // Three bytes a byte, the colons laid down first in one fill, then the digits written
    // into place; the last colon is taken off.
    let at = out.len();
    out.resize(at + b.len() * 3, b':');
    for (d, x) in out[at..].chunks_exact_mut(3).zip(b) {
        d[0] = HEX[usize::from(x >> 4)];
        d[1] = HEX[usize::from(x & 0xf)];
    }
    out.pop();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{decapsulate, encapsulate, Params};

    #[test]
    fn decimal_and_hex_as_std_writes_them() {
        let mut edges = vec![
            0,
            1,
            9,
            10,
            11,
            99,
            100,
            101,
            999,
            1000,
            65535,
            u64::MAX,
            u64::MAX - 1,
        ];
        edges.extend((0..20).map(|p| 10u64.pow(p)));
        edges.extend((1..20).map(|p| 10u64.pow(p) - 1));
        for n in edges {
            let mut out = b"x".to_vec();
            close_with_decimal(&mut out, n);
            assert_eq!(out, format!("x\":{n}").into_bytes(), "{n}");
        }
        for len in 0..5usize {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 0x5b) as u8).collect();
            let want: Vec<String> = bytes.iter().map(|b| format!("{b:02x}")).collect();
            assert_eq!(colon_hex(&bytes), want.join(":"));
        }
        for a in [
            [0, 0, 0, 0],
            [127, 0, 0, 1],
            [9, 10, 99, 100],
            [255, 255, 255, 255],
            [192, 0, 2, 1],
        ] {
            let mut out = Vec::new();
            let mut o = Obj::new(&mut out);
            o.ipv4("ip.src", a);
            o.end();
            let want = format!("{{\"ip.src\":\"{}\"}}", std::net::Ipv4Addr::from(a));
            assert_eq!(String::from_utf8(out).unwrap(), want);
        }
    }

    #[test]
    fn wireshark_names_and_numbers() {
        let e = encapsulate(b"hello", &Params::default()).unwrap();
        let mut obj = Map::new();
        add_fields(&mut obj, &decapsulate(e.frame()).unwrap().layers());
        assert_eq!(obj["tcp.srcport"], 40000);
        assert_eq!(obj["tcp.flags"], 0x18);
        assert_eq!(obj["ip.src"], "127.0.0.1");
        assert_eq!(obj["eth.dst"], "00:00:00:00:00:00");
        assert_eq!(obj["data.data"], "68:65:6c:6c:6f");
        assert_eq!(obj["data.len"], 5);
        assert_eq!(obj["tcp.options.timestamp.tsecr"], 1);
        assert!(!obj.contains_key("tcp.options.nop"));
    }

    #[test]
    fn the_writer_writes_what_serde_json_writes_for_the_same_map() {
        let e = encapsulate(b"hi \"there\"\n", &Params::default()).unwrap();
        let layers = decapsulate(e.frame()).unwrap().layers();
        let mut map = Map::new();
        map.insert("frame.time_epoch".into(), Json::from(1_764_000_000.25_f64));
        map.insert("whole".into(), Json::from(1_764_000_000.0_f64));
        map.insert(
            "text".into(),
            Json::from("a \"quote\", a \\ and a \u{1b} escape, 你好"),
        );
        let mut line = Vec::new();
        let mut o = Obj::new(&mut line);
        o.float("frame.time_epoch", 1_764_000_000.25);
        o.float("whole", 1_764_000_000.0);
        o.text("text", "a \"quote\", a \\ and a \u{1b} escape, 你好");
        for (_, fields) in &layers {
            for f in fields {
                if !map.contains_key(f.key.as_ref()) {
                    map.insert(f.key.to_string(), value(f));
                    o.field(&f.key, f);
                }
            }
        }
        o.value("list", &serde_json::json!([1, "two"]));
        map.insert("list".into(), serde_json::json!([1, "two"]));
        o.end();
        assert_eq!(
            String::from_utf8(line).unwrap(),
            serde_json::to_string(&Json::Object(map)).unwrap()
        );
    }

    #[test]
    fn every_sack_block_md5_mptcp_and_unknown_options() {
        let mut raw = vec![1, 1, 5, 26];
        for v in [10u32, 20, 30, 40, 50, 60] {
            raw.extend_from_slice(&v.to_be_bytes());
        }
        raw.extend_from_slice(&[19, 18]);
        raw.extend_from_slice(&[0xab; 16]);
        raw.extend_from_slice(&[30, 4, 0x21, 0x00, 77, 3, 9]);
        let mut obj = Map::new();
        add_tcp_options(&mut obj, &raw);
        assert_eq!(obj["tcp.options.sack.count"], 3);
        assert_eq!(obj["tcp.options.sack_le"], serde_json::json!([10, 30, 50]));
        assert_eq!(obj["tcp.options.sack_re"], serde_json::json!([20, 40, 60]));
        assert_eq!(obj["tcp.options.md5.digest"], ["ab"; 16].join(":"));
        assert_eq!(obj["tcp.options.mptcp.subtype"], 2);
        assert_eq!(obj["tcp.options.unknown.payload"], "09");
        // One block: a number, as before.
        let mut one = Map::new();
        add_tcp_options(&mut one, &[1, 1, 5, 10, 0, 0, 0, 1, 0, 0, 0, 2]);
        assert_eq!(
            (
                one["tcp.options.sack_le"].clone(),
                one["tcp.options.sack_re"].clone()
            ),
            (1.into(), 2.into())
        );
    }
}
