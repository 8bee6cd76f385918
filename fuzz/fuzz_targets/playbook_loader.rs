//! Invariants: see `tocsin::fuzzing::check_playbook_loader`; inputs that break them
//! go to `fuzz/regressions/playbook_loader/` once fixed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = tocsin::fuzzing::check_playbook_loader(data) {
        panic!("invariant broken: {violation}");
    }
});
