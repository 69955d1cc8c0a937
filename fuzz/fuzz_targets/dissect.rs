//! Fuzz target: see [`encap_fuzz::dissect`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| encap_fuzz::dissect(data));
