//! Fuzz target: see [`encap_fuzz::framing`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| encap_fuzz::framing(data));
