//! The kernel's frame against the model's, field by field over both frames' field tables: each
//! field of the kernel's frame gets the verdict its rule gives, or a MISMATCH with the model's
//! value; a field only the model's frame has is a MISMATCH too.

use super::observed::Observed;
use super::rules::{rule, Facts, Rule};
use super::verdict::{is_endpoint, FieldCheck, Judged, Verdict};
use crate::dissect::{dissect, dissect_link, raw_fields, raw_fields_of, shape_of, Dissection};
use crate::layers::link::link_type;
use crate::layers::tcp::{self, field as tf};
use crate::layers::{Field, Layer, RawField, Value};

/// Compares `o`'s frame with the model's, `model_frame`.
#[must_use]
pub fn compare(o: &Observed<'_>, model_frame: &[u8], facts: &Facts<'_>) -> Vec<FieldCheck> {
    let kernel = dissect_link(o.frame, o.link);
    let model = dissect(model_frame);
    let mut fields = pair(&kernel, &model, |key, equal, display| {
        match rule(key, facts) {
            Rule::IfEqual(v) if equal => v,
            Rule::IfEqual(_) => Verdict::Mismatch {
                expected: display.to_string(),
            },
            Rule::Broken(expected) => Verdict::Mismatch { expected },
            Rule::Uncheckable(v) => v,
        }
    });
    absent(&kernel, &model, &mut fields);
    fields
}

/// The keys of the fields of the last frame [`judge`] walked, and its shape
/// ([`crate::dissect::shape_of`]): a frame of the same shape that is the model's frame byte for
/// byte needs only its keys judged, and these are they.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyCache {
    shape: Vec<u8>,
    /// Each key, and whether it is one of the fields that define the connection.
    keys: Vec<(&'static str, bool)>,
    /// The shape of the frame being judged.
    scratch: Vec<u8>,
}

/// The fast path of [`compare`], for the frames whose every field is as the model said: both
/// frames walked as raw values (no text for any of them), each field judged by its rule. `None`
/// when the two frames differ in their fields' keys or layers, a field is a MISMATCH, or a frame
/// is of a shape only the full dissection walks: [`compare`] then says what and where.
#[must_use]
pub(crate) fn judge(
    o: &Observed<'_>,
    model_frame: &[u8],
    facts: &Facts<'_>,
    cache: &mut KeyCache,
) -> Option<Vec<Judged>> {
    if o.link != link_type::ETHERNET {
        return None;
    }
    // The same bytes have the same fields with the same values: only the rules are left (and
    // the model's frame is not walked). A frame of the shape of the last one has its keys.
    if o.frame == model_frame {
        if !shape_of(&o.sliced, &mut cache.scratch) {
            return None;
        }
        if cache.scratch != cache.shape {
            let mut kernel: Vec<RawField<'_>> = Vec::with_capacity(40);
            if !raw_fields_of(&o.sliced, &mut kernel) {
                return None;
            }
            cache.keys.clear();
            cache
                .keys
                .extend(kernel.iter().map(|k| (k.key, is_endpoint(k.key))));
            std::mem::swap(&mut cache.shape, &mut cache.scratch);
        }
        debug_assert!(
            {
                let mut kernel = Vec::new();
                raw_fields_of(&o.sliced, &mut kernel)
                    && kernel
                        .iter()
                        .map(|k| k.key)
                        .eq(cache.keys.iter().map(|k| k.0))
            },
            "frame {}: a frame of the cached shape has other keys",
            o.number
        );
        return judged(cache.keys.iter().copied(), facts);
    }
    let mut kernel: Vec<RawField<'_>> = Vec::with_capacity(40);
    if !raw_fields_of(&o.sliced, &mut kernel) {
        return None;
    }
    let mut model: Vec<RawField<'_>> = Vec::with_capacity(kernel.len());
    if !raw_fields(model_frame, &mut model) || kernel.len() != model.len() {
        return None;
    }
    let differ = kernel
        .iter()
        .zip(&model)
        .any(|(k, m)| k.key != m.key || k.layer != m.layer || k.value != m.value);
    if differ {
        return None;
    }
    judged(kernel.iter().map(|k| (k.key, is_endpoint(k.key))), facts)
}

