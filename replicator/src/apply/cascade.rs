//! Cascading foreign keys made explicit where the hub applies a snap's deletes (and key moves),
//! and where a snap leaves the master's own delete alone.
//!
//! A cascade (`ON DELETE CASCADE`, `ON DELETE SET NULL`) is not in the binlog: InnoDB makes it
//! below the server's logging. When a snap's parent delete reached the master, the children the
//! master held went with it there, and on every other node only the children that node held
//! went. A node holding a child the master did not (one it took without checks while its own
//! delete of the parent was on its way, for example) kept it for good: the nodes diverged
//! (`tests/model/converge_fk.py`: about 45 % of random runs with heavy contention on a
//! cascading key). So the hub deletes (or sets to NULL) the rows that refer to the row it is
//! about to delete itself, deepest first, each as a statement of its own in the snap's
//! transaction: the binlog then carries them as rows, under that transaction's GTID, to every
//! snap (the one that made the change gets them with its echo), and the cascade finds nothing
//! left to do. In the model this takes the divergence from 452 to 61 of 1,000 runs with the
//! master's own writes, and to 0 without them once a delete under a cascading key also counts
//! for the echo skip (variant `hub-cascades+marks`; [`Applier::cascading_refs`] serves both).
//!
//! A snap's update that moves a row to another key is written on the master as a delete and
//! an insert (hub order: the new key's holder is displaced), so the delete's cascade applies
//! there too; it is made explicit the same way (before, a child the master had just added went
//! with it there, unlogged, while the snap, which had taken the child without checks, kept it).
//!
//! Unlike a cascade, these statements fire the referring tables' `DELETE`/`UPDATE` triggers on
//! the master (what they write is binlogged and replicates like any row).
//!
//! When the master refuses such a delete (a `RESTRICT` key further down, or beside: a child
//! the master holds that the snap did not), the explicit statements are rolled back with the
//! row, and the rows they would have changed are recorded with the refusal
//! ([`Applier::record_refused_cascade`]): the snap's own delete took or changed them there,
//! and the echo that brings the parent back brings them back too.
//!
//! On a snap, the master's own deletes (a DBA's client, not the hub: those cascade on the
//! master unlogged) are applied with their cascade; one left alone here (an own change of the
//! row in flight), or applied without foreign key checks, makes its cascade explicitly
//! ([`Applier::cascade_here`]).
//!
//! `ON UPDATE` rules (`CASCADE`, `SET NULL`) follow a row that moves to another key. A move
//! of a row of a table such keys refer to is made on every node as the one `UPDATE` it was at
//! its origin (`Applier::move_by_update`), so that each node's server changes the referring
//! rows it holds as the origin's did; written as a delete and an insert, the delete met the
//! `ON DELETE` rule instead (`RESTRICT` by default: the hub refused the snap's move, and a
//! snap applying another node's move deleted the children). Only when the row is missing or
//! its new key is held does the move fall back to a delete and an insert. A refused move
//! sends back the master's referring rows ([`Applier::record_refused_cascade`]).
//!
//! On the hub, the rows that follow a snap's move are changed explicitly too
//! ([`Applier::update_with_follows`]): the move is made with checks on and undone (the server
//! refuses it as it would have), then made with checks off, followed by one `UPDATE` per key
//! and level, shallowest first, from the values the rows referred to before and after. Left
//! to InnoDB, a child the master took from another node (or from the DBA) while the snap's
//! move was on its way followed the parent on the master only, unlogged, and the snap, which
//! had taken that child without checks after its own move, kept the old key for good. Still
//! left to InnoDB: a move whose follows values cannot tell (a key referring to a column the
//! master's row holds differently, or to its own table), and the master's own moves (a DBA's
//! client), which every snap makes as an update, its own server following them.
//!
//! Keys that refer to their own table are made explicit too, row by row: the rows referring
//! to the deleted one are read and made first, deepest first ([`Applier::cascade_explicitly`];
//! before stop 33 InnoDB cascaded them on the master, unlogged, and a snap kept for good the
//! rows it held there that the master did not). A snap that leaves a delete alone, or makes it
//! without checks, makes the cascade through such keys itself ([`Applier::cascade_here`]),
//! whatever node the delete came from: from a row it did not delete, or deleted without checks,
//! its server cascades nothing. Chains deeper than [`MAX_DEPTH`] cascade below that depth as
//! before.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mysql_async::prelude::*;
use tracing::debug;

use super::sql::{ident, qualified, TablePlan};
use super::values::params;
use super::Applier;
use super::{RowPair, SkipRow};
use crate::error::{Error, Result};
use crate::model::{encode_key, TableMeta, Value};

/// How long the cascading foreign keys read are used before being read again (a key added or
/// dropped on the master meanwhile takes effect after this).
const CACHE_FOR: Duration = Duration::from_secs(10);

/// Levels of referring tables made explicit.
const MAX_DEPTH: u32 = 8;

/// How many deleted rows' referring rows one query reads ([`Applier::delete_reaches_own_rows`]),
/// or how many rows in flight one query reads the rows they refer to of.
pub(super) const REFERRING_BATCH: usize = 500;

/// A foreign key with a cascading delete rule (or, in [`CascadeCache`]'s `on_update`, update
/// rule; in its `restricting`, a delete rule that refuses) that refers to a table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CascadeRef {
    pub schema: String,
    pub table: String,
    /// The referring columns, in the key's order.
    pub columns: Vec<String>,
    /// The columns referred to, in the same order.
    pub referenced: Vec<String>,
    /// `SET NULL` (else `CASCADE`).
    pub set_null: bool,
}

impl CascadeRef {
    /// Whether the referring table is `schema.table` (for a key of that table's own: one
    /// that refers to its own table).
    pub fn is_on(&self, schema: &str, table: &str) -> bool {
        self.schema == schema && self.table == table
    }

