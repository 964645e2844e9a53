#!/usr/bin/env python3
"""Builds the labelled corpus from the writers' tickets and the labellers' labels.

    python3 tests/data/triage/build_corpus.py            # the training corpus
    python3 tests/data/triage/build_corpus.py --sealed   # the sealed test set

Inputs (all JSON Lines):
  raw/W.jsonl                tickets, as written (id, org_kind, style, description, system, requester)
  labels/a/W.jsonl           labeller A: id, impact, urgency, category (blind)
  labels/b/W.jsonl           labeller B: the same, independently
  labels/adjudicated/*.jsonl a third labeller's decision on every ticket A and B disagreed on
(for --sealed: sealed/w7.jsonl, sealed/labels-a-w7.jsonl, sealed/labels-b-w7.jsonl,
 sealed/adjudicated.jsonl)

Outputs:
  corpus.jsonl (or sealed/sealed.jsonl): each ticket with its final labels and the derived priority
  disagreements.jsonl (or sealed/disagreements.jsonl): what the third labeller must settle
  AGREEMENT.md (or sealed/AGREEMENT.md): Cohen's kappa and raw agreement between A and B

Standard library only; deterministic output.
"""

import collections
import glob
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CATEGORIES = ["network", "hardware", "software", "security", "access",
              "database", "email", "printing", "telephony", "infrastructure"]


def priority(impact, urgency):
    return {2: "CRITICAL", 3: "HIGH", 4: "MEDIUM"}.get(impact + urgency, "LOW")


def read(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def kappa(pairs):
    """Cohen's kappa of a list of (a, b) labels."""
    n = len(pairs)
    if n == 0:
        return float("nan"), float("nan")
    observed = sum(a == b for a, b in pairs) / n
    ca = collections.Counter(a for a, _ in pairs)
    cb = collections.Counter(b for _, b in pairs)
    expected = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    return (observed - expected) / (1 - expected) if expected < 1 else 1.0, observed


def check(label, where):
    if label.get("impact") not in (1, 2, 3) or label.get("urgency") not in (1, 2, 3):
        sys.exit(f"{where}: impact and urgency must be 1, 2 or 3: {label}")
    if label.get("category") not in CATEGORIES:
        sys.exit(f"{where}: unknown category: {label}")


def main():
    sealed = "--sealed" in sys.argv
    if sealed:
        base = os.path.join(HERE, "sealed")
        tickets = read(os.path.join(base, "w7.jsonl"))
        a_files = [os.path.join(base, "labels-a-w7.jsonl")]
        b_files = [os.path.join(base, "labels-b-w7.jsonl")]
        adjudicated_files = glob.glob(os.path.join(base, "adjudicated*.jsonl"))
        out_corpus = os.path.join(base, "sealed.jsonl")
        out_disagreements = os.path.join(base, "disagreements.jsonl")
        out_agreement = os.path.join(base, "AGREEMENT.md")
    else:
        base = HERE
        tickets = []
        for path in sorted(glob.glob(os.path.join(base, "raw", "*.jsonl"))):
            tickets.extend(read(path))
        a_files = sorted(glob.glob(os.path.join(base, "labels", "a", "*.jsonl")))
        b_files = sorted(glob.glob(os.path.join(base, "labels", "b", "*.jsonl")))
        adjudicated_files = sorted(glob.glob(os.path.join(base, "labels", "adjudicated", "*.jsonl")))
        out_corpus = os.path.join(base, "corpus.jsonl")
        out_disagreements = os.path.join(base, "disagreements.jsonl")
        out_agreement = os.path.join(base, "AGREEMENT.md")

    def labels(files):
        out = {}
        for path in files:
            for row in read(path):
                check(row, path)
                out[row["id"]] = row
        return out

    a, b, third = labels(a_files), labels(b_files), labels(adjudicated_files)
    both = [t for t in tickets if t["id"] in a and t["id"] in b]
    pairs = {k: [] for k in ("impact", "urgency", "priority", "category")}
    disagreements, corpus, unsettled = [], [], 0
    for t in both:
        la, lb = a[t["id"]], b[t["id"]]
        for k in ("impact", "urgency", "category"):
            pairs[k].append((la[k], lb[k]))
        pairs["priority"].append((priority(la["impact"], la["urgency"]),
                                  priority(lb["impact"], lb["urgency"])))
        same = all(la[k] == lb[k] for k in ("impact", "urgency", "category"))
        if same:
            final = la
        else:
            disagreements.append({
                "id": t["id"], "org_kind": t["org_kind"], "description": t["description"],
                "system": t["system"], "requester": t["requester"],
                "labeller_a": {k: la[k] for k in ("impact", "urgency", "category")},
                "labeller_b": {k: lb[k] for k in ("impact", "urgency", "category")},
            })
            final = third.get(t["id"])
            if final is None:
                unsettled += 1
                continue
        corpus.append({
            "id": t["id"], "org_kind": t["org_kind"], "style": t["style"],
            "description": t["description"], "system": t["system"], "requester": t["requester"],
            "impact": final["impact"], "urgency": final["urgency"],
            "priority": priority(final["impact"], final["urgency"]),
            "category": final["category"],
        })

    with open(out_disagreements, "w", encoding="utf-8") as f:
        for d in disagreements:
            f.write(json.dumps(d, ensure_ascii=False) + "\n")
    with open(out_corpus, "w", encoding="utf-8") as f:
        for row in corpus:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")

    lines = ["# Labeller agreement" + (" (sealed set)" if sealed else ""), "",
             "Made by `tests/data/triage/build_corpus.py" + (" --sealed" if sealed else "") + "`.", "",
             f"- tickets written: {len(tickets)}; labelled by both A and B: {len(both)}",
             f"- A and B disagreed on at least one of impact, urgency, category: {len(disagreements)}"
             f" ({len(disagreements) / max(len(both), 1):.1%}); settled by a third labeller: "
             f"{len(disagreements) - unsettled}; unsettled (left out): {unsettled}",
             f"- in the output: {len(corpus)} tickets", "",
             "| label | Cohen's kappa | raw agreement |", "|---|---|---|"]
    for k in ("impact", "urgency", "priority", "category"):
        kap, obs = kappa(pairs[k])
        lines.append(f"| {k} | {kap:.3f} | {obs:.3f} |")
    dist = collections.Counter(r["priority"] for r in corpus)
    kinds = collections.Counter(r["org_kind"] for r in corpus)
    styles = collections.Counter(r["style"] for r in corpus)
    cats = collections.Counter(r["category"] for r in corpus)
    lines += ["", "Final labels:", "",
              "- priority: " + ", ".join(f"{p} {dist[p]}" for p in ("LOW", "MEDIUM", "HIGH", "CRITICAL")),
              "- category: " + ", ".join(f"{c} {cats[c]}" for c in CATEGORIES),
              f"- organisation kinds: {len(kinds)}; styles: {len(styles)}", ""]
    with open(out_agreement, "w", encoding="utf-8") as f:
        f.write("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
