//! Wiring: TLS, the listener, the router, signals and graceful shutdown.
//!
//! [`run`] takes an already-bound listener, so tests (and `main`) bind port
//! 0 and learn the address before serving.

pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum_server::accept::{TcpConfigAcceptor, TcpSocketConfig};
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio_util::sync::CancellationToken;

use crate::audit::AuditLog;
use crate::auth::{AdminSetup, Auth, AuthConfig};
use crate::config::ServeArgs;
use crate::service::{Service, ServiceConfig};
use crate::state::AppState;
use crate::store::StoreConfig;
use crate::triage::Analyzer;

/// Loads the analyzer's configuration (built-in lexicon plus an optional
/// TOML file); a bad file is an error naming the line.
pub fn load_analyzer(path: Option<&std::path::Path>) -> anyhow::Result<Analyzer> {
    match path {
        None => Ok(Analyzer::builtin()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read triage config {}", path.display()))?;
            Analyzer::from_toml_str(&text).with_context(|| format!("{}", path.display()))
        }
    }
}

/// Serves until `shutdown` resolves, then drains: WebSocket clients get close
/// 1001, queued commits finish, and the function returns.
pub async fn run(
    args: ServeArgs,
    listener: std::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let addr = listener.local_addr()?;

    let (files, generated) = tls::resolve(
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
        &args.certs_dir,
    )?;
    let loaded = tls::load(&files)?;
    tracing::info!(
        cert = %files.cert.display(),
        key = %files.key.display(),
        sha256 = %loaded.fingerprint,
        generated,
        "TLS certificate loaded"
    );
    let rustls = RustlsConfig::from_config(loaded.config);

    let analyzer = Arc::new(load_analyzer(args.triage_config.as_deref())?);
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
    let audit =
        Arc::new(AuditLog::open(&args.data_dir).with_context(|| {
            format!("cannot open the audit log in {}", args.data_dir.display())
        })?);
    let mut store = StoreConfig::new(&args.data_dir);
    store.compact_after_bytes = args.compact_after_bytes;
    let service = Service::start(
        ServiceConfig {
            store,
            client_queue: args.ws.client_queue,
            stats_interval: Duration::from_millis(args.ws.stats_interval_ms),
        },
        analyzer,
        audit.clone(),
        None,
    )?;
    let auth = Arc::new(load_auth(&args, addr, audit)?);
    tracing::info!(
        data_dir = %args.data_dir.display(),
        tickets = service.store().len(),
        "store loaded"
    );

    let stop = CancellationToken::new();
    let state = AppState {
        service: service.clone(),
        auth,
        ws: Arc::new(args.ws.clone()),
        shutdown: stop.clone(),
    };
    let app: Router = Router::new()
        .merge(crate::http::routes())
        .merge(crate::ws::routes())
        .with_state(state);

    let handle = axum_server::Handle::new();
    let acceptor = RustlsAcceptor::new(rustls)
        .handshake_timeout(Duration::from_secs(10))
        .acceptor(TcpConfigAcceptor::new(TcpSocketConfig::new().nodelay(true)));
    listener.set_nonblocking(true)?;
    let server = axum_server::from_tcp(listener)?
        .acceptor(acceptor)
        .handle(handle.clone())
        .serve(app.into_make_service_with_connect_info::<SocketAddr>());

    tracing::info!("listening on https://{addr}");
    let serving = tokio::spawn(server);
    shutdown.await;
    tracing::info!("shutting down: closing connections and finishing commits");
    stop.cancel();
    handle.graceful_shutdown(Some(Duration::from_secs(10)));
    match serving.await {
        Ok(result) => result.context("server error")?,
        Err(e) => tracing::error!(error = %e, "server task failed"),
    }
    service.shutdown().await;
    tracing::info!("stopped");
    Ok(())
}

/// Loads admin credentials and the session key, and says in the log how
/// admin access is set up (never a password or a key).
fn load_auth(args: &ServeArgs, addr: SocketAddr, audit: Arc<AuditLog>) -> anyhow::Result<Auth> {
    let config = AuthConfig {
        admin_user: args.auth.admin_user.clone(),
        admin_password_hash: args.auth.admin_password_hash.clone(),
        admins_file: args.auth.admins_file.clone(),
        credentials_dir: std::env::var_os("CREDENTIALS_DIRECTORY").map(Into::into),
        jwt_secret_file: args.auth.jwt_secret_file.clone(),
        session_ttl: args.auth.session_ttl,
        data_dir: args.data_dir.clone(),
        loopback: addr.ip().is_loopback(),
    };
    let auth = Auth::load(&config, audit)?;
    match auth.setup() {
        AdminSetup::Configured(n) => tracing::info!(admins = n, "admin access configured"),
        AdminSetup::Generated {
            user,
            password_file,
        } => tracing::warn!(
            admin = %user,
            password_file = %password_file.display(),
            "no admin configured: generated an initial admin; its password is in the file named here (set TICKETD_ADMIN_PASSWORD_HASH or --admins-file to replace it)"
        ),
        AdminSetup::Disabled => tracing::warn!(
            "no admin configured and the listener is not loopback: admin access is disabled; set TICKETD_ADMIN_PASSWORD_HASH (see `ticketd hash-password`) or --admins-file"
        ),
    }
    if auth.ephemeral_key() {
        tracing::warn!(
            "no JWT key configured (TICKETD_JWT_SECRET_FILE): using a random per-process key; admin sessions end at restart"
        );
    }
    Ok(auth)
}

/// Resolves on SIGTERM or SIGINT.
pub async fn signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
