use super::*;

fn a() -> Analyzer {
    Analyzer::builtin()
}

#[test]
fn dev_dump() {
    let text = include_str!("../../tests/data/tickets-dev.jsonl");
    let r = eval::evaluate(&a(), text).unwrap();
    println!("{r}");
    for m in &r.misses {
        println!("{:?}", m);
    }
}

#[test]
fn dev_show() {
    let want: Vec<usize> = std::env::var("SHOW")
        .unwrap_or_default()
        .split(',')
        .filter_map(|x| x.parse().ok())
        .collect();
    let text = include_str!("../../tests/data/tickets-dev.jsonl");
    for (i, line) in text.lines().enumerate() {
        if !want.contains(&(i + 1)) {
            continue;
        }
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        let t = a().analyze(v["description"].as_str().unwrap(), v["system"].as_str().unwrap());
        println!("#{} {} | {}", i + 1, v["system"], v["description"]);
        println!("  exp {} {} {} got {} {} {}", v["impact"], v["urgency"], v["category"], t.analysis.impact, t.analysis.urgency, t.analysis.category.as_str());
        for s in &t.analysis.signals {
            println!("    [{}] {:?} -> {}", s.kind, s.text, s.effect);
        }
    }
}