/// Each of `keys` (with whether it defines the connection) judged by its rule, or `None` at the
/// first whose rule does not let it pass on equal values alone.
fn judged(
    keys: impl ExactSizeIterator<Item = (&'static str, bool)>,
    facts: &Facts<'_>,
) -> Option<Vec<Judged>> {
    let mut judged = Vec::with_capacity(keys.len());
    for (key, endpoint) in keys {
        let Rule::IfEqual(verdict) = rule(key, facts) else {
            return None;
        };
        judged.push(Judged { verdict, endpoint });
    }
    Some(judged)
}

/// The fields of a frame [`judge`] passed, built for showing: what [`compare`] would have
/// given it, with the verdicts `judge` found.
pub(crate) fn rebuild(
    kernel: &[u8],
    link: u32,
    model_frame: &[u8],
    judged: &[Judged],
) -> Vec<FieldCheck> {
    let kernel = dissect_link(kernel, link);
    let model = dissect(model_frame);
    let mut verdicts = judged.iter();
    pair(&kernel, &model, |_, _, _| {
        verdicts.next().map_or_else(
            || Verdict::Mismatch {
                expected: "(a field the fast path did not walk)".into(),
            },
            |j| j.verdict.clone(),
        )
    })
}

/// Each field of the kernel's frame beside the model's field of the same key (the same number
/// of times repeated, as options are), judged by `judge(key, equal, the model's display)`.
fn pair(
    kernel: &Dissection,
    model: &Dissection,
    mut judge: impl FnMut(&str, bool, &str) -> Verdict,
) -> Vec<FieldCheck> {
    let mut fields = Vec::with_capacity(40);
    for node in &kernel.nodes {
        let Some(model_node) = model.nodes.iter().find(|n| n.layer == node.layer) else {
            continue;
        };
        for (i, f) in node.fields.iter().enumerate() {
            let nth = node.fields[..i].iter().filter(|x| x.key == f.key).count();
            let m = model_node.fields.iter().filter(|x| x.key == f.key).nth(nth);
            let (value, display) =
                m.map_or((None, "(none)"), |m| (Some(&m.value), m.display.as_str()));
            let verdict = judge(f.key.as_ref(), value == Some(&f.value), display);
            let model = match &verdict {
                Verdict::Mismatch { expected } => expected.clone(),
                _ => display.to_string(),
            };
            fields.push(FieldCheck {
                layer: node.layer,
                field: f.clone(),
                model,
                verdict,
            });
        }
    }
    fields
}

/// A field the model has that the kernel's frame lacks: said so, at no bytes of the frame.
fn absent(kernel: &Dissection, model: &Dissection, fields: &mut Vec<FieldCheck>) {
    for node in &model.nodes {
        // A capture with another link header (cooked, raw IP) shows no Ethernet header: the
        // model's is not compared.
        let absent_layer = !kernel.nodes.iter().any(|n| n.layer == node.layer);
        if absent_layer && node.layer == Layer::Ethernet {
            continue;
        }
        for m in &node.fields {
            let present = kernel
                .nodes
                .iter()
                .any(|n| n.fields.iter().any(|f| f.key == m.key));
            if present {
                continue;
            }
            let field = Field {
                bytes: 0..0,
                value: Value::Bytes(Vec::new()),
                display: "(absent)".into(),
                ..m.clone()
            };
            fields.push(FieldCheck {
                layer: node.layer,
                field,
                model: m.display.clone(),
                verdict: Verdict::Mismatch {
                    expected: format!("{} {}", m.name, m.display),
                },
            });
        }
    }
}

/// The options as a whole, when the model's would not fit where the kernel's did.
#[must_use]
pub fn unfit_options(o: &Observed<'_>, expected: String) -> FieldCheck {
    let at = o.transport_at + tf::HEADER_LEN;
    FieldCheck {
        layer: Layer::Tcp,
        field: Field {
            name: "Options".into(),
            key: tcp::key::OPTIONS.into(),
            bytes: at..o.transport_at + o.segment.header_len(),
            mask: None,
            value: Value::Bytes(o.segment.options_raw().to_vec()),
            display: super::predict::options::text(&o.options),
            meaning: "the TCP options, as a whole".into(),
        },
        model: expected.clone(),
        verdict: Verdict::Mismatch { expected },
    }
}
