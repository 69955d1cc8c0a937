//! The layers of a frame, one file each, top (application) to bottom (link).
//!
//! Every layer file owns three things and nothing else in the crate knows them:
//! - `mod field`: the byte range of every header field, relative to the start of the header;
//! - `FIELDS`: the field table (name, Wireshark field name, byte range, bit mask, meaning) that
//!   renderers, the JSON output and comparisons walk;
//! - a header type (`…Header`) with `parse`, `emit` and `len`.

pub mod arp;
pub mod ethernet;
pub mod http;
pub mod icmp;
pub mod ipv4;
pub mod ipv6;
pub mod link;
pub mod ndp;
pub mod payload;
pub mod tcp;
pub mod udp;
pub mod vlan;

use std::borrow::Cow;
use std::fmt;
use std::ops::Range;

/// The layers the pipeline knows, in the order a message passes through them on its way down.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layer {
    /// The chat message, as bytes.
    Application,
    /// TCP, RFC 9293.
    Tcp,
    /// IPv4, RFC 791.
    Ipv4,
    /// Ethernet II, IEEE 802.3.
    Ethernet,
    /// An IEEE 802.1Q VLAN tag.
    Vlan,
    /// ARP, RFC 826.
    Arp,
    /// IPv6, RFC 8200.
    Ipv6,
    /// UDP, RFC 768.
    Udp,
    /// ICMP, RFC 792.
    Icmp,
    /// ICMPv6, RFC 4443.
    Icmpv6,
    /// Bytes of a protocol this decoder does not know, kept raw.
    Raw,
    /// The link header of a capture that is not Ethernet (Linux cooked, BSD loopback).
    Link,
    /// HTTP/1.x, RFC 9112: an application protocol over TCP.
    Http,
}

impl Layer {
    /// The name shown to users.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Layer::Application => "Application",
            Layer::Tcp => "TCP",
            Layer::Ipv4 => "IPv4",
            Layer::Ethernet => "Ethernet II",
            Layer::Vlan => "802.1Q VLAN",
            Layer::Arp => "ARP",
            Layer::Ipv6 => "IPv6",
            Layer::Udp => "UDP",
            Layer::Icmp => "ICMP",
            Layer::Icmpv6 => "ICMPv6",
            Layer::Raw => "Data",
            Layer::Link => "Link layer",
            Layer::Http => "HTTP",
        }
    }
}

impl fmt::Display for Layer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One row of a layer's field table: where a header field lives and what it means.
#[derive(Debug, Clone)]
pub struct FieldSpec {
    /// Human name, as a textbook gives it.
    pub name: &'static str,
    /// Wireshark's display-filter name (`tcp.srcport`), used as the JSON key.
    pub key: &'static str,
    /// Byte range relative to the start of the header.
    pub bytes: Range<usize>,
    /// For fields smaller than their bytes: the mask over the big-endian value of `bytes`.
    /// `None` when the field is the whole of its bytes.
    pub mask: Option<u32>,
    /// One line on what the field is for.
    pub meaning: &'static str,
}

impl FieldSpec {
    /// Reads this field's raw value out of a header that is at least `self.bytes.end` long.
    /// Returns `None` when the header is too short or the field is wider than 8 bytes.
    #[must_use]
    pub fn read(&self, header: &[u8]) -> Option<u64> {
        let raw = header.get(self.bytes.clone())?;
        // (The common widths read at once: every field of every frame verify walks comes here.)
        let v = match *raw {
            [a] => u64::from(a),
            [a, b] => u64::from(u16::from_be_bytes([a, b])),
            [a, b, c, d] => u64::from(u32::from_be_bytes([a, b, c, d])),
            _ if raw.len() > 8 => return None,
            _ => raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)),
        };
        Some(match self.mask {
            Some(m) => (v & u64::from(m)) >> m.trailing_zeros(),
            None => v,
        })
    }
}

/// A field's value, typed enough to be shown and compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// An unsigned number (ports, lengths, flags, checksums...).
    Number(u64),
    /// Raw bytes (MAC addresses and IPv4 addresses are rendered by `display`).
    Bytes(Vec<u8>),
}

