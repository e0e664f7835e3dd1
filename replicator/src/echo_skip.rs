//! Echoes that would change nothing are not written again.
//!
//! An echo forces the master's images of a snap's own transaction onto the snap. It repairs
//! exactly one thing: a foreign change applied on the snap *after* the own transaction's local
//! commit, which the master ordered *before* it (DESIGN.md, "why echoes always carry images").
//! When no foreign transaction touched the transaction's tables after its local commit (the
//! snap's binlog order, as capture reads it), the snap already holds, for every key, the own
//! transaction's final image or a newer own change (which comes later in hub order and wins).
//! Rewriting those rows was pure cost: a 1M-row own transaction was applied a second time on its
//! origin, and the agent's apply loop, busy with it, held back every foreign change meanwhile.
//!
//! So capture records, per own transaction, each key's final image as a 64-bit hash (memory is
//! bounded: past [`DEFAULT_LIMIT`] keys nothing more is recorded and echoes are written as
//! before), and marks the tables of every foreign transaction it reads after it as touched (any
//! foreign DDL marks all). An echo row is then left out when, and only when:
//! - capture has read the snap's binlog up to where it was when the echo began (so every foreign
//!   transaction applied before the echo is known),
//! - no foreign transaction touched its table after the own transaction's local commit,
//! - its result (after-image, or absence for a delete) is the own transaction's final one for
//!   that key, and no earlier row of this echo was written for that key.
//!
//! The master's extra rows (its triggers), rows the master changed differently, and tables whose
//! columns differ all hash differently and are written as before. The rule is checked in
//! `tests/model/converge_echo_skip.py` (variants `skip-clean`, `skip-clean-key`: no divergence;
//! the control `skip-always` diverges).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use twox_hash::XxHash3_64;

use crate::model::{RowKind, RowsChunk, TableMeta, Value};

/// Keys recorded at most (about 40 bytes each).
pub const DEFAULT_LIMIT: usize = 2_000_000;

fn hash_value(v: &Value, h: &mut XxHash3_64) {
    match v {
        Value::Null => 0u8.hash(h),
        Value::Int(i) => (1u8, i).hash(h),
        Value::UInt(u) => (2u8, u).hash(h),
        Value::Float(f) => (3u8, f.to_bits()).hash(h),
        Value::Double(d) => (4u8, d.to_bits()).hash(h),
        Value::Decimal(s) => (5u8, s).hash(h),
        Value::Bytes(b) => (6u8, &b[..]).hash(h),
        Value::Date(d) => (7u8, d).hash(h),
        Value::Time(t) => (8u8, t).hash(h),
        Value::DateTime(d) => (9u8, d).hash(h),
        Value::Timestamp { s, us } => (10u8, s, us).hash(h),
        Value::Year(y) => (11u8, y).hash(h),
        Value::Bit(b) => (12u8, b).hash(h),
        Value::Enum(e) => (13u8, e).hash(h),
        Value::Set(s) => (14u8, s).hash(h),
    }
}

fn hasher() -> XxHash3_64 {
    XxHash3_64::with_seed(0)
}

/// A table's part of its rows' hashes, computed once per chunk: its name (for keys) and its
/// column names (for images: a table whose columns differ never matches).
#[derive(Clone, Copy, Debug)]
pub struct TableHash {
    name: u64,
    columns: u64,
}

impl TableHash {
    pub fn of(meta: &TableMeta) -> TableHash {
        let mut n = hasher();
        meta.schema.hash(&mut n);
        meta.table.hash(&mut n);
        let mut c = hasher();
        for col in &meta.columns {
            col.name.hash(&mut c);
        }
        TableHash {
            name: n.finish(),
            columns: c.finish(),
        }
    }

    /// The hash of a row's primary key (with its table).
    pub fn key(&self, meta: &TableMeta, image: &[Value]) -> u64 {
        let mut h = hasher();
        self.name.hash(&mut h);
        for &i in &meta.primary_key {
            hash_value(&image[i], &mut h);
        }
        h.finish()
    }

