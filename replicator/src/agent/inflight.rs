//! Row keys with an own change "in flight": captured from the snap's binlog, not yet echoed back
//! by the hub.
//!
//! A foreign change (or an older echo) to such a row is not applied: the own change comes later in
//! hub order, wins everywhere, and its echo brings the master's image. This keeps a user from
//! seeing their change flip back and forth. It is not needed for convergence — the echo's images
//! alone converge (`../shared/model/converge.py` with skipping disabled: 0 of 3,000 runs
//! diverged) — so tracking may stop past a size limit without harm: a huge own transaction is
//! then simply not protected from a transient flip.
//!
//! The echoes converge only if the echo of a row's last own change carries the row. It does not
//! when that change changed nothing on the master (its column was dropped or renamed there
//! meanwhile, and the master logs no row an update leaves as it was): the master's image then
//! is the last one left alone here. So the last image left alone is kept per key, and written
//! with the echo that releases the key when that echo does not carry the row itself.
//!
//! Those images are kept in the snap's database too (`starsync.left_alone`): each is written
//! with the transaction that left it alone and deleted with the echo that releases its key
//! ([`crate::apply::CommitRows`]), and loaded when a session starts, as capture puts the keys
//! back in flight. Kept only in memory, a restarted agent lost them and the snap could keep an
//! image the master no longer had (`tests/model/converge_fk.py --restarts`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::apply::CascadedImages;
use crate::model::{encode_key, RowKind, RowsChunk, TableMeta, Value};

/// `schema.table` and the encoded primary key (or whole row for tables without one).
pub type RowKey = (String, Vec<u8>);

/// The key of a row image.
pub fn row_key(meta: &TableMeta, image: &[Value]) -> RowKey {
    (meta.full_name(), meta.encoded_key(image))
}

/// The master's image of an in-flight row, from a change left alone because of it: the row as
/// the change left it (`None`: deleted; then `key_image` holds the deleted row).
#[derive(Debug, Clone)]
pub struct LeftAlone {
    pub key: RowKey,
    pub table: Arc<TableMeta>,
    pub image: Option<Vec<Value>>,
    pub key_image: Vec<Value>,
}

impl LeftAlone {
    /// The row as a one-row chunk that writes it (an insert of the image, forced by the
    /// applier) or deletes it.
    pub fn chunk(&self) -> RowsChunk {
        match &self.image {
            Some(img) => RowsChunk::new(self.table.clone(), RowKind::Insert, img.clone()),
            None => RowsChunk::new(self.table.clone(), RowKind::Delete, self.key_image.clone()),
        }
    }

    /// The image as `starsync.left_alone.stored` holds it.
    fn stored(&self) -> Vec<u8> {
        rmp_serde::to_vec(&Stored {
            table: (*self.table).clone(),
            image: self.image.clone(),
            key_image: self.key_image.clone(),
        })
        .unwrap_or_default()
    }
}

/// An image left alone as `starsync.left_alone.stored` holds it (MessagePack).
#[derive(Serialize, Deserialize)]
struct Stored {
    table: TableMeta,
    image: Option<Vec<Value>>,
    key_image: Vec<Value>,
}

/// `starsync.left_alone.row_hash`: SHA-256 of the table's name and the encoded key.
fn row_hash(key: &RowKey) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(key.0.as_bytes());
    h.update([0]);
    h.update(&key.1);
    h.finalize().into()
}

/// In-flight keys with the last own sequence number that touched them.
#[derive(Debug)]
pub struct InFlight {
    keys: HashMap<RowKey, u64>,
    by_seq: VecDeque<(u64, Vec<RowKey>)>,
    /// Per in-flight key, the last image left alone.
    left: HashMap<RowKey, LeftAlone>,
    /// Changes to `left` that `starsync.left_alone` does not hold yet, by the row's
    /// [`row_hash`]: an image to keep, or `None` to delete it. They go with the next
    /// transaction the agent commits.
    unsaved: HashMap<[u8; 32], Option<LeftAlone>>,
    limit: usize,
    /// Rows not tracked because the limit was reached.
    pub untracked: u64,
}

impl InFlight {
    pub fn new(limit: usize) -> Self {
        Self {
            keys: HashMap::new(),
            by_seq: VecDeque::new(),
            left: HashMap::new(),
            unsaved: HashMap::new(),
            limit,
            untracked: 0,
        }
    }

