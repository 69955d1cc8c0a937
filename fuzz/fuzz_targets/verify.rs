//! Fuzz target: see [`encap_fuzz::verify`].
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| encap_fuzz::verify(data));
