//! The offline subcommands: `ticketd triage` and `ticketd triage-eval`.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;

use crate::config::{TriageArgs, TriageEvalArgs};
use crate::server::load_analyzer;
use crate::triage::eval;

/// Analyzes one ticket (`--text`) or JSON Lines from standard input, one
/// verdict line per input line. A bad line is reported on standard error
/// with its number; the others are still analyzed, and the exit code says
/// whether any failed.
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
        match eval::triage_json_line(&analyzer, &line) {
            Ok(verdict) => writeln!(out, "{verdict}")?,
            Err(e) => {
                failed = true;
                eprintln!("line {}: {}", n + 1, e.reason);
            }
        }
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// Scores the analyzer against labelled JSON Lines: a table, or JSON.
pub fn triage_eval(args: TriageEvalArgs) -> anyhow::Result<ExitCode> {
    let analyzer = load_analyzer(args.triage_config.as_deref())?;
    let text = std::fs::read_to_string(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let report = eval::evaluate(&analyzer, &text)
        .map_err(|e| anyhow::anyhow!("{}: line {}: {}", args.file.display(), e.line, e.reason))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{report}");
    }
    Ok(ExitCode::SUCCESS)
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
