#!/usr/bin/env python3
"""Check an Autobahn (kosoku) report against the committed expected results.

    compare.py INDEX_JSON EXPECTED_JSON [--agent NAME] [--update]

INDEX_JSON is the `index.json` a run wrote (agent -> case id -> {behavior,
behaviorClose, ...}); EXPECTED_JSON maps case id -> [behavior, behaviorClose].

Prints the counts of each verdict, then fails (exit 1) when
- a case of 1.* to 10.* has a `behavior` other than OK or INFORMATIONAL,
- a case has a `behaviorClose` other than OK or INFORMATIONAL (cases the
  peer does not implement, outside 1.* to 10.*, excepted),
- or the results differ from EXPECTED_JSON in any way (a case added, missing
  or with another verdict).

With --update, EXPECTED_JSON is written from the run instead, and only if the
run has no FAILED, NON-STRICT, UNCLEAN or other bad verdict at all.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

ACCEPTED = {"OK", "INFORMATIONAL"}
CORE_GROUPS = range(1, 11)  # 1.* to 10.*: the core protocol, all required


def case_key(case_id: str) -> tuple[int, ...]:
    """Numeric order: 1.2.10 after 1.2.9."""
    return tuple(int(part) for part in case_id.split("."))


def load_results(index_path: Path, agent: str | None) -> dict[str, list[str]]:
    try:
        index = json.loads(index_path.read_text())
    except FileNotFoundError:
        sys.exit(f"error: no report at {index_path} (did the run finish?)")
    if agent is None:
        if len(index) != 1:
            sys.exit(f"error: agents {sorted(index)} in {index_path}: pick one with --agent")
        agent = next(iter(index))
    if agent not in index:
        sys.exit(f"error: no agent {agent!r} in {index_path} (agents: {sorted(index)})")
    return {
        case_id: [entry["behavior"], entry["behaviorClose"]]
        for case_id, entry in sorted(index[agent].items(), key=lambda kv: case_key(kv[0]))
    }


def print_counts(results: dict[str, list[str]]) -> None:
    for column, name in enumerate(("behavior", "behaviorClose")):
        counts = Counter(verdicts[column] for verdicts in results.values())
        listing = ", ".join(f"{verdict} {n}" for verdict, n in sorted(counts.items()))
        print(f"  {name:<14} {listing}")


def violations(results: dict[str, list[str]]) -> list[str]:
    """Cases whose verdicts are not acceptable, one line each."""
    bad = []
    for case_id, (behavior, close) in results.items():
        core = case_key(case_id)[0] in CORE_GROUPS
        if core and behavior not in ACCEPTED:
            bad.append(f"  {case_id}: behavior {behavior} (behaviorClose {close})")
        elif close not in ACCEPTED and (core or behavior != "UNIMPLEMENTED"):
            bad.append(f"  {case_id}: behaviorClose {close} (behavior {behavior})")
    return bad


def differences(results: dict[str, list[str]], expected: dict[str, list[str]]) -> list[str]:
    lines = []
    for case_id in sorted(set(results) | set(expected), key=case_key):
        got, want = results.get(case_id), expected.get(case_id)
        if got == want:
            continue
        if want is None:
            lines.append(f"  {case_id}: not expected, got {got}")
        elif got is None:
            lines.append(f"  {case_id}: missing, expected {want}")
        else:
            lines.append(f"  {case_id}: expected {want}, got {got}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("index", type=Path, help="the index.json of a run")
    parser.add_argument("expected", type=Path, help="the expected results (JSON)")
    parser.add_argument("--agent", help="the agent in index.json (default: its only one)")
    parser.add_argument("--update", action="store_true", help="write the expected results")
    args = parser.parse_args()

    results = load_results(args.index, args.agent)
    print(f"{args.index}: {len(results)} cases")
    print_counts(results)
    if not results:
        print("FAIL: the run has no cases")
        return 1

    bad = violations(results)
    if args.update:
        strict_bad = [
            case_id
            for case_id, verdicts in results.items()
            if any(v in ("FAILED", "NON-STRICT", "UNCLEAN") for v in verdicts)
        ]
        if bad or strict_bad:
            print(f"FAIL: not writing {args.expected} from a run with bad verdicts:")
            print("\n".join(bad) or "  " + ", ".join(strict_bad))
            return 1
        # One case a line, in case order: small, readable diffs.
        lines = [f"  {json.dumps(k)}: {json.dumps(v)}" for k, v in results.items()]
        text = "{\n" + ",\n".join(lines) + "\n}\n"
        args.expected.write_text(text)
        print(f"wrote {args.expected}")
        return 0

    failed = False
    if bad:
        failed = True
        print(f"FAIL: {len(bad)} cases with unacceptable verdicts:")
        print("\n".join(bad))
    try:
        expected = json.loads(args.expected.read_text())
    except FileNotFoundError:
        print(f"FAIL: no expected results at {args.expected} (generate with --update)")
        return 1
    diff = differences(results, expected)
    if diff:
        failed = True
        print(f"FAIL: {len(diff)} cases differ from {args.expected}:")
        print("\n".join(diff))
    if not failed:
        print(f"ok: matches {args.expected}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