    /// Keeps `l` as the last image left alone at its key.
    fn keep(&mut self, l: LeftAlone) {
        self.unsaved.insert(row_hash(&l.key), Some(l.clone()));
        self.left.insert(l.key.clone(), l);
    }

    /// The images left alone, as `starsync.left_alone` holds them (`stored` of each row):
    /// they replace those in memory. Returns how many could not be read (a row written by
    /// another version); they are deleted with the next commit.
    pub fn load(&mut self, rows: Vec<(Vec<u8>, Vec<u8>)>) -> usize {
        self.left.clear();
        self.unsaved.clear();
        let mut unreadable = 0;
        for (hash, stored) in rows {
            match rmp_serde::from_slice::<Stored>(&stored) {
                Ok(s) => {
                    let key = row_key(&s.table, &s.key_image);
                    let l = LeftAlone {
                        key: key.clone(),
                        table: Arc::new(s.table),
                        image: s.image,
                        key_image: s.key_image,
                    };
                    self.left.insert(key, l);
                }
                Err(_) => {
                    unreadable += 1;
                    if let Ok(hash) = hash.try_into() {
                        self.unsaved.insert(hash, None);
                    }
                }
            }
        }
        unreadable
    }

    /// Forgets every image left alone (their keys are no longer put back in flight).
    pub fn forget_left(&mut self) {
        for (k, _) in self.left.drain() {
            self.unsaved.insert(row_hash(&k), None);
        }
    }

    /// The statements that bring `starsync.left_alone` up to date (empty: nothing to do).
    pub fn unsaved_sql(&self) -> Vec<String> {
        let (mut keep, mut delete) = (Vec::new(), Vec::new());
        for (hash, l) in &self.unsaved {
            match l {
                Some(l) => {
                    keep.push(format!(
                        "(X'{}', X'{}', X'{}')",
                        hex::encode(hash),
                        hex::encode(l.key.0.as_bytes()),
                        hex::encode(l.stored())
                    ));
                }
                None => delete.push(format!("X'{}'", hex::encode(hash))),
            }
        }
        let mut sql = Vec::new();
        if !delete.is_empty() {
            sql.push(format!(
                "DELETE FROM starsync.left_alone WHERE row_hash IN ({})",
                delete.join(", ")
            ));
        }
        // Statements of up to about 1 MiB (the server's `max_allowed_packet` is larger).
        let mut rows = keep.into_iter().peekable();
        while rows.peek().is_some() {
            let mut q = String::from(
                "REPLACE INTO starsync.left_alone (row_hash, table_name, stored) VALUES ",
            );
            let start = q.len();
            while let Some(r) = rows.next_if(|r| q.len() == start || q.len() + r.len() < 1 << 20) {
                if q.len() > start {
                    q.push_str(", ");
                }
                q.push_str(&r);
            }
            sql.push(q);
        }
        sql
    }

    /// The statements of the last [`InFlight::unsaved_sql`] were committed.
    pub fn saved(&mut self) {
        self.unsaved.clear();
    }

    /// Records the keys of own transaction `seq`.
    pub fn add(&mut self, seq: u64, keys: Vec<RowKey>) {
        if keys.is_empty() {
            return;
        }
        if self.keys.len() + keys.len() > self.limit {
            self.untracked += keys.len() as u64;
            return;
        }
        for k in &keys {
            self.keys.insert(k.clone(), seq);
        }
        self.by_seq.push_back((seq, keys));
    }

    /// Forgets keys whose last own change is `seq` or older (its echo is being applied), and
    /// returns the images left alone for them.
    pub fn release(&mut self, seq: u64) -> Vec<LeftAlone> {
        let mut out = Vec::new();
        while self.by_seq.front().is_some_and(|(s, _)| *s <= seq) {
            let (_, keys) = self.by_seq.pop_front().unwrap();
            for k in keys {
                if self.keys.get(&k).is_some_and(|&s| s <= seq) {
                    self.keys.remove(&k);
                    if let Some(l) = self.left.remove(&k) {
                        self.unsaved.insert(row_hash(&k), None);
                        out.push(l);
                    }
                }
            }
        }
        out
    }

