//! The kernel's frame against the model's, field by field over both frames' field tables: each
//! field of the kernel's frame gets the verdict its rule gives, or a MISMATCH with the model's
//! value; a field only the model's frame has is a MISMATCH too.

use super::observed::Observed;
use super::rules::{rule, Facts, Rule};
use super::verdict::{FieldCheck, Verdict};
use crate::dissect::{dissect, dissect_link, Dissection};
use crate::layers::tcp::{self, field as tf};
use crate::layers::{Field, Layer, Value};

/// Compares `o`'s frame with the model's, `model_frame`.
#[must_use]
pub fn compare(o: &Observed<'_>, model_frame: &[u8], facts: &Facts<'_>) -> Vec<FieldCheck> {
    let kernel = dissect_link(o.frame, o.link);
    let model = dissect(model_frame);
    let mut fields = Vec::with_capacity(40);
    for node in &kernel.nodes {
        let Some(model_node) = model.nodes.iter().find(|n| n.layer == node.layer) else {
            continue;
        };
        for (i, f) in node.fields.iter().enumerate() {
            // The model's field of the same key, the same number of times repeated (options).
            let nth = node.fields[..i].iter().filter(|x| x.key == f.key).count();
            let m = model_node.fields.iter().filter(|x| x.key == f.key).nth(nth);
            let (value, display) = m.map_or((None, "(none)".to_string()), |m| {
                (Some(&m.value), m.display.clone())
            });
            let verdict = match rule(f.key.as_ref(), facts) {
                Rule::IfEqual(v) if value == Some(&f.value) => v,
                Rule::IfEqual(_) => Verdict::Mismatch {
                    expected: display.clone(),
                },
                Rule::Broken(expected) => Verdict::Mismatch { expected },
            };
            let model = match &verdict {
                Verdict::Mismatch { expected } => expected.clone(),
                _ => display,
            };
            fields.push(FieldCheck {
                layer: node.layer,
                field: f.clone(),
                model,
                verdict,
            });
        }
    }
    absent(&kernel, &model, &mut fields);
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
