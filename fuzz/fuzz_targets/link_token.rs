//! Invariants: see `tocsin::fuzzing::check_link_token`; inputs that break them
//! go to `fuzz/regressions/link_token/` once fixed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = tocsin::fuzzing::check_link_token(data) {
        panic!("invariant broken: {violation}");
    }
});
