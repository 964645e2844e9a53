use std::process::ExitCode;

use clap::Parser;
use ticketd::config::{Cli, Command};
use ticketd::{server, telemetry};

fn main() -> ExitCode {
    // Before any thread exists: one malloc arena (see `tune_allocator`).
    server::tune_allocator();
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let command = cli.into_command();
    // The server's failure goes to its log (the journal under systemd); a
    // command's to standard error as one plain line. Never both: the two
    // end up in the same place.
    let logged = matches!(command, Command::Serve(_));
    let result = match command {
        Command::Serve(args) => serve(*args),
        Command::Triage(args) => ticketd::cli::triage(args),
        Command::TriageEval(args) => ticketd::cli::triage_eval(args),
        Command::TriageTrain(args) => ticketd::cli::triage_train(args),
        Command::TriageCorrections(args) => ticketd::cli::triage_corrections(args),
        Command::Store(command) => ticketd::cli::store(command),
        Command::HashPassword => ticketd::cli::hash_password(),
    };
    result.unwrap_or_else(|e| {
        if logged {
            tracing::error!("{e:#}");
        } else {
            eprintln!("ticketd: {e:#}");
        }
        ExitCode::FAILURE
    })
}

fn serve(args: ticketd::config::ServeArgs) -> anyhow::Result<ExitCode> {
    let listener = std::net::TcpListener::bind(args.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    let runtime = tokio::runtime::Runtime::new()?;
    // `signal()` installs its handlers, which needs the runtime's context.
    runtime.block_on(async { server::run(args, listener, server::signal()).await })?;
    Ok(ExitCode::SUCCESS)
}
