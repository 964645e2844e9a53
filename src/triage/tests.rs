use super::*;

fn a() -> Analyzer {
    Analyzer::builtin()
}

// Diagnostics: `cargo test --lib triage::tests::dev_ -- --ignored --nocapture`
// (SHOW=3,17 picks dev lines; DESC/SYS analyze free text; EXTRA=file.jsonl
// evaluates another labelled file).

#[test]
#[ignore]
fn dev_dump() {
    let text = include_str!("../../tests/data/tickets-dev.jsonl");
    let r = eval::evaluate(&a(), text).unwrap();
    println!("{r}");
    for m in &r.misses {
        println!("{:?}", m);
    }
}

#[test]
#[ignore]
fn dev_show() {
    let want: Vec<usize> = std::env::var("SHOW")
        .unwrap_or_default()
        .split(',')
        .filter_map(|x| x.parse().ok())
        .collect();
    if let Ok(d) = std::env::var("DESC") {
        let t = a().analyze(&d, &std::env::var("SYS").unwrap_or_default());
        println!(
            "#  got {} {} {} {:?}",
            t.analysis.impact,
            t.analysis.urgency,
            t.analysis.category.as_str(),
            t.priority
        );
        for s in &t.analysis.signals {
            println!("    [{}] {:?} -> {}", s.kind, s.text, s.effect);
        }
    }
    let text = include_str!("../../tests/data/tickets-dev.jsonl");
    for (i, line) in text.lines().enumerate() {
        if !want.contains(&(i + 1)) {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = a().analyze(
            v["description"].as_str().unwrap(),
            v["system"].as_str().unwrap(),
        );
        println!("#{} {} | {}", i + 1, v["system"], v["description"]);
        println!(
            "  exp {} {} {} got {} {} {}",
            v["impact"],
            v["urgency"],
            v["category"],
            t.analysis.impact,
            t.analysis.urgency,
            t.analysis.category.as_str()
        );
        for s in &t.analysis.signals {
            println!("    [{}] {:?} -> {}", s.kind, s.text, s.effect);
        }
    }
}

fn tri(d: &str, s: &str) -> Triage {
    a().analyze(d, s)
}

fn iu(d: &str, s: &str) -> (u8, u8) {
    let t = tri(d, s);
    (t.analysis.impact, t.analysis.urgency)
}

// ---- the matrix and the score ------------------------------------------

#[test]
fn itil_matrix() {
    use Priority::*;
    let want = [
        ((1, 1), Critical),
        ((1, 2), High),
        ((2, 1), High),
        ((1, 3), Medium),
        ((2, 2), Medium),
        ((3, 1), Medium),
        ((2, 3), Low),
        ((3, 2), Low),
        ((3, 3), Low),
    ];
    for ((i, u), p) in want {
        assert_eq!(Priority::from_matrix(i, u), p, "({i},{u})");
    }
}

#[test]
fn score_is_ordered_by_priority() {
    let samples = [
        (
            "Email is down for the whole company, nobody can send anything.",
            "Email",
        ),
        (
            "Ransomware is spreading on the file servers right now.",
            "File servers",
        ),
        (
            "The whole sales team cannot log in to the CRM, nothing works.",
            "CRM",
        ),
        ("Wi-Fi is slow for everyone today but still works.", "Wi-Fi"),
        ("My laptop will not turn on at all.", "Laptop"),
        ("My mouse is a bit sticky, no rush.", "Mouse"),
        (
            "Could the finance team get a new shared folder next month?",
            "File share",
        ),
        ("How do I change my email signature?", "Outlook"),
        (
            "Printer on the 2nd floor jams now and then, we use the other one.",
            "Printer",
        ),
    ];
    let mut rows: Vec<(Priority, u8)> = samples
        .iter()
        .map(|(d, s)| {
            let t = tri(d, s);
            assert!(t.priority_score <= 100);
            (t.priority, t.priority_score)
        })
        .collect();
    rows.sort();
    for w in rows.windows(2) {
        if w[0].0 < w[1].0 {
            assert!(w[0].1 < w[1].1, "{:?} must score below {:?}", w[0], w[1]);
        }
    }
    // the fixed bands hold for every level
    for (p, s) in rows {
        let band = match p {
            Priority::Low => 0..=24,
            Priority::Medium => 25..=49,
            Priority::High => 50..=74,
            Priority::Critical => 76..=100,
        };
        assert!(band.contains(&s), "{p:?} scored {s}");
    }
}

// ---- language phenomena --------------------------------------------------

#[test]
fn negation_is_not_evidence() {
    // "nothing has gone down" must not read as an outage
    let (_, u) = iu(
        "The AC in the comms room is noisy and it is 27 degrees. Nothing has gone down yet.",
        "Comms room",
    );
    assert_eq!(u, 2);
    let t = tri(
        "Nothing is lost, the mail queue is just slow for everyone.",
        "Email",
    );
    assert_eq!(t.analysis.urgency, 2);
    assert!(t.analysis.signals.iter().any(|s| s.kind == "negation"));
    // "not urgent" does not raise urgency
    let (_, u) = iu(
        "Not urgent: could you add a second monitor to my desk?",
        "Monitor",
    );
    assert_eq!(u, 3);
}

#[test]
fn hedging_lowers_minor_requests() {
    assert_eq!(
        iu(
            "quick question, how do I pin a folder in Outlook? no rush",
            "Outlook"
        ),
        (3, 3)
    );
    assert_eq!(
        iu(
            "Tiny thing: the footer on the intranet still says 2022. Fix whenever.",
            "Intranet"
        )
        .1,
        3
    );
}

#[test]
fn alarming_words_describing_something_harmless() {
    // a label template that prints CRITICAL
    let t = tri(
        "The shipping label template prints 'CRITICAL - HANDLE WITH CARE' in red. Purely cosmetic, could the font be smaller?",
        "Label printer",
    );
    assert_eq!(t.analysis.urgency, 3);
    assert_eq!(t.analysis.category, Category::Printing);
    // a phishing-test subject line
    let t = tri(
        "FYI the phishing test email with subject 'URGENT: payroll account suspended' went out to my team as planned. Nothing to do.",
        "Email",
    );
    assert_eq!(t.analysis.urgency, 3);
    assert!(t.priority <= Priority::Low);
}

#[test]
fn calm_words_for_a_real_emergency() {
    let t = tri(
        "Small thing, probably nothing - the backup job deleted all snapshots on the storage array last night.",
        "Backups",
    );
    assert_eq!(t.analysis.urgency, 1, "{:?}", t.analysis.signals);
    let t = tri(
        "Not urgent at all, but my PC smells like burning plastic and there is a bit of smoke.",
        "PC",
    );
    assert_eq!(t.analysis.urgency, 1);
    assert!(t.analysis.signals.iter().any(|s| s.kind == "hedge"));
}

#[test]
fn indirect_scope() {
    // a shift is a group, even without the word "team"
    assert_eq!(
        iu(
            "The whole night shift can't scan anything on the handhelds.",
            "Scanners"
        )
        .0,
        2
    );
    // a site is widespread
    assert_eq!(
        iu(
            "All the tills in the Leeds store froze and won't restart, we can't sell.",
            "POS"
        )
        .0,
        1
    );
    // a number of people
    assert_eq!(
        iu("About 300 users get an error when opening the app.", "App").0,
        1
    );
    assert_eq!(
        iu(
            "The 6 of us in payroll can't open the timesheet app.",
            "App"
        )
        .0,
        2
    );
    // "other floors are fine" keeps it to a group
    assert_eq!(
        iu(
            "Wi-Fi is dead on the 3rd floor. Other floors are fine.",
            "Wi-Fi"
        )
        .0,
        2
    );
    // saying which team you are in is not a statement of scope
    assert_eq!(
        iu("I'm in the sales team and my laptop won't boot.", "Laptop").0,
        3
    );
    // customers as the object of a sentence do not make it widespread
    assert_eq!(
        iu(
            "Excel crashes when I open the invoices for customers.",
            "Excel"
        )
        .0,
        3
    );
    assert_eq!(iu("Customers can't pay on the website.", "Payments").0, 1);
    // "nobody else" is one user
    assert_eq!(
        iu(
            "My H: drive is gone. Nobody else has the problem.",
            "Home drive"
        )
        .0,
        3
    );
}

#[test]
fn typos_and_shouting() {
    // typos: "evryone", "cant", "recieve", "offine"
    let t = tri(
        "evryone in the ofice cant recieve emails, server is offine!!!",
        "Email",
    );
    assert_eq!(t.analysis.impact, 1);
    assert_eq!(t.analysis.urgency, 1);
    assert_eq!(t.analysis.category, Category::Email);
    // shouting alone does not make a slow board an outage
    let t = tri(
        "URGENT!!!!! URGENT!!!!! jira is SLOW for my team, we can still work",
        "Jira",
    );
    assert_eq!(t.analysis.urgency, 2);
    assert!(t.analysis.signals.iter().any(|s| s.kind == "tone"));
}

#[test]
fn pasted_error_messages() {
    // the error text is quoted: its words count for the category, not the alarm
    let t = tri(
        "Getting 'FATAL ERROR: connection refused (ORA-12541: TNS:no listener)' in the reporting tool on my PC, I can export by hand for now.",
        "Reporting DB",
    );
    assert_eq!(t.analysis.category, Category::Database);
    assert_eq!(t.analysis.urgency, 2);
    // a log line "CRITICAL:" is a level, not a cry for help
    let t = tri(
        "The dashboard shows CRITICAL: disk 81% on the test VM. Works fine, just asking if we should clean it up.",
        "Test VM",
    );
    assert_eq!(t.analysis.urgency, 3);
}

#[test]
fn critical_system_field_raises_impact() {
    let d = "Two of the checkout pages show a layout glitch.";
    assert_eq!(iu(d, "Customer portal").0, 1);
    // the same words on an internal tool stay a group issue
    assert_eq!(
        iu(
            "Two of the report pages show a layout glitch for my team.",
            "Team wiki"
        )
        .0,
        2
    );
    // organisation-specific critical systems come from config
    let cfg = Analyzer::from_toml_str("critical_systems = [\"Nurse Call\"]").unwrap();
    let t = cfg.analyze("The panel shows an error.", "Nurse call - Ward 4");
    assert_eq!(t.analysis.impact, 1);
    assert!(t.analysis.signals.iter().any(|s| s.kind == "system"));
}

#[test]
fn signals_explain_in_words() {
    let t = tri(
        "Nobody can log in to the ERP, the whole company is stuck.",
        "ERP",
    );
    assert_eq!(t.priority, Priority::Critical);
    let s = &t.analysis.signals;
    assert!(
        s.iter()
            .any(|s| s.kind == "impact" && s.effect.contains("widespread"))
    );
    assert!(
        s.iter()
            .any(|s| s.kind == "urgency" && s.text.to_lowercase().contains("nobody"))
    );
    assert_eq!(t.analysis.model_version, MODEL_VERSION);
    assert!(t.analysis.confidence > 0.5 && t.analysis.confidence <= 1.0);
    // and serialize with the documented shape
    let v = serde_json::to_value(&t).unwrap();
    for k in [
        "impact",
        "urgency",
        "category",
        "team",
        "signals",
        "confidence",
        "model_version",
    ] {
        assert!(v["analysis"].get(k).is_some(), "{k}");
    }
    assert!(v["analysis"]["signals"][0].get("effect").is_some());
}

// ---- configuration -------------------------------------------------------

#[test]
fn config_overrides_terms_and_teams() {
    let toml = r#"
model_version = "acme-7"
critical_systems = ["Pick-to-light"]

[teams]
printing = "Warehouse IT"

[terms]
outage = ["conveyor stopped"]
group = ["pick crew"]

[categories]
printing = ["wristband"]
"#;
    let an = Analyzer::from_toml_str(toml).unwrap();
    let t = an.analyze(
        "The pick crew says the wristband thing prints blank, conveyor stopped.",
        "Labels",
    );
    assert_eq!(t.analysis.category, Category::Printing);
    assert_eq!(t.analysis.team, "Warehouse IT");
    assert_eq!(t.analysis.impact, 2);
    assert_eq!(t.analysis.urgency, 1);
    assert_eq!(t.analysis.model_version, "acme-7");
    assert_eq!(an.team_for(Category::Network), "Network Operations");
}

#[test]
fn bad_config_reports_line() {
    let e =
        Analyzer::from_toml_str("[teams]\nnetwork = \"NetOps\"\nnetwrok = \"typo\"\n").unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    let e = Analyzer::from_toml_str(
        "critical_systems = [\"EHR\"]\n\n[terms]\nharm = [\"ok\", \"  \"]\n",
    )
    .unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    assert!(e.reason.contains("no words"));
    let e = Analyzer::from_toml_str("model_version = \"x\"\n[terms\n").unwrap_err();
    assert_eq!(e.line, 2, "{e}");
    let e = Analyzer::from_toml_str("\n\n[categories]\nplumbing = [\"pipe\"]\n").unwrap_err();
    assert_eq!(e.line, 4, "{e}");
    let e = Analyzer::from_toml_str("[words]\ndevices = [\"cart\",\n  \"infusion pump\"]\n")
        .unwrap_err();
    assert_eq!(e.line, 3, "{e}");
    // the whole documented example parses
    let doc = config_example();
    Analyzer::from_toml_str(&doc).unwrap();
}

// ---- eval / cli helpers --------------------------------------------------

#[test]
fn json_line_roundtrip() {
    let an = a();
    let out = eval::triage_json_line(
        &an,
        r#"{"description":"VPN is down for all remote staff","system":"VPN","requester":"x"}"#,
    )
    .unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["priority"], "CRITICAL");
    assert!(v["priority_score"].as_u64().unwrap() > 75);
    assert_eq!(v["analysis"]["category"], "network");
    assert!(eval::triage_json_line(&an, "{\"system\":\"x\"}").is_err());
    // missing system is allowed
    assert!(eval::triage_json_line(&an, r#"{"description":"printer jammed"}"#).is_ok());
}

#[test]
fn eval_report_counts() {
    let jsonl = concat!(
        r#"{"description":"Email is down for the whole company","system":"Email","impact":1,"urgency":1,"priority":"CRITICAL","category":"email"}"#,
        "\n\n",
        r#"{"description":"How do I set an out of office?","system":"Outlook","impact":3,"urgency":3,"priority":"LOW","category":"email"}"#,
        "\n"
    );
    let r = eval::evaluate(&a(), jsonl).unwrap();
    assert_eq!(r.tickets, 2);
    assert_eq!(r.accuracy, 1.0);
    assert_eq!(r.critical_recall, 1.0);
    assert_eq!(r.confusion[3][3], 1);
    assert!(format!("{r}").contains("macro-F1"));
    let e = eval::evaluate(&a(), "{}\n").unwrap_err();
    assert_eq!(e.line, 1);
}

#[test]
#[ignore]
fn extra_dump() {
    if let Ok(p) = std::env::var("EXTRA") {
        let text = std::fs::read_to_string(p).unwrap();
        let r = eval::evaluate(&a(), &text).unwrap();
        println!("{r}");
        for (i, line) in text.lines().enumerate() {
            if !r.misses.iter().any(|m| m.line == i + 1) {
                continue;
            }
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            let t = a().analyze(
                v["description"].as_str().unwrap(),
                v["system"].as_str().unwrap(),
            );
            println!("#{} {} | {}", i + 1, v["system"], v["description"]);
            println!(
                "  exp {} {} {} got {} {} {}",
                v["impact"],
                v["urgency"],
                v["category"],
                t.analysis.impact,
                t.analysis.urgency,
                t.analysis.category.as_str()
            );
            for s in &t.analysis.signals {
                println!("    [{}] {:?} -> {}", s.kind, s.text, s.effect);
            }
        }
    }
}

#[test]
fn odd_input_never_panics() {
    let an = a();
    let long = "the server is down for everyone ".repeat(400);
    let inputs = [
        "",
        "   ",
        "!!!???...",
        "'",
        "\"unterminated quote and can't stop",
        "‘curly’ “quotes” ünïcödé 🙂 émoji – dash — dash",
        "5pm 3 pm 12:30 0xC0000005 ORA-01578 550 5.7.1 1 in 5",
        "ALL CAPS EVERYWHERE NOBODY CAN WORK",
        "a-b-c--d -- - ' ' '' \"\" ()[]{}",
        "every every every all all whole entire nobody none no one",
        &long,
    ];
    for d in inputs {
        for s in ["", "Production", "🙂"] {
            let t = an.analyze(d, s);
            assert!(t.priority_score <= 100);
            assert!((0.0..=1.0).contains(&t.analysis.confidence));
            assert!((1..=3).contains(&t.analysis.impact));
            assert!((1..=3).contains(&t.analysis.urgency));
        }
    }
}

/// The TOML example from the `config` module docs.
fn config_example() -> String {
    include_str!("config.rs")
        .lines()
        .skip_while(|l| !l.starts_with("//! ```toml"))
        .skip(1)
        .take_while(|l| !l.starts_with("//! ```"))
        .map(|l| {
            l.strip_prefix("//! ")
                .or(l.strip_prefix("//!"))
                .unwrap_or(l)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---- generalisation: concepts seen on tickets from other industries

fn check_no_empty_signal(desc: &str, system: &str) {
    let t = a().analyze(desc, system);
    for s in &t.analysis.signals {
        assert!(
            !s.text.trim().is_empty(),
            "empty signal text {s:?} for {desc:?} / {system:?}"
        );
    }
}

#[test]
fn no_signal_has_empty_text() {
    let dev = include_str!("../../tests/data/tickets-dev.jsonl");
    let mut n = 0;
    for line in dev.lines().filter(|l| !l.trim().is_empty()) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let d = v["description"].as_str().unwrap_or("");
        let s = v["system"].as_str().unwrap_or("");
        check_no_empty_signal(d, s);
        n += 1;
    }
    assert!(n >= 100);
    // defaults with nothing to quote: no scope, no urgency, no category cue
    for (d, s) in [
        ("hello", ""),
        ("", ""),
        ("", "Printer"),
        ("!!!!", ""),
        ("WHY IS THIS HAPPENING AGAIN", "Thing"),
        ("the thing near the door", ""),
        ("HV-CLUSTER-01 DEVDB02 SQLPROD01", ""),
        ("ATTENTION!!! anyone???", "Kiosk"),
    ] {
        check_no_empty_signal(d, s);
    }
    // more labelled files, e.g. held-out sets kept outside the repository:
    // TRIAGE_EXTRA=a.jsonl,b.jsonl cargo test --lib triage::tests::no_signal
    for path in std::env::var("TRIAGE_EXTRA").unwrap_or_default().split(',') {
        if path.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(path).unwrap();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            check_no_empty_signal(
                v["description"].as_str().unwrap_or(""),
                v["system"].as_str().unwrap_or(""),
            );
        }
    }
}

fn iup(desc: &str, system: &str) -> (u8, u8, Priority) {
    let t = a().analyze(desc, system);
    (t.analysis.impact, t.analysis.urgency, t.priority)
}

#[test]
fn critical_system_does_not_boost_one_persons_request() {
    let (i, _, p) = iup(
        "Could you add me to the finance shared mailbox? no rush",
        "Exchange",
    );
    assert_eq!((i, p), (3, Priority::Low));
    let (i, _, _) = iup(
        "Can I get access to the PACS viewer? I start next month.",
        "PACS",
    );
    assert_eq!(i, 3);
    // the system itself failing still counts
    let (i, u, _) = iup("Exchange is down, mail is not arriving", "Exchange");
    assert_eq!((i, u), (1, 1));
}

#[test]
fn payments_declined_everywhere_is_work_stopped() {
    let (i, u, p) = iup(
        "POS terminals in all 40 stores declining every card payment since 8am",
        "Payments",
    );
    assert_eq!((i, u, p), (1, 1, Priority::Critical));
}

#[test]
fn life_safety_failure_on_a_floor_is_widespread() {
    let (_, _, p) = iup(
        "Nurse call system not working on the whole 3rd floor, patients cannot call for help",
        "Nurse call",
    );
    assert_eq!(p, Priority::Critical);
    // equipment harm to one device stays one device
    let (i, u, _) = iup(
        "There are sparks coming from my PC, I switched it off",
        "PC",
    );
    assert_eq!((i, u), (3, 1));
}

#[test]
fn identifiers_and_the_others_that_work_are_not_scope() {
    // "Till 3" is one till; "the other 4 tills are fine" is an alternative
    let (i, u, p) = iup(
        "Till 3 in the Bristol store won't open the cash drawer. The other 4 tills are fine.",
        "Till",
    );
    assert_eq!((i, u, p), (3, 2, Priority::Low));
    // where a device is, is not who is affected
    let (i, _, _) = iup(
        "the printer in ward 7 prints everything in a tiny font",
        "Printer",
    );
    assert_eq!(i, 3);
    // "down the hall" is a direction, not an outage
    let (_, u, _) = iup(
        "Printer out of toner, can someone bring a cartridge? There's another printer down the hall.",
        "Printer",
    );
    assert!(u > 1, "urgency {u}");
}

#[test]
fn all_plural_devices_is_widespread_unless_a_rule() {
    let (i, _, _) = iup(
        "ALL SCREENS IN THE CONTROL ROOM ARE BLACK. CAN'T SEE TRAINS.",
        "Control room",
    );
    assert_eq!(i, 1);
    let (i, _, _) = iup(
        "Could you enable BitLocker on my laptop? My manager said all laptops should have it.",
        "Laptop",
    );
    assert_eq!(i, 3);
}

#[test]
fn plural_subjects_still_running_limit_scope() {
    // the other lines running is not a workaround for the stopped one
    let (i, u, p) = iup(
        "Line 2 terminal froze and the line stopped, 25 operators standing. Lines 1 and 3 still running.",
        "MES",
    );
    assert_eq!((i, u, p), (2, 1, Priority::High));
}

#[test]
fn devices_across_a_named_site_are_widespread() {
    let t = a().analyze(
        "All the tills at the Riverside store are offline, we can only take cash.",
        "Tills",
    );
    assert_eq!(t.analysis.impact, 1, "{:?}", t.analysis.signals);
    let t = a().analyze(
        "The scanners in the Leeds warehouse keep dropping off, pickers re-login each time.",
        "Scanners",
    );
    assert_eq!(t.analysis.impact, 1, "{:?}", t.analysis.signals);
    // one device at a site stays one device
    let t = a().analyze(
        "Till 2 in the Leeds store won't print receipts, the others are fine.",
        "Till",
    );
    assert_eq!(t.analysis.impact, 3, "{:?}", t.analysis.signals);
}

#[test]
fn external_populations_and_services_count_as_widespread() {
    let t = a().analyze(
        "The delivery booking portal is down, no supplier can book a delivery slot.",
        "Supplier portal",
    );
    assert_eq!(t.priority, Priority::Critical, "{:?}", t.analysis.signals);
    let t = a().analyze(
        "Tracking shows nothing for any of the 250 vans since midnight, dispatch can't plan routes.",
        "Telematics",
    );
    assert_eq!(t.analysis.impact, 1, "{:?}", t.analysis.signals);
}

#[test]
fn people_waiting_on_one_device_are_not_the_scope() {
    let t = a().analyze(
        "the computer at check-in desk 2 won't boot, customers are waiting",
        "PC",
    );
    assert_eq!(t.analysis.impact, 3, "{:?}", t.analysis.signals);
    assert_eq!(t.analysis.urgency, 1, "{:?}", t.analysis.signals);
}

#[test]
fn disclosed_credentials_are_an_incident() {
    let t = a().analyze(
        "Two people replied with their passwords to the fake payroll email that went to all staff.",
        "Email",
    );
    assert_eq!(t.analysis.urgency, 1, "{:?}", t.analysis.signals);
    assert_eq!(t.analysis.category, Category::Security);
    let t = a().analyze(
        "The service account password was posted in a public GitHub repo this morning.",
        "Active Directory",
    );
    assert_eq!(t.priority, Priority::Critical, "{:?}", t.analysis.signals);
}

#[test]
fn a_safety_system_is_nobody_in_particular() {
    let t = a().analyze(
        "The level crossing camera at Mill Lane shows a black picture, the signal box can't see the crossing.",
        "CCTV",
    );
    assert_eq!(t.priority, Priority::Critical, "{:?}", t.analysis.signals);
}

#[test]
fn counted_public_and_whole_units_read_widespread() {
    // a count of the public waiting is not a team
    assert_eq!(
        iu(
            "Booking system is down at the box office, 45 customers in the queue",
            "Box office"
        )
        .0,
        1
    );
    // "a clinic of 20 patients" belongs to one clinician
    assert_ne!(
        iu(
            "My login fails on the rota app, I have a list of 20 patients to see",
            "Rota"
        )
        .0,
        1
    );
    // every unit of a place, counted
    assert_eq!(
        iu(
            "Badge readers on all four warehouse mezzanines stopped working",
            "Access control"
        )
        .0,
        1
    );
    // a label is not a count
    assert_ne!(
        iu(
            "Cabin 212 passenger reports the seat screen is blank",
            "IFE"
        )
        .0,
        1
    );
}

#[test]
fn exposures_and_unsafe_fallbacks_are_urgent() {
    // credentials spread in public
    assert_eq!(
        iu(
            "The admin password for the booking site was posted in a public Discord chat",
            "Booking"
        )
        .1,
        1
    );
    // a password merely mentioned with a platform is not an incident
    assert_ne!(
        iu(
            "Please reset my Facebook page password, no rush",
            "Social media"
        )
        .1,
        1
    );
    // physical intrusion
    assert_eq!(
        iu(
            "A visitor tailgated staff into the comms room this morning",
            "Building security"
        )
        .1,
        1
    );
    // a risky manual fallback keeps urgency at 1
    assert_eq!(
        iu(
            "Traffic lights at the depot exit failed, a marshal is directing traffic by hand",
            "Traffic lights"
        )
        .1,
        1
    );
    // life-safety equipment that would fail when needed
    assert_eq!(
        iu(
            "Panic alarm in the pharmacy gives no tone when tested",
            "Panic alarm"
        )
        .1,
        1
    );
    // people coping with a fallback is a workaround
    assert_eq!(
        iu(
            "Card reader in the canteen is dead, we are using the cash till meanwhile",
            "Canteen"
        )
        .1,
        2
    );
}
