//! Whether the integration tests may run their PostgreSQL variants: with
//! `TOCSIN_TEST_POSTGRES_URL` set they run, without it they are compiled as
//! ignored, so the test summary says how many did not run instead of
//! counting them as passed. With `TOCSIN_REQUIRE_POSTGRES=1` (as CI sets
//! it) a missing URL stops the build.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(tocsin_postgres_tests)");
    println!("cargo::rerun-if-env-changed=TOCSIN_TEST_POSTGRES_URL");
    println!("cargo::rerun-if-env-changed=TOCSIN_REQUIRE_POSTGRES");
    let configured = std::env::var("TOCSIN_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty());
    if configured {
        println!("cargo::rustc-cfg=tocsin_postgres_tests");
    } else if std::env::var("TOCSIN_REQUIRE_POSTGRES").is_ok_and(|value| value == "1") {
        println!(
            "cargo::error=TOCSIN_REQUIRE_POSTGRES=1 but TOCSIN_TEST_POSTGRES_URL is not set: \
             the PostgreSQL variants of the tests would not run"
        );
    }
}
