//! The built-in lexicon: concept cue phrases and word classes.
//!
//! Phrases are matched longest-first over stemmed tokens; a phrase may carry
//! several cues (e.g. "customer portal" is both a widespread-impact cue and a
//! software cue). Word classes drive the scope parser (quantifiers,
//! population nouns, sites, groups, numbers) and negation.

use super::Category;

/// A phrase-level concept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Concept {
    /// Scope: the whole organisation, a site, customers, production.
    Widespread,
    /// Scope hint that yields to an explicit group ("everyone has to dial in").
    WidespreadWeak,
    /// Scope: a department, team or several users.
    Group,
    /// Scope: explicitly one user or device ("only me", "nobody else").
    Single,
    /// Urgency 1, not softened by hedging: safety, harm happening now.
    Harm,
    /// Urgency 1: a security incident in progress / a compromise.
    SecurityIncident,
    /// Urgency 1: data loss stated as a phrase.
    DataLoss,
    /// Urgency 1 unless a workaround exists: work stopped, outage.
    Outage,
    /// Urgency 2: degraded service.
    Degraded,
    /// Urgency 2: intermittent fault (demotes an outage).
    Intermittent,
    /// A workaround exists (demotes an outage to urgency 2).
    Workaround,
    /// Things work / harmless.
    Reassurance,
    /// The writer plays it down ("no rush", "minor").
    Hedge,
    /// A request, question or scheduled change.
    Request,
    /// A deadline today (urgency at least 2).
    Deadline,
    /// Alarm words ("urgent", "critical") - tone, weak evidence.
    Alarm,
    /// A security threat that has not (yet) hit: phishing wave, expiring cert.
    Threat,
    /// A fault is reported without more detail ("error", "issue").
    Problem,
    /// Suppresses any other reading of the words ("fire drill").
    Neutral,
    /// Category evidence.
    Cat(Category),
}

impl Concept {
    pub fn is_category(self) -> bool {
        matches!(self, Concept::Cat(_))
    }
    pub fn is_impact(self) -> bool {
        matches!(
            self,
            Concept::Widespread | Concept::WidespreadWeak | Concept::Group | Concept::Single
        )
    }
    pub fn name(self) -> &'static str {
        match self {
            Concept::Widespread => "widespread",
            Concept::WidespreadWeak => "widespread_weak",
            Concept::Group => "group",
            Concept::Single => "single",
            Concept::Harm => "harm",
            Concept::SecurityIncident => "security_incident",
            Concept::DataLoss => "data_loss",
            Concept::Outage => "outage",
            Concept::Degraded => "degraded",
            Concept::Intermittent => "intermittent",
            Concept::Workaround => "workaround",
            Concept::Reassurance => "reassurance",
            Concept::Hedge => "hedge",
            Concept::Request => "request",
            Concept::Deadline => "deadline",
            Concept::Alarm => "alarm",
            Concept::Threat => "threat",
            Concept::Problem => "problem",
            Concept::Neutral => "neutral",
            Concept::Cat(c) => c.as_str(),
        }
    }
    /// Parses a concept name as used in the TOML `[terms]` table.
    pub fn parse(s: &str) -> Option<Concept> {
        let all = [
            Concept::Widespread,
            Concept::WidespreadWeak,
            Concept::Group,
            Concept::Single,
            Concept::Harm,
            Concept::SecurityIncident,
            Concept::DataLoss,
            Concept::Outage,
            Concept::Degraded,
            Concept::Intermittent,
            Concept::Workaround,
            Concept::Reassurance,
            Concept::Hedge,
            Concept::Request,
            Concept::Deadline,
            Concept::Alarm,
            Concept::Threat,
            Concept::Problem,
            Concept::Neutral,
        ];
        all.into_iter().find(|c| c.name() == s)
    }
}

/// Word classes (bit flags) used by the scope parser and negation.
pub mod wc {
    pub const QUANT: u32 = 1; // all, every, entire, whole
    pub const PQUANT: u32 = 1 << 1; // everyone, nobody, none, anyone
    pub const NEG: u32 = 1 << 2; // not, no, never, nothing, nobody, none, without
    pub const ORG: u32 = 1 << 3;
    pub const SITE: u32 = 1 << 4;
    pub const GROUP: u32 = 1 << 5;
    pub const POP: u32 = 1 << 6;
    pub const SHARED: u32 = 1 << 7;
    pub const DEVICE: u32 = 1 << 8;
    pub const DEPT: u32 = 1 << 9;
    pub const PREP: u32 = 1 << 10;
    pub const NPSTOP: u32 = 1 << 11;
    pub const ISING: u32 = 1 << 12; // I, me, my
    pub const WE: u32 = 1 << 13; // we, us, our
    pub const DATA: u32 = 1 << 14; // files, records, table ...
    pub const LOSS: u32 = 1 << 15; // deleted, lost, vanished ...
    pub const OTHER: u32 = 1 << 16; // other, rest, else
    pub const FINE: u32 = 1 << 17; // fine, ok, working ...
    pub const CAN: u32 = 1 << 18;
    pub const BEEN: u32 = 1 << 19;
    pub const PURPOSE: u32 = 1 << 20; // before, so, until, if
    pub const TIMEUNIT: u32 = 1 << 21;
    pub const NUMWORD: u32 = 1 << 22;
    pub const ABILITY_NEG: u32 = 1 << 23; // nobody, none, nothing, no (for "nobody ... can")
    pub const DEADLINE_PREP: u32 = 1 << 24; // by, at, before, until, due
    pub const YOU: u32 = 1 << 25; // you, i, we after "can" (question inversion)
    pub const COPING: u32 = 1 << 26; // -ing verbs after "been" that are NOT coping
    pub const SCOPE: u32 = ORG | SITE | GROUP | POP | SHARED | DEVICE | DEPT;
}

