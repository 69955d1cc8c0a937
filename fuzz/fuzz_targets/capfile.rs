//! Fuzz target: see [`encap_fuzz::capfile`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| encap_fuzz::capfile(data));
