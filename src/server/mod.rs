//! Wiring: TLS, the listeners, the router, signals, systemd and graceful
//! shutdown.
//!
//! [`run`] takes an already-bound listener, so tests (and `main`) bind port
//! 0 and learn the address before serving. It also binds the plain-HTTP
//! metrics listener (`--metrics-listen`), reloads the certificate on SIGHUP,
//! and speaks the systemd notify protocol (`systemd.rs`): `READY=1` once the
//! store is loaded and both listeners are bound, `WATCHDOG=1` while the
//! store writer and the runtime answer, `STOPPING=1` at shutdown.

/// `AsyncWrite` for a stream wrapper `$name<S>` whose field `inner` does
/// the writing (the wrappers in this module only watch reads).
macro_rules! delegate_write {
    ($name:ident) => {
        impl<S: tokio::io::AsyncWrite + Unpin> tokio::io::AsyncWrite for $name<S> {
            fn poll_write(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                buf: &[u8],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write(cx, buf)
            }

            fn poll_flush(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_flush(cx)
            }

            fn poll_shutdown(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<std::io::Result<()>> {
                std::pin::Pin::new(&mut self.inner).poll_shutdown(cx)
            }

            fn poll_write_vectored(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
                bufs: &[std::io::IoSlice<'_>],
            ) -> std::task::Poll<std::io::Result<usize>> {
                std::pin::Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
            }

            fn is_write_vectored(&self) -> bool {
                self.inner.is_write_vectored()
            }
        }
    };
}

mod connections;
mod first_bytes;
pub mod systemd;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum_server::accept::{TcpConfigAcceptor, TcpSocketConfig};
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use hyper_util::rt::TokioTimer;
use tokio::signal::unix::{SignalKind, signal as unix_signal};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::first_bytes::FirstBytesAcceptor;
use crate::audit::AuditLog;
use crate::auth::{AdminSetup, Auth, AuthConfig};
use crate::config::{LimitArgs, ServeArgs};
use crate::http::layers::{Hardening, harden};
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::origin::Origins;
use crate::service::{CommitObserver, Service, ServiceConfig};
use crate::state::AppState;
use crate::store::StoreConfig;
use crate::triage::Analyzer;

/// Asks glibc for a single malloc arena. With one arena per worker thread,
/// memory freed by one thread (a TLS handshake, a finished request) is not
/// reused by another, and an idle WebSocket client cost 13.0 KiB of resident
/// memory; with one arena, 6.5 KiB, and CPU per delivery went down, not up
/// (measured with the load harness; see the README's Performance section).
/// Call it first thing in `main`, before any thread starts.
pub fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; called before any
    // other thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// The SLA policy: the file named, or the built-in 24x7 default. A bad file
/// stops start-up with the file and the key at fault.
fn load_sla_policy(path: Option<&std::path::Path>) -> anyhow::Result<crate::sla::Policy> {
    let Some(path) = path else {
        return Ok(crate::sla::Policy::default());
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the SLA policy {}", path.display()))?;
    let policy = crate::sla::Policy::from_toml(&text)
        .with_context(|| format!("the SLA policy {} is not valid", path.display()))?;
    tracing::info!(path = %path.display(), zone = %policy.calendar.zone(), "SLA policy loaded");
    Ok(policy)
}

/// Loads the analyzer's configuration (built-in lexicon plus an optional
/// TOML file); a bad file is an error naming the line.
pub fn load_analyzer(path: Option<&std::path::Path>) -> anyhow::Result<Analyzer> {
    match path {
        None => Ok(Analyzer::builtin()),
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read triage config {}", path.display()))?;
            let dir = path.parent().unwrap_or(std::path::Path::new("."));
            Analyzer::from_toml_str(&text, |model| {
                std::fs::read_to_string(dir.join(model))
                    .map_err(|e| format!("cannot read model {model}: {e}"))
            })
            .with_context(|| format!("{}", path.display()))
        }
    }
}

/// Serves until `shutdown` resolves, then drains within
/// `--shutdown-timeout`: WebSocket clients get close 1001, Socket.IO
/// connections are closed, requests in
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
    crate::store::create_private_dir(&args.data_dir)
        .with_context(|| format!("cannot create data directory {}", args.data_dir.display()))?;
    let credentials: Option<std::path::PathBuf> =
        std::env::var_os("CREDENTIALS_DIRECTORY").map(Into::into);
    // The URL holds a password: from the flag or environment, or from the
    // `database_url` systemd credential.
    let database_url = match (&args.database_url, &credentials) {
        (Some(url), _) => Some(url.clone()),
        (None, Some(dir)) if dir.join("database_url").is_file() => Some(
            std::fs::read_to_string(dir.join("database_url"))
                .context("cannot read the database_url credential")?
                .trim()
                .to_string(),
        ),
        _ => None,
    };
    let database = database_url.map(|url| {
        let mut db = crate::store::postgres::DatabaseConfig::new(url);
        db.timeout = Duration::from_millis(args.database_timeout_ms);
        db.pool_size = args.database_pool as usize;
        db.poll_interval = Duration::from_millis(args.database_poll_ms);
        db.keep_changes = args.database_keep_changes;
        db.keep_for = Duration::from_secs(args.database_keep_seconds);
        db
    });
    // With the shared store, the audit trail and logouts are shared too.
    let records = match &database {
        None => None,
        Some(db) => Some(Arc::new(
            crate::store::postgres::records::Records::connect(db)
                .await
                .map_err(|e| anyhow::anyhow!("{e}"))?,
        )),
    };
    let rotation = crate::audit::Rotation {
        max_bytes: args.ops.audit_max_bytes,
        keep: args.ops.audit_keep as usize,
    };
    let audit = match &records {
        None => AuditLog::open(&args.data_dir, rotation),
        Some(records) => AuditLog::shared(&args.data_dir, records.clone()),
    }
    .map(Arc::new)
    .with_context(|| format!("cannot open the audit log in {}", args.data_dir.display()))?;
    let origins = Arc::new(
        Origins::new(args.public_origin.as_deref(), &args.allowed_origins, addr)
            .map_err(|e| anyhow::anyhow!("--public-origin/--allowed-origins: {e}"))?,
    );
    let auth = Arc::new(load_auth(&args, addr, audit.clone(), records.clone()).await?);
    let smtp = crate::notify::smtp::SmtpSettings::from_args(
        &args.smtp,
        credentials.as_deref(),
        Duration::from_secs(30),
    )
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    // With email on, follow tokens are derived from a key, so the
    // creation email can carry the link without the token being stored.
    let follow_key: Option<Arc<[u8]>> = match &smtp {
        None => None,
        Some(_) => Some(
            crate::notify::smtp::load_follow_key(&args.data_dir)
                .with_context(|| {
                    format!(
                        "cannot read or create the follow key in {}",
                        args.data_dir.display()
                    )
                })?
                .into(),
        ),
    };
    let email = match (&smtp, &follow_key) {
        (Some(settings), Some(key)) => {
            let origin = origins.public().trim_end_matches('/').to_string();
            let key = key.clone();
            let link: crate::notify::smtp::FollowLink = Arc::new(move |id| {
                format!(
                    "{origin}/#follow={id}:{}",
                    crate::service::derived_follow_token(&key, id)
                )
            });
            let mailer = crate::notify::smtp::Mailer::new(settings, link)
                .map_err(|e| anyhow::anyhow!("--smtp-*: {e}"))?;
            tracing::info!(host = %settings.host, port = settings.port, tls = ?settings.mode, "email on");
            Some(crate::notify::EmailSetup {
                mailer: Arc::new(mailer),
                domain: url::Url::parse(origins.public())
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_else(|| "localhost".into()),
                staff: auth.directory(),
            })
        }
        _ => None,
    };
    let notify_config = match &args.webhooks_config {
        None => crate::notify::NotifyConfig::default(),
        Some(path) => crate::notify::NotifyConfig::load(path, credentials.as_deref())
            .map_err(|e| anyhow::anyhow!("--webhooks-config {e}"))?,
    };
    let outbound =
        crate::notify::Notifier::open(notify_config, &args.data_dir, origins.public(), email)
            .with_context(|| {
                format!(
                    "cannot open the outbox {} in {}",
                    crate::notify::outbox::FILE,
                    args.data_dir.display()
                )
            })?;
    let observer: Arc<dyn CommitObserver> = metrics.clone();
    let mut store = StoreConfig::new(&args.data_dir);
    store.compact_after_bytes = args.compact_after_bytes;
    store.sla = Arc::new(load_sla_policy(args.sla_config.as_deref())?);
    store.database = database.clone();
    let service = Service::start(
        ServiceConfig {
            store,
            client_queue: args.ws.client_queue,
            stats_interval: Duration::from_millis(args.ws.stats_interval_ms),
            sync: args.ws.sync(),
            autoclose: args.autoclose(),
            comments: args.comment_rules(),
            follow_key,
        },
        analyzer,
        audit.clone(),
        Some(observer),
        Some(outbound.clone() as Arc<dyn crate::service::Outbound>),
    )?;
    // Batched audit entries (failed logins, refused tokens) are synced at
    // most once per interval, and once more at shutdown.
    let flusher = {
        let audit = audit.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(crate::audit::FLUSH_INTERVAL);
            loop {
                tick.tick().await;
                if let Err(e) = audit.flush().await {
                    tracing::error!(error = %e, "cannot sync the audit log");
                }
            }
        })
    };
    let final_flush = audit.clone();
    tracing::info!(
        data_dir = %args.data_dir.display(),
        tickets = service.store().len(),
        "store loaded"
    );

    let limits = Arc::new(Limits::new(&args.limits.policy()));
    tracing::info!(origins = ?origins.all(), "WebSocket origins allowed");
    if !addr.ip().is_loopback() && args.public_origin.is_none() && args.allowed_origins.is_empty() {
        tracing::warn!(
            listen = %addr,
            allowed = ?origins.all(),
            "listening beyond loopback with neither --public-origin nor --allowed-origins: browsers are refused (403 on the WebSocket and Socket.IO) unless the page comes from exactly the origins listed here; set TICKETD_PUBLIC_ORIGIN to the https:// address users type (e.g. https://helpdesk.example.org) or TICKETD_ALLOWED_ORIGINS to a comma-separated list"
        );
    }

    let stop = CancellationToken::new();
    limits.spawn_pruner(args.limits.limiter_prune_interval(), stop.clone());
    if records.is_some() {
        // Other instances' logouts take effect here within a poll interval.
        let auth = auth.clone();
        let stop = stop.clone();
        let every = Duration::from_millis(args.database_poll_ms);
        tokio::spawn(async move {
            let mut failing = false;
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(every) => {}
                }
                match auth.follow_revocations().await {
                    Ok(_) if failing => {
                        failing = false;
                        tracing::info!("reading logged-out sessions again");
                    }
                    Ok(_) => {}
                    Err(e) if !failing => {
                        failing = true;
                        tracing::error!(error = %e, "cannot read logged-out sessions; other instances' logouts reach this one when the database answers");
                    }
                    Err(_) => {}
                }
            }
        });
    }
    {
        let service = Arc::downgrade(&service);
        let audit = final_flush.clone();
        outbound.set_alarm(Box::new(move |disabled| {
            let since = disabled.since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            tracing::error!(
                endpoint = %disabled.endpoint,
                failing_since = %since,
                last_error = %disabled.last_error,
                "outbound endpoint disabled after failing too long; its pending deliveries are failed (enable it and redeliver through /api/webhooks)"
            );
            if let Some(service) = service.upgrade() {
                service.announce_to_staff(&crate::events::Event::EndpointDisabled {
                    endpoint: &disabled.endpoint,
                    failing_since: &since,
                    last_error: &disabled.last_error,
                });
            }
            let entry = crate::audit::AuditEntry {
                time: chrono::Utc::now(),
                admin: crate::tickets::SYSTEM_ACTOR.to_string(),
                action: "notify_endpoint_disabled".into(),
                outcome: "failure",
                ticket_id: None,
                client: None,
                before: None,
                after: Some(serde_json::json!({ "endpoint": disabled.endpoint })),
                reason: Some(format!("failing since {since}: {}", disabled.last_error)),
            };
            if let Err(e) = audit.record_batched(entry) {
                tracing::error!(error = %e, "cannot write the audit log");
            }
        }));
    }
    crate::notify::deliver::spawn(outbound.clone(), metrics.clone(), stop.clone())
        .map_err(|e| anyhow::anyhow!("--webhooks-config: {e}"))?;
    let state = AppState {
        service: service.clone(),
        auth,
        ws: Arc::new(args.ws.clone()),
        limits: limits.clone(),
        origins: origins.clone(),
        metrics: metrics.clone(),
        shutdown: stop.clone(),
        sessions: TaskTracker::new(),
        bulk_sends: Arc::new(tokio::sync::Semaphore::new(
            2 * std::thread::available_parallelism().map_or(1, |n| n.get()),
        )),
        notifier: outbound,
    };
    let app: Router = Router::new()
        .merge(crate::http::routes())
        .merge(crate::ws::routes())
        .with_state(state.clone());
    // Socket.IO answers in a layer before routing; inside the protective
    // layers, which then apply to it too (its polling spends its own rate
    // limit instead of the HTTP one).
    let app = if args.socketio {
        if args.ws.ping_interval() >= args.limits.request_timeout() {
            tracing::warn!(
                "--ping-interval-secs is not below --request-timeout-secs: idle Socket.IO long-polling requests will time out (408)"
            );
        }
        tracing::info!("Socket.IO on {}/", crate::socketio::PATH);
        crate::socketio::attach(app, &state)
    } else {
        app
    };
    let app = harden(
        app,
        &Hardening {
            limits,
            max_body_bytes: args.limits.max_body_bytes,
            request_timeout: args.limits.request_timeout(),
            own_rate_limit: args.socketio.then_some(crate::socketio::ROUTE),
        },
    )
    // Outermost: every answer, refusals included, gets a request id and is
    // counted.
    .layer(axum::middleware::from_fn_with_state(
        state.clone(),
        crate::http::observe,
    ));

    // The metrics listener: plain HTTP, its own router, no request metrics
    // (a scrape should not count itself). It stops last.
    // It gets the same header, first-bytes and idle timeouts and the same
    // per-address cap as the public listener.
    let metrics_listener = std::net::TcpListener::bind(args.ops.metrics_listen)
        .with_context(|| format!("cannot listen on {} for metrics", args.ops.metrics_listen))?;
    metrics_listener.set_nonblocking(true)?;
    let metrics_addr = metrics_listener.local_addr()?;
    let metrics_handle = axum_server::Handle::new();
    let mut metrics_server = axum_server::from_tcp(metrics_listener)?
        .acceptor(FirstBytesAcceptor::new(
            tracked(&args.limits, Arc::default()),
            args.limits.header_read_timeout(),
        ))
        .handle(metrics_handle.clone());
    connection_timeouts(metrics_server.http_builder(), &args.limits);
    let metrics_server = tokio::spawn(
        metrics_server.serve(
            crate::http::ops_routes()
                .with_state(state.clone())
                .into_make_service(),
        ),
    );

    let handle = axum_server::Handle::new();
    let redirecting = match args.http_redirect_listen {
        Some(at) => Some(redirect(at, origins, &handle, &args.limits)?),
        None => None,
    };
    let acceptor = FirstBytesAcceptor::new(
        RustlsAcceptor::new(rustls.clone())
            .handshake_timeout(args.limits.tls_handshake_timeout())
            .acceptor(tracked(&args.limits, Arc::default())),
        args.limits.header_read_timeout(),
    );
    listener.set_nonblocking(true)?;
    let mut server = axum_server::from_tcp(listener)?
        .acceptor(acceptor)
        .handle(handle.clone());
    connection_timeouts(server.http_builder(), &args.limits);
    let server = server.serve(app.into_make_service_with_connect_info::<SocketAddr>());

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
        if let Some(redirecting) = redirecting {
            match redirecting.await {
                Ok(result) => result.context("redirect listener error")?,
                Err(e) => tracing::error!(error = %e, "redirect listener task failed"),
            }
        }
        state.sessions.wait().await;
        service.shutdown().await;
        flusher.abort();
        final_flush
            .flush()
            .await
            .context("cannot sync the audit log")?;
        anyhow::Ok(())
    };
    let drained = tokio::time::timeout_at(deadline, drain).await;
    metrics_handle.graceful_shutdown(Some(Duration::from_millis(500)));
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