/// Word class lists: (class, words).
pub const WORD_CLASSES: &[(u32, &[&str])] = &[
    (wc::QUANT, &["all", "every", "entire", "whole"]),
    (
        wc::PQUANT,
        &["everyone", "everybody", "nobody", "none", "noone"],
    ),
    (
        wc::NEG,
        &["not", "no", "never", "nothing", "nobody", "none", "without", "neither", "nor", "noone"],
    ),
    (wc::ABILITY_NEG, &["nobody", "none", "nothing", "no", "noone", "neither"]),
    (
        wc::ORG,
        &[
            "company", "organisation", "business", "firm", "enterprise", "corporation", "trust",
            "estate", "district", "chain",
        ],
    ),
    (
        wc::SITE,
        &[
            "site", "office", "building", "branch", "store", "shop", "warehouse", "plant",
            "factory", "campus", "hospital", "clinic", "school", "hq", "headquarters",
            "location", "premises", "facility", "depot", "mill", "hotel", "restaurant",
            "practice", "surgery", "college", "university", "centre", "airport", 
            "hall", "entrance", "city", "region", "country", "organisation",
        ],
    ),
    (
        wc::GROUP,
        &[
            "team", "department", "dept", "group", "shift", "floor", "wing", "ward", 
            "crew", "squad", "class", "lab", "studio", "area", "section", "division",
            "cell", "zone", "subnet", "theatre",
            "classroom", "corridor", "aisle",
        ],
    ),
    (
        wc::POP,
        &[
            "user", "staff", "employee", "people", "person", "colleague", "coworker", "worker",
            "agent", "rep", "analyst", "engineer", "lawyer", "nurse", "doctor", "physician",
            "clinician", "teacher", "student", "pupil", "cashier", "driver", "operator",
            "manager", "hire", "intern", "starter", "member", "technician", "picker",
            "developer", "dev", "accountant", "clerk", "personnel", "associate", "volunteer",
            "guest", "account", "caller", "customer", "client", "patient", "resident",
            "shopper", "passenger", "pharmacist", "surgeon", "scientist", "designer",
            "consultant", "contractor", "packer", "courier", "admin", "administrator",
            "officer", "advisor", "receptionist", "storeman", "porter", "cook", "chef",
            "waiter", "carer", "midwife", "paramedic", 
        ],
    ),
    (
        wc::SHARED,
        &[
            "server", "system", "database", "db", "vm", "cluster", "network", "mailbox",
            "extension", "service", "application", "app", "share", "pbx", "switch",
            "domain", "dc", "host", "instance", "environment", "platform", "portal",
            "website", "site", "queue", "line", "trunk", "router", "firewall", "storage",
            "backup", "core", "dashboard", "page",
        ],
    ),
    (
        wc::DEVICE,
        &[
            "pc", "computer", "laptop", "desktop", "printer", "copier", "phone", "handset",
            "scanner", "till", "register", "terminal", "workstation", "tablet", "monitor",
            "port", "machine", "device", "kiosk", "screen", "reader", "camera", "webcam",
            "mobile", "headset", "dock", "docking", "label", "badge", "display", "tv",
            "projector", "door", "lock", "pump", "robot", "unit",
        ],
    ),
    (
        wc::DEPT,
        &[
            "hr", "finance", "sales", "marketing", "legal", "procurement", "accounting",
            "engineering", "logistics", "operations", "ops", "purchasing",
            "reception", "facilities", "research", "pharmacy", "radiology", "nursing",
            "quality", "audit", "compliance", "payroll", "billing", "collections",
            "dispatch", "production",
            "helpdesk", "admissions", "outpatients", "icu",
            "a&e", "housekeeping", "treasury",
            "recruitment", "editorial", "underwriting",
            "claims",
        ],
    ),
    (
        wc::PREP,
        &["in", "on", "at", "across", "for", "of", "from", "throughout", "within", "inside"],
    ),
    (
        wc::NPSTOP,
        &[
            "is", "are", "was", "were", "be", "been", "has", "have", "had", "got", "get",
            "can", "cant", "will", "wont", "would", "could", "just", "still", "now", "and",
            "or", "but", "who", "that", "which", "it", "they", "them", "their", "keep",
            "seem", "not", "to", "as", "since", "when", "while", "because", "so", "if",
            "went", "lost", "see", "say", "show", "do", "did", "use", "need", "may",
            "might", "should", "must", "shall", "with", "after", "before", "by", "into",
            "i", "we", "you", "he", "she", "this", "there", "here", "today", "already",
            "also", "too", "again", "then", "than",
        ],
    ),
    (wc::ISING, &["i", "me", "my", "mine", "myself"]),
    (wc::WE, &["we", "us", "our", "ours", "ourselves"]),
    (
        wc::DATA,
        &[
            "data", "file", "document", "record", "snapshot", "backup", "folder", "table",
            "database", "db", "schema", "mailbox", "correspondence", "volume", "share",
            "analysis", "photo", "spreadsheet", "history", "drive", "directory", "entry",
            "report", "chart", "result", "transaction", "order", "archive", "repository",
            "attachment", "inbox", "scan", "disk", "partition",
        ],
    ),
    (
        wc::LOSS,
        &[
            "lost", "gone", "deleted", "wiped", "vanished", "vanishing", "disappeared",
            "disappearing", "corrupted", "corrupt", "corruption", "dropped", "overwritten",
            "erased", "missing", "empty", "purged", "destroyed", "broken", "truncated",
            "lose", "losing",
        ],
    ),
    (wc::OTHER, &["other", "rest", "else", "elsewhere"]),
    (
        wc::FINE,
        &[
            "fine", "ok", "okay", "working", "running", "unaffected", "normal", "normally",
            "good", "up", "work", "works", "fine.", "normally",
        ],
    ),
    (wc::CAN, &["can"]),
    (wc::BEEN, &["been"]),
    (
        wc::PURPOSE,
        &["before", "so", "until", "if", "how", "when", "that", "whether", "unless", "once"],
    ),
    (
        wc::TIMEUNIT,
        &[
            "second", "sec", "minute", "min", "mins", "hour", "hr", "hrs", "day", "week",
            "month", "year", "time", "morning", "night", "evening", "weekend", "afternoon", "page", "job", "tries", "try", "attempt", "ms", "percent", "gb", "tb", "mb", "mbps", "kb",
        ],
    ),
    (
        wc::NUMWORD,
        &[
            "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
            "eleven", "twelve", "fifteen", "twenty", "thirty", "forty", "fifty", "dozen",
            "dozens", "hundred", "hundreds", "thousand", "thousands", "both", "several",
            "multiple", "few", "couple", "many", "some", 
        ],
    ),
    (wc::DEADLINE_PREP, &["by", "at", "before", "until", "due", "till"]),
    (wc::YOU, &["you", "i", "we", "someone", "somebody", "anyone", "the", "it", "this", "they"]),
    (wc::COPING, &["sitting", "waiting", "standing", "trying", "stuck", "looking", "calling"]),
];

