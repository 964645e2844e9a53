//! The offline subcommands: `ticketd triage`, `triage-eval`,
//! `triage-train`, `triage-corrections` and `hash-password`.

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::Context;

use crate::config::{TriageArgs, TriageCorrectionsArgs, TriageEvalArgs, TriageTrainArgs};
use crate::server::load_analyzer;
use crate::triage::{eval, train};

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

/// Reads labelled examples (a corpus, or corrections with `weight`).
fn read_examples(path: &std::path::Path, weight: f32) -> anyhow::Result<Vec<train::Example>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    train::read_examples(&text, "corrections", weight)
        .map_err(|e| anyhow::anyhow!("{}: line {}: {}", path.display(), e.line, e.reason))
}

/// The corpus followed by every corrections file.
fn training_set(
    corpus: &std::path::Path,
    corrections: &[std::path::PathBuf],
    weight: f32,
) -> anyhow::Result<(Vec<train::Example>, usize)> {
    let mut examples = read_examples(corpus, 1.0)?;
    let held_out = examples.len();
    for path in corrections {
        examples.extend(read_examples(path, weight)?);
    }
    Ok((examples, held_out))
}

/// Fits a model with the shipped settings and writes its file.
pub fn triage_train(args: TriageTrainArgs) -> anyhow::Result<ExitCode> {
    let (examples, _) = training_set(&args.corpus, &args.corrections, args.correction_weight)?;
    anyhow::ensure!(!examples.is_empty(), "no labelled tickets to train on");
    let analyzer = crate::triage::Analyzer::builtin();
    let data = train::Dataset::new(analyzer.lexicon(), &examples);
    let all: Vec<usize> = (0..examples.len()).collect();
    let model = train::fit_calibrated(
        &data,
        &all,
        &train::Settings::default(),
        &args.model_version,
    );
    std::fs::write(&args.out, model.to_text())
        .with_context(|| format!("cannot write {}", args.out.display()))?;
    eprintln!(
        "fitted on {} tickets: {} features, temperatures {:?}; wrote {}",
        examples.len(),
        model.names.len(),
        model.temperature,
        args.out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// `ticketd store export` / `import`, on a data directory or a database.
pub fn store(command: crate::config::StoreCommand) -> anyhow::Result<ExitCode> {
    use crate::config::StoreCommand;
    use crate::store::dump;
    let (export, args) = match command {
        StoreCommand::Export(args) => (true, args),
        StoreCommand::Import(args) => (false, args),
    };
    let n = match (&args.database_url, &args.data_dir) {
        (Some(url), _) => {
            let db = crate::store::postgres::DatabaseConfig::new(url.clone());
            let what = db.describe();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let done = if export {
                let stdout = std::io::stdout();
                let mut out = std::io::BufWriter::new(stdout.lock());
                runtime.block_on(crate::store::postgres::export(&db, &mut out))
            } else {
                let stdin = std::io::stdin();
                runtime.block_on(crate::store::postgres::import(&db, stdin.lock()))
            };
            done.map_err(|e| anyhow::anyhow!("database {what}: {e}"))?
        }
        (None, Some(dir)) => {
            let done = if export {
                let stdout = std::io::stdout();
                dump::export(dir, &mut std::io::BufWriter::new(stdout.lock()))
            } else {
                dump::import(dir, std::io::stdin().lock())
            };
            done.map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
        }
        (None, None) => anyhow::bail!("give --data-dir or --database-url"),
    };
    eprintln!(
        "{} {n} tickets",
        if export { "exported" } else { "imported" }
    );
    Ok(ExitCode::SUCCESS)
}

/// Exports every ticket whose priority an admin set, as JSON Lines.
pub fn triage_corrections(args: TriageCorrectionsArgs) -> anyhow::Result<ExitCode> {
    let tickets = crate::store::read_only(&args.data_dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.data_dir.display()))?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut n = 0;
    for t in tickets
        .iter()
        .filter(|t| t.priority_source == crate::tickets::PrioritySource::Manual)
    {
        let a = &t.analysis;
        let line = serde_json::json!({
            "request_id": t.request_id,
            "description": t.request_details.description,
            "system": t.request_details.system,
            "category": a.category,
            "analyzer_impact": a.impact,
            "analyzer_urgency": a.urgency,
            "analyzer_priority": crate::triage::Priority::from_matrix(a.impact, a.urgency),
            "admin_priority": t.priority,
            "set_by": t.priority_set_by,
            "set_at": t.priority_set_at,
        });
        writeln!(out, "{line}")?;
        n += 1;
    }
    eprintln!("{n} corrected tickets");
    Ok(ExitCode::SUCCESS)
}

/// Scores the analyzer against labelled JSON Lines, or measures the method
/// by grouped cross-validation: a table, or JSON.
pub fn triage_eval(args: TriageEvalArgs) -> anyhow::Result<ExitCode> {
    if let Some(out) = &args.dump_features {
        let (examples, _) = training_set(&args.file, &[], 1.0)?;
        let analyzer = crate::triage::Analyzer::builtin();
        let mut features = crate::triage::features::Features::named();
        let mut text = String::new();
        for e in &examples {
            features.extract(analyzer.lexicon(), &e.description, &e.system);
            let named: serde_json::Map<String, serde_json::Value> = features
                .names
                .iter()
                .flatten()
                .zip(&features.list)
                .map(|(n, f)| (n.clone(), serde_json::json!(f.value)))
                .collect();
            let line = serde_json::json!({"group": e.group, "impact": e.impact, "urgency": e.urgency, "category": e.category, "features": named});
            text.push_str(&line.to_string());
            text.push('\n');
        }
        std::fs::write(out, text)?;
        return Ok(ExitCode::SUCCESS);
    }
    let report = if args.cv {
        let (examples, _) = training_set(&args.file, &[], 1.0)?;
        let mut corrections = Vec::new();
        for path in &args.corrections {
            corrections.extend(read_examples(path, 2.0)?);
        }
        anyhow::ensure!(!examples.is_empty(), "no labelled tickets");
        let mut fold = train::group_folds(
            &examples,
            if args.folds == 0 {
                usize::MAX
            } else {
                args.folds
            },
        );
        let analyzer = crate::triage::Analyzer::builtin();
        let n = examples.len();
        let mut all = examples.clone();
        all.extend(corrections);
        // Corrections train every fold and are never held out.
        fold.resize(all.len(), usize::MAX);
        let data = train::Dataset::new(analyzer.lexicon(), &all);
        let mut settings = train::Settings::default();
        settings.epochs = args.epochs.unwrap_or(settings.epochs);
        settings.l2 = args.l2.unwrap_or(settings.l2);
        settings.learning_rate = args.learning_rate.unwrap_or(settings.learning_rate);
        settings.min_count = args.min_count.unwrap_or(settings.min_count);
        settings.exclude = args.exclude.clone();
        if let [high, medium, low] = args.critical_cost[..] {
            let mut cost = crate::triage::model::DEFAULT_COST;
            cost[3] = [low, medium, high, 0.0];
            settings.cost = Some(cost);
        }
        let verdicts = train::cross_validate(&data, &fold, &settings, |done, total| {
            eprint!("\rfold {done}/{total}");
        });
        eprintln!();
        let verdicts: Vec<_> = verdicts
            .into_iter()
            .take(n)
            .map(|v| v.expect("held out"))
            .collect();
        eval::cross_validated(&examples, &verdicts)
    } else {
        let analyzer = load_analyzer(args.triage_config.as_deref())?;
        let text = std::fs::read_to_string(&args.file)
            .with_context(|| format!("cannot read {}", args.file.display()))?;
        eval::evaluate(&analyzer, &text).map_err(|e| {
            anyhow::anyhow!("{}: line {}: {}", args.file.display(), e.line, e.reason)
        })?
    };
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