/// Loads admin credentials and the session key, and says in the log how
/// admin access is set up (never a password or a key).
async fn load_auth(
    args: &ServeArgs,
    addr: SocketAddr,
    audit: Arc<AuditLog>,
    records: Option<Arc<crate::store::postgres::records::Records>>,
) -> anyhow::Result<Auth> {
    let config = AuthConfig {
        admin_user: args.auth.admin_user.clone(),
        admin_password_hash: args.auth.admin_password_hash.clone(),
        admins_file: args.auth.admins_file.clone(),
        staff_file: args.auth.staff_file.clone(),
        credentials_dir: std::env::var_os("CREDENTIALS_DIRECTORY").map(Into::into),
        jwt_secret_file: args.auth.jwt_secret_file.clone(),
        session_ttl: args.auth.session_ttl,
        data_dir: args.data_dir.clone(),
        loopback: addr.ip().is_loopback(),
    };
    let mut auth = Auth::load(&config, audit)?;
    if let Some(records) = records {
        auth.share_revocations(records);
        let read = auth
            .follow_revocations()
            .await
            .map_err(|e| anyhow::anyhow!("cannot read the logged-out sessions: {e}"))?;
        tracing::info!(revoked = read, "logouts are shared through the database");
        if matches!(auth.key_source(), crate::auth::KeySource::Generated { .. }) {
            tracing::warn!(
                "several instances share the database but this one signs sessions with a key generated in its own data directory: a session is then valid on this instance only; give every instance the same key (TICKETD_JWT_SECRET_FILE or the jwt_secret credential)"
            );
        }
    }
    match auth.setup() {
        AdminSetup::Configured(n) => tracing::info!(admins = n, "admin access configured"),
        AdminSetup::Generated {
            user,
            password_file,
        } => tracing::warn!(
            admin = %user,
            password_file = %password_file.display(),
            "no admin configured: generated an initial admin; its password is in the file named here (set TICKETD_ADMIN_PASSWORD_HASH or --staff-file to replace it)"
        ),
        AdminSetup::Disabled => tracing::warn!(
            "no admin configured and the listener is not loopback: admin access is disabled; set TICKETD_ADMIN_PASSWORD_HASH (see `ticketd hash-password`) or --staff-file"
        ),
    }
    match auth.key_source() {
        crate::auth::KeySource::File(path) => {
            tracing::info!(path = %path.display(), "JWT signing key loaded from the configured file")
        }
        crate::auth::KeySource::Generated { path, new } => tracing::info!(
            path = %path.display(),
            generated_now = new,
            "no JWT key configured (TICKETD_JWT_SECRET_FILE): using the key generated in the data directory; sessions survive restarts"
        ),
    }
    Ok(auth)
}