/// Numeric value of a number word (few/several/multiple count as 3).
pub fn number_word_value(w: &str) -> Option<u32> {
    Some(match w {
        "one" => 1,
        "two" | "both" | "couple" => 2,
        "three" | "few" | "several" | "multiple" | "some" => 3,
        "four" => 4,
        "five" => 5,
        "six" => 6,
        "seven" => 7,
        "eight" => 8,
        "nine" => 9,
        "ten" => 10,
        "eleven" => 11,
        "twelve" | "dozen" => 12,
        "fifteen" => 15,
        "twenty" => 20,
        "dozens" | "many" => 24,
        "thirty" => 30,
        "forty" => 40,
        "fifty" => 50,
        "hundred" | "hundreds" => 100,
        "thousand" | "thousands" => 1000,
        _ => return None,
    })
}

use Concept::*;

/// Concept cue phrases.
pub const CONCEPT_TERMS: &[(Concept, &[&str])] = &[
    (
        Widespread,
        &[
            "company wide", "organisation wide", "org wide", "enterprise wide", "site wide",
            "campus wide", "hospital wide", "school wide", "store wide", "building wide",
            "network wide", "in the company", "across the company", "across the organisation",
            "whole company", "entire company", "whole organisation", "entire organisation",
            "all staff", "all users", "all employees", "every user", "every employee", "every single user", "every single person", "every single one of us",
            "all sites", "every site", "all branches", "all stores", "all locations",
            "all offices", "all departments", "every department", "everyone in the company",
            "all wards", "all schools", "all our sites", "whole site", "entire site",
            "the lot", "all customers", "every customer", "all our customers",
            "public facing", "customer facing", "production line", "production system",
            "production database", "production server", "in production", "prod",
            "the public", "our website", "public website", "webshop", "online shop",
            "checkout", "all systems", "every system", "everything is down",
            "everything is offline", "all services", "the entire network",
            "no one in the company", "nobody in the company", "all remote staff",
            "all remote users", "every vm", "every server", "all servers",
            "all databases", "every database", "all the servers", "every extension",
            "all extensions", "every mailbox", "all mailboxes", "every account",
            "all accounts", "domain wide", "all patients", "every patient", "all students",
            "all pupils", "every till", "all tills", "all registers", "all our",
        ],
    ),
    (
        WidespreadWeak,
        &[
            "customer", "customers", "client", "clients", "caller", "callers", "patient",
            "patients", "shopper", "shoppers", "passenger", "passengers", "public",
            "ransomware", "spreading", "spread", "worm", "students", "pupils",
            "guests", "visitors", "residents", "members of the public",
        ],
    ),
    (
        Group,
        &[
            "of us", "of them", "several people", "several users", "a few people",
            "a few users", "a few of us", "some of us", "some users", "some people",
            "multiple users", "multiple people", "our team", "my team", "the team",
            "customer service", "customer services", "customer support", 
            "accounts payable", "accounts receivable", "night shift",
            "day shift", "late shift", "early shift", "the whole team", "whole team",
            "entire team", "whole department", "entire department", "whole floor",
            "entire floor", "whole ward", "entire ward", "that floor", "this floor",
            "our floor", "our department", "my department", "that subnet", "that wing",
            "the floor", "our lab", "the lab team", "a handful of",
            "several of", "a few of", "machine to machine",
        ],
    ),
    (
        Single,
        &[
            "only me", "just me", "only mine", "just mine", "only my", "just my machine",
            "only i", "nobody else", "no one else", "nobody other", "only affects me",
            "only for me", "only on my", "only in my", "only happens to me",
            "it is just me", "just for me", "only my machine", "only my pc",
            "only my laptop", "only my account", "only this machine", "only this pc",
            "only one user", "a single user", "one user", "single user", "my own",
            "colleagues are fine", "colleagues are unaffected", "everyone else is fine",
            "everyone else is ok", "others are fine", "others are unaffected",
            "everyone else seem fine", "everybody else is fine", "colleague mails arrive fine",
        ],
    ),
    (
        Harm,
        &[
            "smoke", "smoking", "burning", "burning smell", "smells like burning", "fire",
            "on fire", "flames", "sparks", "sparking", "overheating", "overheated",
            "overheat", "melting", "electric shock", "safety risk", "safety issue", "safety hazard", "stuck in a lift", "stuck in an elevator", "stuck in the lift", "stuck in the elevator", "stuck in lift", "injury", "injured", 
            "unsafe", "dangerous", "hazard", "life threatening",
            "trapped", "no way to call for help", "call for help",
            "emergency phone", "emergency call", "emergency line", "flood", "flooding",
            "flooded", "water leak", "leaking", "water coming", "gas leak", "evacuate",
            "evacuation", "gas suppression", "power cut", "power outage", "power failure",
            "lost power", "no power", "on battery", "battery runtime", "runtime left",
            "minutes left", "temperature rising", "shut themselves down",
            "patient safety", "patient care", "patients waiting",
            "patients cant", "life support",
            "ventilator", "defibrillator", "cardiac", "code blue", "cant call 911",
            "cant call 999", "cant call 112", "no one gets paid", "nobody gets paid",
            "not get paid", "wont get paid", 
            "as i type", 
            "happening now", 

        ],
    ),
    (
        SecurityIncident,
        &[
            "ransomware", "encrypted", "files are encrypted", "bitcoin", "ransom",
            "breach", "breached", "data breach", "exfiltration", "exfiltrating",
            "outbound transfer", "unknown ip", "hacked", "compromised", "compromise",
            "intruder", "intrusion", "unauthorised access", "unauthorized access",
            "malware", "virus", "infected", "infection", "trojan", "keylogger", "worm",
            "ddos", "under attack", "attack", "attacker", "entered my password",
            "entered their password", "entered his password", "entered her password",
            "entered our password", "typed my password", "typed their password",
            "typed their credentials", "typed my credentials", "entered their credentials",
            "entered my credentials", "gave my password", "gave away", "clicked a link",
            "clicked the link", "clicked on a link", "clicked on the link",
            "opened the attachment", "sign ins from", "signed in from", "logged in from",
            "logged into my", "someone logged", "someone has logged", "someone is logged",
            "someone accessed", "forwarding everything", "forwarding all",
            "inbox rule", "machine to machine", "jumping from", "spreading",
            "still spreading", "impersonating", "bank details", "sent a payment", "payment to the new account", "wire transfer", "fraudulent", "fraud", "as i type", "ceo fraud", "spoofed", "crypto miner",
            "cryptominer", "fake windows defender",
        ],
    ),
    (
        DataLoss,
        &[
            "data loss", "data lost", "lost data", "lost all", "lost everything",
            "deleted all", "wiped all", "without a where clause", "without where",
            "same postal address", "overwrote", "overwritten", "is just gone",
            "are just gone", "seem to be gone", "has disappeared", "have disappeared",
            "are vanishing", "is vanishing", "data corruption", "data block corrupted",
            "corrupted", "recovery pending", "raid degraded", "lost two disks",
            "lost a disk", "disk failure", "volume is offline", "unrecognized database",
            "unrecognised database",
        ],
    ),
    (
        Outage,
        &[
            "down", "is down", "went down", "are down", "goes down", "gone down", "dead",
            "offline", "outage", "crashed", "crash", "crashes", "not working",
            "stopped working", "stopped", "stop", "not work", "not start", "not boot",
            "not load", "not respond", "not responding", "not answering", "not answer",
            "not connect", "not print", "not open", "not turn on", "not power on",
            "not register", "cant", "unable", "wont", "not able", "no way to",
            "nothing is being", "nothing prints", "nothing works", "nothing is working",
            "nothing to work on", "nothing to do", "sitting around", "standing around",
            "sitting idle", "sat around", "idle", "completely stuck", "totally stuck",
            "company is stuck", "we are stuck", "is stuck", "halted", "standstill",
            "at a standstill", "froze", "frozen", "freeze", "freezes", "hung", "hangs",
            "unreachable", "unavailable", "inaccessible", "not accessible", "blue screen",
            "died", "dies", "fail", "fails", "failed", "failure", "failing", "rejected",
            "rejects", "reject", "bounce", "bounces", "bounced", "locked out",
            "lock out", "locked", "account disabled", "disabled", "expired",
            "lost quorum", "lost the network", "lost network", "lost connection",
            "lost internet", "no network", "no internet", "no connection", "no signal",
            "no dial tone", "busy tone", "blank page", "blank white page", "white screen",
            "no lights", "no access", "no link", "on hold", "piling up",
            "queue out the door", 
            "can not", "no way", 
            "work has stopped", "cant work", "cant do any work", "stopped us",
            "cut power", "powered down", "power down", "no inbound", "no outbound",
            "no calls", "cant get online", "no email", "no mail", "not leaving",
            "not delivering", "stopped delivering", "not getting", "not receiving",
            "not receive", "not sending", "not send", "nobody can", "noone can",
            "no one can", "none of us can", "nobody is able", "kicked out",
            "throwing", "error 500", "http 500", "http 503",
            "service unavailable", "gateway timeout", "bad gateway", "no results",
            "zero results", "not post", "wont post",
        ],
    ),
    (
        Degraded,
        &[
            "slow", "slowly", "slower", "sluggish", "laggy", "lag", "lagging", "latency",
            "crawling", "crawl", "takes forever", "take forever", "takes ages",
            "takes", "taking", "took", "drop", "drops", "dropping", "disconnect",
            "disconnects", "disconnecting", "intermittent", "intermittently", "flaky",
            "unstable", "choppy", "echo", "crackle", "crackles", "crackling", "jitter",
            "packet loss", "delay", "delays", "delayed", "behind", "jam", "jams",
            "jamming", "times out", "timed out", "time out", "timeout", "timeouts",
            "logging me out", "logs me out", "sticky", "poor", "awful", "terrible",
            "painful", "painfully", "hurts", "annoying", "not ideal", "not great",
            "clunky", "slows", "slowing", "wasting", "losing time", "inconvenient",
            "complaining", "complaints", "degraded", "partially", "half the features",
            "missing", "greyed out", "grayed out", "noise", "grinding", "beeping",
            "running hot", "flickering", "flicker", "going black", "goes black",
            "blurry", "fuzzy", "out of toner", "low toner", "full",
            "nearly full", "almost full", "spam", "junk", "blocks", "blocked",
            "lasts about", "only lasts", "stripped", "not loading", "not find",
            "wrong", "incorrect", "broken", "glitch", "glitchy", "struggling",
            "backlog of", "keeps crashing", "keeps freezing", "randomly",
        ],
    ),
    (
        Intermittent,
        &[
            "intermittent", "intermittently", "sometimes", "occasionally", "often",
            "every few minutes", "every few seconds", "at a time", "now and then",
            "now and again", "from time to time", "a few times", "half the time",
            "some of the time", "randomly", "on and off", "off and on", "every so often",
            "1 in", "one in", "now and", "once in a while", "keeps dropping",
            "keep dropping", "a few times an hour",
        ],
    ),
    (
        Workaround,
        &[
            "workaround", "work around", "meanwhile", "in the meantime", "for now",
            "for the moment", "instead", "as a stopgap", "stopgap", "temporary fix",
            "by hand", "manually", "can still", "still works", "still work",
            "still working", "still happen", "still able", "still connect",
            "still run", "still print", "still order", "still log", "borrowing",
            "borrow", "borrowed", "falling back", "fall back", "fallback",
            "reconnect", "retrying works", "retry works", "retrying", "usually works",
            "have to", "has to", "having to", "had to", "tethering", "personal phone",
            "personal phones", "speakerphone", "to other", "to another", "walk it over",
            "do connect", "does connect", "do work", "does work", "web version",
            "web versions", "dial in", "phone the helpdesk", "work on the laptop",
            "workarounds", "alternative", "in the interim", "for the time being",
            "redirect", "go to the kitchen", "going to the kitchen",
        ],
    ),
    (
        Reassurance,
        &[
            "works fine", "working fine", "work fine", "is fine", "are fine",
            "works normally", "working normally", "works ok", "working ok",
            "all correct", "is correct", "nothing is wrong", "nothing wrong",
            "nothing is broken", "nothing broken", "no impact", "harmless",
            "cosmetic", "purely cosmetic", "just cosmetic", "everything works",
            "prints fine", "plays fine", "come out fine", "comes out fine",
            "no problem", "healthy", "not affected", "unaffected", "looks fine",
            "look fine", "fine otherwise", "otherwise fine", "no errors",
        ],
    ),
    (
        Hedge,
        &[
            "not urgent", "no rush", "no hurry", "low priority", "not important",
            "not a big deal", "no big deal", "minor", "small thing", "tiny thing",
            "small issue", "minor issue", "probably nothing", "just a", "nice to have",
            "whenever", "when you get a chance", "when you have time", "at some point",
            "no deadline", "not critical", "not a problem", "wish", "just wondering",
            "i suppose", "just reporting", "fyi", "for your information", "heads up",
            "just so you know", "not a breakdown", "sorry to bother", "not pressing",
            "any time", "anytime", "whenever convenient", "when convenient",
            "no urgency", "low prio", "just letting you know", "not a priority",
            "not time sensitive",
        ],
    ),
    (
        Request,
        &[
            "could you", "can you", "could we", "can we", "could i", "can i",
            "could someone", "can someone", "would it be possible", "is it possible",
            "please", "request", "requesting", "feature request", "how do i",
            "how to", "how can i", "how do we", "question", "would like", "like to",
            "we would like", "want to", "need a new", "schedule", "book", "plan",
            "planning", "next week", "next month", "next quarter", "this quarter",
            "sometime", "in a few weeks", "preventive", "preventative",
            "maintenance window", "backlog", "new starter", "new joiner", "onboarding",
            "set up", "setup", "install", "provision", "budget is approved",
            "budget approved", "add it to", "quick question", "how-to", "wondering",
            "is there a way", "could it be", "can it be", "would be great",
            "rebranding", "upgrade", "update the", "replace", "renew", "housekeeping",
            "training", "awareness", "lesson", "when possible", "next year",
            "in june", "trial it", "order", "a new", "extra", "more monitors",
        ],
    ),
    (
        Deadline,
        &[
            "today", "tonight", "this afternoon", "this evening", "by noon",
            "end of day", "end of today", "eod", "cob", "close of business",
            "within the hour", "in an hour", "in two hours", "in 2 hours",
            "tomorrow morning", "tomorrow", "deadline", "month end", "month-end",
            "year end", "before the meeting", "midnight", 
            "at noon", "by lunch", "before lunch",
        ],
    ),
    (
        Alarm,
        &[
            "urgent", "urgently", "asap", "emergency", "critical", "immediately",
            "critical issue", "sev1", "p1", "severe", "help", "now", "fatal",
            "alert", "security alert", "panic",
        ],
    ),
    (
        Threat,
        &[
            "phishing", "phish", "fake", "suspicious", "scam", "spoof", "expires",
            "expiring", "will expire", "about to expire", "vulnerability",
            "vulnerable", "cve", "unpatched", "exposed", "security warning",
            "sign in alert", "login alert", "unusual sign in", "suspicious sign in",
            "wave of", "popups", "pop ups", "keep arriving", "keeps arriving",
        ],
    ),
    (
        Problem,
        &[
            "error", "errors", "issue", "issues", "problem", "problems", "exception",
            "fault", "faulty", "faulting", "not right", "weird", "strange",
        ],
    ),
    (
        Neutral,
        &[
            "fire drill", "fire warden", "fire alarm panel", "fire safety training",
            "fire extinguisher", "fire door", "fire exit", "firewall", "fire marshal",
            "smoke test", "smoke testing", "phishing test", "phishing simulation",
            "simulated phishing", "test email", "test phish", "label template",
            "template", "down arrow", "drop down", "dropdown", "down the line",
            "shut down my pc", "drop it", "down 30", "are down 30", "sales are down",
            "back up", "if someone", "what if", "hold music", "on hold music",
            "all my other", "all my", "in the small window", "ups and downs",
            "up and down", "critical bugs", "security alert banner", "dead link",
            "dead pixel", "dead key", "fire wall", "fire fighting", "trial has expired",
            "crash course", "deadline for", "burning through", "phishing awareness", "awareness session", "awareness training", "security awareness", "toned down", "tone down", "turn down", "turned down", "calm down", "all over", "write down", "written down", "wind down", "narrow down", "narrowed down", "scroll down", "down arrow key", 
        ],
    ),
];

