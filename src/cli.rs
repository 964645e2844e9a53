//! The offline subcommands: `ticketd triage` and `ticketd triage-eval`.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;

use crate::config::{TriageArgs, TriageEvalArgs};
use crate::server::load_analyzer;

/// Analyzes one ticket (`--text`) or JSON Lines from standard input.
pub fn triage(args: TriageArgs) -> anyhow::Result<ExitCode> {
    let analyzer = load_analyzer(args.triage_config.as_deref())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if let Some(text) = args.text {
        let verdict = analyzer.analyze(&text, &args.system);
        serde_json::to_writer(&mut out, &verdict)?;
        writeln!(out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut failed = false;
    for (n, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("cannot read standard input")?;
        if line.trim().is_empty() {
            continue;
        }
        #[derive(serde::Deserialize)]
        struct Input {
            description: String,
            #[serde(default)]
            system: String,
        }
        match serde_json::from_str::<Input>(&line) {
            Ok(input) => {
                serde_json::to_writer(
                    &mut out,
                    &analyzer.analyze(&input.description, &input.system),
                )?;
                writeln!(out)?;
            }
            Err(e) => {
                failed = true;
                eprintln!("line {}: {e}", n + 1);
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Scores the analyzer against labelled JSON Lines.
pub fn triage_eval(args: TriageEvalArgs) -> anyhow::Result<ExitCode> {
    let _ = load_analyzer(args.triage_config.as_deref())?;
    anyhow::bail!("triage-eval is not available yet")
}

/// Reads a password (without echo on a terminal) and prints its argon2id
/// hash. The password is never printed or stored.
pub fn hash_password() -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")?;
        let again = rpassword::prompt_password("Again: ")?;
        anyhow::ensure!(first == again, "the passwords differ");
        first
    } else {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    anyhow::ensure!(!password.is_empty(), "the password is empty");
    println!("{}", crate::auth::password::hash_password(&password));
    Ok(ExitCode::SUCCESS)
}
