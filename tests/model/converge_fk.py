#!/usr/bin/env python3
"""Model check of star replication with a foreign key (parents and children), ON DELETE
RESTRICT or CASCADE.

Extends converge.py (DESIGN.md Flows) with what a foreign key adds to the apply rules, as the
replicator has them:
- Every node checks the key on its local commits: a child needs its parent; a parent delete
  needs no child (RESTRICT) or deletes its children (CASCADE, not in the binlog); a transaction
  that fails is rolled back (the user sees the error).
- The hub applies a snap's rows in order with the key checked. A row the key refuses is kept
  out, and the master's row at that key is recorded where the row was (starsync.refused): it
  goes back with the echo, to the origin only. The master logs no row a change leaves as it
  was, so an echo does not always carry every row of its transaction.
- A snap applies a foreign transaction with the key checked. A row the key refuses: a child
  whose parent it lacks (1452; the parent went with an own change the master will refuse) makes
  the whole transaction apply without checks (nor cascades); a parent delete that rows made
  here refuse (1451) deletes those rows first (apply/fk.rs).
- An echo is forced; if the key refuses a row of it, the whole echo goes without checks.
- Rows at keys with an own change in flight are left alone (foreign rows and older echoes);
  the last image left alone per key is written with the echo that releases the key, when that
  echo does not carry the row itself (agent/inflight.rs), with the key checked.

What happens to a row the key refuses on a snap is the question, in three variants:
- 'drop':    (the replicator before this model) an image left alone is dropped, read as "the
             master's row went with its parent (a cascade)"; a refused foreign or echo row
             makes its whole transaction go without checks.
- 'nocheck': the control: images left alone are written without checks too.
- 'bykey':   by the key's delete rule. ON DELETE CASCADE: a child refused for its missing
             parent (1452), wherever it comes from (foreign, echo, left alone), is deleted
             here instead (an update) or left out (an insert): the master's child went with
             that parent or will (the snap's own delete, in flight, cascades there too). The
             transaction goes on with checks (and cascades). Otherwise (RESTRICT, NO ACTION): as 'nocheck'.
Usage: converge_fk.py [runs] | converge_fk.py SEED VARIANT FK (one run, traced)
"""
import random, sys

PARENTS, CHILDREN = 3, 4

def keys():
    return [('p', i) for i in range(PARENTS)] + [('c', i) for i in range(CHILDREN)]