/// A field's value as the model compares it: what [`Field::value`] holds, read straight from the
/// frame, without the text a user would read. `verify`'s fast path walks these (see
/// `dissect::raw_fields`) and builds the [`Field`]s, displays and all, only when asked to show
/// them; a test checks that both walks give the same keys, bytes and values on every capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RawValue<'a> {
    /// As [`Value::Number`].
    Number(u64),
    /// As [`Value::Bytes`], borrowed from the frame.
    Bytes(&'a [u8]),
}

impl RawValue<'_> {
    /// Whether it is the value `v`.
    #[must_use]
    pub fn is(&self, v: &Value) -> bool {
        match (self, v) {
            (RawValue::Number(a), Value::Number(b)) => a == b,
            (RawValue::Bytes(a), Value::Bytes(b)) => *a == b.as_slice(),
            _ => false,
        }
    }
}

/// One field as the fast path reads it: its layer, key, absolute bytes and raw value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawField<'a> {
    /// The layer.
    pub layer: Layer,
    /// Wireshark's display-filter name.
    pub key: &'static str,
    /// Absolute byte range in the frame.
    pub bytes: Range<usize>,
    /// The value.
    pub value: RawValue<'a>,
}

/// One field of one decoded or encoded header, at an absolute place in the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Human name.
    pub name: Cow<'static, str>,
    /// Wireshark's display-filter name.
    pub key: Cow<'static, str>,
    /// Absolute byte range in the frame.
    pub bytes: Range<usize>,
    /// Bit mask within those bytes, if the field is narrower.
    pub mask: Option<u32>,
    /// The value.
    pub value: Value,
    /// The value as users read it (`127.0.0.1`, `0x0800 (IPv4)`, `[PSH, ACK]`).
    pub display: String,
    /// What the field is for.
    pub meaning: Cow<'static, str>,
}

impl Field {
    /// Builds a field from a table row, a base offset and the header it was read from.
    pub(crate) fn from_spec(spec: &FieldSpec, base: usize, value: Value, display: String) -> Field {
        Field {
            name: Cow::Borrowed(spec.name),
            key: Cow::Borrowed(spec.key),
            bytes: spec.bytes.start + base..spec.bytes.end + base,
            mask: spec.mask,
            value,
            display,
            meaning: Cow::Borrowed(spec.meaning),
        }
    }

    /// The numeric value, if the field is a number.
    #[must_use]
    pub fn number(&self) -> Option<u64> {
        match self.value {
            Value::Number(n) => Some(n),
            Value::Bytes(_) => None,
        }
    }

    /// Writes `value` into this field of `frame` (its bytes, under its mask), as a sender that
    /// chose another value would have written it; checksums are left as they were. False when
    /// the field is not a number of at most 4 bytes or lies outside `frame`.
    pub fn write(&self, frame: &mut [u8], value: u64) -> bool {
        let Some(raw) = frame.get_mut(self.bytes.clone()) else {
            return false;
        };
        if raw.is_empty() || raw.len() > 4 || self.number().is_none() {
            return false;
        }
        let old = raw.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        let new = match self.mask {
            Some(m) => {
                let m = u64::from(m);
                (old & !m) | ((value << m.trailing_zeros()) & m)
            }
            None => value,
        };
        let n = raw.len();
        for (i, b) in raw.iter_mut().enumerate() {
            *b = (new >> (8 * (n - 1 - i))) as u8;
        }
        true
    }
}

/// Why bytes could not be decoded, or a header could not be built: always naming the layer, the
/// field and the absolute byte offset where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer bytes than a header or a length field needs.
    #[error("{layer}: {field} needs bytes up to offset {needed}, but the frame ends at offset {available}")]
    Truncated {
        /// The layer being decoded.
        layer: Layer,
        /// The field that runs past the end.
        field: &'static str,
        /// Absolute offset one past the last byte needed.
        needed: usize,
        /// Absolute offset of the end of the data.
        available: usize,
    },
    /// A field holds a value that makes the rest undecodable.
    #[error("{layer}: {field} at offset {offset} is {value}: {why}")]
    Invalid {
        /// The layer being decoded.
        layer: Layer,
        /// The offending field.
        field: &'static str,
        /// Absolute offset of the field's first byte.
        offset: usize,
        /// The value found, as shown to users.
        value: String,
        /// Why it cannot be accepted.
        why: &'static str,
    },
}

