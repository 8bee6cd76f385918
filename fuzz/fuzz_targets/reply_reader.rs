//! Invariants: see `tocsin::fuzzing::check_reply_reader`; inputs that break
//! them go to `fuzz/regressions/reply_reader/` once fixed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = tocsin::fuzzing::check_reply_reader(data) {
        panic!("invariant broken: {violation}");
    }
});
