//! Invariants: see `tocsin::fuzzing::check_reply_reader`; inputs that break
//! them go to `fuzz/regressions/reply_reader/` once fixed.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(
    init: {
        // libFuzzer's hook aborts on any panic, even one the reader catches;
        // let the known mail-parser assertion unwind to the reader's catch.
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !tocsin::fuzzing::is_known_parser_panic(info) {
                abort(info);
            }
        }));
    },
    |data: &[u8]| {
        if let Err(violation) = tocsin::fuzzing::check_reply_reader(data) {
            panic!("invariant broken: {violation}");
        }
    }
);
