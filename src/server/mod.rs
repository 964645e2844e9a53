//! Wiring: TLS, the listeners, the router, signals, systemd and graceful
//! shutdown.
//!
//! [`run`] takes an already-bound listener, so tests (and `main`) bind port
//! 0 and learn the address before serving. It also binds the plain-HTTP
//! metrics listener (`--metrics-listen`), reloads the certificate on SIGHUP,
//! and speaks the systemd notify protocol (`systemd.rs`): `READY=1` once the
//! store is loaded and both listeners are bound, `WATCHDOG=1` while the
//! store writer and the runtime answer, `STOPPING=1` at shutdown.

pub mod systemd;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum_server::accept::{TcpConfigAcceptor, TcpSocketConfig};
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use tokio::signal::unix::{SignalKind, signal as unix_signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::ServeArgs;
use crate::metrics::Metrics;
use crate::service::{CommitObserver, Service, ServiceConfig};
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

/// Serves until `shutdown` resolves, then drains within
/// `--shutdown-timeout`: WebSocket clients get close 1001, requests in
/// flight and queued commits finish, and the function returns (an error if
/// the drain overran the timeout).
pub async fn run(
    args: ServeArgs,
    listener: std::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let addr = listener.local_addr()?;
    // Before anything slow: SIGHUP's default action would end the process.
    let hangup = unix_signal(SignalKind::hangup()).context("cannot handle SIGHUP")?;
    let notifier = Arc::new(systemd::Notifier::from_env());
    let metrics = Arc::new(Metrics::new());

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
    metrics.tls_certificate(loaded.not_after);
    let rustls = RustlsConfig::from_config(loaded.config);

    let analyzer = Arc::new(load_analyzer(args.triage_config.as_deref())?);
    let mut store = StoreConfig::new(&args.data_dir);
    store.compact_after_bytes = args.compact_after_bytes;
    let observer: Arc<dyn CommitObserver> = metrics.clone();
    let service = Service::start(
        ServiceConfig {
            store,
            client_queue: args.ws.client_queue,
            stats_interval: Duration::from_millis(args.ws.stats_interval_ms),
        },
        analyzer,
        Some(observer),
    )?;
    tracing::info!(
        data_dir = %args.data_dir.display(),
        tickets = service.store().len(),
        "store loaded"
    );

    let stop = CancellationToken::new();
    let state = AppState {
        service: service.clone(),
        ws: Arc::new(args.ws.clone()),
        metrics: metrics.clone(),
        shutdown: stop.clone(),
        sessions: TaskTracker::new(),
    };
    let app: Router = Router::new()
        .merge(crate::http::routes())
        .merge(crate::ws::routes())
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::http::observe,
        ))
        .with_state(state.clone());

    // The metrics listener: plain HTTP, its own router, no request metrics
    // (a scrape should not count itself). It stops last.
    let metrics_listener = tokio::net::TcpListener::bind(args.ops.metrics_listen)
        .await
        .with_context(|| format!("cannot listen on {} for metrics", args.ops.metrics_listen))?;
    let metrics_addr = metrics_listener.local_addr()?;
    let metrics_stop = CancellationToken::new();
    let metrics_server = tokio::spawn(
        axum::serve(
            metrics_listener,
            crate::http::ops_routes().with_state(state.clone()),
        )
        .with_graceful_shutdown(metrics_stop.clone().cancelled_owned())
        .into_future(),
    );

    let handle = axum_server::Handle::new();
    let acceptor = RustlsAcceptor::new(rustls.clone())
        .handshake_timeout(Duration::from_secs(10))
        .acceptor(TcpConfigAcceptor::new(TcpSocketConfig::new().nodelay(true)));
    listener.set_nonblocking(true)?;
    let server = axum_server::from_tcp(listener)?
        .acceptor(acceptor)
        .handle(handle.clone())
        .serve(app.into_make_service_with_connect_info::<SocketAddr>());

    tracing::info!("metrics on http://{metrics_addr}");
    tracing::info!("listening on https://{addr}");
    let serving = tokio::spawn(server);
    let reloader = tokio::spawn(reload_on_hangup(hangup, files, rustls, metrics.clone()));
    notifier.notify(&format!(
        "READY=1\nSTATUS=serving {} tickets on {addr}",
        service.store().len()
    ));
    let watchdog = systemd::watchdog_interval()
        .filter(|_| notifier.is_enabled())
        .map(|interval| {
            tracing::info!(
                interval_ms = interval.as_millis() as u64,
                "systemd watchdog on"
            );
            let notifier = notifier.clone();
            let service = service.clone();
            tokio::spawn(async move {
                let check = || answers(&service, interval / 2);
                systemd::watchdog(&notifier, interval, check).await
            })
        });

    shutdown.await;
    let timeout = args.ops.shutdown_timeout;
    let deadline = tokio::time::Instant::now() + timeout;
    notifier.notify("STOPPING=1\nSTATUS=shutting down");
    tracing::info!(
        timeout_ms = timeout.as_millis() as u64,
        "shutting down: closing connections and finishing commits"
    );
    if let Some(watchdog) = watchdog {
        watchdog.abort();
    }
    reloader.abort();
    stop.cancel();
    handle.graceful_shutdown(Some(timeout));
    state.sessions.close();
    let drain = async {
        match serving.await {
            Ok(result) => result.context("server error")?,
            Err(e) => tracing::error!(error = %e, "server task failed"),
        }
        state.sessions.wait().await;
        service.shutdown().await;
        anyhow::Ok(())
    };
    let drained = tokio::time::timeout_at(deadline, drain).await;
    metrics_stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(1), metrics_server).await;
    match drained {
        Ok(result) => result?,
        Err(_) => anyhow::bail!(
            "shutdown overran --shutdown-timeout ({timeout:?}); exiting with work unfinished (nothing unacknowledged was promised)"
        ),
    }
    tracing::info!("stopped");
    Ok(())
}