/// The TCP acceptor every listener uses: no Nagle, and the per-address cap
/// and idle timeout of plain HTTP connections (see [`connections`]). Each
/// listener counts its own connections.
fn tracked(
    limits: &LimitArgs,
    registry: Arc<connections::Registry>,
) -> connections::TrackedAcceptor<TcpConfigAcceptor> {
    connections::TrackedAcceptor::new(
        TcpConfigAcceptor::new(TcpSocketConfig::new().nodelay(true)),
        registry,
        limits.max_http_connections_per_ip as usize,
        Duration::from_secs(limits.http_idle_timeout_secs),
        limits.trusted_proxies.clone().into(),
    )
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
            tracked(limits, Arc::default()),
            limits.header_read_timeout(),
        ))
        .handle(handle.clone());
    connection_timeouts(server.http_builder(), limits);
    tracing::info!("redirecting http://{bound} to {target}");
    Ok(tokio::spawn(server.serve(app.into_make_service())))
}

/// Whether the store writer and the runtime both answer within `within`.
async fn answers(service: &Service, within: Duration) -> bool {
    // A store turned read-only (a full disk, a failed fsync) is not healthy:
    // withholding the ping lets systemd restart the service, and recovery
    // replays the journal. So is an instance that fell behind what the
    // shared database keeps. A database that is merely away is not: the
    // instance keeps serving reads and its clients, and catches up.
    let writer = !service.store().needs_restart() && service.store().ping(within).await;
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
