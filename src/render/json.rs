//! JSON output: one flat object per frame, keyed by Wireshark's display-filter field names
//! (`eth.src`, `ip.id`, `tcp.seq_raw`...), numbers as numbers, addresses as Wireshark writes them,
//! raw bytes as colon-separated hex (as `tshark -T json` writes them).

use serde_json::{Map, Value as Json};

use crate::layers::tcp::{self, TcpOption};
use crate::layers::{Field, Layer, Value};

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
        Value::Bytes(b) => match f.key.as_ref() {
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
            | "icmpv6.opt.linkaddr" => Json::from(f.display.clone()),
            _ => Json::from(colon_hex(b)),
        },
    }
}

/// Bytes as `68:65:6c`.
#[must_use]
pub fn colon_hex(b: &[u8]) -> String {
    let mut s = String::with_capacity(b.len() * 3);
    for (i, x) in b.iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        const HEX: &[u8; 16] = b"0123456789abcdef";
        s.push(char::from(HEX[usize::from(x >> 4)]));
        s.push(char::from(HEX[usize::from(x & 0xf)]));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::{decapsulate, encapsulate, Params};

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
