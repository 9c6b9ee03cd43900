#!/usr/bin/env python3
"""Groups the samples of a tollgate profile by area, as in docs/profile.md.

    perf script -i tg.data -F comm,tid,period,ip,sym --no-inline > tg.script
    integration/load/perf_areas.py tg.script [CPU ms per call]

Each sample (with its call chain, `--call-graph dwarf`) goes to the first
area whose pattern its thread or chain matches; with the CPU per call the
load printed, each area's share is also given in ms per call.
"""
import collections, re, sys

AREAS = [
    ("session journal thread (write+fsync)", lambda comm, text: comm == "tollgate-sessio"),
    ("account WAL thread (write+fsync)", lambda comm, text: comm == "tollgate-wal"),
    ("tokio workers parking and being woken", r"Context::park|park_internal|park_timeout"),
    ("event decode (esl codec)", r"esl::parse|esl::codec|Event::parse|percent::decode"),
    ("esl client: commands, replies, event channel", r"esl::client"),
    ("event routing (switch.rs)", r"sessions::switch::"),
    ("session journal put (JSON, frame, wait)", r"journal::Journal::put|put_session|put_cdr|journal::record"),
    ("CallInfo + header lookups", r"sessions::callinfo|esl::event::Event::variable|esl::headers"),
    ("account store change (rating, debit, clone, encode)", r"rater::|EmbeddedStore"),
    ("live feed", r"publish|sessions::live"),
    ("call task, other", r"sessions::actor"),
    ("timers", r"tokio::runtime::time"),
    ("HTTP (the script's metrics polling)", r"axum|hyper|tollgate::"),
    ("tokio scheduler and I/O driver", r"tokio::"),
]


def main():
    counts, total = collections.Counter(), 0
    per_call = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    for block in open(sys.argv[1], errors="replace").read().split("\n\n"):
        lines = [l for l in block.split("\n") if l.strip()]
        if not lines:
            continue
        comm = lines[0].split()[0]
        text = "\n".join(l.strip().split(None, 1)[-1] for l in lines[1:])
        total += 1
        for name, rule in AREAS:
            if rule(comm, text) if callable(rule) else re.search(rule, text):
                counts[name] += 1
                break
        else:
            counts["other"] += 1
    for name, n in counts.most_common():
        print(f"{100 * n / total:5.1f} %  {n / total * per_call:5.2f} ms/call  {name}")


if __name__ == "__main__":
    main()
