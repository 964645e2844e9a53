//! Admin identity: argon2id credentials, JWT sessions, admin commands over
//! WSS and HTTPS, and the audit trail, through the real server.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::*;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const PASSWORD: &str = "correct-horse-battery-staple-42";
const SECRET: &[u8] = b"an-admin-session-signing-key-for-tests-0123456789";

fn hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| ticketd::auth::password::hash_password(PASSWORD))
}

/// A server with one admin (`root`) and a fixed JWT key.
async fn admin_app() -> TestApp {
    let key_dir = tempfile::tempdir().unwrap().keep();
    let key_file = key_dir.join("jwt_secret");
    std::fs::write(&key_file, SECRET).unwrap();
    spawn_with(Options {
        args: vec!["--jwt-secret-file".into(), key_file.display().to_string()],
        envs: vec![
            ("TICKETD_ADMIN_USER".into(), "root".into()),
            ("TICKETD_ADMIN_PASSWORD_HASH".into(), hash().into()),
        ],
    })
    .await
}

async fn login(app: &TestApp, user: &str, password: &str) -> reqwest::Response {
    app.http()
        .post(format!("{}/api/auth/login", app.base_url()))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
}

async fn token(app: &TestApp) -> String {
    let resp = login(app, "root", PASSWORD).await;
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert!(body["expires_at"].is_string());
    body["token"].as_str().unwrap().to_string()
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Value {
    json!({"sub": "root", "iat": now(), "exp": now() + 600, "iss": "ticketd", "aud": "ticketd-admin", "jti": "abc123"})
}

fn sign(alg: Algorithm, claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
}

fn unsigned(alg: &str, claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": alg, "typ": "JWT"}).to_string());
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let sig = if alg == "none" {
        String::new()
    } else {
        URL_SAFE_NO_PAD.encode([7u8; 256])
    };
    format!("{header}.{body}.{sig}")
}

/// Tokens that must all be refused.
async fn forged_tokens(app: &TestApp) -> Vec<(&'static str, String)> {
    let mut expired = claims();
    expired["iat"] = json!(now() - 3600);
    expired["exp"] = json!(now() - 600);
    let mut wrong_iss = claims();
    wrong_iss["iss"] = json!("someone-else");
    let mut wrong_aud = claims();
    wrong_aud["aud"] = json!("another-service");
    let mut no_jti = claims();
    no_jti.as_object_mut().unwrap().remove("jti");
    let good = sign(Algorithm::HS256, &claims(), SECRET);
    let tampered = {
        let mut parts: Vec<String> = good.split('.').map(String::from).collect();
        let mut sig = URL_SAFE_NO_PAD.decode(&parts[2]).unwrap();
        sig[0] ^= 1;
        parts[2] = URL_SAFE_NO_PAD.encode(sig);
        parts.join(".")
    };
    let revoked = token(app).await;
    let resp = app
        .http()
        .post(format!("{}/api/auth/logout", app.base_url()))
        .bearer_auth(&revoked)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 204);
    vec![
        ("alg none", unsigned("none", &claims())),
        ("HS512", sign(Algorithm::HS512, &claims(), SECRET)),
        ("RS256", unsigned("RS256", &claims())),
        ("tampered signature", tampered),
        (
            "other key",
            sign(
                Algorithm::HS256,
                &claims(),
                b"another-key-another-key-another-key!!",
            ),
        ),
        ("expired", sign(Algorithm::HS256, &expired, SECRET)),
        ("wrong iss", sign(Algorithm::HS256, &wrong_iss, SECRET)),
        ("wrong aud", sign(Algorithm::HS256, &wrong_aud, SECRET)),
        ("no jti", sign(Algorithm::HS256, &no_jti, SECRET)),
        ("garbage", "not.a.token".into()),
        ("revoked", revoked),
    ]
}

