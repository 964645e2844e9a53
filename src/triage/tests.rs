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