def run(seed, variant, fk, snaps=2, steps=300, trace=False):
    rnd = random.Random(seed)
    say = print if trace else (lambda *a: None)
    cascade = fk == 'cascade'

    def refusal(db, k, v):
        """The error code the key refuses writing v at k in db with, or None."""
        if k[0] == 'c' and v is not None and db[('p', v)] is None:
            return 1452
        if (k[0] == 'p' and v is None and not cascade
                and any(db[('c', i)] == k[1] for i in range(CHILDREN))):
            return 1451
        return None

    def write(db, k, v, checks):
        """Writes v at k; None, or the code the key refused it with (db unchanged)."""
        if checks:
            r = refusal(db, k, v)
            if r:
                return r
            if cascade and k[0] == 'p' and v is None:
                for i in range(CHILDREN):
                    if db[('c', i)] == k[1]:
                        db[('c', i)] = None
        db[k] = v
        return None

    def txn(db, rows, checks):
        """Applies rows to a copy of db; (copy, None) or (None, code of the first refusal)."""
        d = dict(db)
        for k, v in rows:
            r = write(d, k, v, checks)
            if r:
                return None, r
        return d, None

    M = {k: None for k in keys()}
    for i in range(PARENTS):
        M[('p', i)] = 0
    log = []  # (origin, tid, [(k, v, refused)]): where a row was refused, the master's image
    S = [dict(db=dict(M), binlog=[], cap=0, ship=[], inflight=[], left={}, cur=0)
         for _ in range(snaps)]
    nxt = [0]

    def local_txn(db):
        """1-3 random changes with the key checked: (new db, binlog rows) or None if refused."""
        d = dict(db); rows = []
        for _ in range(rnd.randint(1, 3)):
            k = rnd.choice(keys())
            if k[0] == 'p':
                nxt[0] += 1
                v = None if rnd.random() < 0.4 else nxt[0]
            else:
                v = None if rnd.random() < 0.3 else rnd.randrange(PARENTS)
            if d[k] == v:
                continue
            if write(d, k, v, True):
                return None
            rows.append((k, v))
        return (d, rows) if rows else None

    def in_flight(st, k):
        return any(k in t[1] for t in st['inflight'])

    def dropped(r):
        """Whether a row the key refused with r is left out, as the master's row went with its
        parent: 'bykey' reads that from the key (ON DELETE CASCADE), 'drop' never asks."""
        return variant == 'bykey' and cascade and r == 1452

    def forced(db, rows):
        """A transaction applied with checks, where a refused row is left out (`dropped`), or
        else the whole transaction again without checks. Returns (db, checked)."""
        d = dict(db)
        for k, v in rows:
            r = write(d, k, v, True)
            if r and not dropped(r):
                return txn(db, rows, False)[0], False
            if r:
                d[k] = None
        return d, True

    def apply_foreign(st, rows):
        todo = []
        for k, v in rows:
            if in_flight(st, k):
                st['left'][k] = v
            else:
                todo.append((k, v))
        db = dict(st['db'])
        for k, v in todo:
            r = write(db, k, v, True)
            if r == 1451:                       # rows made here refer to it: deleted first
                for i in range(CHILDREN):
                    if db[('c', i)] == k[1]:
                        db[('c', i)] = None
                write(db, k, v, True)
            elif r and not dropped(r):          # the whole transaction without checks
                db = txn(st['db'], todo, False)[0]
                break
            elif r:                             # gone with its parent: here too
                db[k] = None
        st['db'] = db

    def apply_echo(st, tid, rows):
        st['inflight'] = [t for t in st['inflight'] if t[0] != tid]
        released = {k: v for k, v in st['left'].items() if not in_flight(st, k)}
        for k in released:
            del st['left'][k]
        carried = {k for k, _, _ in rows}
        todo = []
        for k, v, _ in rows:
            if in_flight(st, k):
                st['left'][k] = v
            else:
                todo.append((k, v))
        db, checks = forced(st['db'], todo)
        for k, v in released.items():
            if k in carried:
                continue
            r = write(db, k, v, checks)
            if r is None:
                continue
            if variant == 'nocheck' or (variant == 'bykey' and not dropped(r)):
                write(db, k, v, False)
            elif dropped(r):
                db[k] = None
        st['db'] = db

    def step(writes):
        c = rnd.random()
        if writes and c < 0.25:                                  # local commit on a snap
            st = S[rnd.randrange(snaps)]
            t = local_txn(st['db'])
            if t:
                st['db'] = t[0]
                st['binlog'].append((len(st['binlog']), {k for k, _ in t[1]}, t[1]))
                say(f"snap{S.index(st)} commits {len(st['binlog']) - 1} {t[1]}: {st['db']}")
            return True
        if writes and c < 0.32:                                  # DBA write on the master
            t = local_txn(M)
            if t:
                M.update(t[0]); log.append(('M', None, [(k, v, False) for k, v in t[1]]))
                say(f"master commits {t[1]}: {M}")
            return True
        if c < 0.5:                                              # capture
            st = S[rnd.randrange(snaps)]
            if st['cap'] < len(st['binlog']):
                t = st['binlog'][st['cap']]; st['cap'] += 1
                st['inflight'].append(t); st['ship'].append(t); return True
            return False
        if c < 0.7:                                              # hub ingest
            s = rnd.randrange(snaps); st = S[s]
            if st['ship']:
                tid, _, rows = st['ship'].pop(0)
                logged = []
                for k, v in rows:
                    if M[k] == v:
                        continue
                    if write(M, k, v, True):
                        logged.append((k, M[k], True))
                    else:
                        logged.append((k, v, False))
                log.append((s, tid, logged))
                say(f"hub ingests {s}/{tid} {rows} as {logged}: {M}")
                return True
            return False
        s = rnd.randrange(snaps); st = S[s]                      # fan-out + apply on a snap
        if st['cur'] < len(log):
            origin, tid, rows = log[st['cur']]; st['cur'] += 1
            if origin == s:
                apply_echo(st, tid, rows)
            else:
                apply_foreign(st, [(k, v) for k, v, refused in rows if not refused])
            say(f"snap{s} applies {origin}/{tid} {rows}: {st['db']} left {st['left']}")
            return True
        return False

    for _ in range(steps):
        step(True)
    for _ in range(100000):                                      # drain: no more writes
        if not any(step(False) for _ in range(50)) and all(
                st['cap'] == len(st['binlog']) and not st['ship'] and st['cur'] == len(log)
                for st in S):
            break
    say(f"end: master {M}")
    for i, st in enumerate(S):
        say(f"end: snap{i} {st['db']}")
    return all(st['db'] == M for st in S)

if __name__ == '__main__':
    if len(sys.argv) > 3:                      # converge_fk.py SEED VARIANT FK: one run traced
        sys.exit(0 if run(int(sys.argv[1]), sys.argv[2], sys.argv[3], trace=True) else 1)
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 3000
    for fk in ('restrict', 'cascade'):
        for variant in ('drop', 'nocheck', 'bykey'):
            bad = [sd for sd in range(n) if not run(sd, variant, fk)]
            print(f"{fk:8s} {variant:9s}: diverged in {len(bad)} of {n} runs"
                  + (f" (first seeds {bad[:5]})" if bad else ""))
