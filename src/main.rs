use std::process::ExitCode;

use clap::Parser;
use ticketd::config::{Cli, Command};
use ticketd::{server, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    telemetry::init(cli.log_format);
    let result = match cli.into_command() {
        Command::Serve(args) => serve(*args).await,
        Command::Triage(args) => ticketd::cli::triage(args),
        Command::TriageEval(args) => ticketd::cli::triage_eval(args),
        Command::HashPassword => ticketd::cli::hash_password(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            tracing::error!("{e:#}");
            eprintln!("ticketd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(args: ticketd::config::ServeArgs) -> anyhow::Result<ExitCode> {
    let listener = std::net::TcpListener::bind(args.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", args.listen))?;
    server::run(args, listener, server::signal()).await?;
    Ok(ExitCode::SUCCESS)
}