/// Category cue phrases with weights (1 weak .. 4 decisive).
pub const CATEGORY_TERMS: &[(Category, &[(&str, u8)])] = &[
    (
        Category::Network,
        &[
            ("network", 3), ("wi fi", 3), ("wireless", 3), ("vpn", 4), ("lan", 3),
            ("wan", 4), ("switch", 2), ("switch stack", 4), ("core switch", 4),
            ("router", 4), ("dns", 4), ("dhcp", 4), ("internet", 3), ("ethernet", 4),
            ("network port", 4), ("network point", 4), ("cable", 2), ("link", 1),
            ("packet loss", 4), ("bandwidth", 3), ("ip address", 3), ("vlan", 4),
            ("access point", 4), ("uplink", 3), ("isp", 4), ("online", 1),
            ("connectivity", 3), ("proxy", 3), ("ssid", 4), ("guest wi fi", 4),
            ("wired", 2), ("latency", 1), ("speed test", 3), ("mbps", 2),
            ("nxdomain", 4), ("resolve", 2), ("ping", 2), ("hotspot", 2),
            ("connect", 1), ("connection", 2), ("tether", 1), ("fibre", 2),
            ("broadband", 3), ("wall socket", 2), ("link light", 4), ("subnet", 1),
            ("sd wan", 4), ("mpls", 4), ("port", 1),
        ],
    ),
    (
        Category::Hardware,
        &[
            ("laptop", 3), ("pc", 2), ("desktop", 2), ("computer", 2), ("monitor", 3),
            ("keyboard", 4), ("mouse", 3), ("docking station", 4), ("dock", 2),
            ("battery", 2), ("charger", 3), ("charging", 3), ("webcam", 4),
            ("headset", 3), ("hardware", 4), ("blue screen", 3), ("boot", 2),
            ("post", 1), ("turn on", 2), ("power on", 2), ("fan", 2), ("badge reader", 4),
            ("card reader", 4), ("till", 3), ("pos", 3), ("tablet", 3), ("workstation", 2),
            ("screen", 2), ("hard drive", 3), ("ssd", 3), ("motherboard", 4), ("ram", 3),
            ("burning smell", 2), ("smell", 1), ("smoke", 1), ("usb", 1), ("trackpad", 4),
            ("touchpad", 4), ("projector", 4), ("display", 2), ("barcode scanner", 4),
            ("handheld", 2), ("power button", 4), ("replace the webcam", 4),
            ("inaccessible boot device", 4), ("case", 1), ("control pc", 4),
            ("cnc", 3), ("tv", 2), ("camera", 2), ("peripheral", 3), ("cash register", 4),
            ("scale", 2), ("kiosk", 3), ("device", 1), ("machine", 1), ("lights", 1),
        ],
    ),
    (
        Category::Software,
        &[
            ("software", 3), ("app", 2), ("application", 3), ("excel", 4), ("word", 2),
            ("powerpoint", 4), ("teams", 3), ("sap", 4), ("erp", 4), ("citrix", 4),
            ("update", 1), ("upgrade", 1), ("install", 2), ("licence", 3),
            ("licence server", 4), ("bug", 3), ("feature", 2), ("website", 3),
            ("webshop", 3), ("portal", 2), ("plugin", 4), ("jira", 4), ("grafana", 4),
            ("photoshop", 4), ("illustrator", 4), ("adobe", 4), ("solidworks", 4),
            ("lms", 4), ("intranet", 3), ("browser", 2), ("version", 2), ("crash", 2),
            ("crashes", 2), ("pivot table", 4), ("access violation", 4), ("exe", 3),
            ("dll", 3), ("php", 4), ("page", 1), ("program", 3), ("canva", 4),
            ("product image", 3), ("date picker", 4), ("footer", 3), ("search", 2),
            ("trial", 3), ("hfm", 4), ("video", 1), ("fullscreen", 2), ("gui", 3),
            ("sap gui", 4), ("salesforce", 2), ("workday", 2), ("slack", 2), ("zoom", 3),
            ("web version", 3), ("freezes", 2), ("expense", 2), ("emr", 3), ("ehr", 3),
            ("wms", 2), ("crm", 2), ("windows update", 3), ("patch", 2), ("driver", 1),
            ("screen share", 2), ("share their screen", 3), ("share my screen", 3),
            ("quickbooks", 4), ("sage", 3), ("autocad", 4), ("matlab", 4),
            ("payment terminal software", 3), ("customer portal", 4), ("online shop", 3), ("point of sale software", 4),
        ],
    ),
    (
        Category::Security,
        &[
            ("security", 3), ("phishing", 5), ("phish", 5), ("fake", 4), ("malware", 6),
            ("virus", 5), ("ransomware", 8), ("breach", 6), ("encrypted", 4),
            ("bitcoin", 6), ("compromised", 5), ("hacked", 5), ("suspicious", 4),
            ("sign in alert", 5), ("logged into my", 4), ("someone logged", 5),
            ("certificate", 5), ("tls", 5), ("ssl", 5), ("bitlocker", 10),
            ("web filter", 6), ("antivirus", 5), ("defender", 3), ("credentials", 3),
            ("fraud", 6), ("bank details", 6), ("exfiltration", 6),
            ("outbound transfer", 6), ("clicked", 4), ("click", 3), ("link", 1),
            ("scam", 5), ("spoof", 5), ("spoofed", 5), ("awareness", 6), ("phishing awareness", 8), ("security alert", 4), ("security awareness", 8), ("encryption", 6),
            ("firewall shows", 2), ("unknown ip", 5), ("popups", 3), ("pop ups", 3),
            ("forwarding everything", 5), ("inbox rule", 4), ("external gmail", 3),
            ("unauthorised", 5), ("unauthorized", 5), ("vulnerability", 5), ("cve", 5),
            ("intrusion", 6), ("ddos", 6), ("attack", 4), ("mfa fatigue", 5),
            ("security warning", 4), ("infected", 5), ("quarantine", 4), ("spam filter", 3),
            ("block the sender", 4), ("sender domain", 3), ("training", 1),
            ("reporting it", 2), ("usb stick found", 5), ("tailgating", 5), ("cctv", 3),
            ("data protection", 4), ("gdpr", 4), ("password was leaked", 5),
        ],
    ),
    (
        Category::Access,
        &[
            ("account", 3), ("log in", 3), ("log on", 3), ("sign in", 3), ("signin", 3),
            ("password", 3), ("locked out", 4), ("locked", 2), ("mfa", 4), ("2fa", 4),
            ("sso", 4), ("okta", 4), ("permission", 4), ("permissions", 4), ("access", 3),
            ("access to", 4), ("read only access", 4), ("rights", 3),
            ("active directory", 4), ("domain account", 4), ("user account", 4),
            ("disabled", 2), ("expired", 1), ("role", 3), ("kerberos", 4), ("dc", 2),
            ("domain controller", 4), ("username", 4), ("login page", 4),
            ("password reset", 5), ("authenticator", 4), ("sms code", 3),
            ("push prompt", 3), ("approve button", 2), ("greyed out", 1),
            ("new hire", 1), ("access card", 3), ("group membership", 4),
            ("sharepoint site", 2), ("share", 1), ("folder", 1), ("ldap", 4),
            ("entitlement", 4), ("privileges", 4), ("admin rights", 5),
            ("authentication", 4), ("credentials", 2),
        ],
    ),
    (
        Category::Database,
        &[
            ("database", 5), ("db", 5), ("sql", 4), ("sql server", 5), ("oracle", 4),
            ("ora", 5), ("query", 3), ("table", 3), ("schema", 4), ("replica", 4),
            ("index", 3), ("data warehouse", 5), ("deadlock", 5), ("deadlocked", 5),
            ("transaction", 2), ("dba", 5), ("dbas", 5), ("record", 2), ("records", 2),
            ("metabase", 4), ("tns", 5), ("column", 3), ("primary", 1), ("postgres", 5),
            ("mysql", 5), ("mongodb", 5), ("stored procedure", 5), ("recovery pending", 5),
            ("update without", 3), ("where clause", 5), ("invalid object name", 5),
            ("report", 1), ("reports", 1), ("dashboards", 1), ("read only user", 3),
            ("sandbox schema", 4), ("data block", 4), ("etl", 4), ("backup from", 1),
        ],
    ),
    (
        Category::Email,
        &[
            ("email", 3), ("mail", 3), ("mailbox", 4), ("shared mailbox", 5),
            ("outlook", 4), ("exchange", 4), ("inbox", 3), ("owa", 4), ("webmail", 4),
            ("out of office", 5), ("signature", 4), ("email signature", 5),
            ("calendar", 4), ("free busy", 5), ("bounce", 3), ("bounces", 3),
            ("attachment", 3), ("attachments", 3), ("smtp", 5), ("mail relay", 3),
            ("distribution list", 5), ("auto reply", 5), ("automatic reply", 5),
            ("received your message", 3), ("spam folder", 3), ("junk", 3),
            ("send or receive", 4), ("send", 1), ("receive", 1), ("spamhaus", 4),
            ("550", 2), ("mx record", 4), ("newsletter", 2), ("meeting invite", 3),
            ("external email", 3), ("external mail", 3), ("internal mail", 3),
        ],
    ),
    (
        Category::Printing,
        &[
            ("print", 4), ("printer", 5), ("printing", 5), ("printout", 5),
            ("printouts", 5), ("toner", 5), ("paper", 3), ("jam", 3), ("jamming", 4),
            ("scan to email", 6), ("scan to folder", 6), ("copier", 5), ("copiers", 5),
            ("label printer", 6), ("zebra", 4), ("print server", 6), ("print queue", 6),
            ("cover sheet", 4), ("banner page", 4), ("duplex", 4), ("black white", 3),
            ("colour toner", 5), ("ricoh", 4), ("mfp", 5), ("plotter", 5),
            ("shipping label", 3), ("labels", 2), ("label", 2), ("feed", 2),
            ("scanner", 1), ("print job", 5), ("pages", 1), ("cartridge", 5),
            ("ink", 4), ("photocopier", 5), ("spooler", 5),
        ],
    ),
    (
        Category::Telephony,
        &[
            ("phone", 4), ("phones", 4), ("desk phone", 5), ("softphone", 5), ("pbx", 5),
            ("sip", 5), ("sip trunk", 6), ("trunk", 3), ("call", 3), ("calls", 3),
            ("calling", 3), ("voicemail", 5), ("extension", 4), ("handset", 4),
            ("hotline", 5), ("hold music", 5), ("hunt group", 5), ("fax", 6),
            ("mobile", 3), ("dial", 3), ("dial tone", 5), ("ring", 2),
            ("caller", 3), ("callers", 3), ("speakerphone", 3), ("call quality", 5),
            ("inbound", 2), ("outbound calls", 5), ("greeting", 3), ("ivr", 5),
            ("switchboard", 5), ("telephone", 5), ("lift phone", 5),
            ("emergency phone", 5), ("sim", 3), ("call centre", 4), ("voip", 5),
            ("busy tone", 5), ("registration failed", 3), ("intercom", 5),
            ("pager", 4), ("bleep", 4), ("dect", 5), ("two way radio", 4),
        ],
    ),
    (
        Category::Infrastructure,
        &[
            ("server", 3), ("servers", 3), ("vm", 4), ("virtual machine", 4),
            ("cluster", 3), ("hypervisor", 5), ("vmware", 5), ("hyper v", 5),
            ("san", 5), ("nas", 5), ("storage", 4), ("raid", 5), ("disk", 3),
            ("disks", 3), ("backup", 4), ("backups", 4), ("veeam", 5), ("restore", 2),
            ("ups", 5), ("power", 2), ("generator", 5), ("data centre", 5),
            ("datacenter", 5), ("server room", 5), ("rack", 4), ("cooling", 4),
            ("crac", 5), ("air conditioning", 4), ("ac", 3), ("temperature", 3),
            ("quota", 4), ("file server", 5), ("share", 2), ("drive", 2),
            ("home drive", 5), ("home folder", 5), ("volume", 3), ("lun", 5),
            ("comms room", 4), ("comms closet", 4), ("gas suppression", 5),
            ("failover", 2), ("quorum", 4), ("host", 2), ("hosts", 2), ("tb", 3),
            ("capacity", 3), ("projects share", 4), ("power cut", 3), ("battery", 1),
            ("overheating", 2), ("cloud", 1), ("azure", 3), ("aws", 3),
            ("kubernetes", 4), ("container", 2), ("patching", 2), ("firmware", 1),
            ("filesystem", 4), ("mount", 3), ("replication", 2), ("snapshot", 4),
            ("snapshots", 4), ("h drive", 4), ("s drive", 4),
        ],
    ),
];

