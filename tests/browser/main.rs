//! The browser app in a real browser: headless Chromium, driven through
//! chromedriver, against the real server. Without Chromium these tests say
//! so and skip; with `TICKETD_REQUIRE_BROWSER=1` they fail instead.
//!
//! Chromium trusts the server's generated certificate by its public key
//! (`--ignore-certificate-errors-spki-list`), not by ignoring every error.

#[path = "../common/mod.rs"]
mod common;
mod webdriver;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use common::*;
use serde_json::{Value, json};
use webdriver::{Browser, DESKTOP, PHONE, Page, View};

/// The base64 SHA-256 of the server's public key, as Chromium's SPKI list wants it.
fn spki(app: &TestApp) -> String {
    let pem = std::fs::read_to_string(app.certs_dir().join("localhost-key.pem")).unwrap();
    let key = rcgen::KeyPair::from_pem(&pem).unwrap();
    let spki = rcgen::PublicKeyData::subject_public_key_info(&key);
    let digest = ring::digest::digest(&ring::digest::SHA256, &spki);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// Submits over HTTPS; returns the ticket's id.
async fn submit(app: &TestApp, description: &str) -> String {
    app.submit_http(description).await["request_id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn admin_password(app: &TestApp) -> String {
    std::fs::read_to_string(app.data_dir().join("initial-admin-password"))
        .unwrap()
        .trim()
        .to_string()
}

/// Opens the board and waits until it is live.
async fn open(browser: &Browser, app: &TestApp, view: View) -> Page {
    let page = browser
        .open(&format!("{}/", app.base_url()), &spki(app), view)
        .await;
    wait_live(&page).await;
    page
}

async fn wait_live(page: &Page) {
    page.wait_for(
        "the connection indicator to say connected",
        "document.getElementById('conn').dataset.state === 'connected'",
    )
    .await;
}

fn item(id: &str) -> String {
    format!("#ticket-list li[data-id=\"{id}\"]")
}

/// Fills the form by typing and submits it; waits for the confirmation.
async fn submit_in_page(page: &Page, description: &str, system: &str, requester: &str) {
    page.find("#f-description")
        .await
        .type_text(description)
        .await;
    page.find("#f-system").await.type_text(system).await;
    page.find("#f-requester").await.type_text(requester).await;
    page.find("#submit-button").await.click().await;
    page.wait_for(
        "the form to confirm the submission",
        "document.getElementById('form-status').textContent === 'Ticket submitted.'",
    )
    .await;
}

/// The ids of the tickets the page lists, in order (leaving items excluded).
async fn listed_ids(page: &Page) -> Vec<String> {
    let ids = page
        .js("[...document.querySelectorAll('#ticket-list > li:not(.leaving)')].map(li => li.dataset.id)")
        .await;
    serde_json::from_value(ids).unwrap()
}

async fn description_of(page: &Page, id: &str) -> String {
    page.eval(
        "return document.querySelector(arguments[0] + ' .t-desc').textContent;",
        json!([item(id)]),
    )
    .await
    .as_str()
    .unwrap()
    .to_string()
}

/// Fails on any console error (script errors, CSP violations, failed loads).
async fn assert_no_console_errors(page: &Page) {
    let entries = page.console().await;
    let errors: Vec<&Value> = entries.iter().filter(|e| e["level"] == "SEVERE").collect();
    assert!(
        errors.is_empty(),
        "console errors:\n{}",
        errors
            .iter()
            .map(|e| e["message"].to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

async fn login(page: &Page, password: &str) {
    login_as(page, "admin", password).await;
}

/// Signs in through the staff sign-in form (agents and admins alike).
async fn login_as(page: &Page, user: &str, password: &str) {
    page.find("#admin summary").await.click().await;
    page.find("#l-username").await.type_text(user).await;
    page.find("#l-password").await.type_text(password).await;
    page.find("#login-button").await.click().await;
    page.wait_for(
        "the staff panel after sign-in",
        &format!(
            "!document.getElementById('admin-panel').hidden && document.getElementById('admin-name').textContent === '{user}'"
        ),
    )
    .await;
}

/// The password of every staff member in [`staff_app`].
const STAFF_PASSWORD: &str = "browser-staff-password-0123";

/// A server whose staff file holds `dana` and `erin` (agents) and `lee`
/// (an admin), all with [`STAFF_PASSWORD`]; no admin is generated then.
async fn staff_app() -> TestApp {
    use std::os::unix::fs::PermissionsExt;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let hash = ticketd::auth::password::hash_password(STAFF_PASSWORD);
    let staff = dir.path().join("staff");
    std::fs::write(
        &staff,
        format!("dana:agent:{hash}\nerin:agent:{hash}\nlee:admin:{hash}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&staff, std::fs::Permissions::from_mode(0o600)).unwrap();
    spawn_in(
        dir,
        Options {
            args: vec!["--staff-file".into(), staff.display().to_string()],
            envs: vec![],
        },
    )
    .await
}

/// The working controls a ticket offers: the `data-action` of the buttons
/// in its staff bar (the inline forms' own buttons left out).
async fn actions(page: &Page, id: &str) -> Vec<String> {
    let found = page
        .eval(
            "return [...document.querySelectorAll(arguments[0] + ' .t-admin > button')].map(b => b.dataset.action);",
            json!([item(id)]),
        )
        .await;
    serde_json::from_value(found).unwrap()
}

/// The ids of the tickets the filters let through, in order.
async fn visible_ids(page: &Page) -> Vec<String> {
    let ids = page
        .js("[...document.querySelectorAll('#ticket-list > li:not(.leaving)')].filter(li => !li.hidden).map(li => li.dataset.id)")
        .await;
    serde_json::from_value(ids).unwrap()
}

/// A JS expression: the text of ticket `id`'s status chip (undefined without one).
fn status_chip(id: &str) -> String {
    format!(
        "document.querySelector('{} .chip-status')?.textContent",
        item(id)
    )
}

#[tokio::test]
async fn page_loads_without_console_errors() {
    let Some(browser) = Browser::start("page_loads_without_console_errors").await else {
        return;
    };
    let app = spawn_app().await;
    let id = submit(&app, "Outlook crashes for the whole sales team").await;
    browser
        .run(async {
            let page = open(&browser, &app, DESKTOP).await;
            page.wait_for(
                "the ticket",
                &format!(
                    "document.querySelector('{}')",
                    item(&id).replace('\'', "\\'")
                ),
            )
            .await;
            page.wait_for(
                "live stats",
                "document.getElementById('s-total').textContent === '1'",
            )
            .await;
            // The stylesheet applied and the explanation opens.
            assert_eq!(
                page.js("getComputedStyle(document.body).marginTop").await,
                "0px"
            );
            page.find(&format!("{} .why summary", item(&id)))
                .await
                .click()
                .await;
            assert_eq!(
                page.js(&format!(
                    "document.querySelector('{} .why').open",
                    item(&id).replace('\'', "\\'")
                ))
                .await,
                true
            );
            assert!(
                page.find(&format!("{} .why", item(&id)))
                    .await
                    .text()
                    .await
                    .contains("Impact")
            );
            assert_no_console_errors(&page).await;
        })
        .await;
}

#[tokio::test]
async fn ticket_submitted_in_one_page_appears_in_another() {
    let Some(browser) = Browser::start("ticket_submitted_in_one_page_appears_in_another").await
    else {
        return;
    };
    let app = spawn_app().await;
    browser
        .run(async {
            let one = open(&browser, &app, DESKTOP).await;
            let two = open(&browser, &app, DESKTOP).await;

            // Inline validation: nothing is sent while a field is empty.
            one.find("#submit-button").await.click().await;
            assert_eq!(
                one.find("#f-description-error").await.text().await,
                "Description is required."
            );
            assert_eq!(one.js("document.activeElement.id").await, "f-description");

            submit_in_page(&one, "VPN is down for everyone working from home", "VPN", "Ana").await;
            two.wait_for(
                "the ticket in the second page",
                "[...document.querySelectorAll('#ticket-list .t-desc')].some(d => d.textContent === 'VPN is down for everyone working from home')",
            )
            .await;
            two.wait_for("stats in the second page", "document.getElementById('s-total').textContent === '1'")
                .await;
            assert_eq!(listed_ids(&one).await, listed_ids(&two).await);
            // The form was emptied for the next ticket.
            assert_eq!(one.js("document.getElementById('f-description').value").await, "");

            // Newest first.
            submit_in_page(&one, "Printer on floor 3 jams", "Printers", "Ben").await;
            two.wait_for("two tickets", "document.querySelectorAll('#ticket-list > li').length === 2")
                .await;
            let ids = listed_ids(&two).await;
            assert_eq!(description_of(&two, &ids[0]).await, "Printer on floor 3 jams");
            assert_no_console_errors(&one).await;
            assert_no_console_errors(&two).await;
        })
        .await;
}

#[tokio::test]
async fn admin_resolves_a_ticket_and_the_other_page_shows_it_resolved() {
    let Some(browser) = Browser::start("admin_resolves_a_ticket").await else {
        return;
    };
    let app = spawn_app().await;
    let id = submit(&app, "Scanner offline in the mail room").await;
    let other = submit(&app, "Keyboard missing keys").await;
    let sel = item(&id);
    browser
        .run(async {
            let admin = open(&browser, &app, DESKTOP).await;
            let viewer = open(&browser, &app, DESKTOP).await;
            // No admin controls before signing in.
            assert_eq!(admin.js("document.querySelectorAll('.t-admin').length").await, 0);
            login(&admin, &admin_password(&app)).await;
            admin
                .wait_for("admin controls", "document.querySelectorAll('.t-admin').length === 2")
                .await;
            assert_eq!(viewer.js("document.querySelectorAll('.t-admin').length").await, 0);

            admin.find(&format!("{sel} button[data-action=toggle]")).await.click().await;
            let resolved = format!(
                "(() => {{ const li = document.querySelector('{sel}'); return li && li.classList.contains('resolved') && parseFloat(getComputedStyle(li).opacity) < 0.9; }})()",
                sel = sel.replace('\'', "\\'")
            );
            viewer.wait_for("the ticket resolved in the other page", &resolved).await;
            viewer
                .wait_for("resolved stats", "document.getElementById('s-resolved').textContent === '1'")
                .await;
            admin
                .wait_for(
                    "a Reopen button",
                    &format!("document.querySelector('{} button[data-action=toggle]').textContent === 'Reopen'", sel.replace('\'', "\\'")),
                )
                .await;

            // The priority selector.
            admin.find(&format!("{sel} select option[value=CRITICAL]")).await.click().await;
            viewer
                .wait_for(
                    "the new priority in the other page",
                    &format!("document.querySelector('{} .badge').textContent === 'Critical'", sel.replace('\'', "\\'")),
                )
                .await;

            // Delete with confirmation, then clear all with confirmation.
            admin.find(&format!("{} button[data-action=delete]", item(&other))).await.click().await;
            admin.wait_for("the confirmation", "document.getElementById('confirm').open").await;
            admin.find("#confirm-ok").await.click().await;
            viewer
                .wait_for("the deleted ticket gone", "document.querySelectorAll('#ticket-list > li').length === 1")
                .await;
            admin.find("#clear-button").await.click().await;
            admin.wait_for("the confirmation", "document.getElementById('confirm').open").await;
            assert!(admin.find("#confirm-text").await.text().await.contains("1 ticket"));
            admin.find("#confirm-ok").await.click().await;
            viewer
                .wait_for(
                    "an empty board",
                    "document.querySelectorAll('#ticket-list > li').length === 0 && !document.getElementById('empty').hidden",
                )
                .await;

            // Sign out: the controls go, the form comes back.
            admin.find("#logout-button").await.click().await;
            admin
                .wait_for("the sign-in form", "!document.getElementById('login-form').hidden")
                .await;
            assert_eq!(admin.js("sessionStorage.length").await, 0);
            assert_no_console_errors(&admin).await;
            assert_no_console_errors(&viewer).await;
        })
        .await;
}

#[tokio::test]
async fn hostile_description_renders_as_text_and_runs_nothing() {
    let Some(browser) = Browser::start("hostile_description_renders_as_text").await else {
        return;
    };
    let app = spawn_app().await;
    const HOSTILE: &str = "<img src=x onerror=alert(1)>";
    const SYSTEM: &str = "\"><svg onload=alert(2)>";
    const REQUESTER: &str = "<script>alert(3)</script>";
    browser
        .run(async {
            let one = open(&browser, &app, DESKTOP).await;
            let two = open(&browser, &app, DESKTOP).await;
            submit_in_page(&one, HOSTILE, SYSTEM, REQUESTER).await;
            for page in [&one, &two] {
                page.wait_for("the hostile ticket", "document.querySelectorAll('#ticket-list > li').length === 1")
                    .await;
                let id = listed_ids(page).await.remove(0);
                assert_eq!(description_of(page, &id).await, HOSTILE);
                let meta = page.find(&format!("{} .t-meta", item(&id))).await.text().await;
                assert!(meta.contains(SYSTEM) && meta.contains(REQUESTER), "{meta}");
                assert_eq!(
                    page.js("document.querySelectorAll('#ticket-list img, #ticket-list svg, #ticket-list script').length")
                        .await,
                    0
                );
                // Give a stray handler time to fire, then check nothing did.
                tokio::time::sleep(Duration::from_millis(300)).await;
                assert_eq!(page.alert_text().await, None, "an alert opened");
                assert_no_console_errors(page).await;
            }
        })
        .await;
}

#[tokio::test]
async fn page_reconnects_and_resyncs_after_the_server_restarts() {
    let Some(browser) = Browser::start("page_reconnects_and_resyncs").await else {
        return;
    };
    let mut app = spawn_app().await;
    let kept = submit(&app, "Kept across the restart").await;
    let gone = submit(&app, "Deleted while the page was away").await;
    let page = open(&browser, &app, DESKTOP).await;
    browser
        .run(async {
            page.wait_for("two tickets", "document.querySelectorAll('#ticket-list > li').length === 2")
                .await;
            app.stop();
            page.wait_for(
                "the indicator to leave connected",
                "['reconnecting', 'offline'].includes(document.getElementById('conn').dataset.state)",
            )
            .await;

            app.restart_same_port().await;
            // Changes the page can only learn from the resync (unless it is
            // already back, when it hears them live: either way it must end
            // with exactly these tickets).
            let http = app.http();
            let token: Value = http
                .post(format!("{}/api/auth/login", app.base_url()))
                .json(&json!({"username": "admin", "password": admin_password(&app)}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let token = token["token"].as_str().unwrap();
            let deleted = http
                .delete(format!("{}/api/tickets/{gone}", app.base_url()))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(deleted.status(), 200);
            let added = submit(&app, "Submitted while the page was away").await;

            page.wait_for_within(
                "the page to reconnect",
                "document.getElementById('conn').dataset.state === 'connected'",
                Duration::from_secs(30),
            )
            .await;
            page.wait_for(
                "the resynced list",
                &format!(
                    "(() => {{ const ids = [...document.querySelectorAll('#ticket-list > li:not(.leaving)')].map(li => li.dataset.id); return ids.length === 2 && ids.includes('{kept}') && ids.includes('{added}'); }})()"
                ),
            )
            .await;
            let ids = listed_ids(&page).await;
            assert_eq!(ids, vec![added.clone(), kept.clone()], "newest first, no duplicates");
            assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());
            page.wait_for("stats after the resync", "document.getElementById('s-total').textContent === '2'")
                .await;
            // And it is live again.
            let live = submit(&app, "After the reconnect").await;
            page.wait_for("a live ticket", &format!("document.querySelector('#ticket-list li[data-id=\"{live}\"]')"))
                .await;
            assert_eq!(listed_ids(&page).await.len(), 3);
        })
        .await;
}

#[tokio::test]
async fn phone_width_has_no_horizontal_scroll() {
    let Some(browser) = Browser::start("phone_width_has_no_horizontal_scroll").await else {
        return;
    };
    let app = spawn_app().await;
    let long_word = "x".repeat(300);
    app.submit_http(&format!("Unbroken text: {long_word}"))
        .await;
    app.submit_http("The whole finance department cannot log in to SAP since 9:00, payroll run is blocked today")
        .await;
    app.submit_http("Printer on floor 3 jams every morning\nand shows error E-204 on the panel")
        .await;
    let resp = app
        .http()
        .post(format!("{}/api/tickets", app.base_url()))
        .json(&json!({"description": "Database replica lagging", "system": "y".repeat(100), "requester": "z".repeat(100)}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    let no_scroll = "document.documentElement.scrollWidth <= document.documentElement.clientWidth";
    browser
        .run(async {
            let phone = open(&browser, &app, PHONE).await;
            phone
                .wait_for(
                    "four tickets",
                    "document.querySelectorAll('#ticket-list > li').length === 4",
                )
                .await;
            assert_eq!(phone.js("window.innerWidth").await, 375);
            phone
                .js("document.querySelectorAll('.why').forEach(d => d.open = true)")
                .await;
            assert_eq!(
                phone.js(no_scroll).await,
                true,
                "horizontal scroll at 375px"
            );
            phone.save_full_screenshot(PHONE, "phone-light").await;

            login(&phone, &admin_password(&app)).await;
            phone
                .wait_for(
                    "admin controls",
                    "document.querySelectorAll('.t-admin').length === 4",
                )
                .await;
            assert_eq!(
                phone.js(no_scroll).await,
                true,
                "horizontal scroll at 375px as admin"
            );
            // Some variety for the screenshots: a resolved ticket, other priorities.
            let ids = listed_ids(&phone).await;
            phone.find(&format!("{} button[data-action=toggle]", item(&ids[3]))).await.click().await;
            for (id, priority) in [(&ids[1], "CRITICAL"), (&ids[2], "HIGH"), (&ids[0], "MEDIUM")] {
                phone.find(&format!("{} select option[value={priority}]", item(id))).await.click().await;
            }
            phone
                .wait_for("the changes", "document.querySelectorAll('.ticket.resolved, .ticket.prio-critical, .ticket.prio-high, .ticket.prio-medium').length === 4")
                .await;
            assert_eq!(phone.js(no_scroll).await, true);
            let dark_phone = View {
                dark: true,
                ..PHONE
            };
            phone.emulate(dark_phone).await;
            assert_eq!(
                phone
                    .js("matchMedia('(prefers-color-scheme: dark)').matches")
                    .await,
                true
            );
            assert_eq!(phone.js(no_scroll).await, true);
            phone
                .save_full_screenshot(dark_phone, "phone-dark-admin")
                .await;

            let desktop = open(&browser, &app, DESKTOP).await;
            desktop
                .wait_for(
                    "four tickets",
                    "document.querySelectorAll('#ticket-list > li').length === 4",
                )
                .await;
            desktop.save_full_screenshot(DESKTOP, "desktop-light").await;
            let dark = View {
                dark: true,
                ..DESKTOP
            };
            desktop.emulate(dark).await;
            desktop
                .find("#ticket-list > li .why summary")
                .await
                .click()
                .await;
            desktop.save_full_screenshot(dark, "desktop-dark").await;
            assert_no_console_errors(&phone).await;
            assert_no_console_errors(&desktop).await;
        })
        .await;
}

#[tokio::test]
async fn admin_session_survives_a_reload_and_ends_at_its_expiry() {
    let Some(browser) = Browser::start("admin_session_expiry").await else {
        return;
    };
    let app = spawn_with(Options {
        args: vec!["--session-ttl".into(), "6s".into()],
        envs: vec![],
    })
    .await;
    submit(&app, "Projector in room 2 flickers").await;
    browser
        .run(async {
            let page = open(&browser, &app, DESKTOP).await;
            login(&page, &admin_password(&app)).await;
            assert!(
                page.find("#admin-expiry")
                    .await
                    .text()
                    .await
                    .starts_with("in ")
            );
            // A reload in the same tab keeps the session (sessionStorage).
            page.goto(&format!("{}/", app.base_url())).await;
            wait_live(&page).await;
            page.wait_for(
                "the restored session",
                "!document.getElementById('admin-panel').hidden && document.querySelectorAll('.t-admin').length === 1",
            )
            .await;
            // At the expiry the page signs out by itself and says why.
            page.wait_for(
                "the sign-out at expiry",
                "!document.getElementById('login-form').hidden && document.querySelectorAll('.t-admin').length === 0",
            )
            .await;
            assert!(
                page.find("#login-status")
                    .await
                    .text()
                    .await
                    .contains("expired")
            );
            assert_eq!(page.js("sessionStorage.length").await, 0);
            assert_no_console_errors(&page).await;
        })
        .await;
}

#[tokio::test]
async fn a_ticket_the_analyzer_is_unsure_is_critical_is_marked_review_first() {
    let Some(browser) =
        Browser::start("a_ticket_the_analyzer_is_unsure_is_critical_is_marked_review_first").await
    else {
        return;
    };
    let app = spawn_app().await;
    // CRITICAL and HIGH are close for this one (the analyzer says so).
    let unsure = json!({
        "description": "The whole warehouse night shift (~15 people) gets 'Account disabled' on the handheld scanner app. They're standing around and nothing is being picked.",
        "system": "Warehouse scanners",
        "requester": "Night shift lead"
    });
    let resp = app
        .http()
        .post(format!("{}/api/tickets", app.base_url()))
        .json(&unsure)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let ticket: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(ticket["priority"], "CRITICAL");
    assert_eq!(ticket["analysis"]["needs_review"], true, "{ticket}");
    let unsure_id = ticket["request_id"].as_str().unwrap().to_string();
    let sure_id = submit(&app, "Could I get a second monitor for my desk? No rush.").await;
    browser
        .run(async {
            let page = open(&browser, &app, DESKTOP).await;
            page.wait_for(
                "the review mark on the unsure ticket",
                &format!(
                    "document.querySelector('{} .chip-review')?.textContent === 'Review first'",
                    item(&unsure_id)
                ),
            )
            .await;
            assert_eq!(
                page.js(&format!(
                    "document.querySelector('{} .chip-review') === null",
                    item(&sure_id)
                ))
                .await,
                true,
                "a clear ticket is not marked"
            );
            assert_no_console_errors(&page).await;
        })
        .await;
}

/// Makes the page note the URL of every WebSocket it opens in
/// `window.__wsUrls` (the page's own code is unchanged: it looks
/// `WebSocket` up at each connection).
async fn record_sockets(page: &Page) {
    page.js(
        "(() => { \
           window.__wsUrls = window.__wsUrls || []; \
           window.__NativeWebSocket = window.__NativeWebSocket || window.WebSocket; \
           window.WebSocket = class extends window.__NativeWebSocket { \
             constructor(url, protocols) { window.__wsUrls.push(String(url)); super(url, protocols); } \
           }; \
           return true; \
         })()",
    )
    .await;
}

/// Cuts the page's connection without touching the server: the socket is
/// closed (as when the browser goes offline) and every reconnection attempt
/// fails at once until [`reconnect`].
async fn disconnect(page: &Page) {
    record_sockets(page).await;
    page.js("(() => { \
           window.WebSocket = class extends EventTarget { \
             static CONNECTING = 0; static OPEN = 1; static CLOSING = 2; static CLOSED = 3; \
             constructor(url) { \
               super(); window.__wsUrls.push(String(url)); this.readyState = 3; \
               setTimeout(() => this.dispatchEvent(new Event('close')), 0); \
             } \
             send() {} \
             close() {} \
           }; \
           window.dispatchEvent(new Event('offline')); \
           return true; \
         })()")
        .await;
}

/// Lets the page connect again, and tells it to try now.
async fn reconnect(page: &Page) {
    record_sockets(page).await;
    page.js("(() => { window.dispatchEvent(new Event('online')); return true; })()")
        .await;
}

/// The URL of the last WebSocket the page opened, as [`record_sockets`] saw it.
async fn last_socket_url(page: &Page) -> String {
    page.js("window.__wsUrls[window.__wsUrls.length - 1]")
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Like [`assert_no_console_errors`], but a failed WebSocket connection
/// (the server was down on purpose) is expected.
async fn assert_no_console_errors_but_reconnects(page: &Page) {
    let entries = page.console().await;
    let errors: Vec<&Value> = entries
        .iter()
        .filter(|e| e["level"] == "SEVERE")
        .filter(|e| {
            !e["message"]
                .as_str()
                .unwrap_or_default()
                .contains("WebSocket connection to")
        })
        .collect();
    assert!(
        errors.is_empty(),
        "console errors:\n{}",
        errors
            .iter()
            .map(|e| e["message"].to_string())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

async fn text_of(page: &Page, id: &str) -> String {
    page.eval(
        "return document.getElementById(arguments[0]).textContent;",
        json!([id]),
    )
    .await
    .as_str()
    .unwrap_or_default()
    .to_string()
}

#[tokio::test]
async fn page_resumes_after_a_server_restart() {
    let Some(browser) = Browser::start("page_resumes_after_a_server_restart").await else {
        return;
    };
    let mut app = spawn_app().await;
    let first = submit(&app, "Laptop battery is swollen and the lid does not close").await;
    let page = open(&browser, &app, DESKTOP).await;
    browser
        .run(async {
            page.wait_for("the first sync", "document.body.dataset.sync === 'full'")
                .await;
            page.wait_for(
                "one ticket",
                "document.querySelectorAll('#ticket-list > li').length === 1",
            )
            .await;
            assert_eq!(text_of(&page, "sync-status").await, "");
            record_sockets(&page).await;

            app.stop();
            page.wait_for(
                "the indicator to leave connected",
                "['reconnecting', 'offline'].includes(document.getElementById('conn').dataset.state)",
            )
            .await;
            // While the server is down the page keeps what it has.
            assert_eq!(listed_ids(&page).await, vec![first.clone()]);
            assert_eq!(page.js("document.body.dataset.sync").await, "full");

            app.restart_same_port().await;
            // The page was up to date: it resumes with nothing to replay,
            // and gets no initial_tickets.
            page.wait_for_within(
                "the page to resume",
                "document.getElementById('conn').dataset.state === 'connected' && document.body.dataset.sync === 'recovered'",
                Duration::from_secs(30),
            )
            .await;
            let url = last_socket_url(&page).await;
            assert!(
                url.contains("/ws?epoch=") && url.contains("&since="),
                "the page resumed with {url}"
            );
            assert_eq!(
                text_of(&page, "sync-status").await,
                "Reconnected: nothing was missed."
            );
            assert_eq!(listed_ids(&page).await, vec![first.clone()]);

            // And it is live: a ticket submitted over HTTPS shows up.
            let added = submit(&app, "Docking station not detected after the update").await;
            page.wait_for(
                "the ticket submitted after the restart",
                &format!("document.querySelector('#ticket-list li[data-id=\"{added}\"]')"),
            )
            .await;
            assert_eq!(listed_ids(&page).await, vec![added.clone(), first.clone()]);
            page.wait_for("live stats", "document.getElementById('s-total').textContent === '2'")
                .await;
            assert_eq!(page.js("document.body.dataset.sync").await, "recovered");
            assert_eq!(text_of(&page, "shown").await, "2 tickets");
            assert_no_console_errors_but_reconnects(&page).await;
        })
        .await;
}

#[tokio::test]
async fn page_catches_up_on_changes_missed_while_disconnected() {
    let Some(browser) = Browser::start("page_catches_up_on_changes_missed").await else {
        return;
    };
    let app = spawn_app().await;
    let kept = submit(&app, "Kept, and resolved while the page was away").await;
    let gone = submit(&app, "Deleted while the page was away").await;
    let other = submit(&app, "Untouched while the page was away").await;
    browser
        .run(async {
            let page = open(&browser, &app, DESKTOP).await;
            page.wait_for(
                "three tickets",
                "document.querySelectorAll('#ticket-list > li').length === 3",
            )
            .await;
            page.wait_for("the first sync", "document.body.dataset.sync === 'full'")
                .await;

            disconnect(&page).await;
            page.wait_for(
                "the indicator to leave connected",
                "['reconnecting', 'offline'].includes(document.getElementById('conn').dataset.state)",
            )
            .await;

            // Three changes the page can only learn from the replay.
            let token = app.login_token("admin", &admin_password(&app)).await;
            let http = app.http();
            let deleted = http
                .delete(format!("{}/api/tickets/{gone}", app.base_url()))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(deleted.status(), 200);
            let resolved = http
                .post(format!("{}/api/tickets/{kept}/resolve", app.base_url()))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(resolved.status(), 200);
            let added = submit(&app, "Submitted while the page was away").await;
            // Still nothing: the page is not connected.
            assert_eq!(listed_ids(&page).await.len(), 3);

            reconnect(&page).await;
            page.wait_for_within(
                "the page to resume",
                "document.getElementById('conn').dataset.state === 'connected' && document.body.dataset.sync === 'recovered'",
                Duration::from_secs(20),
            )
            .await;
            let url = last_socket_url(&page).await;
            assert!(
                url.contains("/ws?epoch=") && url.contains("&since="),
                "the page resumed with {url}"
            );
            assert_eq!(
                text_of(&page, "sync-status").await,
                "Reconnected: caught up on 3 missed changes."
            );
            page.wait_for(
                "the caught-up list",
                &format!(
                    "(() => {{ const ids = [...document.querySelectorAll('#ticket-list > li:not(.leaving)')].map(li => li.dataset.id); return ids.length === 3 && ids.includes('{added}') && !ids.includes('{gone}'); }})()"
                ),
            )
            .await;
            assert_eq!(
                listed_ids(&page).await,
                vec![added.clone(), other.clone(), kept.clone()],
                "newest first, no duplicates"
            );
            assert_eq!(
                page.js(&format!(
                    "document.querySelector('{}').classList.contains('resolved')",
                    item(&kept)
                ))
                .await,
                true
            );
            page.wait_for("stats after the catch-up", "document.getElementById('s-total').textContent === '3' && document.getElementById('s-resolved').textContent === '1'")
                .await;
            // Live again.
            let live = submit(&app, "After the catch-up").await;
            page.wait_for("a live ticket", &format!("document.querySelector('{}')", item(&live).replace('\'', "\\'")))
                .await;
            assert_eq!(listed_ids(&page).await.len(), 4);
            assert_no_console_errors_but_reconnects(&page).await;
        })
        .await;
}

#[tokio::test]
async fn a_bounded_first_sync_loads_more_on_demand_and_searches_the_server() {
    let Some(browser) = Browser::start("a_bounded_first_sync_loads_more").await else {
        return;
    };
    let app = spawn_with(Options {
        args: vec!["--sync-max-tickets".into(), "3".into()],
        envs: vec![],
    })
    .await;
    // Oldest first; only the oldest mentions Zanzibar.
    let mut ids = Vec::new();
    for description in [
        "Router in the Zanzibar meeting room blinks amber",
        "Mouse cursor jumps around the screen",
        "Monitor flickers in room 4",
        "Wi-Fi drops every hour on floor 2",
        "Shared drive is read-only since this morning",
    ] {
        ids.push(submit(&app, description).await);
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let newest_first: Vec<String> = ids.iter().rev().cloned().collect();
    let visible = "[...document.querySelectorAll('#ticket-list > li:not(.leaving)')].filter(li => !li.hidden).map(li => li.dataset.id)";
    browser
        .run(async {
            let page = open(&browser, &app, DESKTOP).await;
            page.wait_for("the first sync", "document.body.dataset.sync === 'full'")
                .await;
            page.wait_for(
                "three tickets",
                "document.querySelectorAll('#ticket-list > li').length === 3",
            )
            .await;
            assert_eq!(listed_ids(&page).await, newest_first[..3].to_vec());
            assert_eq!(
                text_of(&page, "shown").await,
                "Showing the 3 most recent of 5 tickets"
            );
            assert_eq!(
                page.js("!document.getElementById('more').hidden && !document.getElementById('load-more').hidden")
                    .await,
                true,
                "a Load more button"
            );
            // The partial list's text and button fit a phone.
            let phone = open(&browser, &app, PHONE).await;
            phone
                .wait_for(
                    "the partial list on a phone",
                    "!document.getElementById('load-more').hidden && document.querySelectorAll('#ticket-list > li').length === 3",
                )
                .await;
            assert_eq!(
                phone
                    .js("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
                    .await,
                true,
                "horizontal scroll at 375px"
            );

            // A search finds the ticket that was never loaded, through the API.
            page.find("#q").await.type_text("zanzibar").await;
            page.wait_for(
                "the unloaded ticket found by the server",
                &format!(
                    "(() => {{ const li = document.querySelector('{}'); return li && !li.hidden; }})()",
                    item(&ids[0]).replace('\'', "\\'")
                ),
            )
            .await;
            let shown: Vec<String> = serde_json::from_value(page.js(visible).await).unwrap();
            assert_eq!(shown, vec![ids[0].clone()]);
            page.wait_for(
                "the count of matches",
                "document.getElementById('shown').textContent === '1 shown · 1 of 5 tickets match'",
            )
            .await;

            // Back to the list: the match stays, in its place; the rest can be loaded.
            page.find("#filters-reset").await.click().await;
            page.wait_for(
                "the whole loaded list",
                "document.querySelectorAll('#ticket-list > li:not([hidden])').length === 4",
            )
            .await;
            assert_eq!(text_of(&page, "shown").await, "Showing 4 of 5 tickets");
            page.find("#load-more").await.click().await;
            page.wait_for(
                "all five tickets",
                "document.querySelectorAll('#ticket-list > li').length === 5",
            )
            .await;
            let listed = listed_ids(&page).await;
            assert_eq!(listed, newest_first, "newest first, no duplicates");
            assert_eq!(listed.iter().collect::<HashSet<_>>().len(), 5);
            page.wait_for(
                "the Load more button to go",
                "document.getElementById('load-more').hidden",
            )
            .await;
            assert_eq!(text_of(&page, "shown").await, "5 tickets");
            assert_eq!(text_of(&page, "more-status").await, "Loaded 1 older ticket.");

            // Complete now: filtering is local again.
            page.find("#q").await.type_text("flickers").await;
            page.wait_for(
                "the local filter",
                "document.getElementById('shown').textContent === '1 of 5 shown'",
            )
            .await;
            let shown: Vec<String> = serde_json::from_value(page.js(visible).await).unwrap();
            assert_eq!(shown, vec![ids[2].clone()]);

            // A new ticket arrives live, no duplicate.
            let live = submit(&app, "Projector flickers in the board room").await;
            page.wait_for(
                "the live ticket",
                "document.getElementById('shown').textContent === '2 of 6 shown'",
            )
            .await;
            assert_eq!(listed_ids(&page).await[0], live);
            assert_no_console_errors(&page).await;
        })
        .await;
}

#[tokio::test]
async fn an_agent_takes_a_ticket_and_a_second_page_sees_it_assigned() {
    let Some(browser) = Browser::start("an_agent_takes_a_ticket").await else {
        return;
    };
    let app = staff_app().await;
    let id = submit(&app, "Laptop fan is loud and the laptop gets very hot").await;
    let sel = item(&id);
    browser
        .run(async {
            let agent = open(&browser, &app, DESKTOP).await;
            let viewer = open(&browser, &app, DESKTOP).await;
            for page in [&agent, &viewer] {
                page.wait_for("the ticket", &format!("document.querySelector('{sel}')"))
                    .await;
            }
            // Anonymous: no working controls, no My queue.
            assert_eq!(agent.js("document.querySelectorAll('.t-admin').length").await, 0);
            assert_eq!(agent.js("document.getElementById('view-mine').hidden").await, true);

            login_as(&agent, "dana", STAFF_PASSWORD).await;
            assert_eq!(text_of(&agent, "admin-role").await, "Agent");
            assert_eq!(text_of(&agent, "admin-summary").await, "Agent · dana");
            agent
                .wait_for("the working controls", "document.querySelectorAll('.t-admin').length === 1")
                .await;
            // An agent gets no admin-only control.
            assert_eq!(agent.js("document.querySelectorAll('#ticket-list [data-action=delete]').length").await, 0);
            assert_eq!(agent.js("document.getElementById('clear-button').hidden").await, true);
            assert_eq!(agent.js("document.getElementById('view-mine').hidden").await, false);
            // An open ticket offers what its status allows.
            assert_eq!(actions(&agent, &id).await, ["take", "open-assign", "open-pending", "toggle"]);
            assert_eq!(viewer.js("document.querySelectorAll('.t-admin').length").await, 0);

            agent.find(&format!("{sel} button[data-action=take]")).await.click().await;
            viewer
                .wait_for(
                    "the ticket in progress for dana in the other page",
                    &format!("{} === 'In progress · dana'", status_chip(&id)),
                )
                .await;
            assert!(
                viewer.find(&format!("{sel} .t-meta")).await.text().await.contains("dana"),
                "the assignee in the details"
            );
            agent
                .wait_for("the ticket in progress in the agent's page", &format!("{} === 'In progress · dana'", status_chip(&id)))
                .await;
            // Taken: no Take it; Unassign instead.
            assert_eq!(actions(&agent, &id).await, ["unassign", "open-assign", "open-pending", "toggle"]);
            assert_eq!(agent.js(&format!("document.querySelector('{sel} .t-note').textContent")).await, "");

            // My queue holds it, and follows what arrives live.
            agent.find("#view-mine").await.click().await;
            agent
                .wait_for("My queue pressed", "document.getElementById('view-mine').getAttribute('aria-pressed') === 'true'")
                .await;
            assert_eq!(visible_ids(&agent).await, vec![id.clone()]);
            assert_eq!(agent.js("location.search").await, "?view=mine");
            let other = submit(&app, "Printer toner is empty on floor 2").await;
            agent
                .wait_for("the new ticket, outside the queue", &format!("document.querySelector('{}')?.hidden === true", item(&other)))
                .await;
            assert_eq!(visible_ids(&agent).await, vec![id.clone()]);

            // Unassigned, in the anonymous page: only the new one.
            viewer.wait_for("the new ticket", &format!("document.querySelector('{}')", item(&other)))
                .await;
            viewer.find("#view-unassigned").await.click().await;
            viewer
                .wait_for("Unassigned pressed", "document.getElementById('view-unassigned').getAttribute('aria-pressed') === 'true'")
                .await;
            assert_eq!(visible_ids(&viewer).await, vec![other.clone()]);

            // Assigned elsewhere (another agent, over HTTPS): both views follow.
            let token = app.login_token("erin", STAFF_PASSWORD).await;
            let assigned = app
                .http()
                .post(format!("{}/api/tickets/{other}/assign", app.base_url()))
                .bearer_auth(&token)
                .json(&json!({"assignee": "dana"}))
                .send()
                .await
                .unwrap();
            assert_eq!(assigned.status(), 200);
            viewer
                .wait_for("the assigned ticket out of Unassigned", &format!("document.querySelector('{}').hidden", item(&other)))
                .await;
            assert_eq!(visible_ids(&viewer).await, Vec::<String>::new());
            assert!(!viewer.find("#empty").await.text().await.is_empty());
            agent
                .wait_for(
                    "both tickets in My queue",
                    &format!("!document.querySelector('{}').hidden && !document.querySelector('{sel}').hidden", item(&other)),
                )
                .await;

            // Resolved: done, so out of the queue.
            agent.find(&format!("{sel} button[data-action=toggle]")).await.click().await;
            agent
                .wait_for("the resolved ticket out of My queue", &format!("document.querySelector('{sel}').hidden"))
                .await;
            assert_eq!(visible_ids(&agent).await, vec![other.clone()]);
            viewer
                .wait_for("the ticket resolved in the other page", &format!("{} === 'Resolved'", status_chip(&id)))
                .await;
            assert_no_console_errors(&agent).await;
            assert_no_console_errors(&viewer).await;
        })
        .await;
}

#[tokio::test]
async fn statuses_render_and_closed_tickets_offer_no_changes() {
    let Some(browser) = Browser::start("statuses_render_and_closed_tickets").await else {
        return;
    };
    let app = staff_app().await;
    let waiting = submit(&app, "New hire needs a laptop by Monday").await;
    let done = submit(&app, "Password reset for the shared mailbox").await;
    let (wsel, dsel) = (item(&waiting), item(&done));
    const REASON: &str = "waiting for the vendor quote";
    browser
        .run(async {
            let agent = open(&browser, &app, DESKTOP).await;
            let viewer = open(&browser, &app, DESKTOP).await;
            for page in [&agent, &viewer] {
                page.wait_for("two tickets", "document.querySelectorAll('#ticket-list > li').length === 2")
                    .await;
                // The status filter offers the five statuses (and "needs work").
                let options = page.js("[...document.querySelectorAll('#fl-status option')].map(o => o.value)").await;
                assert_eq!(options, json!(["", "needs_work", "open", "in_progress", "pending", "resolved", "closed"]));
            }
            // Open tickets have no status chip.
            assert_eq!(viewer.js(&format!("{} === undefined", status_chip(&waiting))).await, true);
            login_as(&agent, "erin", STAFF_PASSWORD).await;
            agent
                .wait_for("the working controls", "document.querySelectorAll('.t-admin').length === 2")
                .await;

            // Pending, with a reason, through the inline form.
            agent.find(&format!("{wsel} button[data-action=open-pending]")).await.click().await;
            let field = format!("pr-{waiting}");
            agent
                .wait_for("the reason field, focused", &format!("document.activeElement && document.activeElement.id === '{field}'"))
                .await;
            assert_eq!(
                agent.js(&format!("document.querySelector('{wsel} button[data-action=open-pending]').getAttribute('aria-expanded')")).await,
                "true"
            );
            agent.find(&format!("#{field}")).await.type_text(REASON).await;
            agent.find(&format!("{wsel} button[data-action=pending-submit]")).await.click().await;
            for page in [&agent, &viewer] {
                page.wait_for(
                    "the pending reason",
                    &format!("{} === 'Pending: {REASON}'", status_chip(&waiting)),
                )
                .await;
            }
            agent
                .wait_for("the form to close", &format!("document.getElementById('pending-{waiting}').hidden"))
                .await;
            // Pending offers going back to work (Resume), a new reason, resolving; not closing.
            assert_eq!(
                actions(&agent, &waiting).await,
                ["take", "open-assign", "open-pending", "resume", "toggle"]
            );

            // Resolved, then closed (after a confirmation).
            agent.find(&format!("{dsel} button[data-action=toggle]")).await.click().await;
            agent
                .wait_for("Reopen and Close", &format!("document.querySelector('{dsel} button[data-action=close]')"))
                .await;
            assert_eq!(actions(&agent, &done).await, ["toggle", "close"]);
            viewer
                .wait_for("the resolved chip", &format!("{} === 'Resolved'", status_chip(&done)))
                .await;
            agent.find(&format!("{dsel} button[data-action=close]")).await.click().await;
            agent.wait_for("the confirmation", "document.getElementById('confirm').open").await;
            agent.find("#confirm-ok").await.click().await;
            let closed = format!(
                "(() => {{ const li = document.querySelector('{dsel}'); return li.classList.contains('closed') && li.querySelector('.chip-status').textContent === 'Closed'; }})()"
            );
            agent.wait_for("the closed ticket", &closed).await;
            // Dimmed like a resolved one (where nothing in it has the focus).
            viewer
                .wait_for(
                    "the closed ticket, looking done, in the other page",
                    &format!("{closed} && parseFloat(getComputedStyle(document.querySelector('{dsel}')).opacity) < 0.9"),
                )
                .await;
            // Closed is final: no working control at all, only a word on why.
            assert_eq!(
                agent.js(&format!("document.querySelectorAll('{dsel} .t-admin button, {dsel} .t-admin select, {dsel} .t-admin input').length")).await,
                0
            );
            assert_eq!(actions(&agent, &done).await, Vec::<String>::new());
            assert!(agent.find(&format!("{dsel} .t-final")).await.text().await.contains("final"));

            // The closed filter.
            viewer.find("#fl-status option[value=closed]").await.click().await;
            viewer
                .wait_for("only the closed ticket", &format!("document.querySelector('{wsel}').hidden && !document.querySelector('{dsel}').hidden"))
                .await;

            // A refused change shows the server's word under the ticket, not an
            // alert: a Close on the pending ticket, as a page that missed a
            // change would send it.
            agent
                .js(&format!("(() => {{ document.querySelector('{wsel} button[data-action=resume]').dataset.action = 'close'; return true; }})()"))
                .await;
            agent.find(&format!("{wsel} button[data-action=close]")).await.click().await;
            agent.wait_for("the confirmation", "document.getElementById('confirm').open").await;
            agent.find("#confirm-ok").await.click().await;
            agent
                .wait_for(
                    "the refusal under the ticket",
                    &format!("document.querySelector('{wsel} .t-note.error')?.textContent.includes('cannot become closed')"),
                )
                .await;
            assert_eq!(agent.alert_text().await, None, "an alert opened");
            // Still pending, for everyone.
            assert_eq!(viewer.js(&format!("{} === 'Pending: {REASON}'", status_chip(&waiting))).await, true);

            // A change made elsewhere keeps the note and shows at once: back to work over HTTPS.
            let token = app.login_token("dana", STAFF_PASSWORD).await;
            let resumed = app
                .http()
                .post(format!("{}/api/tickets/{waiting}/status", app.base_url()))
                .bearer_auth(&token)
                .json(&json!({"status": "in_progress"}))
                .send()
                .await
                .unwrap();
            assert_eq!(resumed.status(), 200);
            agent
                .wait_for("the ticket in progress for dana", &format!("{} === 'In progress · dana'", status_chip(&waiting)))
                .await;
            assert!(
                agent.find(&format!("{wsel} .t-note")).await.text().await.contains("cannot become closed"),
                "the note survives a rebuild"
            );
            assert_eq!(actions(&agent, &waiting).await, ["take", "unassign", "open-assign", "open-pending", "toggle"]);

            // A phone: a long reason wraps, nothing scrolls sideways.
            let long = "x".repeat(300);
            let pending = app
                .http()
                .post(format!("{}/api/tickets/{waiting}/status", app.base_url()))
                .bearer_auth(&token)
                .json(&json!({"status": "pending", "pending_reason": format!("vendor {long}")}))
                .send()
                .await
                .unwrap();
            assert_eq!(pending.status(), 200);
            let phone = open(&browser, &app, PHONE).await;
            phone
                .wait_for("the long reason", &format!("{}?.startsWith('Pending: vendor xxx')", status_chip(&waiting)))
                .await;
            assert_eq!(
                phone.js("document.documentElement.scrollWidth <= document.documentElement.clientWidth").await,
                true,
                "horizontal scroll at 375px"
            );

            // An admin may still delete a closed ticket, and nothing else.
            login_as(&phone, "lee", STAFF_PASSWORD).await;
            assert_eq!(text_of(&phone, "admin-role").await, "Admin");
            phone
                .wait_for("the admin's controls", &format!("document.querySelector('{dsel} .t-admin')"))
                .await;
            assert_eq!(actions(&phone, &done).await, ["delete"]);
            assert_eq!(phone.js("document.getElementById('clear-button').hidden").await, false);
            assert_eq!(
                phone.js("document.documentElement.scrollWidth <= document.documentElement.clientWidth").await,
                true,
                "horizontal scroll at 375px, signed in"
            );
            agent
                .wait_for("the long reason as staff", &format!("{}?.startsWith('Pending: vendor xxx')", status_chip(&waiting)))
                .await;
            assert_no_console_errors(&agent).await;
            assert_no_console_errors(&viewer).await;
            assert_no_console_errors(&phone).await;
        })
        .await;
}

/// A JS expression: whether `text` is anywhere in the page, in its text or
/// its markup (attributes, hidden elements, form values).
fn page_holds(text: &str) -> String {
    format!(
        "(document.documentElement.outerHTML.includes('{text}') || document.body.innerText.includes('{text}') || [...document.querySelectorAll('textarea, input')].some(f => f.value.includes('{text}')))"
    )
}

/// Opens ticket `id`'s conversation and waits until it has loaded.
async fn open_conversation(page: &Page, id: &str) {
    let sel = item(id);
    page.find(&format!("{sel} button[data-action=conv-toggle]"))
        .await
        .click()
        .await;
    page.wait_for(
        "the conversation, loaded",
        &format!(
            "(() => {{ const box = document.querySelector('{sel} .t-conv'); return box.querySelector('.c-toggle').getAttribute('aria-expanded') === 'true' && !box.querySelector('.c-body').hidden && box.querySelector('.c-loading').textContent === ''; }})()"
        ),
    )
    .await;
}

/// A JS expression: the texts of ticket `id`'s comments, oldest first.
fn comment_texts(id: &str) -> String {
    format!(
        "[...document.querySelectorAll('{} .comments > li .c-text')].map(p => p.textContent)",
        item(id)
    )
}

/// Types `text` in ticket `id`'s message box and presses `button` (its
/// `data-action`); waits for the status line to say `done`.
async fn write_comment(page: &Page, id: &str, text: &str, button: &str, done: &str) {
    let sel = item(id);
    page.find(&format!("#ct-{id}")).await.type_text(text).await;
    page.find(&format!("{sel} button[data-action={button}]"))
        .await
        .click()
        .await;
    page.wait_for(
        &format!("the status line to say {done}"),
        &format!("document.getElementById('cs-{id}').textContent.startsWith('{done}')"),
    )
    .await;
}

#[tokio::test]
async fn an_internal_note_never_appears_in_an_anonymous_page() {
    let Some(browser) = Browser::start("an_internal_note_never_appears_in_an_anonymous_page").await
    else {
        return;
    };
    let app = staff_app().await;
    let id = submit(&app, "Shared drive mapping fails after the password change").await;
    let sel = item(&id);
    // Unique words, found nowhere else on the page.
    const NOTE: &str = "zq7-internal-marker: the switch in room 12 was rebooted";
    const MARKER: &str = "zq7-internal-marker";
    const FIRST: &str = "We are looking into it";
    const REPLY: &str = "We are looking into it: please keep the drive disconnected";
    browser
        .run(async {
            let staff = open(&browser, &app, DESKTOP).await;
            let anon = open(&browser, &app, DESKTOP).await;
            for page in [&staff, &anon] {
                page.wait_for("the ticket", &format!("document.querySelector('{sel}')"))
                    .await;
            }
            // Anyone may read the public conversation; only staff and the
            // requester may write.
            open_conversation(&anon, &id).await;
            assert_eq!(
                anon.js(&format!("!document.querySelector('{sel} .c-empty').hidden")).await,
                true,
                "an empty conversation says so"
            );
            assert_eq!(
                anon.js(&format!("document.querySelectorAll('{sel} .t-conv textarea').length")).await,
                0
            );

            login_as(&staff, "dana", STAFF_PASSWORD).await;
            open_conversation(&staff, &id).await;
            write_comment(&staff, &id, NOTE, "conv-send-internal", "Internal note added.").await;
            staff
                .wait_for(
                    "the note, marked internal",
                    &format!("document.querySelector('{sel} .comment.c-internal .c-internal-label')?.textContent === 'Internal note'"),
                )
                .await;
            write_comment(&staff, &id, FIRST, "conv-send-public", "Reply sent.").await;
            staff
                .wait_for("both, oldest first", &format!("JSON.stringify({}) === JSON.stringify(['{NOTE}', '{FIRST}'])", comment_texts(&id)))
                .await;
            anon.wait_for("the public reply, live", &format!("{}.includes('{FIRST}')", comment_texts(&id)))
                .await;

            // A refusal shows next to the form, not in an alert.
            write_comment(&staff, &id, "pay\u{200B}slip", "conv-send-public", "Not sent: body").await;
            assert_eq!(
                staff.js(&format!("document.getElementById('cs-{id}').classList.contains('error') && document.getElementById('ct-{id}').getAttribute('aria-invalid') === 'true'")).await,
                true
            );
            assert_eq!(staff.alert_text().await, None, "an alert opened");
            // The browser logs the refused request itself: that, and nothing else.
            let logged = staff.console().await;
            let severe: Vec<&Value> = logged.iter().filter(|e| e["level"] == "SEVERE").collect();
            assert!(
                severe.iter().all(|e| e["message"].as_str().unwrap_or_default().contains("/comments - Failed to load resource: the server responded with a status of 400")),
                "{severe:?}"
            );
            staff.js(&format!("(() => {{ document.getElementById('ct-{id}').value = ''; return true; }})()")).await;

            // The author edits the reply; the anonymous page follows.
            let reply_id = staff
                .js(&format!("document.querySelector('{sel} .comments > li:nth-child(2)').dataset.commentId"))
                .await
                .as_str()
                .unwrap()
                .to_string();
            staff
                .find(&format!("{sel} li[data-comment-id=\"{reply_id}\"] button[data-action=c-edit]"))
                .await
                .click()
                .await;
            staff
                .wait_for("the edit box, focused", &format!("document.activeElement?.id === 'ce-{reply_id}'"))
                .await;
            staff.js(&format!("(() => {{ document.getElementById('ce-{reply_id}').value = ''; return true; }})()")).await;
            staff.find(&format!("#ce-{reply_id}")).await.type_text(REPLY).await;
            staff
                .find(&format!("{sel} li[data-comment-id=\"{reply_id}\"] button[data-action=c-save]"))
                .await
                .click()
                .await;
            staff
                .wait_for("the edited reply", &format!("JSON.stringify({}) === JSON.stringify(['{NOTE}', '{REPLY}'])", comment_texts(&id)))
                .await;
            // The note looks different from the reply.
            let backgrounds = staff
                .js(&format!(
                    "[...document.querySelectorAll('{sel} .comments > li')].map(li => getComputedStyle(li).backgroundColor)"
                ))
                .await;
            assert_ne!(backgrounds[0], backgrounds[1], "{backgrounds}");
            // Author, role and time are shown; the author may still change them.
            let head = staff.find(&format!("{sel} .comments > li .c-head")).await.text().await;
            assert!(head.contains("dana") && head.contains("Agent") && head.contains("just now"), "{head}");
            assert_eq!(
                staff
                    .js(&format!("[...document.querySelectorAll('{sel} .comments > li:first-child .c-buttons button')].map(b => b.textContent)"))
                    .await,
                json!(["Edit", "Delete"])
            );

            // The anonymous page hears the reply live, never the note.
            anon.wait_for("the edited reply, live", &format!("{}.includes('{REPLY}')", comment_texts(&id)))
                .await;
            assert_eq!(
                anon.js(&format!("document.querySelector('{sel} .comments > li .c-edited')?.textContent")).await,
                "edited"
            );
            assert_eq!(anon.js(&comment_texts(&id)).await, json!([REPLY]));
            assert_eq!(anon.js(&page_holds(MARKER)).await, false, "the note reached the anonymous page");
            assert_eq!(anon.js("document.querySelectorAll('.c-internal, .c-internal-label').length").await, 0);
            let head = anon.find(&format!("{sel} .comments > li .c-head")).await.text().await;
            assert!(head.contains("dana") && head.contains("Agent"), "{head}");
            // Nobody's to change here.
            assert_eq!(anon.js(&format!("document.querySelectorAll('{sel} .comments button').length")).await, 0);

            // Nor after a reload.
            anon.goto(&format!("{}/", app.base_url())).await;
            wait_live(&anon).await;
            anon.wait_for("the ticket", &format!("document.querySelector('{sel}')"))
                .await;
            open_conversation(&anon, &id).await;
            anon.wait_for("the public reply", &format!("{}.includes('{REPLY}')", comment_texts(&id)))
                .await;
            assert_eq!(anon.js(&comment_texts(&id)).await, json!([REPLY]));
            assert_eq!(anon.js(&page_holds(MARKER)).await, false, "the note reached the reloaded page");
            assert_eq!(
                anon.js(&format!("document.querySelector('{sel} .c-count').textContent")).await,
                "1 message"
            );

            // An admin, on a phone: every comment may be deleted; nothing
            // scrolls sideways.
            let phone = open(&browser, &app, PHONE).await;
            phone.wait_for("the ticket", &format!("document.querySelector('{sel}')")).await;
            login_as(&phone, "lee", STAFF_PASSWORD).await;
            open_conversation(&phone, &id).await;
            phone
                .wait_for("the note and the reply", &format!("{}.length === 2", comment_texts(&id)))
                .await;
            assert_eq!(
                phone.js(&format!("[...document.querySelectorAll('{sel} .comments .c-buttons')].map(b => b.textContent)")).await,
                json!(["Delete", "Delete"])
            );
            assert_eq!(
                phone.js("document.documentElement.scrollWidth <= document.documentElement.clientWidth").await,
                true,
                "horizontal scroll at 375px"
            );
            phone.save_full_screenshot(PHONE, "phone-conversation-admin").await;
            staff.save_full_screenshot(DESKTOP, "desktop-conversation-agent").await;

            // The staff member signs out: the note leaves the page at once.
            staff.find("#logout-button").await.click().await;
            staff
                .wait_for("the sign-in form", "!document.getElementById('login-form').hidden")
                .await;
            staff
                .wait_for("the note gone", &format!("!{}", page_holds(MARKER)))
                .await;
            assert_eq!(staff.js(&comment_texts(&id)).await, json!([REPLY]));
            assert_eq!(staff.js("document.querySelectorAll('.c-internal').length").await, 0);

            // The admin deletes the note: staff see "(deleted)"; the others hear nothing.
            phone
                .find(&format!("{sel} .comments > li:first-child button[data-action=c-delete]"))
                .await
                .click()
                .await;
            phone.wait_for("the confirmation", "document.getElementById('confirm').open").await;
            phone.find("#confirm-ok").await.click().await;
            phone
                .wait_for("the deleted note", &format!("document.querySelector('{sel} .comments > li:first-child .c-gone')?.textContent === '(deleted)'"))
                .await;
            assert_eq!(phone.js(&format!("document.querySelectorAll('{sel} .comments > li.c-internal').length")).await, 1);
            assert_eq!(phone.js(&page_holds(MARKER)).await, false);
            // A new public reply from the admin reaches everyone after it.
            write_comment(&phone, &id, "Fixed: the drive maps again", "conv-send-public", "Reply sent.").await;
            for page in [&anon, &staff] {
                page.wait_for("the admin's reply", &format!("{}.length === 2", comment_texts(&id)))
                    .await;
                assert_eq!(page.js(&comment_texts(&id)).await, json!([REPLY, "Fixed: the drive maps again"]));
                assert_eq!(page.js("document.querySelectorAll('.c-internal, .c-gone').length").await, 0);
            }
            assert_eq!(staff.alert_text().await, None, "an alert opened");
            assert_no_console_errors(&staff).await;
            assert_no_console_errors(&anon).await;
            assert_no_console_errors(&phone).await;
        })
        .await;
}

#[tokio::test]
async fn a_requester_replies_with_the_follow_token_from_my_tickets() {
    let Some(browser) =
        Browser::start("a_requester_replies_with_the_follow_token_from_my_tickets").await
    else {
        return;
    };
    let app = staff_app().await;
    let other = submit(&app, "Monitor cable missing at desk 14").await;
    const QUESTION: &str = "Still failing: the plotter says driver unavailable";
    const ANSWER: &str = "Please try again now, the driver was reinstalled";
    const AFTER: &str = "It broke again after the weekend";
    browser
        .run(async {
            let requester = open(&browser, &app, DESKTOP).await;
            let agent = open(&browser, &app, DESKTOP).await;
            login_as(&agent, "erin", STAFF_PASSWORD).await;
            // Nothing submitted from this browser yet.
            requester.find("#view-submitted").await.click().await;
            requester
                .wait_for("My tickets, empty", "!document.getElementById('empty').hidden")
                .await;
            assert!(requester.find("#empty").await.text().await.contains("submit from this browser"));
            requester.find("#views button[data-view='']").await.click().await;

            submit_in_page(&requester, "Cannot print to the plotter since the driver update", "Plotter", "Maya").await;
            // The follow token is kept in this browser, nowhere on the page.
            let kept = requester.js("localStorage.getItem('ticketd.follow')").await;
            let kept: Vec<Value> = serde_json::from_str(kept.as_str().unwrap()).unwrap();
            assert_eq!(kept.len(), 1, "{kept:?}");
            let id = kept[0]["request_id"].as_str().unwrap().to_string();
            let token = kept[0]["follow_token"].as_str().unwrap().to_string();
            assert!(token.len() == 64 && token.bytes().all(|b| b.is_ascii_hexdigit()), "{token}");
            assert_eq!(requester.js(&page_holds(&token)).await, false);
            let sel = item(&id);

            // My tickets: only that one.
            requester.find("#view-submitted").await.click().await;
            requester
                .wait_for("My tickets pressed", "document.getElementById('view-submitted').getAttribute('aria-pressed') === 'true'")
                .await;
            requester
                .wait_for("only the submitted ticket", &format!("document.querySelector('{}')?.hidden === true && !document.querySelector('{sel}').hidden", item(&other)))
                .await;
            assert_eq!(visible_ids(&requester).await, vec![id.clone()]);
            assert_eq!(requester.js("location.search").await, "?view=submitted");
            assert_eq!(
                requester.js(&format!("!document.querySelector('{sel} .chip-yours').hidden")).await,
                true
            );

            agent.wait_for("the new ticket", &format!("document.querySelector('{sel}')")).await;
            open_conversation(&agent, &id).await;
            // The requester answers through the follow token.
            open_conversation(&requester, &id).await;
            assert_eq!(requester.js(&format!("document.querySelector('label[for=\"ct-{id}\"]').textContent")).await, "Your reply");
            assert_eq!(
                requester.js(&format!("document.querySelectorAll('{sel} [data-action=conv-send-internal]').length")).await,
                0,
                "a requester writes no internal note"
            );
            write_comment(&requester, &id, QUESTION, "conv-send-public", "Reply sent.").await;
            agent
                .wait_for("the requester's reply, live", &format!("{}.includes('{QUESTION}')", comment_texts(&id)))
                .await;
            let head = agent.find(&format!("{sel} .comments > li .c-head")).await.text().await;
            assert!(head.contains("Maya") && head.contains("Requester"), "{head}");
            // The requester may still change their own reply; staff may not.
            assert_eq!(
                requester.js(&format!("[...document.querySelectorAll('{sel} .comments > li .c-buttons button')].map(b => b.textContent)")).await,
                json!(["Edit", "Delete"])
            );
            assert_eq!(agent.js(&format!("document.querySelectorAll('{sel} .comments button').length")).await, 0);

            // Staff answer; the requester hears it live.
            write_comment(&agent, &id, ANSWER, "conv-send-public", "Reply sent.").await;
            requester
                .wait_for("the staff reply, live", &format!("{}.includes('{ANSWER}')", comment_texts(&id)))
                .await;

            // Resolved: the requester may reopen it.
            agent.find(&format!("{sel} button[data-action=toggle]")).await.click().await;
            requester
                .wait_for("a Reopen button", &format!("{} === 'Resolved' && !document.querySelector('{sel} [data-action=conv-reopen]').hidden", status_chip(&id)))
                .await;
            requester.find(&format!("{sel} [data-action=conv-reopen]")).await.click().await;
            for page in [&requester, &agent] {
                page.wait_for("the ticket open again", &format!("document.querySelector('{sel}').dataset.status === 'open'"))
                    .await;
            }
            assert_eq!(
                requester.js(&format!("document.querySelector('{sel} [data-action=conv-reopen]').hidden")).await,
                true
            );

            // Closed: a reply starts a new ticket that continues it.
            agent.find(&format!("{sel} button[data-action=toggle]")).await.click().await;
            agent
                .wait_for("Close", &format!("document.querySelector('{sel} button[data-action=close]')"))
                .await;
            agent.find(&format!("{sel} button[data-action=close]")).await.click().await;
            agent.wait_for("the confirmation", "document.getElementById('confirm').open").await;
            agent.find("#confirm-ok").await.click().await;
            requester
                .wait_for("the closed ticket", &format!("document.querySelector('{sel}').dataset.status === 'closed'"))
                .await;
            requester
                .wait_for("the closed-ticket hint", &format!("document.getElementById('ch-{id}')?.textContent.includes('starts a new ticket')"))
                .await;
            write_comment(&requester, &id, AFTER, "conv-send-public", "Your reply started a new ticket").await;
            let kept = requester.js("localStorage.getItem('ticketd.follow')").await;
            let kept: Vec<Value> = serde_json::from_str(kept.as_str().unwrap()).unwrap();
            assert_eq!(kept.len(), 2, "the new ticket's token is kept: {kept:?}");
            let linked = kept[1]["request_id"].as_str().unwrap().to_string();
            assert_ne!(linked, id);
            let link = format!("#{}", &id[..8]);
            for page in [&requester, &agent] {
                page.wait_for(
                    "the new ticket, continuing the closed one",
                    &format!("document.querySelector('{} .chip-link')?.textContent === 'continues {link}'", item(&linked)),
                )
                .await;
                assert_eq!(description_of(page, &linked).await, AFTER);
            }
            // In My tickets too.
            requester
                .wait_for("both in My tickets", &format!("!document.querySelector('{}').hidden", item(&linked)))
                .await;
            assert_eq!(visible_ids(&requester).await, vec![linked.clone(), id.clone()]);
            assert_eq!(
                requester.js(&format!("document.querySelector('#cs-{id} a').textContent")).await,
                format!("#{}", &linked[..8])
            );

            requester.save_full_screenshot(DESKTOP, "desktop-my-tickets").await;

            // A reload keeps My tickets (this browser's storage).
            requester.goto(&format!("{}/?view=submitted", app.base_url())).await;
            wait_live(&requester).await;
            requester
                .wait_for("My tickets after a reload", &format!("document.querySelector('{}')", item(&other)))
                .await;
            assert_eq!(visible_ids(&requester).await, vec![linked.clone(), id.clone()]);
            assert_eq!(requester.alert_text().await, None, "an alert opened");
            assert_no_console_errors(&requester).await;
            assert_no_console_errors(&agent).await;
        })
        .await;
}

/// A JS expression: ticket `id`'s SLA countdown element (null without one).
fn sla_of(id: &str) -> String {
    format!("document.querySelector('{} .sla')", item(id))
}

/// Makes every page `page` loads from now on deaf to `sla_breached`: the
/// frames are dropped before the app sees them (and counted in
/// `window.__slaBreachedDropped`), so whatever turns its countdowns red is
/// the page's own clock.
async fn drop_sla_breached(page: &Page) {
    page.cdp(
        "Page.addScriptToEvaluateOnNewDocument",
        json!({"source": "(() => { \
            window.__slaBreachedDropped = 0; \
            const Native = window.WebSocket; \
            window.WebSocket = class extends Native { \
              addEventListener(type, listener, options) { \
                if (type !== 'message') return super.addEventListener(type, listener, options); \
                return super.addEventListener(type, (e) => { \
                  try { if (JSON.parse(e.data).event === 'sla_breached') { window.__slaBreachedDropped += 1; return; } } catch (_) {} \
                  listener.call(this, e); \
                }, options); \
              } \
            }; \
          })();"}),
    )
    .await;
}

/// Puts ticket `id` on pending over HTTPS as staff.
async fn set_pending(app: &TestApp, token: &str, id: &str) {
    let resp = app
        .http()
        .post(format!("{}/api/tickets/{id}/status", app.base_url()))
        .bearer_auth(token)
        .json(&json!({"status": "pending", "pending_reason": "waiting for the bank"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn an_sla_countdown_turns_amber_then_red_with_a_short_test_policy() {
    let Some(browser) = Browser::start("an_sla_countdown_turns_amber_then_red").await else {
        return;
    };
    // First response in 10 s (at risk from 5 s), resolution in 60 s, 24x7.
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let policy = dir.path().join("short-sla.toml");
    let level = "first_response_seconds = 10\nresolution_seconds = 60\n";
    std::fs::write(
        &policy,
        format!(
            "at_risk_percent = 50\nat_risk_minutes = 0\n[calendar]\nalways = true\n{}",
            ["critical", "high", "medium", "low"]
                .map(|l| format!("[targets.{l}]\n{level}"))
                .join("")
        ),
    )
    .unwrap();
    let app = spawn_in(
        dir,
        Options {
            // Wins over the quiet policy the harness puts in the environment.
            args: vec!["--sla-config".into(), policy.display().to_string()],
            envs: vec![],
        },
    )
    .await;
    let no_scroll = "document.documentElement.scrollWidth <= document.documentElement.clientWidth";
    browser
        .run(async {
            let page = open(&browser, &app, DESKTOP).await;
            // A second page that never hears `sla_breached`.
            let deaf = open(&browser, &app, DESKTOP).await;
            drop_sla_breached(&deaf).await;
            deaf.goto(&format!("{}/", app.base_url())).await;
            wait_live(&deaf).await;
            assert_eq!(deaf.js("window.__slaBreachedDropped").await, 0);

            let id = submit(&app, "Payroll export to the bank fails with a timeout").await;
            let sla = sla_of(&id);

            // Green: the first response, counting down.
            for p in [&page, &deaf] {
                p.wait_for(
                    "a green countdown to the first response",
                    &format!(
                        "{sla}?.dataset.shown === 'running' && /^Response due in \\d+ s$/.test({sla}.querySelector('.sla-text').textContent)"
                    ),
                )
                .await;
            }
            assert_eq!(page.js(&format!("getComputedStyle({sla}).color")).await, "rgb(21, 128, 61)");
            let text = page.js(&format!("{sla}.textContent")).await;
            assert!(
                text.as_str().unwrap().starts_with("SLA on track: Response due in "),
                "the state in words: {text}"
            );
            // It counts live, without any event.
            let first = page.js(&format!("{sla}.querySelector('.sla-text').textContent")).await;
            page.wait_for(
                "the countdown to tick",
                &format!("{sla}.dataset.shown !== 'running' || {sla}.querySelector('.sla-text').textContent !== {first}"),
            )
            .await;

            // Amber once the server says at risk (sla_warning, at 5 s): the
            // page does not guess the policy's threshold.
            for p in [&page, &deaf] {
                p.wait_for(
                    "the countdown turning amber on sla_warning",
                    &format!(
                        "{sla}.dataset.shown === 'at_risk' && {sla}.dataset.state === 'at_risk' && {sla}.querySelector('.sla-word')?.textContent === 'At risk' && {sla}.querySelector('.sla-text').textContent.startsWith('Response due in ')"
                    ),
                )
                .await;
            }
            assert_eq!(page.js(&format!("getComputedStyle({sla}).color")).await, "rgb(180, 83, 9)");
            assert!(page.js(&format!("{sla}.title")).await.as_str().unwrap().starts_with("At risk: the first response is due"));

            // Red at 10 s, overdue and counting.
            for p in [&page, &deaf] {
                p.wait_for(
                    "the countdown turning red, overdue",
                    &format!(
                        "{sla}.dataset.shown === 'breached' && /^Response overdue by \\d+ s$/.test({sla}.querySelector('.sla-text').textContent)"
                    ),
                )
                .await;
            }
            // The deaf page got there by its own clock, on time (not before
            // due_at), while the server's state it holds is still at risk.
            let early = deaf
                .js(&format!("Date.now() - Date.parse({sla}.dataset.due)"))
                .await
                .as_i64()
                .unwrap();
            assert!(early >= 0, "red {early} ms before due_at");
            assert_eq!(deaf.js(&format!("{sla}.dataset.state")).await, "at_risk");
            // The normal page applies the server's sla_breached.
            page.wait_for(
                "the sla_breached event applied",
                &format!("{sla}.dataset.state === 'breached' && {sla}.dataset.shown === 'breached'"),
            )
            .await;
            deaf.wait_for("the deaf page to drop sla_breached", "window.__slaBreachedDropped >= 1")
                .await;
            assert_eq!(deaf.js(&format!("{sla}.dataset.state")).await, "at_risk");
            assert_eq!(deaf.js(&format!("{sla}.dataset.shown")).await, "breached");
            assert_eq!(
                page.js(&format!("getComputedStyle({sla}).backgroundColor")).await,
                "rgb(198, 40, 40)"
            );
            assert!(page.js(&format!("{sla}.textContent")).await.as_str().unwrap().starts_with("SLA breached: Response overdue by "));
            // A ticket resolved in time says so, quietly.
            let quick = submit(&app, "Please unlock my account, locked after the holiday").await;
            let token = app.login_token("admin", &admin_password(&app)).await;
            let resolved = app
                .http()
                .post(format!("{}/api/tickets/{quick}/resolve", app.base_url()))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(resolved.status(), 200);
            page.wait_for(
                "the quiet word on the resolved ticket",
                &format!("{}?.textContent === 'Resolved in time'", sla_of(&quick)),
            )
            .await;
            page.save_full_screenshot(DESKTOP, "desktop-sla-overdue").await;
            page.emulate(PHONE).await;
            assert_eq!(page.js(no_scroll).await, true, "horizontal scroll at 375px");
            page.save_full_screenshot(PHONE, "phone-sla-overdue").await;
            page.emulate(DESKTOP).await;

            // Pending pauses the clocks: grey, "paused". First a ticket still
            // within its target.
            let calm = submit(&app, "New starter needs a VPN profile by Monday").await;
            let calm_sla = sla_of(&calm);
            page.wait_for(
                "the new ticket's countdown",
                &format!("{calm_sla}?.dataset.live === 'true'"),
            )
            .await;
            set_pending(&app, &token, &calm).await;
            let paused = |sla: &str| {
                format!(
                    "{sla}.dataset.shown === 'paused' && {sla}.dataset.state === 'paused' && {sla}.querySelector('.sla-text').textContent === 'SLA paused' && {sla}.textContent === 'SLA paused'"
                )
            };
            for p in [&page, &deaf] {
                p.wait_for("the countdown paused", &paused(&calm_sla)).await;
            }
            assert_eq!(
                page.js(&format!("getComputedStyle({calm_sla}).color")).await,
                "rgb(90, 101, 115)"
            );
            // Then the overdue one: the page shows what the server says of it.
            set_pending(&app, &token, &id).await;
            let server: Value = app
                .http()
                .get(format!("{}/api/tickets/{id}", app.base_url()))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let state = server["sla"]["first_response"]["state"].clone();
            for p in [&page, &deaf] {
                match state.as_str() {
                    // The server today: a paused clock is `paused`, overdue or not.
                    Some("paused") => p.wait_for("the overdue countdown paused", &paused(&sla)).await,
                    // The README ("stays breached"): red, not counting.
                    Some("breached") => {
                        p.wait_for(
                            "the overdue countdown, red and paused",
                            &format!(
                                "{sla}.dataset.shown === 'breached' && {sla}.querySelector('.sla-text').textContent === 'Response overdue · paused'"
                            ),
                        )
                        .await
                    }
                    _ => panic!("the first response of an overdue ticket on pending: {server}"),
                }
            }
            page.save_full_screenshot(DESKTOP, "desktop-sla-paused").await;
            assert_no_console_errors(&page).await;
            assert_no_console_errors(&deaf).await;
        })
        .await;
}

/// A JS expression: the sum of column `column` (0: the first number) of
/// the analytics table `table`.
fn column_sum(table: &str, column: usize) -> String {
    format!(
        "[...document.querySelectorAll('#{table} tbody tr')].reduce((n, tr) => n + Number(tr.querySelectorAll('td')[{column}].textContent), 0)"
    )
}

/// Waits for the analytics page's first report: three charts drawn.
async fn wait_analytics_drawn(page: &Page) {
    page.wait_for(
        "the analytics charts",
        "document.getElementById('analytics').dataset.state === 'ready' \
         && document.querySelectorAll('.an-svg svg[role=img]').length === 3 \
         && document.querySelectorAll('#c-flow polyline.an-line').length === 2 \
         && document.querySelector('#c-backlog path.an-area') \
         && document.querySelectorAll('#c-age rect.an-bar').length > 0",
    )
    .await;
}

#[tokio::test]
async fn analytics_page_draws_charts_and_follows_changes_live() {
    let Some(browser) =
        Browser::start("analytics_page_draws_charts_and_follows_changes_live").await
    else {
        return;
    };
    let app = staff_app().await;
    let mut ids = Vec::new();
    for text in [
        "Outlook crashes for the whole sales team",
        "Printer on floor 3 jams",
        "VPN drops every 15 minutes",
    ] {
        ids.push(submit(&app, text).await);
    }
    let token = app.login_token("dana", STAFF_PASSWORD).await;
    let resp = app
        .http()
        .post(format!("{}/api/tickets/{}/resolve", app.base_url(), ids[1]))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    browser
        .run(async {
            // From the board's staff panel, in the same tab: the session goes along.
            let page = open(&browser, &app, DESKTOP).await;
            login_as(&page, "dana", STAFF_PASSWORD).await;
            page.find("#analytics-link").await.click().await;
            wait_analytics_drawn(&page).await;
            assert_eq!(page.js("location.pathname").await, "/analytics");
            assert_eq!(page.js("document.getElementById('signin').hidden").await, true);
            assert_eq!(page.find("#who").await.text().await, "dana · Agent");
            page.wait_for(
                "the analytics page live",
                "document.getElementById('conn').dataset.state === 'connected'",
            )
            .await;

            // The headline figures.
            assert_eq!(page.find("#k-created").await.text().await, "3");
            assert_eq!(page.find("#k-resolved").await.text().await, "1");
            assert_eq!(page.find("#k-backlog").await.text().await, "2");

            // The created/resolved table hides behind its toggle.
            let toggle = "button[aria-controls=t-flow]";
            let expanded = format!("document.querySelector('{toggle}').getAttribute('aria-expanded')");
            assert_eq!(page.js(&expanded).await, "false");
            assert_eq!(page.js("document.getElementById('t-flow').hidden").await, true);
            page.find(toggle).await.click().await;
            assert_eq!(page.js(&expanded).await, "true");
            assert_eq!(page.js("document.getElementById('t-flow').checkVisibility()").await, true);
            assert_eq!(
                page.js("document.querySelector('#t-flow caption').textContent").await,
                "Tickets created and resolved per day (UTC)"
            );
            assert_eq!(page.js("document.querySelectorAll('#t-flow tbody tr').length").await, 30);
            assert_eq!(page.js(&column_sum("t-flow", 0)).await, 3);
            assert_eq!(page.js(&column_sum("t-flow", 1)).await, 1);
            // The other tables stay folded; the age table counts the two open tickets.
            assert_eq!(page.js("document.getElementById('t-age').hidden").await, true);
            assert_eq!(
                page.js("document.querySelector('#t-age tr[data-band=all] td:last-child').textContent").await,
                "2"
            );
            // And back.
            page.find(toggle).await.click().await;
            assert_eq!(page.js(&expanded).await, "false");
            assert_eq!(page.js("document.getElementById('t-flow').hidden").await, true);
            page.find(toggle).await.click().await;

            // Live: a ticket submitted elsewhere is counted without a reload.
            page.js("(window.analyticsMarker = 'same page', true)").await;
            submit(&app, "Scanner offline in the mail room").await;
            page.wait_for(
                "the new ticket counted in the table",
                &format!("{} === 4", column_sum("t-flow", 0)),
            )
            .await;
            assert_eq!(page.find("#k-created").await.text().await, "4");
            page.wait_for("the backlog tile", "document.getElementById('k-backlog').textContent === '3'")
                .await;
            assert_eq!(page.js("window.analyticsMarker").await, "same page");
            // The chart was drawn again with it: the age bars stack to 3.
            assert_eq!(
                page.js("document.querySelector('#c-age text.an-total').textContent").await,
                "3"
            );
            assert_no_console_errors(&page).await;
            let shot = page.save_full_screenshot(DESKTOP, "desktop-analytics").await;
            let png = std::fs::read(&shot).unwrap();
            assert!(png.len() > 1000 && png.starts_with(b"\x89PNG\r\n\x1a\n"), "{}", shot.display());

            // Straight to /analytics in a new browser: the page's own sign-in,
            // and no horizontal scroll at phone width.
            let phone = browser
                .open(&format!("{}/analytics", app.base_url()), &spki(&app), PHONE)
                .await;
            phone
                .wait_for("the sign-in form", "!document.getElementById('signin').hidden")
                .await;
            assert_eq!(phone.js("document.getElementById('report').hidden").await, true);
            phone.find("#l-username").await.type_text("lee").await;
            phone.find("#l-password").await.type_text(STAFF_PASSWORD).await;
            phone.find("#login-button").await.click().await;
            wait_analytics_drawn(&phone).await;
            assert_eq!(phone.find("#k-created").await.text().await, "4");
            assert_eq!(
                phone.js("document.documentElement.scrollWidth <= document.documentElement.clientWidth").await,
                true
            );
            // A range the server refuses is explained, the figures kept.
            phone
                .js("(document.getElementById('r-from').value = '2026-12-05', document.getElementById('r-to').value = '2026-12-01', true)")
                .await;
            phone.find("#range-apply").await.click().await;
            phone
                .wait_for(
                    "the mistake explained",
                    "document.getElementById('range-status').textContent === 'From must be on or before To.'",
                )
                .await;
            // More than 366 days: the server's refusal, shown as it says it.
            phone
                .js("(document.getElementById('r-from').value = '2024-01-01', document.getElementById('r-to').value = '2025-12-31', true)")
                .await;
            phone.find("#range-apply").await.click().await;
            phone
                .wait_for(
                    "the refusal explained",
                    "document.getElementById('range-status').textContent.startsWith('from: the range holds 731 day buckets')",
                )
                .await;
            assert_eq!(phone.find("#k-created").await.text().await, "4");
            let refused: Vec<Value> = phone.console().await;
            assert!(
                refused.iter().all(|e| e["level"] != "SEVERE"
                    || e["message"].as_str().unwrap_or_default().contains("/api/analytics?from=2024-01-01&to=2025-12-31 - Failed to load resource: the server responded with a status of 400")),
                "{refused:?}"
            );
            // Weeks, kept in the URL.
            phone.find("#range-reset").await.click().await;
            phone
                .wait_for("the last 30 days again", "document.getElementById('range-status').textContent === ''")
                .await;
            // The form shows the period drawn: 30 days, today the last.
            let from = phone.js("document.getElementById('r-from').value").await;
            let to = phone.js("document.getElementById('r-to').value").await;
            let day = |v: &Value| v.as_str().unwrap().parse::<chrono::NaiveDate>().unwrap();
            let today = chrono::Utc::now().date_naive();
            // (Yesterday if midnight UTC passed since the page loaded.)
            assert!([today, today.pred_opt().unwrap()].contains(&day(&to)), "{to}");
            assert_eq!(day(&to) - day(&from), chrono::TimeDelta::days(29));
            phone.find("#r-bucket option[value=week]").await.click().await;
            phone.find("#range-apply").await.click().await;
            phone
                .wait_for("weekly buckets", "document.querySelector('#t-flow thead th').textContent === 'Week from'")
                .await;
            assert_eq!(
                phone.js("location.search").await,
                format!("?from={}&to={}&bucket=week", from.as_str().unwrap(), to.as_str().unwrap())
            );
            let shot = phone.save_full_screenshot(PHONE, "phone-analytics").await;
            assert!(std::fs::read(&shot).unwrap().starts_with(b"\x89PNG"));
            assert_no_console_errors(&phone).await;
        })
        .await;
}
