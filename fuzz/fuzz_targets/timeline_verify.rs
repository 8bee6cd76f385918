//! Invariants: see `tocsin::fuzzing::check_timeline_verify`; inputs that break them
//! go to `fuzz/regressions/timeline_verify/` once fixed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = tocsin::fuzzing::check_timeline_verify(data) {
        panic!("invariant broken: {violation}");
    }
});
