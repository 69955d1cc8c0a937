//! `verify`'s fast path reads each field's raw value without its display
//! (`dissect::raw_fields`); it must give the same keys, bytes and values, in the same order, as
//! the full dissection that shows them, on every frame of every capture it walks.

use std::path::Path;

use encap::capfile::CaptureReader;
use encap::dissect::{dissect_link, raw_fields};
use encap::layers::link::link_type;

#[test]
fn raw_fields_agree_with_the_dissection_on_every_capture() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("captures");
    let (mut walked, mut declined) = (0usize, 0usize);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for path in names
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
    {
        let file = std::fs::File::open(path).unwrap();
        let mut r = CaptureReader::with_link_types(
            std::io::BufReader::new(file),
            &encap::capfile::DECODED_LINK_TYPES,
        )
        .unwrap();
        while let Some(p) = r.next_packet().unwrap() {
            if p.link_type != link_type::ETHERNET {
                continue;
            }
            let mut raw = Vec::new();
            if !raw_fields(p.data, &mut raw) {
                declined += 1;
                continue;
            }
            walked += 1;
            let full: Vec<_> = dissect_link(p.data, p.link_type)
                .nodes
                .into_iter()
                .flat_map(|n| n.fields.into_iter().map(move |f| (n.layer, f)))
                .collect();
            let at = format!("{} frame {}", path.display(), p.number);
            assert_eq!(raw.len(), full.len(), "{at}: {raw:?}");
            for (r, (layer, f)) in raw.iter().zip(&full) {
                assert_eq!(
                    (r.layer, r.key, &r.bytes),
                    (*layer, f.key.as_ref(), &f.bytes),
                    "{at}"
                );
                assert!(
                    r.value.is(&f.value),
                    "{at}: {}: {:?} vs {:?}",
                    r.key,
                    r.value,
                    f.value
                );
            }
        }
    }
    println!(
        "raw walk: {walked} frames agree with the dissection, {declined} declined (left to it)"
    );
    // Every TCP frame of the chat captures takes the fast path; ARP and the like do not.
    assert!(walked > 250, "only {walked} frames walked");
}