/// Default critical systems: a ticket about one of these has widespread impact.
pub const CRITICAL_SYSTEMS: &[&str] = &[
    "production", "prod", "customer portal", "website", "webshop", "online shop",
    "e-commerce", "ecommerce", "ehr", "emr", "epic", "cerner", "pacs", "erp",
    "payroll", "active directory", "domain controller", "dns", "internet", "firewall",
    "core switch", "core switches", "data centre", "datacenter", "server room",
    "san", "virtualisation cluster", "vmware cluster", "sip trunk", "pbx",
    "phone system", "switchboard", "exchange", "email server", "sso", "okta",
    "checkout", "point of sale", "mes", "scada",
    "plc", "nurse call", "bed management", "lab system", "lis", "pharmacy system",
    "student information system", "sis", "public website", "payment gateway",
    "card payments", "customer database", "orders db", "order database",
    "billing system", "call centre", "customer hotline", "hotline", "ups",
    "generator", "cooling", "crac",
];

/// Default routing map.
pub fn default_team(c: Category) -> &'static str {
    match c {
        Category::Network => "Network Operations",
        Category::Hardware => "Desktop Support",
        Category::Software => "Application Support",
        Category::Security => "Security Operations",
        Category::Access => "Identity & Access Management",
        Category::Database => "Database Administration",
        Category::Email => "Messaging & Collaboration",
        Category::Printing => "Print Services",
        Category::Telephony => "Unified Communications",
        Category::Infrastructure => "Infrastructure & Data Centre",
    }
}
