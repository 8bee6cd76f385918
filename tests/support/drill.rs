//! Playbooks for timing tests and benchmarks: scenario `drill` engages `pr`
//! and `legal`, one item each, with the given times to acknowledge and to
//! finish. Shared by the tests and the benches (through `#[path]`).

use std::path::Path;

pub fn write(root: &Path, ack_within: &str, complete_within: &str) {
    std::fs::create_dir_all(root.join("departments")).expect("mkdir");
    std::fs::write(
        root.join("organisation.toml"),
        r#"
name = "Drill Corp"
[commander]
name = "Camille Commander"
email = "commander@example.com"
[[scenario]]
id = "drill"
title = "Drill"
departments = ["pr", "legal"]
"#,
    )
    .expect("write organisation");
    for dept in ["pr", "legal"] {
        std::fs::write(
            root.join(format!("departments/{dept}.toml")),
            format!(
                r#"
name = "{dept} department"
[head]
name = "{dept} head"
email = "{dept}-head@example.com"
[[deputies]]
name = "{dept} deputy"
email = "{dept}-deputy@example.com"
[[item]]
id = "respond"
title = "Respond for {dept}"
scenarios = ["*"]
ack_within = "{ack_within}"
complete_within = "{complete_within}"
"#
            ),
        )
        .expect("write department");
    }
}