/// Every file of the store (snapshot and journals), by name.
fn store_bytes(app: &TestApp) -> Vec<(String, Vec<u8>)> {
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(app.data_dir())
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            name.starts_with("tickets_")
        })
        .map(|e| {
            (
                e.file_name().to_string_lossy().to_string(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect();
    files.sort();
    files
}

#[tokio::test]
async fn login_succeeds_and_failures_look_alike() {
    let app = admin_app().await;
    let token = token(&app).await;
    let session: Value = app
        .http()
        .get(format!("{}/api/auth/session", app.base_url()))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(session["admin"], "root");

    let wrong_password = login(&app, "root", "nope").await;
    assert_eq!(wrong_password.status(), 401);
    let a: Value = wrong_password.json().await.unwrap();
    let wrong_user = login(&app, "mallory", PASSWORD).await;
    assert_eq!(wrong_user.status(), 401);
    let b: Value = wrong_user.json().await.unwrap();
    assert_eq!(a, b, "a wrong user and a wrong password get the same body");
    assert_eq!(a["error"]["code"], "unauthorized");
}

#[tokio::test]
async fn forged_tokens_are_refused_over_wss_and_https() {
    let app = admin_app().await;
    let (mut ws, _) = app.connect_ready().await;
    let id = ws
        .submit("Shared drive is read-only for the finance team")
        .await;
    let before = store_bytes(&app);
    for (name, token) in forged_tokens(&app).await {
        ws.send(
            "admin_command",
            json!({"command": "resolve", "token": token, "ticket_id": id}),
        )
        .await;
        let error = ws.expect_error().await;
        assert_eq!(error["code"], "unauthorized", "{name} over WSS: {error}");
        let resp = app
            .http()
            .post(format!("{}/api/tickets/{id}/resolve", app.base_url()))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 401, "{name} over HTTPS");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["code"], "unauthorized");
    }
    assert_eq!(store_bytes(&app), before, "nothing changed");
}

#[tokio::test]
async fn anonymous_admin_commands_change_nothing() {
    let app = admin_app().await;
    let (mut ws, _) = app.connect_ready().await;
    let id = ws.submit("Badge reader at the loading dock is dead").await;
    let before = store_bytes(&app);
    let commands = [
        json!({"command": "delete", "ticket_id": id}),
        json!({"command": "resolve", "ticket_id": id}),
        json!({"command": "reopen", "ticket_id": id}),
        json!({"command": "update_priority", "ticket_id": id, "priority": "LOW"}),
        json!({"command": "clear_all"}),
    ];
    for command in &commands {
        ws.send("admin_command", command.clone()).await;
        assert_eq!(ws.expect_error().await["code"], "unauthorized", "{command}");
        let mut with_password = command.clone();
        with_password["password"] = json!("admin123");
        ws.send("admin_command", with_password).await;
        let error = ws.expect_error().await;
        assert_eq!(error["code"], "unauthorized");
        assert!(
            error["message"]
                .as_str()
                .unwrap()
                .contains("/api/auth/login"),
            "{error}"
        );
    }
    let client = app.http();
    let base = app.base_url();
    let requests = [
        client.delete(format!("{base}/api/tickets/{id}")),
        client.post(format!("{base}/api/tickets/{id}/resolve")),
        client.post(format!("{base}/api/tickets/{id}/reopen")),
        client
            .put(format!("{base}/api/tickets/{id}/priority"))
            .json(&json!({"priority": "LOW"})),
        client.delete(format!("{base}/api/tickets?confirm=true")),
        client.get(format!("{base}/api/audit")),
    ];
    for request in requests {
        let resp = request.send().await.unwrap();
        assert_eq!(resp.status(), 401);
        assert_eq!(resp.headers()["www-authenticate"], "Bearer");
    }
    assert_eq!(store_bytes(&app), before, "store byte-identical");
}

#[tokio::test]
async fn every_admin_command_reaches_a_second_client() {
    let app = admin_app().await;
    let token = token(&app).await;
    let (mut admin, _) = app.connect_ready().await;
    let (mut watcher, _) = app.connect_ready().await;
    let id = admin
        .submit("Core switch in building B is down, nobody can work")
        .await;
    watcher.expect("new_ticket").await;

    let send = async |admin: &mut WsClient, command: Value| {
        let mut data = command;
        data["token"] = json!(token);
        admin.send("admin_command", data).await;
        admin.expect("admin_success").await
    };

    let ok = send(&mut admin, json!({"command": "resolve", "ticket_id": id})).await;
    assert_eq!(ok["action"], "resolve");
    let t = watcher.expect("ticket_resolved").await;
    assert_eq!(t["status"], "resolved");
    assert!(t["resolved_at"].is_string());

    let ok = send(&mut admin, json!({"command": "reopen", "ticket_id": id})).await;
    assert_eq!(ok["action"], "reopen");
    let t = watcher.expect("ticket_updated").await;
    assert_eq!(t["status"], "open");
    assert!(t["resolved_at"].is_null());

    let ok = send(
        &mut admin,
        json!({"command": "update_priority", "ticket_id": id, "priority": "LOW"}),
    )
    .await;
    assert_eq!(ok["action"], "update_priority");
    let t = watcher.expect("ticket_updated").await;
    assert_eq!(t["priority"], "LOW");
    assert_eq!(t["priority_source"], "manual");
    assert_eq!(t["priority_set_by"], "root");
    assert!(t["priority_set_at"].is_string());

    let ok = send(&mut admin, json!({"command": "delete", "ticket_id": id})).await;
    assert_eq!(ok["action"], "delete");
    let d = watcher.expect("ticket_deleted").await;
    assert_eq!(d["ticket_id"], id.as_str());
    assert_eq!(d["deleted_ticket"]["request_id"], id.as_str());

    // not_found and invalid_payload for a valid admin.
    admin
        .send(
            "admin_command",
            json!({"command": "resolve", "token": token, "ticket_id": id}),
        )
        .await;
    assert_eq!(admin.expect_error().await["code"], "not_found");
    admin
        .send(
            "admin_command",
            json!({"command": "explode", "token": token}),
        )
        .await;
    assert_eq!(admin.expect_error().await["code"], "invalid_payload");
    admin
        .send("admin_command", json!({"command": "update_priority", "token": token, "ticket_id": id, "priority": "URGENT"}))
        .await;
    assert_eq!(admin.expect_error().await["code"], "invalid_payload");

    admin.submit("one").await;
    admin.submit("two").await;
    let ok = send(&mut admin, json!({"command": "clear_all"})).await;
    assert_eq!(ok["action"], "clear_all");
    assert_eq!(watcher.expect("all_tickets_cleared").await["count"], 2);
}

#[tokio::test]
async fn https_admin_routes_broadcast_and_are_audited() {
    let app = admin_app().await;
    let token = token(&app).await;
    let (mut watcher, _) = app.connect_ready().await;
    let ticket = app
        .submit_http("Label printer template says CRITICAL but prints fine")
        .await;
    let id = ticket["request_id"].as_str().unwrap();
    let client = app.http();
    let base = app.base_url();

    // Each admin route with the session token: the status it answers.
    let status = async |request: reqwest::RequestBuilder| {
        request.bearer_auth(&token).send().await.unwrap().status()
    };

    let priority = client
        .put(format!("{base}/api/tickets/{id}/priority"))
        .json(&json!({"priority": "HIGH"}));
    assert_eq!(status(priority).await, 200);
    let bad_priority = client
        .put(format!("{base}/api/tickets/{id}/priority"))
        .json(&json!({"priority": "URGENT"}));
    assert_eq!(status(bad_priority).await, 400, "not a priority");
    assert_eq!(watcher.expect("ticket_updated").await["priority"], "HIGH");

    assert_eq!(
        status(client.post(format!("{base}/api/tickets/{id}/resolve"))).await,
        200
    );
    watcher.expect("ticket_resolved").await;
    assert_eq!(
        status(client.post(format!("{base}/api/tickets/{id}/reopen"))).await,
        200
    );
    watcher.expect("ticket_updated").await;

    let clear_unconfirmed = client.delete(format!("{base}/api/tickets"));
    assert_eq!(
        status(clear_unconfirmed).await,
        400,
        "clear needs confirm=true"
    );
    assert_eq!(
        status(client.delete(format!("{base}/api/tickets/{id}"))).await,
        200
    );
    watcher.expect("ticket_deleted").await;
    assert_eq!(
        status(client.delete(format!("{base}/api/tickets/{id}"))).await,
        404
    );
    let clear = client.delete(format!("{base}/api/tickets?confirm=true"));
    assert_eq!(status(clear).await, 200);
    assert_eq!(watcher.expect("all_tickets_cleared").await["count"], 0);

    let audit: Value = client
        .get(format!("{base}/api/audit?limit=3"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let entries = audit.as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert_eq!(entries[0]["action"], "clear_all", "newest first");
    assert_eq!(entries[1]["action"], "delete");
    assert_eq!(entries[1]["outcome"], "failure");
    assert_eq!(entries[2]["action"], "delete");
    assert_eq!(entries[2]["admin"], "root");
    assert_eq!(entries[2]["ticket_id"], id);
    assert_eq!(entries[2]["before"]["request_id"], id);
    assert!(entries[2]["client"].as_str().unwrap().starts_with("127."));
    // The whole audit log: logins recorded, no secret anywhere.
    let log = std::fs::read_to_string(app.data_dir().join("audit.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("\"action\":\"login\"") && l.contains("success"))
    );
    assert!(!log.contains(PASSWORD));
    assert!(!log.contains(&token));
    let mode = {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(app.data_dir().join("audit.log"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode, 0o600);
}

#[tokio::test]
async fn re_analysis_never_overwrites_a_pinned_priority() {
    // A pinned priority survives a restart (the stored ticket keeps it).
    let mut app = admin_app().await;
    let token = token(&app).await;
    let ticket = app
        .submit_http("Whole site offline, all users affected")
        .await;
    let id = ticket["request_id"].as_str().unwrap().to_string();
    let resp = app
        .http()
        .put(format!("{}/api/tickets/{id}/priority", app.base_url()))
        .bearer_auth(&token)
        .json(&json!({"priority": "LOW"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    app.restart().await;
    let (_, initial) = app.connect_ready().await;
    assert_eq!(initial[0]["priority"], "LOW");
    assert_eq!(initial[0]["priority_source"], "manual");
}

#[tokio::test]
async fn weak_hashes_and_short_keys_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let weak = "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0$W8oVbH3Fk0VYrHfhH7GqXAE8XrHdtYnGkm9Sj8xbGmo";
    let out = start_expecting_failure(
        dir.path(),
        &[],
        &[
            ("TICKETD_ADMIN_USER".into(), "weakling".into()),
            ("TICKETD_ADMIN_PASSWORD_HASH".into(), weak.into()),
        ],
    );
    assert!(out.contains("weakling") && out.contains("OWASP"), "{out}");

    let bcrypt = "$2b$12$abcdefghijklmnopqrstuuO5yN2bq0SwdXkq2pNqNnM7n0ZcVCBi";
    let admins: PathBuf = dir.path().join("admins");
    std::fs::write(
        &admins,
        format!("# admins\nalice:{}\nbob:{bcrypt}\n", hash()),
    )
    .unwrap();
    let out = start_expecting_failure(
        dir.path(),
        &["--admins-file".into(), admins.display().to_string()],
        &[],
    );
    assert!(out.contains("bob"), "{out}");

    let key = dir.path().join("short-key");
    std::fs::write(&key, b"too-short").unwrap();
    let out = start_expecting_failure(
        dir.path(),
        &["--jwt-secret-file".into(), key.display().to_string()],
        &[],
    );
    assert!(out.contains("at least 32"), "{out}");
}

#[tokio::test]
async fn admins_file_and_systemd_credentials_work() {
    let creds = tempfile::tempdir().unwrap();
    std::fs::write(
        creds.path().join("admins"),
        format!("# ops team\ncarol:{}\n", hash()),
    )
    .unwrap();
    std::fs::write(creds.path().join("jwt_secret"), SECRET).unwrap();
    let app = spawn_with(Options {
        envs: vec![(
            "CREDENTIALS_DIRECTORY".into(),
            creds.path().display().to_string(),
        )],
        ..Options::default()
    })
    .await;
    assert_eq!(login(&app, "carol", PASSWORD).await.status(), 200);
    assert!(
        !app.log_text().contains("random per-process key"),
        "uses the credential key"
    );
    // A token signed with the credential key is accepted.
    let mut c = claims();
    c["sub"] = json!("carol");
    let forged_but_valid = sign(Algorithm::HS256, &c, SECRET);
    let resp = app
        .http()
        .get(format!("{}/api/auth/session", app.base_url()))
        .bearer_auth(&forged_but_valid)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn initial_admin_is_generated_on_loopback_without_leaking_it() {
    let mut app = spawn_app().await;
    let file = app.data_dir().join("initial-admin-password");
    let password = std::fs::read_to_string(&file).unwrap().trim().to_string();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(
        app.log_text().contains("initial-admin-password"),
        "the log names the file"
    );
    assert_eq!(login(&app, "admin", &password).await.status(), 200);
    // Reused across restarts.
    app.restart().await;
    assert_eq!(login(&app, "admin", &password).await.status(), 200);
    assert!(!app.log_text().contains(&password), "never logged");
}

#[tokio::test]
async fn logs_never_contain_the_password_or_a_token() {
    let mut app = admin_app().await;
    let token = token(&app).await;
    let (mut ws, _) = app.connect_ready().await;
    let id = ws.submit("Scanner offline").await;
    ws.send(
        "admin_command",
        json!({"command": "resolve", "token": token, "ticket_id": id}),
    )
    .await;
    ws.expect("admin_success").await;
    login(&app, "root", "wrong-password-attempt").await;
    let _ = app
        .http()
        .get(format!("{}/api/auth/session", app.base_url()))
        .bearer_auth("garbage-token-value")
        .send()
        .await;
    app.stop();
    let log = app.log_text();
    assert!(!log.is_empty());
    assert!(!log.contains(PASSWORD));
    assert!(!log.contains("wrong-password-attempt"));
    assert!(!log.contains(&token));
    assert!(!log.contains(std::str::from_utf8(SECRET).unwrap()));
}

#[test]
fn hash_password_reads_stdin_and_prints_an_argon2id_hash() {
    use std::io::Write;
    let mut child = std::process::Command::new(binary())
        .arg("hash-password")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret-value\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let phc = String::from_utf8(out.stdout).unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(!phc.contains("s3cret-value"));
    let stored = ticketd::auth::StoredHash::parse(phc.trim()).unwrap();
    assert!(stored.verify("s3cret-value"));
}

#[tokio::test]
async fn login_attempts_are_rate_limited_per_address() {
    let app = admin_app().await;
    for _ in 0..5 {
        assert_eq!(login(&app, "root", "guess").await.status(), 401);
    }
    let limited = login(&app, "root", PASSWORD).await;
    assert_eq!(
        limited.status(),
        429,
        "the sixth attempt in a minute is refused"
    );
    assert!(limited.headers().contains_key("retry-after"));
    let body: Value = limited.json().await.unwrap();
    assert_eq!(body["error"]["code"], "rate_limited");
}
