//! Wiring: TLS, the listener, the router, signals and graceful shutdown.
//!
//! [`run`] takes an already-bound listener, so tests (and `main`) bind port
//! 0 and learn the address before serving.

mod first_bytes;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum_server::accept::{TcpConfigAcceptor, TcpSocketConfig};
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper_util::rt::TokioTimer;
use tokio_util::sync::CancellationToken;

use self::first_bytes::FirstBytesAcceptor;
use crate::audit::AuditLog;
use crate::auth::{AdminSetup, Auth, AuthConfig};
use crate::config::{LimitArgs, ServeArgs};
use crate::http::layers::{Hardening, harden};
use crate::limits::Limits;
use crate::origin::Origins;
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

    let origins = Arc::new(
        Origins::new(args.public_origin.as_deref(), &args.allowed_origins, addr)
            .map_err(|e| anyhow::anyhow!("--public-origin/--allowed-origins: {e}"))?,
    );
    let limits = Arc::new(Limits::new(&args.limits.policy()));
    tracing::info!(origins = ?origins.all(), "WebSocket origins allowed");

    let stop = CancellationToken::new();
    limits.spawn_pruner(args.limits.limiter_prune_interval(), stop.clone());
    let state = AppState {
        service: service.clone(),
        auth,
        ws: Arc::new(args.ws.clone()),
        limits: limits.clone(),
        origins: origins.clone(),
        shutdown: stop.clone(),
    };
    let app: Router = Router::new()
        .merge(crate::http::routes())
        .merge(crate::ws::routes())
        .with_state(state);
    let app = harden(
        app,
        &Hardening {
            limits,
            max_body_bytes: args.limits.max_body_bytes,
            request_timeout: args.limits.request_timeout(),
        },
    );

    let handle = axum_server::Handle::new();
    let redirecting = match args.http_redirect_listen {
        Some(at) => Some(redirect(at, origins, &handle, &args.limits)?),
        None => None,
    };
    let acceptor = FirstBytesAcceptor::new(
        RustlsAcceptor::new(rustls)
            .handshake_timeout(args.limits.tls_handshake_timeout())
            .acceptor(TcpConfigAcceptor::new(TcpSocketConfig::new().nodelay(true))),
        args.limits.header_read_timeout(),
    );
    listener.set_nonblocking(true)?;
    let mut server = axum_server::from_tcp(listener)?
        .acceptor(acceptor)
        .handle(handle.clone());
    connection_timeouts(server.http_builder(), &args.limits);
    let server = server.serve(app.into_make_service_with_connect_info::<SocketAddr>());

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
    if let Some(redirecting) = redirecting {
        match redirecting.await {
            Ok(result) => result.context("redirect listener error")?,
            Err(e) => tracing::error!(error = %e, "redirect listener task failed"),
        }
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

/// A client must send each request's headers within the header timeout
/// (slowloris); hyper needs a timer for that.
fn connection_timeouts(
    builder: &mut hyper_util::server::conn::auto::Builder<hyper_util::rt::TokioExecutor>,
    limits: &LimitArgs,
) {
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout());
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
}

/// Starts the plain-HTTP listener that only redirects to HTTPS.
fn redirect(
    at: SocketAddr,
    origins: Arc<Origins>,
    handle: &axum_server::Handle<SocketAddr>,
    limits: &LimitArgs,
) -> anyhow::Result<tokio::task::JoinHandle<std::io::Result<()>>> {
    let listener = std::net::TcpListener::bind(at)
        .map_err(|e| anyhow::anyhow!("cannot listen on {at} (--http-redirect-listen): {e}"))?;
    listener.set_nonblocking(true)?;
    let bound = listener.local_addr()?;
    let target = origins.public().to_string();
    let app = crate::http::redirect::routes(origins);
    let mut server = axum_server::from_tcp(listener)?
        .acceptor(FirstBytesAcceptor::new(
            TcpConfigAcceptor::new(TcpSocketConfig::new().nodelay(true)),
            limits.header_read_timeout(),
        ))
        .handle(handle.clone());
    connection_timeouts(server.http_builder(), limits);
    tracing::info!("redirecting http://{bound} to {target}");
    Ok(tokio::spawn(server.serve(app.into_make_service())))
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
