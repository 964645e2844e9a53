//! Configuration documents itself: every environment variable that
//! `ticketd serve --help` names is in the README and in
//! `deploy/ticketd.env.example`.

use std::process::Command;

fn env_vars_in_help() -> Vec<String> {
    let out = Command::new(env!("CARGO_BIN_EXE_ticketd"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let mut vars: Vec<String> = help
        .split("env: ")
        .skip(1)
        .map(|rest| {
            rest.chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect()
        })
        .collect();
    vars.sort();
    vars.dedup();
    assert!(vars.len() > 30, "parsed {vars:?}");
    vars
}

#[test]
fn every_setting_is_documented() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/ticketd.env.example"
    ))
    .unwrap();
    for var in env_vars_in_help() {
        assert!(readme.contains(&var), "README.md does not mention {var}");
        assert!(
            example.contains(&var),
            "deploy/ticketd.env.example does not mention {var}"
        );
    }
}