/// Whether the store writer and the runtime both answer within `within`.
async fn answers(service: &Service, within: Duration) -> bool {
    let writer = service.store().ping(within).await;
    // A task spawned now must get scheduled: the runtime is not starved.
    let runtime = matches!(
        tokio::time::timeout(within, tokio::spawn(async {})).await,
        Ok(Ok(()))
    );
    writer && runtime
}

/// On each SIGHUP, rereads the certificate and key. New handshakes get the
/// new pair; open connections keep theirs. A pair that cannot be read or
/// does not match is refused, the old one stays, and the log says why.
async fn reload_on_hangup(
    mut hangup: tokio::signal::unix::Signal,
    files: tls::CertFiles,
    rustls: RustlsConfig,
    metrics: Arc<Metrics>,
) {
    while hangup.recv().await.is_some() {
        let read = files.clone();
        let loaded = tokio::task::spawn_blocking(move || tls::load(&read)).await;
        match loaded {
            Ok(Ok(loaded)) => {
                rustls.reload_from_config(loaded.config);
                metrics.tls_certificate(loaded.not_after);
                metrics.tls_reload(true);
                tracing::info!(sha256 = %loaded.fingerprint, "TLS certificate reloaded");
            }
            Ok(Err(e)) => {
                metrics.tls_reload(false);
                tracing::error!(
                    error = format!("{e:#}"),
                    "TLS certificate reload failed; still serving the previous certificate"
                );
            }
            Err(e) => tracing::error!(error = %e, "TLS certificate reload task failed"),
        }
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is
/// called, not when the future is first polled: a SIGTERM that arrives
/// right after `READY=1` must start a clean shutdown, not kill the process.
pub fn signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    let mut term = unix_signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = unix_signal(SignalKind::interrupt()).expect("SIGINT handler");
    async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}