    /// The hash of what a row change leaves: its after-image, or absence.
    pub fn result(&self, after: Option<&[Value]>) -> u64 {
        let mut h = hasher();
        match after {
            None => 0u8.hash(&mut h),
            Some(img) => {
                1u8.hash(&mut h);
                self.columns.hash(&mut h);
                for v in img {
                    hash_value(v, &mut h);
                }
            }
        }
        h.finish()
    }
}

#[derive(Default, Debug)]
struct Own {
    finals: HashMap<u64, u64>,
    tables: HashSet<String>,
    /// When capture read its commit (on [`OwnEffects`]'s clock).
    at: u64,
}

/// The recorded effects of own transactions whose echo has not been applied yet.
#[derive(Debug)]
pub struct OwnEffects {
    txns: BTreeMap<u64, Own>,
    open: Option<(u64, Own)>,
    /// Counts own commits and foreign transactions as capture reads them, in binlog order.
    clock: u64,
    /// Per table, when a foreign transaction last touched it; and the last statement (DDL).
    /// An own transaction committed before that is no longer eligible for it. (Marking every
    /// recorded own transaction at each foreign one cost that many steps per foreign
    /// transaction: with tens of thousands of own transactions waiting for their echo, the
    /// agent spent its CPU there while it caught up.)
    touched_at: HashMap<String, u64>,
    ddl_at: u64,
    /// Only transactions after this own sequence number are recorded (capture read every
    /// foreign transaction committed after them).
    from_seq: u64,
    keys: usize,
    limit: usize,
}

impl OwnEffects {
    pub fn new(limit: usize) -> Self {
        Self {
            txns: BTreeMap::new(),
            open: None,
            clock: 0,
            touched_at: HashMap::new(),
            ddl_at: 0,
            from_seq: u64::MAX,
            keys: 0,
            limit,
        }
    }

    /// Forgets everything; records own transactions after `from_seq` from now on.
    pub fn reset(&mut self, from_seq: u64) {
        self.txns.clear();
        self.open = None;
        self.touched_at.clear();
        self.ddl_at = 0;
        self.from_seq = from_seq;
        self.keys = 0;
    }

    /// Capture read the start of own transaction `seq`.
    pub fn begin(&mut self, seq: u64) {
        self.open = (seq > self.from_seq).then(|| (seq, Own::default()));
    }

    /// Capture read rows of the open own transaction.
    pub fn rows(&mut self, chunk: &RowsChunk) {
        let meta = &chunk.table;
        let Some((_, own)) = self.open.as_mut() else {
            return;
        };
        if meta.primary_key.is_empty() {
            return; // echoes of keyless tables are not re-applied anyway
        }
        if self.keys + own.finals.len() + chunk.len() > self.limit {
            self.open = None; // too big to remember: its echo is written as before
            return;
        }
        own.tables.insert(meta.full_name());
        let th = TableHash::of(meta);
        for (b, a) in chunk.rows() {
            if let (RowKind::Update, Some(b), Some(a)) = (chunk.kind, b, a) {
                if meta.primary_key.iter().any(|&k| b[k] != a[k]) {
                    own.finals.insert(th.key(meta, b), th.result(None));
                }
            }
            let img = a.or(b).unwrap();
            own.finals.insert(th.key(meta, img), th.result(a));
        }
    }

    /// Capture read the commit of the open own transaction.
    pub fn commit(&mut self, seq: u64) {
        if let Some((s, own)) = self.open.take() {
            if s == seq {
                self.keys += own.finals.len();
                self.clock += 1;
                self.txns.insert(
                    seq,
                    Own {
                        at: self.clock,
                        ..own
                    },
                );
            }
        }
    }

    /// The open own transaction was cut short.
    pub fn abort(&mut self) {
        self.open = None;
    }

    /// Capture read a foreign transaction touching `tables` (`ddl`: it ran a statement).
    pub fn foreign(&mut self, tables: &[String], ddl: bool) {
        self.clock += 1;
        if ddl {
            self.ddl_at = self.clock;
        }
        for t in tables {
            match self.touched_at.get_mut(t) {
                Some(at) => *at = self.clock,
                None => {
                    self.touched_at.insert(t.clone(), self.clock);
                }
            }
        }
    }