    /// Whether a row change touches an in-flight key (by either image); if so, it is left
    /// alone and the images it gives in-flight keys are kept (see the module's note). A row
    /// moved from or to a key that is not in flight is applied all the same (its images are
    /// kept too): left alone, the part at that key (the old key's delete, the new key's row)
    /// would be lost here for good, as nothing releases a key that is not in flight.
    pub fn leave_alone(
        &mut self,
        meta: &TableMeta,
        before: Option<&[Value]>,
        after: Option<&[Value]>,
    ) -> bool {
        if self.keys.is_empty() {
            return false;
        }
        let in_flight = |img: Option<&[Value]>| {
            img.map(|i| row_key(meta, i))
                .filter(|k| self.keys.contains_key(k))
        };
        let (kb, ka) = (in_flight(before), in_flight(after));
        if kb.is_none() && ka.is_none() {
            return false;
        }
        let moved_out_of_flight =
            before.is_some() && after.is_some() && (kb.is_none() || ka.is_none());
        let table = Arc::new(meta.clone());
        if let (Some(k), Some(b)) = (kb, before) {
            // Deleted, or moved to another key (an after image with the same key is in flight
            // too, so it is `ka`).
            if ka.as_ref() != Some(&k) {
                self.keep(LeftAlone {
                    key: k,
                    table: table.clone(),
                    image: None,
                    key_image: b.to_vec(),
                });
            }
        }
        if let (Some(k), Some(a)) = (ka, after) {
            self.keep(LeftAlone {
                key: k,
                table,
                image: Some(a.to_vec()),
                key_image: a.to_vec(),
            });
        }
        !moved_out_of_flight
    }

    /// The master's own delete of a row that rows of `table` (`schema.table`) refer to through
    /// a cascading key (their `columns` hold `values`), left alone here
    /// (`Applier::cascade_here`): the images left alone for such rows become their
    /// deletes (with `set_null`, those columns NULL), as the master's cascade made them.
    /// Returns the encoded keys of every row of `table` that has an image left alone (for
    /// those, the image is the master's row, not the row here) and the images made deletes.
    pub fn cascade(
        &mut self,
        table: &str,
        columns: &[String],
        values: &[Value],
        set_null: bool,
    ) -> CascadedImages {
        let mut found = CascadedImages::default();
        let mut changed = Vec::new();
        for (k, l) in self.left.iter().filter(|(k, _)| k.0 == table) {
            found.imaged.insert(k.1.clone());
            let Some(img) = &l.image else { continue };
            let Some(idx) = l.table.positions(columns) else {
                continue;
            };
            if !idx.iter().zip(values).all(|(&i, v)| img.get(i) == Some(v)) {
                continue;
            }
            let mut l = l.clone();
            if set_null {
                let mut a = img.clone();
                for &i in &idx {
                    a[i] = Value::Null;
                }
                l.image = Some(a);
            } else {
                found.deleted.push((l.table.clone(), img.clone()));
                l.key_image = img.clone();
                l.image = None;
            }
            changed.push(l);
        }
        for l in changed {
            self.keep(l);
        }
        found
    }

    /// The master's update of a row that rows of `table` (`schema.table`) follow through a key
    /// with an update rule (their `filter` columns hold those values), not made here by the
    /// server (`Applier::follow_here`): the images left alone for such rows take the `set`
    /// values, as the master's cascade gave them. An image whose key the follow would change
    /// stays as it is.
    pub fn follow(&mut self, table: &str, filter: &[(String, Value)], set: &[(String, Value)]) {
        let names = |cols: &[(String, Value)]| cols.iter().map(|(c, _)| c.clone()).collect();
        let (filter_names, set_names): (Vec<String>, Vec<String>) = (names(filter), names(set));
        let mut changed = Vec::new();
        for l in self.left.values().filter(|l| l.key.0 == table) {
            let Some(img) = &l.image else { continue };
            let (Some(fi), Some(si)) = (
                l.table.positions(&filter_names),
                l.table.positions(&set_names),
            ) else {
                continue;
            };
            if si.iter().any(|i| l.table.primary_key.contains(i))
                || !fi
                    .iter()
                    .zip(filter)
                    .all(|(&i, (_, v))| img.get(i) == Some(v))
            {
                continue;
            }
            let mut a = img.clone();
            for (&i, (_, v)) in si.iter().zip(set) {
                a[i] = v.clone();
            }
            let mut l = l.clone();
            l.image = Some(a);
            changed.push(l);
        }
        for l in changed {
            self.keep(l);
        }
    }