    /// The referring table as `schema.table` (how in-flight keys and images name it).
    pub fn full_name(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    /// The positions in `meta`'s rows of the columns this key refers to, and their values in
    /// `row`; `None` when the image lacks one (a minimal row image) or refers to nothing (one
    /// is NULL).
    pub(super) fn referred(
        &self,
        meta: &TableMeta,
        row: &[Value],
    ) -> Option<(Vec<usize>, Vec<Value>)> {
        let idx = meta.positions(&self.referenced)?;
        if refers_to_nothing(row, &idx) {
            return None;
        }
        let values = idx.iter().map(|&i| row[i].clone()).collect();
        Some((idx, values))
    }
}

/// The cascading references per referred `schema.table`, all read at once (one look at
/// `information_schema` costs about as much for every table as for one: 20 ms with 1,000
/// foreign keys), and when; with them, the shapes of the referring tables read so far
/// (forgotten with the keys).
#[derive(Default)]
pub(super) struct CascadeCache {
    read_at: Option<Instant>,
    by_table: HashMap<(String, String), Arc<Vec<CascadeRef>>>,
    /// The keys with a cascading update rule (`ON UPDATE CASCADE`, `ON UPDATE SET NULL`).
    on_update: HashMap<(String, String), Arc<Vec<CascadeRef>>>,
    /// The keys whose delete rule refuses a delete of a row referred to (`RESTRICT`, `NO
    /// ACTION`); `set_null` is false.
    restricting: HashMap<(String, String), Arc<Vec<CascadeRef>>>,
    shapes: HashMap<(String, String), Arc<Shape>>,
}

impl CascadeCache {
    pub(super) fn clear(&mut self) {
        self.read_at = None;
        self.by_table.clear();
        self.on_update.clear();
        self.restricting.clear();
        self.shapes.clear();
    }
}

/// What reading a referring table's rows back needs: its every column (a `SELECT` list) and
/// its primary key's columns in the key's order.
pub(super) struct Shape {
    columns: String,
    primary_key: Vec<String>,
}

impl Shape {
    fn primary_key(&self) -> Vec<&str> {
        self.primary_key.iter().map(String::as_str).collect()
    }
}

/// A row of the foreign-key query: the schema and table referred to; schema, table and name of
/// the key; its delete and update rules; a referring column and the column it refers to.
type KeyColumn = (
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
);

/// Rows that a delete of rows of a table changes through cascading keys: the rows of
/// `schema.table` that `filter` (a `WHERE` condition on that table) selects, deleted or (with
/// `set_null`) their `columns` set to NULL.
struct Target {
    schema: String,
    table: String,
    filter: String,
    columns: Vec<String>,
    set_null: bool,
}

impl Target {
    /// The statement that makes the change.
    fn statement(&self) -> String {
        let child = qualified(&self.schema, &self.table);
        if self.set_null {
            let set = set_null(&self.columns);
            format!("UPDATE {child} SET {set} WHERE {}", self.filter)
        } else {
            format!("DELETE FROM {child} WHERE {}", self.filter)
        }
    }
}

/// The condition that selects a row of `meta`'s table by the columns at `key` (parameters:
/// their values).
fn key_filter(meta: &TableMeta, key: &[usize]) -> String {
    key.iter()
        .map(|&k| format!("{} <=> ?", ident(&meta.columns[k].name)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The values of `image` at `key`, encoded ([`encode_key`]): a row's identity in a set.
fn key_values(image: &[Value], key: &[usize]) -> Vec<u8> {
    encode_key(&key.iter().map(|&i| &image[i]).collect::<Vec<_>>())
}

/// The condition that the columns `names` equal the parameters, in that order.
fn equal_to_params(names: &[String]) -> String {
    names
        .iter()
        .map(|c| format!("{} = ?", ident(c)))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The placeholders of `tuples` as a list of tuples, `(?, ?), (?, ?)`, for `(columns) IN
/// (…)`, and their parameters, in order.
fn tuple_list(tuples: &[Vec<Value>]) -> (String, Vec<mysql_async::Value>) {
    let one = format!(
        "({})",
        vec!["?"; tuples.first().map_or(0, Vec::len)].join(", ")
    );
    let list = vec![one.as_str(); tuples.len()].join(", ");
    let all: Vec<Value> = tuples.iter().flatten().cloned().collect();
    let positions: Vec<usize> = (0..all.len()).collect();
    (list, params(&all, &positions))
}

/// `names` quoted, each after `alias.` (when given), separated by commas.
fn column_list(alias: &str, names: &[String]) -> String {
    names
        .iter()
        .map(|c| format!("{alias}{}", ident(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The assignments that set the columns `names` to NULL.
fn set_null(names: &[String]) -> String {
    names
        .iter()
        .map(|c| format!("{} = NULL", ident(c)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the values of `image` at `idx` (a foreign key's columns) refer to no row: one is
/// NULL (or missing from the image).
fn refers_to_nothing(image: &[Value], idx: &[usize]) -> bool {
    idx.iter()
        .any(|&i| matches!(image.get(i), None | Some(Value::Null)))
}

/// What refers, through cascading keys, to the rows of `schema.table` that `filter` selects
/// (a `WHERE` condition on that table), deepest first: through delete rules (`moved` `None`:
/// the rows are deleted), or through update rules to the columns `moved` names (the rows move
/// to another key; empty: any column).
async fn plan(
    applier: &mut Applier,
    schema: &str,
    table: &str,
    filter: &str,
    depth: u32,
    moved: Option<&[String]>,
    out: &mut Vec<Target>,
) -> Result<()> {
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    let refs = match moved {
        None => applier.cascading_refs(schema, table).await?,
        Some(_) => applier.update_cascading_refs(schema, table).await?,
    };
    for r in refs.iter() {
        if r.is_on(schema, table) {
            continue; // a key on its own table: InnoDB cascades it
        }
        if moved.is_some_and(|m| {
            !m.is_empty()
                && !r
                    .referenced
                    .iter()
                    .any(|c| m.iter().any(|x| x.eq_ignore_ascii_case(c)))
        }) {
            continue; // the columns it refers to do not change
        }
        let child_filter = format!(
            "({}) IN (SELECT {} FROM {} WHERE {filter})",
            column_list("", &r.columns),
            column_list("", &r.referenced),
            qualified(schema, table)
        );
        if !r.set_null {
            Box::pin(plan(
                applier,
                &r.schema,
                &r.table,
                &child_filter,
                depth + 1,
                moved.map(|_| r.columns.as_slice()),
                out,
            ))
            .await?;
        }
        out.push(Target {
            schema: r.schema.clone(),
            table: r.table.clone(),
            filter: child_filter,
            columns: r.columns.clone(),
            set_null: r.set_null,
        });
    }
    Ok(())
}

/// Whether an update of a row of `meta`'s table from `before` to `after` changes a column that
/// one of `refs` (keys with an update rule referring to the table) refers to: rows referring
/// to it follow (a column the images lack counts as changed).
pub(super) fn carries_followers(
    meta: &TableMeta,
    refs: &[CascadeRef],
    before: &[Value],
    after: &[Value],
) -> bool {
    refs.iter().flat_map(|r| &r.referenced).any(|c| {
        meta.columns
            .iter()
            .position(|x| x.name.eq_ignore_ascii_case(c))
            .is_none_or(|i| before.get(i) != after.get(i) || before.get(i).is_none())
    })
}

/// Whether an update among `rows` carries followers ([`carries_followers`]).
pub(super) fn carries_any(meta: &TableMeta, refs: &[CascadeRef], rows: &[RowPair<'_>]) -> bool {
    rows.iter().any(|r| match r {
        (Some(b), Some(a)) => carries_followers(meta, refs, b, a),
        _ => false,
    })
}

/// The keys of `by_table` that refer to `schema.table` (none when it has none).
fn refs_to(
    by_table: &HashMap<(String, String), Arc<Vec<CascadeRef>>>,
    schema: &str,
    table: &str,
) -> Arc<Vec<CascadeRef>> {
    by_table
        .get(&(schema.to_string(), table.to_string()))
        .cloned()
        .unwrap_or_default()
}

/// A change a key move makes through keys with an update rule (`ON UPDATE CASCADE`, `ON UPDATE
/// SET NULL`): the rows of `schema.table` whose `filter` columns hold those values get the
/// `set` columns' values.
struct Follow {
    schema: String,
    table: String,
    filter: Vec<(String, Value)>,
    set: Vec<(String, Value)>,
}

impl Follow {
    /// The statement that makes the change, and its parameters.
    fn statement(&self) -> (String, Vec<mysql_async::Value>) {
        let set: Vec<String> = self
            .set
            .iter()
            .map(|(c, _)| format!("{} = ?", ident(c)))
            .collect();
        let filter: Vec<String> = self
            .filter
            .iter()
            .map(|(c, _)| format!("{} = ?", ident(c)))
            .collect();
        let q = format!(
            "UPDATE {} SET {} WHERE {}",
            qualified(&self.schema, &self.table),
            set.join(", "),
            filter.join(" AND ")
        );
        let p = self
            .set
            .iter()
            .chain(&self.filter)
            .map(|(_, v)| super::values::param(v))
            .collect();
        (q, p)
    }
}

/// Columns of a moving row (or of the rows following it) whose values before and after are
/// known, by lowercase name.
type Moving = HashMap<String, (Value, Value)>;

/// The columns of a row of `meta`'s table updated from `before` to `after`.
fn moving(meta: &TableMeta, before: &[Value], after: &[Value]) -> Moving {
    meta.columns
        .iter()
        .zip(before.iter().zip(after))
        .map(|(c, (b, a))| (c.name.to_lowercase(), (b.clone(), a.clone())))
        .collect()
}

/// What an update of rows of `schema.table` (the values of the columns it changes, and maybe
/// of others, `known`; every other column keeps its value) changes through keys with an
/// update rule, shallowest first, into `out`. False when values cannot tell it: a key refers
/// to changed columns and to columns whose values are not known (a referring row's other
/// columns), or to its own table (InnoDB cascades that one, and only with checks on), or the
/// chain is deeper than [`MAX_DEPTH`].
async fn plan_move(
    applier: &mut Applier,
    schema: &str,
    table: &str,
    known: &Moving,
    depth: u32,
    out: &mut Vec<Follow>,
) -> Result<bool> {
    let refs = applier.update_cascading_refs(schema, table).await?;
    for r in refs.iter() {
        let values: Vec<Option<&(Value, Value)>> = r
            .referenced
            .iter()
            .map(|c| known.get(&c.to_lowercase()))
            .collect();
        let changes = values.iter().flatten().any(|(old, new)| old != new);
        if !changes {
            continue; // the columns it refers to keep their values
        }
        if values.iter().any(Option::is_none) || r.is_on(schema, table) || depth + 1 >= MAX_DEPTH {
            return Ok(false);
        }
        let (mut filter, mut set, mut next) = (Vec::new(), Vec::new(), Moving::new());
        for (col, v) in r.columns.iter().zip(values.into_iter().flatten()) {
            let (old, new) = v;
            let new = if r.set_null { Value::Null } else { new.clone() };
            filter.push((col.clone(), old.clone()));
            if new != *old {
                set.push((col.clone(), new.clone()));
            }
            next.insert(col.to_lowercase(), (old.clone(), new));
        }
        if filter.iter().any(|(_, v)| *v == Value::Null) {
            continue; // no row refers to a NULL
        }
        out.push(Follow {
            schema: r.schema.clone(),
            table: r.table.clone(),
            filter,
            set,
        });
        if !Box::pin(plan_move(
            applier,
            &r.schema,
            &r.table,
            &next,
            depth + 1,
            out,
        ))
        .await?
        {
            return Ok(false);
        }
    }
    Ok(true)
}

impl Applier {
    /// The foreign keys with a cascading delete rule that refer to `schema.table` (every
    /// table's are read from `information_schema` at once, again after [`CACHE_FOR`]).
    pub(super) async fn cascading_refs(
        &mut self,
        schema: &str,
        table: &str,
    ) -> Result<Arc<Vec<CascadeRef>>> {
        self.read_cascading_keys().await?;
        Ok(refs_to(&self.cascades.by_table, schema, table))
    }

    /// The foreign keys with a cascading update rule that refer to `schema.table`: a move of
    /// its rows to other keys changes the rows referring to them (read with
    /// [`Applier::cascading_refs`]).
    pub(super) async fn update_cascading_refs(
        &mut self,
        schema: &str,
        table: &str,
    ) -> Result<Arc<Vec<CascadeRef>>> {
        self.read_cascading_keys().await?;
        Ok(refs_to(&self.cascades.on_update, schema, table))
    }

    /// The foreign keys whose delete rule refuses a delete of a row referred to (`RESTRICT`,
    /// `NO ACTION`) that refer to `schema.table` (read with [`Applier::cascading_refs`]).
    pub(super) async fn restricting_refs(
        &mut self,
        schema: &str,
        table: &str,
    ) -> Result<Arc<Vec<CascadeRef>>> {
        self.read_cascading_keys().await?;
        Ok(refs_to(&self.cascades.restricting, schema, table))
    }

    /// Reads every foreign key (by its rules: cascading, or refusing deletes), when not read
    /// within [`CACHE_FOR`].
    async fn read_cascading_keys(&mut self) -> Result<()> {
        if self
            .cascades
            .read_at
            .is_none_or(|at| at.elapsed() >= CACHE_FOR)
        {
            let rows: Vec<KeyColumn> = self
                .conn
                .query(
                    "SELECT r.UNIQUE_CONSTRAINT_SCHEMA, r.REFERENCED_TABLE_NAME, \
                     k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, r.DELETE_RULE, \
                     r.UPDATE_RULE, k.COLUMN_NAME, k.REFERENCED_COLUMN_NAME \
                     FROM information_schema.REFERENTIAL_CONSTRAINTS r \
                     JOIN information_schema.KEY_COLUMN_USAGE k \
                     ON k.CONSTRAINT_SCHEMA = r.CONSTRAINT_SCHEMA \
                     AND k.CONSTRAINT_NAME = r.CONSTRAINT_NAME AND k.TABLE_NAME = r.TABLE_NAME \
                     ORDER BY k.TABLE_SCHEMA, k.TABLE_NAME, k.CONSTRAINT_NAME, k.ORDINAL_POSITION",
                )
                .await
                .map_err(Error::db("reading the foreign keys"))?;
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            let cascading = |rule: &[u8]| rule == b"CASCADE" || rule == b"SET NULL";
            type ByTable = HashMap<(String, String), Vec<CascadeRef>>;
            let (mut by_table, mut on_update, mut restricting): (ByTable, ByTable, ByTable) =
                Default::default();
            let mut last: Option<(Vec<u8>, Vec<u8>, Vec<u8>)> = None;
            for (ps, pt, s, t, name, on_delete, on_upd, col, referenced) in rows {
                let id = (s.clone(), t.clone(), name);
                // A key's columns are consecutive rows, all referring to one table.
                let first = last.as_ref() != Some(&id);
                last = Some(id);
                // Every key is in one of the delete maps; in `on_update` when its update rule
                // cascades.
                let delete_map = if cascading(&on_delete) {
                    &mut by_table
                } else {
                    &mut restricting
                };
                let update_map = cascading(&on_upd).then_some(&mut on_update);
                for (map, rule) in [(Some(delete_map), &on_delete), (update_map, &on_upd)] {
                    let Some(map) = map else { continue };
                    let refs = map.entry((text(&ps), text(&pt))).or_default();
                    if first {
                        refs.push(CascadeRef {
                            schema: text(&s),
                            table: text(&t),
                            columns: Vec::new(),
                            referenced: Vec::new(),
                            set_null: rule.as_slice() == b"SET NULL",
                        });
                    }
                    let r = refs.last_mut().expect("pushed above");
                    r.columns.push(text(&col));
                    r.referenced.push(text(&referenced));
                }
            }
            let shared = |m: ByTable| m.into_iter().map(|(k, v)| (k, Arc::new(v))).collect();
            self.cascades.by_table = shared(by_table);
            self.cascades.on_update = shared(on_update);
            self.cascades.restricting = shared(restricting);
            self.cascades.shapes.clear();
            self.cascades.read_at = Some(Instant::now());
        }
        Ok(())
    }

    /// `schema.table`'s every column and primary key, read once per cached read of the keys
    /// (a parent delete under contention may cascade here many times a second).
    async fn shape(&mut self, schema: &str, table: &str) -> Result<Arc<Shape>> {
        let id = (schema.to_string(), table.to_string());
        if let Some(s) = self.cascades.shapes.get(&id) {
            return Ok(s.clone());
        }
        let columns = self.every_column(&qualified(schema, table)).await?;
        let primary_key = self.primary_key_columns(schema, table).await?;
        let s = Arc::new(Shape {
            columns,
            primary_key,
        });
        self.cascades.shapes.insert(id, s.clone());
        Ok(s)
    }

    /// The columns of `schema.table`'s primary key, in the key's order (as the binlog gives a
    /// row's key, and so the agent's in-flight keys).
    async fn primary_key_columns(&mut self, schema: &str, table: &str) -> Result<Vec<String>> {
        self.conn
            .exec(
                "SELECT COLUMN_NAME FROM information_schema.KEY_COLUMN_USAGE \
                 WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND CONSTRAINT_NAME = 'PRIMARY' \
                 ORDER BY ORDINAL_POSITION",
                (schema, table),
            )
            .await
            .map_err(Error::db(format!(
                "reading the primary key of {schema}.{table}"
            )))
    }

    /// The parents `image` (a row of `meta`'s table) lacks here through its cascading keys,
    /// each as its table (`schema.table`) and primary key (in the key's order); `None` when
    /// that cannot be told (a key referring to columns other than its parent's primary key).
    pub(super) async fn missing_cascading_parents(
        &mut self,
        meta: &TableMeta,
        image: &[Value],
    ) -> Result<Option<Vec<(String, Vec<Value>)>>> {
        self.cascading_refs(&meta.schema, &meta.table).await?;
        let keys: Vec<((String, String), CascadeRef)> = self
            .cascades
            .by_table
            .iter()
            .flat_map(|(parent, refs)| {
                refs.iter()
                    .filter(|r| r.is_on(&meta.schema, &meta.table))
                    .map(move |r| (parent.clone(), r.clone()))
            })
            .collect();
        let mut missing = Vec::new();
        for ((schema, table), r) in keys {
            let Some(idx) = meta.positions(&r.columns) else {
                return Ok(None);
            };
            if refers_to_nothing(image, &idx) {
                continue;
            }
            let parent = qualified(&schema, &table);
            let filter = equal_to_params(&r.referenced);
            let found: Option<u8> = self
                .conn
                .exec_first(
                    format!("SELECT 1 FROM {parent} WHERE {filter} LIMIT 1"),
                    params(image, &idx),
                )
                .await
                .map_err(Error::db("looking for a row's parent"))?;
            if found.is_some() {
                continue;
            }
            let pk = self.shape(&schema, &table).await?.primary_key.clone();
            if pk.is_empty() || pk.len() != r.referenced.len() {
                return Ok(None);
            }
            let mut key = Vec::with_capacity(pk.len());
            for c in &pk {
                match r.referenced.iter().position(|x| x.eq_ignore_ascii_case(c)) {
                    Some(j) => key.push(image[idx[j]].clone()),
                    None => return Ok(None),
                }
            }
            missing.push((format!("{schema}.{table}"), key));
        }
        Ok(Some(missing))
    }

    /// Before the hub deletes the row `before` of `meta`'s table: deletes (or sets to NULL)
    /// the rows that refer to it through cascading keys, each as a statement of its own, so
    /// that they are binlogged (see the module's note). A key that refuses one of them
    /// (`RESTRICT` further down) fails this as it would have failed the row's own delete.
    pub(super) async fn cascade_explicitly(
        &mut self,
        meta: &TableMeta,
        table_plan: &TablePlan,
        before: &[Value],
    ) -> std::result::Result<(), CascadeError> {
        let mut seen = HashSet::new();
        seen.insert(key_values(before, &table_plan.key));
        let affected = self
            .cascade_explicitly_below(meta, &table_plan.key, before, 0, &mut seen)
            .await?;
        if affected > 0 {
            debug!(table = %meta.full_name(), rows = affected,
                   "rows referring to a deleted row through cascading keys, changed first");
        }
        Ok(())
    }

    /// [`Applier::cascade_explicitly`] of the row `before` (its key: the columns at `key`),
    /// `depth` levels below the row the hub deletes; the rows it changed. The rows of its own
    /// table that refer to it are found and made so one by one, deepest first (InnoDB's
    /// cascade on the master is not logged); `seen` holds the keys made so far (a row may
    /// refer to itself). The rows of other tables referring to it are changed by one
    /// statement per key and level ([`plan`]).
    fn cascade_explicitly_below<'a>(
        &'a mut self,
        meta: &'a TableMeta,
        key: &'a [usize],
        before: &'a [Value],
        depth: u32,
        seen: &'a mut HashSet<Vec<u8>>,
    ) -> futures::future::BoxFuture<'a, std::result::Result<u64, CascadeError>> {
        Box::pin(async move {
            let mut affected = 0;
            if depth < MAX_DEPTH {
                let refs = self
                    .cascading_refs(&meta.schema, &meta.table)
                    .await
                    .map_err(CascadeError::Other)?;
                for r in refs.iter() {
                    if !r.is_on(&meta.schema, &meta.table) {
                        continue;
                    }
                    let Some((_, values)) = r.referred(meta, before) else {
                        continue;
                    };
                    let rows = self
                        .rows_referring_to_any(r, &[values])
                        .await
                        .map_err(CascadeError::Other)?;
                    for found in rows {
                        let (m, img) = (&found.table, &found.values);
                        if !seen.insert(key_values(img, &m.primary_key)) {
                            continue;
                        }
                        let filter = key_filter(m, &m.primary_key);
                        let table = qualified(&m.schema, &m.table);
                        let q = if r.set_null {
                            format!("UPDATE {table} SET {} WHERE {filter}", set_null(&r.columns))
                        } else {
                            affected += self
                                .cascade_explicitly_below(m, &m.primary_key, img, depth + 1, seen)
                                .await?;
                            format!("DELETE FROM {table} WHERE {filter}")
                        };
                        self.conn
                            .exec_drop(q, params(img, &m.primary_key))
                            .await
                            .map_err(CascadeError::Server)?;
                        affected += self.conn.affected_rows();
                    }
                }
            }
            let filter = key_filter(meta, key);
            let mut targets = Vec::new();
            plan(
                self,
                &meta.schema,
                &meta.table,
                &filter,
                0,
                None,
                &mut targets,
            )
            .await
            .map_err(CascadeError::Other)?;
            let p = params(before, key);
            for t in &targets {
                self.conn
                    .exec_drop(t.statement(), p.clone())
                    .await
                    .map_err(CascadeError::Server)?;
                affected += self.conn.affected_rows();
            }
            Ok(affected)
        })
    }

    /// The master's own delete of `before`, made here with foreign key checks: the server
    /// cascades it to the rows here, but an image left alone ([`crate::agent::inflight`]) is
    /// the master's row, not the row here, and the master's cascade deleted it (or set its key
    /// to NULL) there too. Such images become that delete; kept, one was written back with the
    /// echo that released its key, a row the master no longer held, when a parent at that key
    /// was there again (`tests/model/converge_fk.py`, `+images`: 4 of 3,000 heavily contended
    /// runs diverged without it, 0 with it). So do the images further down
    /// ([`Applier::cascade_images_below`]).
    pub(super) async fn cascade_images(
        &mut self,
        meta: &TableMeta,
        before: &[Value],
    ) -> Result<()> {
        self.cascade_images_below(meta, before, 0).await
    }

    /// The master's cascade of its delete of `before` (a row of `meta`'s table, `depth` levels
    /// below the row deleted), as it reaches images left alone: those referring to it through
    /// cascading keys become deletes (or NULL keys), and so on down from each row the master's
    /// cascade deleted. Those are its rows as the images have them, and as the rows here are
    /// where no image stands in (read here first, and only while rows further down have
    /// images).
    fn cascade_images_below<'a>(
        &'a mut self,
        meta: &'a TableMeta,
        before: &'a [Value],
        depth: u32,
    ) -> futures::future::BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let Some(images) = self.left_images.clone() else {
                return Ok(());
            };
            let refs = self.cascading_refs(&meta.schema, &meta.table).await?;
            for r in refs.iter() {
                // Keys on its own table too: an image is not a row the server's cascade reaches.
                let Some((idx, values)) = r.referred(meta, before) else {
                    continue;
                };
                let further = !r.set_null
                    && depth + 1 < MAX_DEPTH
                    && self.images_below(&r.schema, &r.table).await?;
                let here = if further {
                    self.referring_rows(r, &idx, before).await?
                } else {
                    Vec::new()
                };
                let found = images.cascade(&r.full_name(), &r.columns, &values, r.set_null);
                if !further {
                    continue;
                }
                let mut deleted = found.deleted;
                for row in here {
                    let key = row.table.encoded_key(&row.values);
                    if !found.imaged.contains(&key) {
                        deleted.push((row.table.clone(), row.values));
                    }
                }
                for (m, row) in deleted {
                    self.cascade_images_below(&m, &row, depth + 1).await?;
                }
            }
            Ok(())
        })
    }

    /// Whether a delete of `rows` of `meta`'s table here would reach a row with an own change
    /// in flight (a child this node re-pointed at one of them, or added under it, which the
    /// master does not hold so):
    /// - through a cascading key, made with checks, the server deleted it here, and the master's
    ///   rows referring to it in turn with it, which the echo that settles the child does not
    ///   bring back;
    /// - through a key that refuses the delete, the rows referring to it were deleted here
    ///   first ([`Applier::delete_referring`]), with the same loss.
    ///
    /// The rows are looked at from the smaller side, per key: the rows referring to the deleted
    /// ones (500 deleted rows per query), or, when fewer rows of the referring table are in
    /// flight than are deleted, the rows the rows in flight refer to
    /// ([`Applier::own_rows_refer_to`]), so that a delete of any size is looked at.
    ///
    /// Keys on their own table: a refusing one is caught after the server's refusal
    /// ([`Applier::refused_by_own_rows_only`]); a cascading one is looked at, and the cascade
    /// through it then made here ([`Applier::cascade_here`]).
    pub(super) async fn delete_reaches_own_rows(
        &mut self,
        meta: &TableMeta,
        rows: &[RowPair<'_>],
    ) -> Result<bool> {
        let Some(images) = self.left_images.clone() else {
            return Ok(false);
        };
        let cascading = self.cascading_refs(&meta.schema, &meta.table).await?;
        let restricting = self.restricting_refs(&meta.schema, &meta.table).await?;
        let deleted: Vec<&[Value]> = rows.iter().filter_map(|r| r.0).collect();
        let mut deleted_keys: Option<HashSet<Vec<u8>>> = None;
        let keys = cascading
            .iter()
            .map(|r| (r, true))
            .chain(restricting.iter().map(|r| (r, false)));
        for (r, cascades) in keys {
            if r.is_on(&meta.schema, &meta.table) && !cascades {
                continue;
            }
            let own = images.keys_of(&r.full_name());
            if own.is_empty() {
                continue;
            }
            if own.len() < deleted.len() {
                let keys = deleted_keys
                    .get_or_insert_with(|| deleted.iter().map(|b| meta.encoded_key(b)).collect());
                if self.own_rows_refer_to(meta, r, &own, keys).await? {
                    return Ok(true);
                }
                continue;
            }
            let referred: Vec<Vec<Value>> = deleted
                .iter()
                .filter_map(|before| r.referred(meta, before).map(|(_, values)| values))
                .collect();
            for batch in referred.chunks(REFERRING_BATCH) {
                for row in self.rows_referring_to_any(r, batch).await? {
                    let key = row.table.encoded_key(&row.values);
                    if images.holds(&r.full_name(), &key) {
                        return Ok(true);
                    }
                }
            }
        }
        Ok(false)
    }

    /// Whether a row of `r`'s table whose encoded primary key is one of `own` (its rows with
    /// own changes in flight) refers, through `r`, to a row of `meta`'s table whose encoded
    /// key is in `deleted`: the rows they refer to are read joined to them, 500 rows in flight
    /// per query (the server compares the key's values, as the key does).
    async fn own_rows_refer_to(
        &mut self,
        meta: &TableMeta,
        r: &CascadeRef,
        own: &[Vec<u8>],
        deleted: &HashSet<Vec<u8>>,
    ) -> Result<bool> {
        let shape = self.shape(&r.schema, &r.table).await?;
        let own: Vec<Vec<Value>> = own
            .iter()
            .filter_map(|k| rmp_serde::from_slice::<Vec<Value>>(k).ok())
            .filter(|k| k.len() == shape.primary_key.len())
            .collect();
        let key_of_parent: Vec<String> = if meta.primary_key.is_empty() {
            meta.columns.iter().map(|c| c.name.clone()).collect()
        } else {
            meta.primary_key
                .iter()
                .map(|&i| meta.columns[i].name.clone())
                .collect()
        };
        let select = column_list("p.", &key_of_parent);
        let on = r
            .columns
            .iter()
            .zip(&r.referenced)
            .map(|(c, p)| format!("c.{} = p.{}", ident(c), ident(p)))
            .collect::<Vec<_>>()
            .join(" AND ");
        let own_key = column_list("c.", &shape.primary_key);
        let parent = qualified(&meta.schema, &meta.table);
        let child = qualified(&r.schema, &r.table);
        for batch in own.chunks(REFERRING_BATCH) {
            let (list, values) = tuple_list(batch);
            let found: Vec<mysql_async::Row> = self
                .conn
                .exec(
                    format!(
                        "SELECT {select} FROM {parent} AS p JOIN {child} AS c ON {on} \
                         WHERE ({own_key}) IN ({list})"
                    ),
                    values,
                )
                .await
                .map_err(Error::db(format!(
                    "reading the rows of {parent} that rows of {child} in flight refer to"
                )))?;
            for row in found {
                let key: Vec<Value> = row
                    .unwrap()
                    .into_iter()
                    .map(crate::snapshot::source::from_protocol)
                    .collect();
                if deleted.contains(&encode_key(&key.iter().collect::<Vec<_>>())) {
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }

    /// The rows here of `r`'s table that refer, through `r`, to any of `referred` (values of
    /// the key's referred columns, in its order), each as a one-row chunk of its values and
    /// table (primary key in the key's order, as in-flight keys have it): one query,
    /// `(columns) IN ((…), …)`.
    pub(super) async fn rows_referring_to_any(
        &mut self,
        r: &CascadeRef,
        referred: &[Vec<Value>],
    ) -> Result<Vec<crate::model::RowsChunk>> {
        if referred.is_empty() {
            return Ok(Vec::new());
        }
        let child = qualified(&r.schema, &r.table);
        let shape = self.shape(&r.schema, &r.table).await?;
        let cols = column_list("", &r.columns);
        let (list, values) = tuple_list(referred);
        let rows: Vec<mysql_async::Row> = self
            .conn
            .exec(
                format!(
                    "SELECT {} FROM {child} WHERE ({cols}) IN ({list})",
                    shape.columns
                ),
                values,
            )
            .await
            .map_err(Error::db(format!(
                "reading the rows of {child} that refer to deleted rows"
            )))?;
        let pk = shape.primary_key();
        Ok(rows
            .into_iter()
            .map(|row| super::refused::protocol_row(&r.schema, &r.table, row, &pk))
            .filter(|found| !found.table.primary_key.is_empty())
            .collect())
    }

    /// Whether rows of a table that refers to `schema.table` through cascading delete keys, at
    /// any level, have images left alone (the master's cascade of a delete there reaches them).
    pub(super) async fn images_below(&mut self, schema: &str, table: &str) -> Result<bool> {
        let Some(images) = self.left_images.clone() else {
            return Ok(false);
        };
        let mut level = vec![(schema.to_string(), table.to_string())];
        let mut seen = std::collections::HashSet::new();
        for _ in 0..MAX_DEPTH {
            let mut next = Vec::new();
            for (s, t) in &level {
                for r in self.cascading_refs(s, t).await?.iter() {
                    if images.has_images(&r.full_name()) {
                        return Ok(true);
                    }
                    if !r.set_null && seen.insert((r.schema.clone(), r.table.clone())) {
                        next.push((r.schema.clone(), r.table.clone()));
                    }
                }
            }
            if next.is_empty() {
                break;
            }
            level = next;
        }
        Ok(false)
    }

    /// The rows here of `r`'s table that refer, through `r`, to `row` (its key's referred
    /// columns at `idx`), as [`Applier::rows_referring_to_any`] gives them.
    async fn referring_rows(
        &mut self,
        r: &CascadeRef,
        idx: &[usize],
        row: &[Value],
    ) -> Result<Vec<crate::model::RowsChunk>> {
        let referred: Vec<Value> = idx.iter().map(|&i| row[i].clone()).collect();
        self.rows_referring_to_any(r, &[referred]).await
    }

    /// On a snap, the master's own delete (a DBA's) of each row `before` of `deleted`, of
    /// `meta`'s table, whose cascade happened on the master, not in the binlog, and does not
    /// happen here with the delete:
    /// - left alone here by `skip` (an own change of the row is in flight). Left so, the rows
    ///   referring to it stayed here for good once the own change brought the row back on the
    ///   master (later in hub order) without them;
    /// - applied without foreign key checks (`Applier::without_fk_checks`: this node lacks a
    ///   parent another row of the transaction needs), which makes no cascade.
    ///
    /// So the master's cascade is made here, on the rows that refer to it through cascading
    /// keys, as the master holds them here:
    /// - a row with an image left alone (its key in flight): that image is the master's row;
    ///   if it refers to the deleted row, it becomes the row's delete (or its key NULL);
    /// - a row whose key is in flight otherwise (an own change): `skip` keeps the delete (or
    ///   the NULL key) as its image, for the echo that releases it;
    /// - any other row here that refers to it: deleted (or its key set to NULL), one by one.
    ///
    /// Deeper levels cascade from these deletes, as on the master (with foreign key checks on,
    /// whatever the transaction here has them: before stop 31, one applied without them left
    /// the rows below for good), and
    /// the images left alone further down go with them ([`Applier::cascade_images_below`]);
    /// from an image made a delete (a master's row deleted there), its cascade is made here
    /// the same way, on the rows here and the images referring to it. In the
    /// model (`tests/model/converge_fk.py`, variants `hub-cascades+marks+parent+dba+left` and
    /// `+unchecked`) this takes heavily contended runs with the master's own writes from 60 in
    /// 1,000 diverging to 7 in 3,000 (52 without the images left alone), and to 4 in 3,000.
    ///
    /// `own_table_only`: a delete that came through the hub from another node, whose cascades
    /// are rows of its transaction (the hub made them explicit); through keys to its own table
    /// the hub reads the rows it holds, so the rows here that it does not hold (and rows more
    /// than [`MAX_DEPTH`] levels down) are made here.
    pub(super) async fn cascade_here(
        &mut self,
        meta: &TableMeta,
        deleted: &[&[Value]],
        skip: SkipRow<'_>,
        own_table_only: bool,
    ) -> Result<()> {
        if deleted.is_empty()
            || !self
                .cascading_refs(&meta.schema, &meta.table)
                .await?
                .iter()
                .any(|r| !own_table_only || r.is_on(&meta.schema, &meta.table))
        {
            return Ok(());
        }
        // With foreign key checks on, as the master's cascade ran, whatever the transaction
        // here has them (without, a deleted row's own cascade, further down, stayed undone).
        self.fk_checks_on("starsync_cascade_fk")
            .await
            .map_err(Error::db("turning foreign key checks on for a cascade"))?;
        let mut r = Ok(());
        for before in deleted {
            r = self
                .cascade_here_below(meta, before, skip, 0, own_table_only)
                .await;
            if r.is_err() {
                break;
            }
        }
        self.restore_fk_checks("starsync_cascade_fk")
            .await
            .map_err(Error::db("turning foreign key checks back"))?;
        r
    }

    /// [`Applier::cascade_here`] of the row `before`, `depth` levels below the row deleted
    /// (`own_table_only`: through keys to its own table alone).
    fn cascade_here_below<'a>(
        &'a mut self,
        meta: &'a TableMeta,
        before: &'a [Value],
        skip: SkipRow<'a>,
        depth: u32,
        own_table_only: bool,
    ) -> futures::future::BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let refs = self.cascading_refs(&meta.schema, &meta.table).await?;
            // Keys on its own table too: the server made no cascade from `before` here (left
            // alone, or deleted without checks). Rows deleted below with checks cascade there.
            for r in refs.iter() {
                if own_table_only && !r.is_on(&meta.schema, &meta.table) {
                    continue;
                }
                let Some((idx, values)) = r.referred(meta, before) else {
                    continue;
                };
                let child = qualified(&r.schema, &r.table);
                let rows = self.referring_rows(r, &idx, before).await?;
                let found = self
                    .left_images
                    .as_ref()
                    .map(|l| l.cascade(&r.full_name(), &r.columns, &values, r.set_null))
                    .unwrap_or_default();
                // The master's cascade went on from the images made deletes (the master's rows:
                // to the rows here and the images referring to them), and from the rows deleted
                // here (the server's cascade here reaches rows, not images). Not from a row kept
                // for its own change in flight: whether the master's row referred to the deleted
                // one is not known here (a child re-pointed here did not there).
                let images_deleted = if r.set_null {
                    Vec::new()
                } else {
                    found.deleted
                };
                let mut further = Vec::new();
                let (mut deleted, mut kept) = (0, 0);
                for found_row in rows {
                    let m = found_row.table.clone();
                    let img = &found_row.values;
                    let key = m.encoded_key(img);
                    if found.imaged.contains(&key) {
                        // Its image left alone is the master's row (made its delete above when
                        // it referred to the deleted row).
                        kept += 1;
                        continue;
                    }
                    let after = r.set_null.then(|| {
                        let mut a = img.clone();
                        for i in m.positions(&r.columns).unwrap_or_default() {
                            a[i] = Value::Null;
                        }
                        a
                    });
                    if skip(&m, Some(img), after.as_deref()) {
                        kept += 1;
                        continue;
                    }
                    let key = key_filter(&m, &m.primary_key);
                    let q = if r.set_null {
                        let set = set_null(&r.columns);
                        format!("UPDATE {child} SET {set} WHERE {key}")
                    } else {
                        format!("DELETE FROM {child} WHERE {key}")
                    };
                    match self.conn.exec_drop(q, params(img, &m.primary_key)).await {
                        Ok(()) => {
                            deleted += 1;
                            if !r.set_null {
                                further.push((m.clone(), img.clone()));
                            }
                        }
                        // Rows here refuse it (`RESTRICT` further down, made here): the statement
                        // alone is undone, and the row stays, as the master's refusal would keep it.
                        Err(mysql_async::Error::Server(e)) if e.code == 1451 => {
                            debug!(table = %child, error = %e.message,
                               "a row referring to a deleted row is kept: rows here refuse it");
                        }
                        Err(e) => {
                            return Err(Error::db(format!(
                                "deleting the rows of {child} that refer to a deleted row"
                            ))(e))
                        }
                    }
                }
                if deleted + kept > 0 {
                    debug!(table = %meta.full_name(), referring = %child, changed = deleted,
                       left_alone = kept,
                       "the master's delete of a row, not cascaded here by the server: its cascade made here");
                }
                // All rows of `r`'s table: whether images stand below it is asked once.
                if !further.is_empty() && self.images_below(&r.schema, &r.table).await? {
                    for (m, row) in further {
                        self.cascade_images_below(&m, &row, depth + 1).await?;
                    }
                }
                if depth + 1 < MAX_DEPTH {
                    for (m, row) in images_deleted {
                        self.cascade_here_below(&m, &row, skip, depth + 1, false)
                            .await?;
                    }
                }
            }
            Ok(())
        })
    }

    /// What an update of a row of `meta`'s table (its columns' values `known`) changes through
    /// keys with an update rule ([`plan_move`]), and whether that is all of it.
    async fn plan_follows(
        &mut self,
        meta: &TableMeta,
        known: &Moving,
    ) -> Result<(Vec<Follow>, bool)> {
        let mut follows = Vec::new();
        let complete = plan_move(self, &meta.schema, &meta.table, known, 0, &mut follows).await?;
        Ok((follows, complete))
    }

    /// Makes `follows`, in order; the rows they changed.
    async fn make_follows(
        &mut self,
        follows: &[Follow],
    ) -> std::result::Result<u64, mysql_async::Error> {
        let mut changed = 0;
        for f in follows {
            let (q, p) = f.statement();
            self.conn.exec_drop(q, p).await?;
            changed += self.conn.affected_rows();
        }
        Ok(changed)
    }

    /// On the hub, a snap's update of the row `before` of `meta`'s table to `after` that
    /// changes values keys with an update rule refer to (a move to another key, or of a
    /// referred unique or indexed column; or its insert of a row the master holds otherwise,
    /// `before` = `after`, which updates it there): made as one `UPDATE` (as
    /// [`Applier::move_by_update`]), with the rows that follow it changed by statements of
    /// their own, so that they are binlogged (see the module's note). The move is first made
    /// with checks on and undone (its savepoint): the server refuses it there as it would have
    /// (a `RESTRICT` key, the row's own keys), and a refusal is returned as the server's error.
    /// Then, with checks off (no cascade), the move and the planned updates. `matches`: the
    /// master's row is `before` (else it is read: the values its keys refer to are the
    /// master's). `None` when the follows cannot be planned, or the row is not here or its new
    /// key is held (the caller moves it as before); else the move's result and whether the
    /// server converted a value.
    pub(super) async fn update_with_follows(
        &mut self,
        meta: &TableMeta,
        table_plan: &TablePlan,
        before: &[Value],
        after: &[Value],
        matches: bool,
    ) -> Result<Option<(std::result::Result<(), mysql_async::Error>, bool)>> {
        let after_of = |name: &str| {
            meta.columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(name))
                .and_then(|i| after.get(i))
        };
        let known: Moving = if matches {
            moving(meta, before, after)
        } else {
            // The values referred to are the master's, which the origin's before-image does
            // not show: its row is read (and locked).
            let shape = self.shape(&meta.schema, &meta.table).await?;
            let row: Option<mysql_async::Row> = self
                .conn
                .exec_first(
                    format!(
                        "SELECT {} FROM {} WHERE {} FOR UPDATE",
                        shape.columns,
                        qualified(&meta.schema, &meta.table),
                        key_filter(meta, &table_plan.key)
                    ),
                    params(before, &table_plan.key),
                )
                .await
                .map_err(Error::db(format!(
                    "reading the master's row of {} before an update",
                    meta.full_name()
                )))?;
            let Some(row) = row else {
                return Ok(None);
            };
            let current =
                super::refused::protocol_row(&meta.schema, &meta.table, row, &shape.primary_key());
            current
                .table
                .columns
                .iter()
                .zip(current.values.iter())
                .map(|(c, v)| {
                    let new = after_of(&c.name).unwrap_or(v).clone();
                    (c.name.to_lowercase(), (v.clone(), new))
                })
                .collect()
        };
        let (follows, complete) = self.plan_follows(meta, &known).await?;
        if !complete || follows.is_empty() {
            return Ok(None);
        }
        let sp = {
            let o = self.open.as_mut().expect("a transaction is open");
            o.savepoints += 1;
            format!("starsync_m{}", o.savepoints)
        };
        let wrap = |what: &'static str| Error::db(format!("{what} ({})", meta.full_name()));
        self.conn
            .query_drop(format!("SAVEPOINT {sp}"))
            .await
            .map_err(wrap("setting a savepoint before checking a key move"))?;
        match self.move_by_update(table_plan, before, after).await {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            // Undone with the row's own savepoint (a refusal), or with the transaction.
            Err(e) => return Ok(Some((Err(e), false))),
        }
        self.conn
            .query_drop(format!("ROLLBACK TO SAVEPOINT {sp}"))
            .await
            .map_err(wrap("undoing a checked key move"))?;
        self.fk_checks_off("starsync_fk_move")
            .await
            .map_err(wrap("turning foreign key checks off for a key move"))?;
        let mut changed = 0;
        let made = async {
            if !self.move_by_update(table_plan, before, after).await? {
                return Ok(None);
            }
            let converted = self.conn.get_warnings() > 0;
            changed = self.make_follows(&follows).await?;
            Ok(Some(converted))
        }
        .await;
        self.restore_fk_checks("starsync_fk_move")
            .await
            .map_err(wrap("turning foreign key checks back on after a key move"))?;
        if changed > 0 {
            debug!(table = %meta.full_name(), rows = changed,
                   "rows following a moved row through keys with an update rule, changed explicitly");
        }
        Ok(match made {
            Ok(Some(converted)) => Some((Ok(()), converted)),
            Ok(None) => None,
            Err(e) => Some((Err(e), false)),
        })
    }

    /// On a snap, the master's own update (a DBA's) of `rows` of `meta`'s table, whose
    /// followers through keys with an update rule changed on the master, unlogged, and not
    /// here with the update:
    /// - applied without foreign key checks (`Applier::without_fk_checks`): the server makes
    ///   no cascade;
    /// - left alone here (an own change of the row is in flight): the update is not made.
    ///
    /// The rows that follow them here are changed explicitly, with checks off, row by row in
    /// the origin's order, as the hub does for a snap's update
    /// ([`Applier::update_with_follows`]); as far as values tell them.
    pub(super) async fn follow_here(
        &mut self,
        meta: &TableMeta,
        rows: &[RowPair<'_>],
    ) -> Result<()> {
        let refs = self
            .update_cascading_refs(&meta.schema, &meta.table)
            .await?;
        if !carries_any(meta, &refs, rows) {
            return Ok(());
        }
        let wrap = |what: &'static str| Error::db(format!("{what} ({})", meta.full_name()));
        self.fk_checks_off("starsync_fk_follow")
            .await
            .map_err(wrap(
                "turning foreign key checks off for the rows following an update",
            ))?;
        let made = async {
            let mut changed = 0;
            for (before, after) in rows.iter().filter_map(|r| r.0.zip(r.1)) {
                if !carries_followers(meta, &refs, before, after) {
                    continue;
                }
                // What could be planned is made even when a deeper level could not.
                let (follows, _) = self
                    .plan_follows(meta, &moving(meta, before, after))
                    .await?;
                // Images left alone of following rows are the master's rows: they follow too.
                if let Some(l) = &self.left_images {
                    for f in &follows {
                        l.follow(&format!("{}.{}", f.schema, f.table), &f.filter, &f.set);
                    }
                }
                changed += self
                    .make_follows(&follows)
                    .await
                    .map_err(wrap("changing the rows that follow the master's update"))?;
            }
            Ok::<u64, Error>(changed)
        }
        .await;
        self.restore_fk_checks("starsync_fk_follow")
            .await
            .map_err(wrap(
                "turning foreign key checks back on after the rows following an update",
            ))?;
        let changed = made?;
        if changed > 0 {
            debug!(table = %meta.full_name(), rows = changed,
                   "the master's update, not cascaded here by the server: the rows following it changed here");
        }
        Ok(())
    }

    /// After the master refused a snap's delete of the row `before` of `meta`'s table (rolled
    /// back), or its move to another key (`moved`: made by an update, keys with cascading
    /// update rules followed it): records the master's rows that refer to it through such
    /// keys with the refusal ([`super::refused`]). The snap's own change took or changed them
    /// there, below its binlog; the echo brings them back with the parent, as the master kept
    /// them.
    pub(super) async fn record_refused_cascade(
        &mut self,
        meta: &TableMeta,
        table_plan: &TablePlan,
        before: &[Value],
        moved: bool,
    ) -> Result<()> {
        let filter = key_filter(meta, &table_plan.key);
        let mut targets = Vec::new();
        let moved = moved.then_some(&[][..]);
        plan(
            self,
            &meta.schema,
            &meta.table,
            &filter,
            0,
            moved,
            &mut targets,
        )
        .await?;
        let p = params(before, &table_plan.key);
        // Parents before their children (the snap forces them without checks all the same).
        for t in targets.iter().rev() {
            let shape = self.shape(&t.schema, &t.table).await?;
            let pk = shape.primary_key();
            let child = qualified(&t.schema, &t.table);
            let rows: Vec<mysql_async::Row> = self
                .conn
                .exec(
                    format!("SELECT {} FROM {child} WHERE {}", shape.columns, t.filter),
                    p.clone(),
                )
                .await
                .map_err(Error::db(format!(
                    "reading the rows of {}.{} that refer to a refused delete's row",
                    t.schema, t.table
                )))?;
            for row in rows {
                let chunk = super::refused::protocol_row(&t.schema, &t.table, row, &pk);
                self.insert_refused(&chunk, &meta.full_name()).await?;
            }
        }
        Ok(())
    }
}

/// Why [`Applier::cascade_explicitly`] failed: the server refused a statement (as it would
/// have refused the cascade), or the keys could not be read.
#[derive(Debug)]
pub(super) enum CascadeError {
    Server(mysql_async::Error),
    Other(Error),
}
