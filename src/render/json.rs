//! JSON output: one flat object per frame, keyed by Wireshark's display-filter field names
//! (`eth.src`, `ip.id`, `tcp.seq_raw`...), numbers as numbers, addresses as Wireshark writes them,
//! raw bytes as colon-separated hex (as `tshark -T json` writes them).

use serde_json::{Map, Value as Json};

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

/// A field's value as Wireshark's JSON has it: numbers as numbers, addresses as text, other
/// bytes as colon-separated hex.
#[must_use]
pub fn value(f: &Field) -> Json {
    match &f.value {
        Value::Number(n) => Json::from(*n),
        Value::Bytes(b) => match f.key.as_ref() {
            "ip.src" | "ip.dst" | "eth.src" | "eth.dst" | "ipv6.src" | "ipv6.dst"
            | "arp.src.hw_mac" | "arp.dst.hw_mac" | "arp.src.proto_ipv4" | "arp.dst.proto_ipv4" => {
                Json::from(f.display.clone())
            }
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
}
