#!/usr/bin/env python3
"""Model check of the star-replication apply rules (DESIGN.md Flows) under random interleavings.

Nodes: master M (hub order = master log) and snaps. Keys hold values (None = deleted).
Snap steps: local commit (lands in the snap's binlog, NOT yet captured), capture (next binlog
entry of own origin becomes in-flight and is shipped), apply next master-log entry.
Hub step: ingest next shipped txn of a snap, force its after-images, append effects to master log.
Rules checked: foreign rows skip keys with captured own in-flight change; echoes force master images
(variant 'always') or only when the hub saw a conflict (variant 'conflict-only').

starsync extension, variant 'skip-clean': an echo is not re-applied when no foreign transaction
was applied on the snap after the echoed transaction's local commit (the snap's binlog order,
as capture reads it; any key counts: table granularity), since the master's image of that
transaction is then what the snap still holds or has since overwritten with newer own changes.
Variant 'skip-clean-key' does the same at key granularity. 'skip-always' (skip every echo) is
the control that must diverge.
"""
import random, sys

def run(seed, variant, snaps=3, keys=3, steps=400):
    rnd = random.Random(seed)
    M = {k: 0 for k in range(keys)}
    log = []                                  # master log: (origin, txn_id, {k: v}, conflicted)
    S = [dict(db=dict(M), binlog=[], cap=0, ship=[], inflight=[], cur=0, events=[]) for _ in range(snaps)]
    nxt = [0]
    def val():
        nxt[0] += 1; return None if rnd.random() < 0.15 else nxt[0]
    def step(writes_allowed):
        c = rnd.random()
        if writes_allowed and c < 0.25:                       # local commit on a snap
            s = rnd.randrange(snaps); st = S[s]
            ks = rnd.sample(range(keys), rnd.randint(1, 2))
            before = {k: st['db'][k] for k in ks}; after = {k: val() for k in ks}
            st['db'].update(after); st['binlog'].append((len(st['binlog']), before, after))
            st['events'].append(('own', len(st['binlog']) - 1, set(ks)))
            return True
        if writes_allowed and c < 0.30:                       # DBA write on the master
            k = rnd.randrange(keys); M[k] = val(); log.append(('M', None, {k: M[k]}, False)); return True
        if c < 0.5:                                           # capture on a snap
            s = rnd.randrange(snaps); st = S[s]
            if st['cap'] < len(st['binlog']):
                t = st['binlog'][st['cap']]; st['cap'] += 1
                st['inflight'].append(t); st['ship'].append(t); return True
            return False
        if c < 0.7:                                           # hub ingest
            s = rnd.randrange(snaps); st = S[s]
            if st['ship']:
                tid, before, after = st['ship'].pop(0)
                conflict = any(M[k] != before[k] for k in after)
                M.update(after); log.append((s, tid, dict(after), conflict)); return True
            return False
        s = rnd.randrange(snaps); st = S[s]                   # fan-out + apply on a snap
        if st['cur'] < len(log):
            origin, tid, img, conflict = log[st['cur']]; st['cur'] += 1
            if origin == s:
                st['inflight'] = [t for t in st['inflight'] if t[0] != tid]
                if variant.startswith('skip'):
                    at = next(i for i, e in enumerate(st['events']) if e[0] == 'own' and e[1] == tid)
                    later = [e[2] for e in st['events'][at + 1:] if e[0] == 'foreign']
                    if variant == 'skip-always':
                        dirty = set()
                    elif variant == 'skip-clean':
                        dirty = set(img) if later else set()
                    else:
                        dirty = set().union(*later) if later else set()
                    for k, v in img.items():
                        if k in dirty and not any(k in t[2] for t in st['inflight']): st['db'][k] = v
                elif variant == 'always' or conflict:
                    for k, v in img.items():
                        if not any(k in t[2] for t in st['inflight']): st['db'][k] = v
            else:
                written = set()
                for k, v in img.items():
                    if not any(k in t[2] for t in st['inflight']): st['db'][k] = v; written.add(k)
                st['events'].append(('foreign', None, set(img)))
            return True
        return False
    for _ in range(steps): step(True)
    for _ in range(100000):                                   # drain: no more writes
        if not any(step(False) for _ in range(50)) and all(
            st['cap'] == len(st['binlog']) and not st['ship'] and st['cur'] == len(log) for st in S):
            break
    return all(st['db'] == M for st in S)

for variant in ('conflict-only', 'always', 'skip-always', 'skip-clean', 'skip-clean-key'):
    bad = [sd for sd in range(int(sys.argv[1]) if len(sys.argv) > 1 else 3000) if not run(sd, variant)]
    print(f"{variant:14s}: diverged in {len(bad)} runs" + (f" (first seeds {bad[:5]})" if bad else ""))
