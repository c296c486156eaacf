"""Generate the embedded demo corpora (``<task>/{public,private,test}.jsonl``).

Everything here is written from templates for this project; nothing is taken from the RewardDS
data. The files use the same field layout as the real data:

* medical:   ``instruction`` (constant doctor prompt), ``input``, ``output``
* financial: ``instruction`` (one of five generic prompts), ``input``, ``output``
* code:      ``seq_id``, ``instruction``, ``output``, ``code``, ``entry_point``, ``testcase``

What the demo is built to show (README "The demo corpora"): the private split is a domain the
public corpus does not cover (a travel-medicine clinic, a small-business banking desk, a finance
team's ledger helpers), with a structure, vocabulary and topic mix that every private record shares
(what DP fine-tuning can learn) and individual details in each record (a person's name, an account
number, a ticket id, the record's own figures) that DP must not transfer. The public corpus is
related but different (general practice, household finance, general list and string utilities), so
a base model pretrained on it is fluent but not in-domain. The test split is drawn from the private
distribution and shares no record with it. The private split is large enough for expected DP batch
sizes in the hundreds.

Usage (from the repository root)::

    .venv/bin/python -m rewardds.data.demo.make_demo          # (re)write the files
    .venv/bin/python -m rewardds.data.demo.make_demo --check  # exit 1 if they differ
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from rewardds.data.demo import code_tasks, financial, medical
from rewardds.data.demo.people import people

SEED = 20251202
COUNTS = {"public": 800, "private": 1000, "test": 300}
HERE = Path(__file__).resolve().parent
MAKERS = {"medical": medical.make, "financial": financial.make, "code": code_tasks.make}


def build() -> dict[str, dict[str, str]]:
    """{task: {split: file text}}: deterministic for a given SEED."""
    files = {}
    for i, (task, make) in enumerate(MAKERS.items()):
        rng = random.Random(SEED + i)
        names = iter(people(rng, COUNTS["private"] + COUNTS["test"] + 400))  # spares for rejected duplicates
        splits = make(rng, COUNTS, names)
        for split, rows in splits.items():
            assert len(rows) == COUNTS[split], f"{task}/{split}: {len(rows)} records, expected {COUNTS[split]}"
        questions = [r["input" if task != "code" else "instruction"] for rows in splits.values() for r in rows]
        assert len(set(questions)) == len(questions), f"{task}: question text shared between records"
        files[task] = {s: "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows) for s, rows in splits.items()}
    return files


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the files on disk instead of writing")
    args = ap.parse_args(argv)
    files = build()
    stale = []
    for task, splits in files.items():
        for split, text in splits.items():
            path = HERE / task / f"{split}.jsonl"
            if args.check:
                if not path.is_file() or path.read_text(encoding="utf-8") != text:
                    stale.append(str(path))
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".jsonl.partial")
                tmp.write_text(text, encoding="utf-8")
                tmp.replace(path)
    if args.check:
        for p in stale:
            print(f"out of date: {p}", file=sys.stderr)
        return 1 if stale else 0
    total = sum(len(t.encode()) for s in files.values() for t in s.values())
    print(f"wrote {sum(len(s) for s in files.values())} files, {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
