//! Invariants: see `tocsin::fuzzing::check_timeline_export`; inputs that
//! break them go to `fuzz/regressions/timeline_verify/` once fixed.
#![no_main]

use libfuzzer_sys::fuzz_target;

/// The signed seed exports, in file-name order as the regression test reads
/// them: inputs that do not start with `{` edit one of these.
const SEEDS: [&[u8]; 3] = [
    include_bytes!("../seeds/timeline_verify/link-and-resolve.json"),
    include_bytes!("../seeds/timeline_verify/note.json"),
    include_bytes!("../seeds/timeline_verify/opened.json"),
];

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = tocsin::fuzzing::check_timeline_verify(&SEEDS, data) {
        panic!("invariant broken: {violation}");
    }
});