    /// Whether the row of `table` (`schema.table`) with primary key `key` (in the key's order)
    /// is in flight.
    pub fn holds(&self, table: &str, key: &[Value]) -> bool {
        let key = encode_key(&key.iter().collect::<Vec<_>>());
        self.keys.contains_key(&(table.to_string(), key))
    }

    /// Whether the row of `table` (`schema.table`) with the encoded primary key `key` is in
    /// flight.
    pub fn holds_encoded(&self, table: &str, key: &[u8]) -> bool {
        self.keys.contains_key(&(table.to_string(), key.to_vec()))
    }

    /// Whether rows of `table` (`schema.table`) are in flight.
    pub fn has_keys(&self, table: &str) -> bool {
        self.keys.keys().any(|k| k.0 == table)
    }

    /// Whether rows of `table` (`schema.table`) have images left alone.
    pub fn has_images(&self, table: &str) -> bool {
        self.left.keys().any(|k| k.0 == table)
    }

    /// The encoded keys in flight of `table` (`schema.table`).
    pub fn keys_of(&self, table: &str) -> Vec<Vec<u8>> {
        self.keys
            .keys()
            .filter(|(t, _)| t == table)
            .map(|(_, k)| k.clone())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Forgets the keys in flight (capture puts them back as it reads the own transactions
    /// not echoed yet). The images left alone stay: they are the database's
    /// (`starsync.left_alone`, [`InFlight::load`]).
    pub fn clear(&mut self) {
        self.keys.clear();
        self.by_seq.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> TableMeta {
        crate::model::int_table(&["id", "v"])
    }

    #[test]
    fn keys_live_until_their_last_echo() {
        let m = meta();
        let mut f = InFlight::new(100);
        let row = |id, v| vec![Value::Int(id), Value::Int(v)];
        f.add(5, vec![row_key(&m, &row(1, 10))]);
        f.add(7, vec![row_key(&m, &row(1, 11)), row_key(&m, &row(2, 0))]);
        assert!(
            f.leave_alone(&m, None, Some(&row(1, 99))),
            "keyed by primary key only"
        );
        f.release(5);
        assert!(
            f.leave_alone(&m, Some(&row(1, 0)), None),
            "seq 7 still in flight for key 1"
        );
        f.release(7);
        assert!(f.is_empty());
    }

    #[test]
    fn a_cascade_makes_the_images_of_referring_rows_deletes() {
        // Children (id, pid): images left alone for 1 (under parent 7), 2 (under 8) and 3
        // (deleted); key 4 in flight without an image.
        let m = crate::model::int_table(&["id", "pid"]);
        let mut f = InFlight::new(100);
        let row = |id, pid| vec![Value::Int(id), Value::Int(pid)];
        f.add(5, (1..=4).map(|i| row_key(&m, &row(i, 0))).collect());
        assert!(f.leave_alone(&m, None, Some(&row(1, 7))));
        assert!(f.leave_alone(&m, None, Some(&row(2, 8))));
        assert!(f.leave_alone(&m, Some(&row(3, 7)), None));
        let table = m.full_name();
        let found = f.cascade(&table, &["pid".into()], &[Value::Int(7)], false);
        let key = |id| row_key(&m, &row(id, 0)).1;
        assert_eq!(found.imaged, [key(1), key(2), key(3)].into_iter().collect());
        let deleted: Vec<_> = found.deleted.iter().map(|(_, v)| v.clone()).collect();
        assert_eq!(
            deleted,
            vec![row(1, 7)],
            "the master's cascade goes on from 1"
        );
        assert!(
            f.unsaved_sql()[0].starts_with("REPLACE INTO starsync.left_alone"),
            "the changed images are saved with the next commit"
        );
        f.saved();
        let nulls = f.cascade(&table, &["pid".into()], &[Value::Int(8)], true);
        assert_eq!(nulls.imaged.len(), 3);
        assert!(
            nulls.deleted.is_empty(),
            "a NULL key deletes nothing further"
        );
        assert_eq!(f.unsaved_sql().len(), 1, "2's image saved again");
        f.saved();
        f.cascade(&table, &["pid".into()], &[Value::Int(8)], false);
        assert!(f.unsaved_sql().is_empty(), "no image refers to 8 any more");
        assert!(f
            .cascade("MOST.other", &["pid".into()], &[Value::Int(8)], false)
            .imaged
            .is_empty());
        assert!(f.has_images(&table) && !f.has_images("MOST.other"));
        let mut back = f.release(5);
        back.sort_by_key(|l| match l.key_image[0] {
            Value::Int(i) => i,
            _ => i64::MAX,
        });
        let got: Vec<_> = back
            .iter()
            .map(|l| (l.image.clone(), l.key_image.clone()))
            .collect();
        assert_eq!(
            got,
            [
                (None, row(1, 7)),
                (Some(vec![Value::Int(2), Value::Null]), row(2, 8)),
                (None, row(3, 7)),
            ],
            "1 deleted with its parent 7, 2 set to NULL with 8, 3 already a delete"
        );
        assert!(!f.has_images(&table), "released");
    }

    #[test]
    fn a_follow_gives_the_images_of_following_rows_the_new_values() {
        // Children (id, pid): images left alone for 1 and 2 (under parent 7), 3 (under 8) and
        // 4 (deleted under 7).
        let m = crate::model::int_table(&["id", "pid"]);
        let mut f = InFlight::new(100);
        let row = |id, pid| vec![Value::Int(id), Value::Int(pid)];
        f.add(5, (1..=4).map(|i| row_key(&m, &row(i, 0))).collect());
        assert!(f.leave_alone(&m, None, Some(&row(1, 7))));
        assert!(f.leave_alone(&m, None, Some(&row(2, 7))));
        assert!(f.leave_alone(&m, None, Some(&row(3, 8))));
        assert!(f.leave_alone(&m, Some(&row(4, 7)), None));
        f.saved();
        let pid = |v| vec![("pid".to_string(), Value::Int(v))];
        f.follow(&m.full_name(), &pid(7), &pid(9));
        assert_eq!(f.unsaved_sql().len(), 1, "1's and 2's images saved again");
        f.saved();
        f.follow("MOST.other", &pid(8), &pid(9));
        // A follow of the key itself would move the image to another key: left as it is.
        f.follow(
            &m.full_name(),
            &[("id".into(), Value::Int(3))],
            &[("id".into(), Value::Int(30))],
        );
        assert!(f.unsaved_sql().is_empty(), "nothing else changed");
        let mut back = f.release(5);
        back.sort_by_key(|l| match l.key_image[0] {
            Value::Int(i) => i,
            _ => i64::MAX,
        });
        let got: Vec<_> = back.iter().map(|l| l.image.clone()).collect();
        assert_eq!(
            got,
            [Some(row(1, 9)), Some(row(2, 9)), Some(row(3, 8)), None],
            "1 and 2 followed 7 to 9; 3 refers to 8; 4 is a delete"
        );
    }

    #[test]
    fn the_last_image_left_alone_comes_back_at_release() {
        let m = meta();
        let mut f = InFlight::new(100);
        let row = |id, v| vec![Value::Int(id), Value::Int(v)];
        f.add(5, vec![row_key(&m, &row(1, 10))]);
        f.add(7, vec![row_key(&m, &row(1, 11))]);
        assert!(!f.leave_alone(&m, None, Some(&row(2, 0))), "not in flight");
        assert!(f.leave_alone(&m, None, Some(&row(1, 20))));
        assert!(f.leave_alone(&m, Some(&row(1, 20)), Some(&row(1, 21))));
        assert!(f.release(5).is_empty(), "key 1 is still in flight (seq 7)");
        let back = f.release(7);
        assert_eq!(back.len(), 1);
        assert_eq!(back[0].image, Some(row(1, 21)), "the last image left alone");
        assert_eq!(back[0].chunk().kind, RowKind::Insert);
        // A delete left alone comes back as a delete.
        f.add(9, vec![row_key(&m, &row(3, 0))]);
        assert!(f.leave_alone(&m, Some(&row(3, 1)), None));
        let back = f.release(9);
        assert_eq!(
            (back[0].image.clone(), back[0].chunk().kind),
            (None, RowKind::Delete)
        );
        assert!(f.release(10).is_empty());
    }

    #[test]
    fn a_row_moved_between_a_key_in_flight_and_one_that_is_not_is_applied() {
        let m = meta();
        let mut f = InFlight::new(100);
        let row = |id, v| vec![Value::Int(id), Value::Int(v)];
        f.add(5, vec![row_key(&m, &row(23, 0))]);
        // Row 11 moved to key 23 (in flight): the delete of 11 must happen here.
        assert!(!f.leave_alone(&m, Some(&row(11, 1)), Some(&row(23, 1))));
        // Row 23 moved to key 30: row 30 must appear here.
        assert!(!f.leave_alone(&m, Some(&row(23, 1)), Some(&row(30, 1))));
        // Both keys in flight: left alone as any change.
        f.add(6, vec![row_key(&m, &row(30, 0))]);
        assert!(f.leave_alone(&m, Some(&row(30, 1)), Some(&row(23, 2))));
        // The images they gave keys in flight are kept all the same: the last ones come back.
        let back: Vec<_> = f.release(5).into_iter().map(|l| l.image).collect();
        assert_eq!(back, vec![Some(row(23, 2))]);
        let back: Vec<_> = f.release(6).into_iter().map(|l| l.image).collect();
        assert_eq!(back, vec![None], "row 30 moved away");
    }

    #[test]
    fn images_left_alone_are_saved_with_the_commit_and_loaded_back() {
        let m = meta();
        let mut f = InFlight::new(100);
        let row = |id, v| vec![Value::Int(id), Value::Int(v)];
        assert!(f.unsaved_sql().is_empty());
        f.add(5, vec![row_key(&m, &row(1, 0)), row_key(&m, &row(2, 0))]);
        assert!(f.leave_alone(&m, None, Some(&row(1, 20))));
        assert!(f.leave_alone(&m, Some(&row(2, 3)), None));
        let sql = f.unsaved_sql();
        assert_eq!(sql.len(), 1, "{sql:?}");
        assert!(sql[0].starts_with("REPLACE INTO starsync.left_alone"));
        assert_eq!(sql[0].matches("(X'").count(), 2, "{sql:?}");
        // Not committed: asked for again, the same.
        assert_eq!(f.unsaved_sql(), sql);
        f.saved();
        assert!(f.unsaved_sql().is_empty());

        // What the table now holds, read back by a restarted agent.
        let rows: Vec<_> = f
            .left
            .values()
            .map(|l| (row_hash(&l.key).to_vec(), l.stored()))
            .chain([(vec![7; 32], b"junk".to_vec())])
            .collect();
        let mut g = InFlight::new(100);
        assert_eq!(g.load(rows), 1, "the junk row is not read");
        assert_eq!(
            g.unsaved_sql(),
            vec![format!(
                "DELETE FROM starsync.left_alone WHERE row_hash IN (X'{}')",
                "07".repeat(32)
            )],
            "the row it could not read is deleted"
        );
        g.saved();
        // Capture puts the key back in flight; its echo releases both images and deletes them.
        g.add(5, vec![row_key(&m, &row(1, 0)), row_key(&m, &row(2, 0))]);
        let mut back: Vec<_> = g.release(5).into_iter().map(|l| l.image).collect();
        back.sort_by_key(|i| i.is_none());
        assert_eq!(back, vec![Some(row(1, 20)), None]);
        let sql = g.unsaved_sql();
        assert_eq!(sql.len(), 1);
        assert!(sql[0].starts_with("DELETE FROM starsync.left_alone WHERE row_hash IN (X'"));
        assert_eq!(sql[0].matches("X'").count(), 2, "{sql:?}");
        assert!(
            sql[0].contains(&hex::encode(row_hash(&row_key(&m, &row(1, 0))))),
            "{sql:?}"
        );
    }

    #[test]
    fn stops_tracking_past_the_limit() {
        let m = meta();
        let mut f = InFlight::new(1);
        f.add(1, vec![row_key(&m, &[Value::Int(1), Value::Null])]);
        f.add(2, vec![row_key(&m, &[Value::Int(2), Value::Null])]);
        assert_eq!(f.len(), 1);
        assert_eq!(f.untracked, 1);
    }
}
