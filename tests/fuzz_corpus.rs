//! The fuzz corpus (`fuzz/corpus/<target>/`) replayed on stable, in every `cargo test`: each file
//! goes through the very function its libFuzzer target calls (`fuzz/src/lib.rs`, included here),
//! so a finding fixed once stays fixed on machines without a nightly toolchain.

#[path = "../fuzz/src/lib.rs"]
mod drive;

use std::fs;
use std::path::Path;

/// Feeds every file of `fuzz/corpus/<target>/` to `run`; returns how many there were.
fn replay(target: &str, run: fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut n = 0;
    for entry in fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("a directory entry").path();
        let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // A panic names the file it came from.
        let replayed = std::panic::catch_unwind(|| run(&bytes));
        assert!(replayed.is_ok(), "{target}: {} panicked", path.display());
        n += 1;
    }
    n
}

#[test]
fn dissect_corpus() {
    assert!(replay("dissect", drive::dissect) >= 10);
}

#[test]
fn capfile_corpus() {
    assert!(replay("capfile", drive::capfile) >= 10);
}

#[test]
fn verify_corpus() {
    assert!(replay("verify", drive::verify) >= 10);
}

#[test]
fn framing_corpus() {
    assert!(replay("framing", drive::framing) >= 3);
}
