#!/usr/bin/env python3
"""Verify an audit bundle of the restitution trust ledger, with no access to the application or
its database. Needs Python 3.11+ and the ``cryptography`` package; nothing else.

    python verify_bundle.py verify BUNDLE [--trusted-key HEX ...]
    python verify_bundle.py inclusion BUNDLE --event ID [--size N] [--trusted-key HEX ...]
    python verify_bundle.py consistency BUNDLE --kept CHECKPOINT.json|DIR [--trusted-key HEX ...]
    python verify_bundle.py proof PROOF.json [--bundle BUNDLE] [--trusted-key HEX ...]
    python verify_bundle.py entries BUNDLE

``verify`` checks every event's hash chain, the Merkle root of every signed checkpoint, every
signature and each chain's head; it exits 0, or 1 naming the first problem. ``inclusion`` proves
that one event is in a signed log; ``consistency`` that the bundle's events give its latest
signed root and that this log extends every checkpoint you kept earlier (one head, or a folder of
them: a copy of the witness, the heads mailed to you; a rewrite of history cannot); ``proof``
checks a proof exported by ``manage.py audit_proof`` (the events too with ``--bundle``). ``entries``
checks every journal entry of ``entries.jsonl`` against the event that committed it (``verify``
does too when the bundle has the file).

This file deliberately shares no code with the application: the hashing, the Merkle tree and the
proof checks (RFC 9162, sections 2.1.1 to 2.1.4) are written here again, so that a mistake in the
application cannot hide itself by being made twice. The project's tests check that this verifier
and ``manage.py verify_audit`` agree on good and tampered logs.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

ZERO = bytes(32)
TAIL = re.compile(rb'(null|[0-9]+),"v":[0-9]+\}')


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def leaf_of(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def node_of(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def mth(hashes: list[bytes]) -> bytes:
    """RFC 9162 2.1.1 on leaf hashes, by the recursive definition."""
    n = len(hashes)
    if n == 0:
        return sha256(b"")
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_of(mth(hashes[:k]), mth(hashes[k:]))


class Roots:
    """Tree heads of a growing list of leaves: the roots of its complete subtrees."""

    def __init__(self) -> None:
        self.stack: list[tuple[int, bytes]] = []
        self.size = 0

    def add(self, leaf_hash: bytes) -> None:
        height, node = 0, leaf_hash
        while self.stack and self.stack[-1][0] == height:
            node = node_of(self.stack.pop()[1], node)
            height += 1
        self.stack.append((height, node))
        self.size += 1

    def root(self) -> bytes:
        if not self.stack:
            return sha256(b"")
        node = self.stack[-1][1]
        for _, left in reversed(self.stack[:-1]):
            node = node_of(left, node)
        return node


def path_for(index: int, hashes: list[bytes]) -> list[bytes]:
    """RFC 9162 2.1.3.1."""
    n = len(hashes)
    if n <= 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if index < k:
        return [*path_for(index, hashes[:k]), mth(hashes[k:])]
    return [*path_for(index - k, hashes[k:]), mth(hashes[:k])]


def check_inclusion(leaf: bytes, index: int, size: int, path: list[bytes], root: bytes) -> bool:
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_of(p, r)
            if not fn & 1:
                while not fn & 1 and fn:
                    fn, sn = fn >> 1, sn >> 1
        else:
            r = node_of(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root


def consistency_for(m: int, hashes: list[bytes]) -> list[bytes]:
    """RFC 9162 2.1.4.1."""

    def sub(m: int, d: list[bytes], b: bool) -> list[bytes]:
        if m == len(d):
            return [] if b else [mth(d)]
        k = 1
        while k * 2 < len(d):
            k *= 2
        if m <= k:
            return [*sub(m, d[:k], b), mth(d[k:])]
        return [*sub(m - k, d[k:], False), mth(d[:k])]

    return sub(m, hashes, True)


def check_consistency(m: int, n: int, old: bytes, new: bytes, path: list[bytes]) -> bool:
    """RFC 9162 2.1.4.2."""
    if m == n:
        return old == new and not path
    if not 0 < m < n or not path:
        return False
    path = ([old] if m & (m - 1) == 0 else []) + list(path)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_of(c, fr), node_of(c, sr)
            if not fn & 1:
                while not fn & 1 and fn:
                    fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_of(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and fr == old and sr == new


# --- bundle ---------------------------------------------------------------------------------


class Problems(list):
    def add(self, where: str, what: str) -> None:
        self.append(f"{where}: {what}")


def load(bundle: Path) -> dict[str, Any]:
    return {
        "checkpoints": json.loads((bundle / "checkpoints.json").read_text()),
        "chains": json.loads((bundle / "chains.json").read_text()),
        "keys": json.loads((bundle / "keys.json").read_text()),
        "manifest": json.loads((bundle / "manifest.json").read_text()),
    }


def events(bundle: Path):
    with (bundle / "events.jsonl").open(encoding="ascii") as f:
        for line in f:
            yield json.loads(line)


def trusted(keys_option: list[str] | None, bundle_keys: dict[str, Any]) -> set[bytes]:
    if keys_option:
        return {bytes.fromhex(k) for k in keys_option}
    print(
        "note: no --trusted-key given: trusting the keys the bundle itself names (keys.json)",
        file=sys.stderr,
    )
    return {bytes.fromhex(bundle_keys["current"]), *map(bytes.fromhex, bundle_keys["previous"])}


def check_checkpoint(cp: dict[str, Any], keys: set[bytes], log: str, problems: Problems) -> None:
    where = f"checkpoint #{cp.get('id')} (size {cp.get('size')})"
    key = bytes.fromhex(cp["public_key"])
    statement = cp["statement"].encode("ascii")
    if key not in keys:
        problems.add(where, "signed with a key that is not trusted")
    else:
        try:
            Ed25519PublicKey.from_public_bytes(key).verify(
                base64.b64decode(cp["signature"]), statement
            )
        except (InvalidSignature, ValueError):
            problems.add(where, "its signature does not verify")
    try:
        said = json.loads(statement)
    except ValueError:
        said = {}
    if (said.get("size"), said.get("root"), said.get("log")) != (cp["size"], cp["root"], log):
        problems.add(where, "its fields do not say what its signed statement says")


def chain_of(data: bytes) -> str | None:
    """The chain an event's bytes name: ``trust:<id>`` for an event of a trust, ``global`` for
    one of none (an event cannot be moved to another chain unnoticed). None if the bytes are not
    an event. Canonical JSON ends with ``"trust":<id or null>,"v":<n>}``: read without parsing
    when it does."""
    _, sep, tail = data.rpartition(b',"trust":')
    found = TAIL.fullmatch(tail) if sep else None
    if found:
        value = found.group(1)
        return "global" if value in (b"null", b"0") else f"trust:{int(value)}"
    try:
        said = json.loads(data)
    except ValueError:
        return None
    if not isinstance(said, dict):
        return None
    return f"trust:{said['trust']}" if said.get("trust") else "global"


def verify_bundle(bundle: Path, keys_option: list[str] | None = None) -> Problems:
    meta = load(bundle)
    problems = Problems()
    for name, digest in meta["manifest"].get("files", {}).items():
        path = bundle / name
        if not path.exists() or sha256(path.read_bytes()).hex() != digest:
            problems.add(f"file {name}", "differs from the manifest")
    keys = trusted(keys_option, meta["keys"])
    log = meta["keys"]["log"]
    wanted: dict[int, list[dict[str, Any]]] = {}
    for cp in meta["checkpoints"]:
        check_checkpoint(cp, keys, log, problems)
        wanted.setdefault(cp["size"], []).append(cp)
    for cp in wanted.get(0, []):
        if cp["root"] != sha256(b"").hex():
            problems.add(f"checkpoint #{cp['id']} (size 0)", "its root is not the empty tree's")
    chains: dict[str, tuple[int, bytes]] = {}
    roots = Roots()
    for e in events(bundle):
        where = f"event #{e['id']} ({e['chain']}, seq {e['seq']})"
        if e["leaf"] is None:  # written, not sealed yet: it must carry no half-made seal
            if e["seq"] is not None or e["hash"] is not None:
                problems.add(f"event #{e['id']}", "has part of a seal but no place in the log")
            continue
        if e["leaf"] != roots.size:
            problems.add(
                f"log position {roots.size + 1}",
                f"missing (the next sealed event is at {e['leaf'] + 1})",
            )
            while roots.size < e["leaf"]:
                roots.add(b"")
        data = e["data"].encode("ascii")
        seq, stored = e["seq"], e["hash"]
        prev_seq, prev_hash = chains.get(e["chain"], (0, ZERO))
        if stored is None or seq is None:
            problems.add(where, "was never sealed into its chain")
        else:
            if seq != prev_seq + 1:
                problems.add(
                    where,
                    f"follows seq {prev_seq} of its chain: an event is missing or out of order",
                )
            if sha256(prev_hash + data).hex() != stored:
                problems.add(where, "its hash does not match its bytes and the chain before it")
            named = chain_of(data)
            if named != e["chain"]:
                problems.add(
                    where,
                    f"its bytes say it belongs to chain {named or '(none)'}: it was moved"
                    " to another chain",
                )
            chains[e["chain"]] = (seq, bytes.fromhex(stored))
        roots.add(leaf_of(data))
        for cp in wanted.get(roots.size, []):
            if roots.root().hex() != cp["root"]:
                problems.add(
                    f"checkpoint #{cp['id']} (size {cp['size']})",
                    "the log's first events do not give its signed root: they were changed",
                )
    for size, cps in sorted(wanted.items()):
        if size > roots.size:
            for cp in cps:
                problems.add(
                    f"checkpoint #{cp['id']} (size {size})",
                    f"the log has only {roots.size} sealed events: it was cut short",
                )
    for key, head in sorted(meta["chains"].items()):
        last_seq, last_hash = chains.get(key, (0, ZERO))
        if (head["length"], head["head"]) != (last_seq, last_hash.hex()):
            problems.add(
                f"chain {key}",
                f"its head says {head['length']} events; the events end at seq {last_seq}",
            )
    for key in sorted(set(chains) - set(meta["chains"])):
        problems.add(f"chain {key}", "has events but no head")
    return problems


def leaf_hashes(bundle: Path, size: int) -> tuple[list[bytes], dict[int, tuple[int, bytes]]]:
    hashes: list[bytes] = []
    where: dict[int, tuple[int, bytes]] = {}
    for e in events(bundle):
        if e["leaf"] is None or e["leaf"] >= size:
            continue
        data = e["data"].encode("ascii")
        hashes.append(leaf_of(data))
        where[e["id"]] = (e["leaf"], data)
    return hashes, where


def pick_checkpoint(meta: dict[str, Any], size: int | None) -> dict[str, Any]:
    cps = (
        meta["checkpoints"]
        if size is None
        else [c for c in meta["checkpoints"] if c["size"] == size]
    )
    if not cps:
        raise SystemExit(f"no checkpoint of size {size} in the bundle")
    return max(cps, key=lambda c: (c["size"], c["id"]))


# --- the ledger against the trail (entries.jsonl, issue 22) -----------------------------------
#
# Each "entries.posted" event commits the entries its posting call wrote: id, date, kind, key,
# memo, reason, reversal link and postings ([account, amount in minor units, currency]), with
# the event's trust and actor. Events written before issue 22 name an entry by its trust and key
# only (unique per trust): everything but the id is compared. The wording of each problem is the
# application's (trust/audit/entries.py), so that both name the same first problem.

ENTRY_FIELDS = ("trust", "date", "kind", "key", "memo", "reason", "reverses", "actor", "postings")
NOT_ENTRIES = "its bytes are not the list of entries an 'entries.posted' event holds"


def postings_of(legs: Any) -> str:
    return ",".join(
        f"{a}:{m}:{c}" for a, m, c in sorted((int(a), int(m), str(c)) for a, m, c in legs)
    )


def entry_lines(bundle: Path):
    with (bundle / "entries.jsonl").open(encoding="ascii") as f:
        for line in f:
            e = json.loads(line)
            content = (
                e["trust"], e["date"], e["kind"], e["key"], e["memo"], e["reason"],
                e["reverses"], e["actor"], postings_of(e["legs"]),
            )  # fmt: skip
            yield e["id"], content


def committed_entries(bundle: Path) -> list[tuple[int | None, int, bool, tuple | None]]:
    """(entry id, event id, named by id, content) for every entry an event commits, sorted as
    the merge wants them: by entry id, those naming no entry there last."""
    rows: list[tuple[int | None, int, bool, tuple | None]] = []
    for e in events(bundle):
        if e["data"] is None:
            continue
        try:
            doc = json.loads(e["data"])
        except ValueError:
            continue
        if not isinstance(doc, dict) or doc.get("action") != "entries.posted":
            continue
        try:
            trust, actor = doc.get("trust"), (doc.get("actor") or {}).get("id")
            found = []
            for frag in doc["changes"]["entries"]:
                content = (
                    trust, frag.get("date"), frag.get("kind"), frag.get("key"), frag.get("memo"),
                    frag.get("reason"), frag.get("reverses"), actor,
                    postings_of(frag.get("legs") or []),
                )  # fmt: skip
                named = int(frag["id"]) if frag.get("id") is not None else None
                found.append((named, e["id"], "id" in frag, content))
            rows.extend(found)
        except (KeyError, TypeError, ValueError, AttributeError):
            rows.append((None, e["id"], True, None))
    # Events from before issue 22 name their entry by trust and key: find its id.
    wanted = {(c[0], c[3]) for named, _, by_id, c in rows if not by_id and c is not None}
    ids = {(c[0], c[3]): eid for eid, c in entry_lines(bundle) if (c[0], c[3]) in wanted}
    rows = [
        (ids.get((c[0], c[3])) if not by_id and c is not None else named, event, by_id, c)
        for named, event, by_id, c in rows
    ]
    rows.sort(key=lambda r: (r[0] is None, r[0] or 0, r[1]))
    return rows


def check_entries(bundle: Path) -> Problems:
    """Every entry of ``entries.jsonl`` against the event that committed it: an entry no event
    names, one that differs from what its event committed or that two events name, and an event
    that names an entry that is not there."""
    problems = Problems()

    def name(eid: int, content: tuple) -> str:
        return f"entry #{eid} (trust #{content[0]}, key {content[3]!r})"

    def missing(row: tuple) -> None:
        named, event, by_id, content = row
        if content is None:
            problems.add(f"event #{event}", NOT_ENTRIES)
            return
        what = f"entry #{named}" if by_id else f"the entry with key {content[3]!r}"
        problems.add(
            f"event #{event}",
            f"names {what} (trust #{content[0]}), which is not there: removed, or never written",
        )

    rows = iter(committed_entries(bundle))
    row = next(rows, None)
    for eid, content in entry_lines(bundle):
        while row is not None and row[0] is not None and row[0] < eid:
            missing(row)
            row = next(rows, None)
        named = []
        while row is not None and row[0] == eid:
            named.append(row)
            row = next(rows, None)
        if not named:
            problems.add(
                name(eid, content),
                "has no audit event: no 'entries.posted' event names it (an entry the posting"
                " service did not write)",
            )
            continue
        if len(named) > 1:
            problems.add(
                name(eid, content),
                "is named by more than one event: " + ", ".join(f"#{r[1]}" for r in named),
            )
        differs = [
            field
            for field, have, said in zip(ENTRY_FIELDS, content, named[0][3], strict=True)
            if have != said
        ]
        if differs:
            problems.add(
                name(eid, content),
                f"differs from what event #{named[0][1]} committed: " + ", ".join(differs),
            )
    while row is not None:
        missing(row)
        row = next(rows, None)
    return problems


def cmd_entries(args: argparse.Namespace) -> int:
    bundle = Path(args.bundle)
    if not (bundle / "entries.jsonl").exists():
        print("FAILED: the bundle has no entries.jsonl (exported before issue 22?).")
        return 1
    problems = check_entries(bundle)
    n_entries = sum(1 for _ in entry_lines(bundle))
    print(f"Checked {n_entries:,} entries against the events that committed them.")
    if not problems:
        print("OK: every entry is the one its event committed, and every entry named is there.")
        return 0
    print(f"FIRST PROBLEM {problems[0]}")
    for problem in problems[1:100]:
        print(f"PROBLEM {problem}")
    print(f"FAILED: {len(problems)} problem(s).")
    return 1


def cmd_verify(args: argparse.Namespace) -> int:
    problems = verify_bundle(Path(args.bundle), args.trusted_key)
    if (Path(args.bundle) / "entries.jsonl").exists():
        problems.extend(check_entries(Path(args.bundle)))  # the ledger against the trail
    n_events = sum(1 for _ in events(Path(args.bundle)))
    print(f"Checked {n_events:,} events.")
    if not problems:
        print("OK: the bundle verifies.")
        return 0
    print(f"FIRST PROBLEM {problems[0]}")
    for problem in problems[1:100]:
        print(f"PROBLEM {problem}")
    print(f"FAILED: {len(problems)} problem(s).")
    return 1


def _signed(cp: dict[str, Any], keys: set[bytes], log: str) -> bool:
    problems = Problems()
    check_checkpoint(cp, keys, log, problems)
    for problem in problems:
        print(f"PROBLEM {problem}")
    return not problems


def cmd_inclusion(args: argparse.Namespace) -> int:
    bundle = Path(args.bundle)
    meta = load(bundle)
    keys = trusted(args.trusted_key, meta["keys"])
    cp = pick_checkpoint(meta, args.size)
    hashes, where = leaf_hashes(bundle, cp["size"])
    if args.event not in where:
        print(f"FAILED: event {args.event} is not in the log signed at size {cp['size']}.")
        return 1
    index, data = where[args.event]
    path = path_for(index, hashes)
    ok = _signed(cp, keys, meta["keys"]["log"]) and check_inclusion(
        leaf_of(data), index, cp["size"], path, bytes.fromhex(cp["root"])
    )
    print(
        json.dumps(
            {
                "event": args.event,
                "leaf": index,
                "size": cp["size"],
                "path": [p.hex() for p in path],
            }
        )
    )
    print("OK: the event is in the signed log." if ok else "FAILED: the proof does not verify.")
    return 0 if ok else 1


def kept_heads(paths: list[str]) -> list[dict[str, Any]]:
    """The checkpoints an auditor kept: each path a head (JSON), a list of heads (a bundle's
    ``checkpoints.json``), or a folder of heads (a copy of the witness store, mailed heads)."""
    heads: list[dict[str, Any]] = []
    for name in paths:
        path = Path(name)
        files = sorted(path.rglob("*.json")) if path.is_dir() else [path]
        for file in files:
            kept = json.loads(file.read_text())
            heads.extend(kept if isinstance(kept, list) else [kept])
    return sorted(heads, key=lambda head: head["size"])


def roots_at(hashes: list[bytes], sizes: set[int]) -> dict[int, bytes]:
    """The tree heads of the first ``size`` leaf hashes, for each of ``sizes``."""
    roots = Roots()
    found = {0: sha256(b"")} if 0 in sizes else {}
    for leaf in hashes:
        roots.add(leaf)
        if roots.size in sizes:
            found[roots.size] = roots.root()
    return found


def cmd_consistency(args: argparse.Namespace) -> int:
    """The bundle's latest signed log (or the one of ``--size``) extends every kept head, and
    the bundle's events give its root: a log rewritten, cut or rolled back fails, even one
    re-signed with the real key, and so do events changed under a head of the same size."""
    bundle = Path(args.bundle)
    meta = load(bundle)
    keys = trusted(args.trusted_key, meta["keys"])
    kept = kept_heads(args.kept)
    if not kept:
        print("FAILED: no kept checkpoint found in " + ", ".join(args.kept))
        return 1
    new = pick_checkpoint(meta, args.size)
    log = meta["keys"]["log"]
    if not _signed(new, keys, log):
        print(f"FAILED: the bundle's checkpoint #{new['id']} is not signed by a trusted key.")
        return 1
    hashes, _ = leaf_hashes(bundle, new["size"])
    if len(hashes) < new["size"]:
        print(f"FAILED: the bundle has {len(hashes)} leaves, its checkpoint says {new['size']}.")
        return 1
    roots = roots_at(hashes, {new["size"], *(head["size"] for head in kept)})
    if roots[new["size"]].hex() != new["root"]:
        print(
            f"FAILED: the bundle's first {new['size']} events do not give the root signed by its"
            f" checkpoint #{new['id']}: the events were changed."
        )
        return 1
    print(
        f"Checked the events: the bundle's first {new['size']} events give the root signed by its"
        f" checkpoint #{new['id']}."
    )
    failed = 0
    for head in kept:
        name = f"the kept head of size {head['size']}"
        if not _signed(head, keys, log):
            print(f"FAILED: {name} is not signed by a trusted key.")
            failed += 1
            continue
        if head["size"] > new["size"]:
            print(
                f"FAILED: {name} is larger than the bundle's log ({new['size']}): the log was cut"
                " or rolled back."
            )
            failed += 1
            continue
        size = head["size"]
        # The events were checked above to give the bundle's signed root; their first ``size``
        # give this head's root or they do not. That is the consistency of the two heads, read
        # from the events themselves: a proof built from the same events would add nothing, and
        # building one per head made a year of minute heads take days.
        if roots[size].hex() == head["root"]:
            if len(kept) <= 20:
                print(f"OK: the log of {new['size']} events extends {name}.")
        else:
            print(
                f"FAILED: the log of {new['size']} events is not an extension of {name}:"
                " history was rewritten."
            )
            failed += 1
    if len(kept) > 20 and not failed:
        print(f"OK: the log of {new['size']} events extends all {len(kept)} kept heads.")
    return 1 if failed else 0


def cmd_proof(args: argparse.Namespace) -> int:
    proof = json.loads(Path(args.proof).read_text())
    keys = {bytes.fromhex(k) for k in (args.trusted_key or [])}
    if not keys:
        print("FAILED: give the public key you trust with --trusted-key.")
        return 1
    if proof["type"] == "inclusion":
        cp = proof["checkpoint"]
        log = json.loads(cp["statement"]).get("log", "")
        ok = _signed(cp, keys, log) and check_inclusion(
            leaf_of(proof["data"].encode("ascii")),
            proof["leaf"],
            cp["size"],
            [bytes.fromhex(p) for p in proof["path"]],
            bytes.fromhex(cp["root"]),
        )
        print("OK: the event is in the signed log." if ok else "FAILED: the proof does not verify.")
        return 0 if ok else 1
    old, new = proof["old"], proof["new"]
    log = json.loads(new["statement"]).get("log", "")
    if args.bundle:
        hashes, _ = leaf_hashes(Path(args.bundle), new["size"])
        roots = roots_at(hashes, {old["size"], new["size"]})
        if len(hashes) < new["size"] or any(
            roots.get(cp["size"], b"").hex() != cp["root"] for cp in (old, new)
        ):
            print(
                f"FAILED: the bundle's events do not give the roots of the proof's heads (sizes"
                f" {old['size']} and {new['size']}): the events were changed or cut."
            )
            return 1
        print(f"Checked the events: the bundle's first {new['size']} events give both roots.")
    else:
        print(
            "NOTE: the events were NOT checked: this proof relates two signed heads only. Give"
            " --bundle DIR (or run `verify` on a bundle) to check the events."
        )
    ok = (
        _signed(old, keys, log)
        and _signed(new, keys, log)
        and (
            (old["size"] == 0 and old["root"] == sha256(b"").hex())
            or check_consistency(
                old["size"],
                new["size"],
                bytes.fromhex(old["root"]),
                bytes.fromhex(new["root"]),
                [bytes.fromhex(p) for p in proof["path"]],
            )
        )
    )
    print("OK: the newer log extends the older." if ok else "FAILED: the proof does not verify.")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("verify", "inclusion", "consistency"):
        p = sub.add_parser(name)
        p.add_argument("bundle")
        p.add_argument("--trusted-key", action="append", metavar="HEX")
        if name == "inclusion":
            p.add_argument("--event", type=int, required=True)
            p.add_argument("--size", type=int)
        if name == "consistency":
            p.add_argument(
                "--kept",
                required=True,
                action="append",
                metavar="CHECKPOINT.json",
                help="a kept head, a list of them, or a folder of them (the witness); repeatable",
            )
            p.add_argument("--size", type=int)
    p = sub.add_parser("entries", help="check the bundle's entries.jsonl against its events")
    p.add_argument("bundle")
    p = sub.add_parser("proof")
    p.add_argument("proof")
    p.add_argument("--trusted-key", action="append", metavar="HEX")
    p.add_argument("--bundle", help="also check that this bundle's events give the proof's roots")
    args = parser.parse_args(argv)
    return {
        "verify": cmd_verify,
        "inclusion": cmd_inclusion,
        "consistency": cmd_consistency,
        "proof": cmd_proof,
        "entries": cmd_entries,
    }[args.command](args)


if __name__ == "__main__":
    raise SystemExit(main())