impl DecodeError {
    /// The absolute byte offset the error points at.
    #[must_use]
    pub fn offset(&self) -> usize {
        match self {
            DecodeError::Truncated { available, .. } => *available,
            DecodeError::Invalid { offset, .. } => *offset,
        }
    }

    /// The layer the error is in.
    #[must_use]
    pub fn layer(&self) -> Layer {
        match self {
            DecodeError::Truncated { layer, .. } | DecodeError::Invalid { layer, .. } => *layer,
        }
    }

    /// Moves the error's offsets by `base`, for an error found inside a header that starts at
    /// `base` in the frame.
    #[must_use]
    pub fn add_offset(self, base: usize) -> DecodeError {
        match self {
            DecodeError::Truncated {
                layer,
                field,
                needed,
                available,
            } => DecodeError::Truncated {
                layer,
                field,
                needed: needed + base,
                available: available + base,
            },
            DecodeError::Invalid {
                layer,
                field,
                offset,
                value,
                why,
            } => DecodeError::Invalid {
                layer,
                field,
                offset: offset + base,
                value,
                why,
            },
        }
    }
}

/// Reads the fields of a fixed table from `header` (relative offsets) placed at absolute `base`,
/// stopping at the first field the bytes do not hold whole. `show` turns a field's key and raw
/// value into its display text, or `None` for the plain number.
pub(crate) fn table_fields(
    table: &[FieldSpec],
    header: &[u8],
    base: usize,
    show: impl Fn(&str, u64, &[u8]) -> Option<(Value, String)>,
) -> Vec<Field> {
    let mut out = Vec::with_capacity(table.len());
    for spec in table {
        let Some(bytes) = header.get(spec.bytes.clone()) else {
            break;
        };
        let (value, display) = match spec.read(header) {
            Some(raw) => {
                show(spec.key, raw, bytes).unwrap_or_else(|| (Value::Number(raw), raw.to_string()))
            }
            None => show(spec.key, 0, bytes)
                .unwrap_or_else(|| (Value::Bytes(bytes.to_vec()), ipv4::hex(bytes))),
        };
        out.push(Field::from_spec(spec, base, value, display));
    }
    out
}

/// [`table_fields`] without the displays: each row's raw value (a number, or its bytes when
/// wider than 8), unless `value` says otherwise for its key.
pub(crate) fn table_raw<'a>(
    table: &[FieldSpec],
    layer: Layer,
    header: &'a [u8],
    base: usize,
    out: &mut Vec<RawField<'a>>,
    value: impl Fn(&str, u64, &'a [u8]) -> Option<RawValue<'a>>,
) {
    for spec in table {
        let Some(bytes) = header.get(spec.bytes.clone()) else {
            break;
        };
        let raw = spec.read(header);
        let v = value(spec.key, raw.unwrap_or(0), bytes).unwrap_or(match raw {
            Some(n) => RawValue::Number(n),
            None => RawValue::Bytes(bytes),
        });
        out.push(RawField {
            layer,
            key: spec.key,
            bytes: spec.bytes.start + base..spec.bytes.end + base,
            value: v,
        });
    }
}

/// The name of the first field in `table` that `len` bytes do not hold whole.
pub(crate) fn first_cut(table: &[FieldSpec], len: usize) -> &'static str {
    table
        .iter()
        .find(|f| f.bytes.end > len)
        .map_or("header", |f| f.name)
}

/// Requires `len` bytes of `bytes` for `field` of `layer`, offsets relative to the header.
pub(crate) fn need(
    bytes: &[u8],
    len: usize,
    layer: Layer,
    field: &'static str,
) -> Result<(), DecodeError> {
    if bytes.len() < len {
        Err(DecodeError::Truncated {
            layer,
            field,
            needed: len,
            available: bytes.len(),
        })
    } else {
        Ok(())
    }
}

/// Reads a big-endian u16 at `at`; callers have checked the length.
#[inline]
pub(crate) fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Reads a big-endian u32 at `at`; callers have checked the length.
#[inline]
pub(crate) fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