    /// Whether own transaction `seq` is recorded and no foreign transaction touched `table`
    /// since.
    pub fn eligible(&self, seq: u64, table: &str) -> bool {
        self.txns.get(&seq).is_some_and(|own| {
            self.ddl_at < own.at && self.touched_at.get(table).is_none_or(|&t| t < own.at)
        })
    }

    /// The result own transaction `seq` left on `key` of `table`, when it is known and no
    /// foreign transaction touched the table since.
    pub fn own_final(&self, seq: u64, table: &str, key: u64) -> Option<u64> {
        if !self.eligible(seq, table) {
            return None;
        }
        self.txns.get(&seq)?.finals.get(&key).copied()
    }

    /// The echo of `seq` was applied: forget it and everything older.
    pub fn release(&mut self, seq: u64) {
        let kept = self.txns.split_off(&seq.saturating_add(1));
        let gone = std::mem::replace(&mut self.txns, kept);
        self.keys -= gone.values().map(|o| o.finals.len()).sum::<usize>();
    }

    /// Keys recorded.
    pub fn len(&self) -> usize {
        self.keys
    }

    pub fn is_empty(&self) -> bool {
        self.keys == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn table() -> Arc<TableMeta> {
        Arc::new(crate::model::int_table(&["id", "v"]))
    }

    fn chunk(kind: RowKind, values: Vec<i64>) -> RowsChunk {
        RowsChunk {
            no_fk_checks: false,
            table: table(),
            kind,
            values: values.into_iter().map(Value::Int).collect(),
        }
    }

    #[test]
    fn finals_are_the_last_image_per_key() {
        let mut e = OwnEffects::new(100);
        e.reset(0);
        e.begin(1);
        e.rows(&chunk(RowKind::Insert, vec![1, 10, 2, 20]));
        e.rows(&chunk(RowKind::Update, vec![1, 10, 1, 11]));
        e.rows(&chunk(RowKind::Delete, vec![2, 20]));
        e.rows(&chunk(RowKind::Update, vec![1, 11, 3, 11])); // key moves 1 -> 3
        e.commit(1);
        let m = table();
        let th = TableHash::of(&m);
        let k = |id| th.key(&m, &[Value::Int(id), Value::Null]);
        let img = |id, v| th.result(Some(&[Value::Int(id), Value::Int(v)][..]));
        assert_eq!(e.own_final(1, "MOST.t", k(1)), Some(th.result(None)));
        assert_eq!(e.own_final(1, "MOST.t", k(2)), Some(th.result(None)));
        assert_eq!(e.own_final(1, "MOST.t", k(3)), Some(img(3, 11)));
        assert_ne!(img(3, 11), img(3, 12));
        assert_eq!(e.own_final(2, "MOST.t", k(3)), None);
        // A foreign transaction on another table changes nothing; on this one, everything.
        e.foreign(&["MOST.other".into()], false);
        assert!(e.own_final(1, "MOST.t", k(3)).is_some());
        assert!(e.eligible(1, "MOST.t") && !e.eligible(2, "MOST.t"));
        e.foreign(&["MOST.t".into()], false);
        assert_eq!(e.own_final(1, "MOST.t", k(3)), None);
        assert!(!e.eligible(1, "MOST.t"));
        e.release(1);
        assert!(e.is_empty());
    }

    #[test]
    fn limits_and_start_are_respected() {
        let mut e = OwnEffects::new(3);
        e.reset(5);
        e.begin(5); // committed before capture started: not recorded
        e.rows(&chunk(RowKind::Insert, vec![1, 1]));
        e.commit(5);
        assert!(e.is_empty());
        e.begin(6);
        e.rows(&chunk(RowKind::Insert, vec![1, 1, 2, 2, 3, 3, 4, 4])); // over the limit
        e.commit(6);
        assert!(e.is_empty());
        e.begin(7);
        e.rows(&chunk(RowKind::Insert, vec![1, 1]));
        e.commit(7);
        assert_eq!(e.len(), 1);
        e.foreign(&[], true); // foreign DDL touches everything
        let m = table();
        assert_eq!(
            e.own_final(
                7,
                "MOST.t",
                TableHash::of(&m).key(&m, &[Value::Int(1), Value::Null])
            ),
            None
        );
    }
}
