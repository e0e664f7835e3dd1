//! Random conflicting writes on every node at once: the convergence invariant under a workload
//! nobody planned. Two writers per node run random transactions (inserts, upserts, REPLACE,
//! updates of values, of a unique key and of the primary key, range updates, deletes, parents
//! and children of a foreign key) over one
//! small key space, so nearly every transaction races another node's. When they stop, every
//! node's tables must equal the master's: once while the master changes the tables' schema,
//! once through `kill -9` of an agent and of the hub.
//!
//! `STARSYNC_FUZZ_SEED` replays a run (the seed is printed); `STARSYNC_FUZZ_SECS` runs longer;
//! `STARSYNC_FUZZ_FOCUS=fk` writes only the tables of the foreign key; `STARSYNC_FUZZ_FOCUS=cascade`
//! has the snaps write only tables under `ON DELETE CASCADE` / `SET NULL` keys, moving their keys
//! too (refused where a child refers to the old key: the keys' update rule is `RESTRICT`; the master's
//! writers keep to the other tables: its own deletes cascade unlogged, see `apply/cascade.rs`;
//! `cascade-all` has the master's writers write them too); `STARSYNC_FUZZ_FOCUS=moves` has the
//! snaps move parents' keys under `ON UPDATE CASCADE` / `SET NULL` keys and write their
//! children (the master's writers keep to the other tables; `moves-all`: they write them too);
//! `STARSYNC_FUZZ_FOCUS=tree` has the snaps write a table whose `ON DELETE CASCADE` key refers
//! to itself, adding, re-pointing and deleting rows (`tree-all`: the master's writers too);
//! `STARSYNC_FUZZ_RESTARTS=N` also kills and restarts an agent (in turn) N times in each third
//! of the run.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mysql_async::prelude::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use starsync_tests::star::app_conn;
use starsync_tests::Star;

const KEYS: i64 = 40;

const SCHEMA: &str = "CREATE DATABASE MOST; USE MOST; \
    CREATE TABLE f (id INT PRIMARY KEY, v INT NOT NULL, s VARCHAR(20), u INT UNIQUE); \
    CREATE TABLE g (a INT, b INT, x BIGINT, t TEXT, PRIMARY KEY (a, b)); \
    CREATE TABLE m (id INT PRIMARY KEY, v INT, u INT UNIQUE) ENGINE=MyISAM; \
    CREATE TABLE pp (id INT PRIMARY KEY, v INT); \
    CREATE TABLE cc (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES pp (id)); \
    CREATE TABLE pq (id INT PRIMARY KEY, v INT); \
    CREATE TABLE cq (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES pq (id) ON DELETE CASCADE); \
    CREATE TABLE gq (id INT PRIMARY KEY, cid INT, FOREIGN KEY (cid) REFERENCES cq (id) ON DELETE CASCADE); \
    CREATE TABLE nq (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES pq (id) ON DELETE SET NULL); \
    CREATE TABLE pu (id INT PRIMARY KEY, v INT); \
    CREATE TABLE cu (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES pu (id) ON UPDATE CASCADE); \
    CREATE TABLE gu (id INT PRIMARY KEY, cpid INT, FOREIGN KEY (cpid) REFERENCES cu (pid) ON UPDATE CASCADE); \
    CREATE TABLE nu (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES pu (id) ON UPDATE SET NULL); \
    CREATE TABLE tq (id INT PRIMARY KEY, pid INT, FOREIGN KEY (pid) REFERENCES tq (id) ON DELETE CASCADE); \
    INSERT INTO tq SELECT seq, NULL FROM seq_1_to_12; \
    INSERT INTO pu SELECT seq, 0 FROM seq_1_to_10; \
    INSERT INTO pq SELECT seq, 0 FROM seq_1_to_10; \
    INSERT INTO pp SELECT seq, 0 FROM seq_1_to_10; \
    INSERT INTO f SELECT seq, 0, 'init', NULL FROM seq_1_to_20; \
    INSERT INTO g SELECT seq % 5, seq, 0, NULL FROM seq_1_to_20";

/// One random statement over the shared key space.
fn statement(rng: &mut StdRng, who: &str) -> String {
    let k = |rng: &mut StdRng| rng.gen_range(1..=KEYS);
    let p = |rng: &mut StdRng| rng.gen_range(1..=12);
    // STARSYNC_FUZZ_FOCUS=fk: only the parent and child tables (for chasing a divergence there).
    let focus = std::env::var("STARSYNC_FUZZ_FOCUS").unwrap_or_default();
    // The cascading delete keys' statements: 20 to 26, and the key moves 34 and 35.
    let cascade = |rng: &mut StdRng| match rng.gen_range(20..29) {
        n @ 27.. => n + 7,
        n => n,
    };
    let pick = match focus.as_str() {
        "fk" => rng.gen_range(14..18),
        "cascade" if who != "master" => cascade(rng),
        "cascade-all" => cascade(rng),
        "cascade" => rng.gen_range(0..14),
        "moves" if who != "master" => rng.gen_range(27..34),
        "moves-all" => rng.gen_range(27..34),
        "moves" => rng.gen_range(0..14),
        "tree" if who != "master" => rng.gen_range(36..40),
        "tree-all" => rng.gen_range(36..40),
        "tree" => rng.gen_range(0..14),
        _ => rng.gen_range(0..20),
    };
    match pick {
        20 => format!(
            "INSERT INTO pq (id, v) VALUES ({}, 1) ON DUPLICATE KEY UPDATE v = v + 1",
            p(rng)
        ),
        21 => format!("DELETE FROM pq WHERE id = {}", p(rng)),
        22 => format!(
            "INSERT INTO cq (id, pid) VALUES ({}, {}) ON DUPLICATE KEY UPDATE pid = VALUES(pid)",
            k(rng),
            p(rng)
        ),
        23 => format!("DELETE FROM cq WHERE id = {}", k(rng)),
        24 => format!(
            "INSERT INTO gq (id, cid) VALUES ({}, {}) ON DUPLICATE KEY UPDATE cid = VALUES(cid)",
            k(rng),
            k(rng)
        ),
        25 => format!(
            "INSERT INTO nq (id, pid) VALUES ({}, {}) ON DUPLICATE KEY UPDATE pid = VALUES(pid)",
            k(rng),
            p(rng)
        ),
        26 => format!("DELETE FROM pq WHERE id = {}; INSERT INTO pq VALUES ({0}, 9)", p(rng)),
        27 => format!(
            "INSERT INTO pu (id, v) VALUES ({}, 1) ON DUPLICATE KEY UPDATE v = v + 1",
            p(rng)
        ),
        28 => format!("UPDATE pu SET id = {} WHERE id = {}", p(rng), p(rng)),
        29 => format!(
            "INSERT INTO cu (id, pid) VALUES ({}, {}) ON DUPLICATE KEY UPDATE pid = VALUES(pid)",
            k(rng),
            p(rng)
        ),
        30 => format!("DELETE FROM cu WHERE id = {}", k(rng)),
        31 => format!(
            "INSERT INTO nu (id, pid) VALUES ({}, {}) ON DUPLICATE KEY UPDATE pid = VALUES(pid)",
            k(rng),
            p(rng)
        ),
        32 => format!("DELETE FROM pu WHERE id = {}", p(rng)),
        33 => format!(
            "INSERT INTO gu (id, cpid) VALUES ({}, {}) ON DUPLICATE KEY UPDATE cpid = VALUES(cpid)",
            k(rng),
            p(rng)
        ),
        // Key moves under keys that cascade deletes but restrict updates: refused where a
        // child refers to the old key.
        34 => format!("UPDATE pq SET id = {} WHERE id = {}", p(rng), p(rng)),
        35 => format!("UPDATE cq SET id = {} WHERE id = {}", k(rng), k(rng)),
        // A table whose key refers to itself (`ON DELETE CASCADE`): rows 1 to 12 are parents,
        // each row refers to a lower one (no cycle; at most 12 levels, below InnoDB's 15).
        36 => {
            let id = rng.gen_range(2..=KEYS);
            let pid = rng.gen_range(1..=(id - 1).min(12));
            format!(
                "INSERT INTO tq (id, pid) VALUES ({id}, {pid}) ON DUPLICATE KEY UPDATE pid = VALUES(pid)"
            )
        }
        37 => format!("DELETE FROM tq WHERE id = {}", p(rng)),
        38 => format!("INSERT IGNORE INTO tq (id, pid) VALUES ({}, NULL)", p(rng)),
        39 => format!("DELETE FROM tq WHERE id = {}", k(rng)),
        14 => format!(
            "INSERT INTO pp (id, v) VALUES ({}, 1) ON DUPLICATE KEY UPDATE v = v + 1",
            p(rng)
        ),
        15 => format!("DELETE FROM pp WHERE id = {}", p(rng)),
        16 => format!(
            "INSERT INTO cc (id, pid) VALUES ({}, {}) ON DUPLICATE KEY UPDATE pid = VALUES(pid)",
            k(rng),
            p(rng)
        ),
        17 => format!("DELETE FROM cc WHERE id = {}", k(rng)),
        18 => format!("UPDATE m SET u = {} WHERE id = {}", k(rng), k(rng)),
        19 => format!("REPLACE INTO m (id, v, u) VALUES ({}, 2, {})", k(rng), k(rng)),
        0 => format!(
            "INSERT INTO f (id, v, s) VALUES ({}, {}, '{who}') ON DUPLICATE KEY UPDATE v = v + 1, s = '{who}'",
            k(rng),
            rng.gen_range(0..100)
        ),
        1 => format!("INSERT IGNORE INTO f (id, v, s) VALUES ({}, 1, '{who}')", k(rng)),
        2 => format!("REPLACE INTO f (id, v, s, u) VALUES ({}, 2, '{who}', {})", k(rng), k(rng)),
        3 => format!("UPDATE f SET v = v + 1, s = '{who}' WHERE id = {}", k(rng)),
        4 => format!("UPDATE f SET u = {} WHERE id = {}", k(rng), k(rng)),
        5 => format!("UPDATE f SET id = {} WHERE id = {}", k(rng), k(rng)),
        6 => {
            let lo = k(rng);
            format!(
                "UPDATE f SET v = v * 2 + 1 WHERE id BETWEEN {lo} AND {}",
                lo + 3
            )
        }
        7 => format!("DELETE FROM f WHERE id = {}", k(rng)),
        8 => format!("DELETE FROM f WHERE u = {}", k(rng)),
        9 => format!(
            "INSERT INTO g (a, b, x, t) VALUES ({}, {}, 1, REPEAT('{who}', {})) \
             ON DUPLICATE KEY UPDATE x = x + 1, t = CONCAT(COALESCE(t, ''), '{who}')",
            rng.gen_range(0..5),
            k(rng),
            rng.gen_range(0..50)
        ),
        10 => format!(
            "UPDATE g SET b = {} WHERE a = {} AND b = {}",
            k(rng),
            rng.gen_range(0..5),
            k(rng)
        ),
        11 => format!("DELETE FROM g WHERE a = {} AND b > {}", rng.gen_range(0..5), k(rng)),
        12 => format!(
            "INSERT INTO m (id, v) VALUES ({}, 1) ON DUPLICATE KEY UPDATE v = v + 1",
            k(rng)
        ),
        _ => format!("DELETE FROM m WHERE id = {}", k(rng)),
    }
}

/// Random transactions of 1–4 statements until `stop`; statements that fail (a duplicate key, a
/// deadlock, a lock wait) roll their transaction back, as an application would see it.
async fn writer(
    mut conn: mysql_async::Conn,
    who: String,
    seed: u64,
    stop: Arc<AtomicBool>,
    committed: Arc<AtomicU64>,
) -> anyhow::Result<()> {
    let mut rng = StdRng::seed_from_u64(seed);
    conn.query_drop("USE MOST").await?;
    while !stop.load(Ordering::Relaxed) {
        let n = rng.gen_range(1..=4);
        let mut ok = conn.query_drop("BEGIN").await.is_ok();
        for i in 0..n {
            if !ok {
                break;
            }
            let mut sql = statement(&mut rng, &who);
            if i > 0 && rng.gen_ratio(1, 10) {
                // What a savepoint undid must be undone everywhere.
                sql = format!("SAVEPOINT s; {sql}; ROLLBACK TO SAVEPOINT s");
            }
            ok = conn.query_drop(&sql).await.is_ok();
        }
        if ok && conn.query_drop("COMMIT").await.is_ok() {
            committed.fetch_add(1, Ordering::Relaxed);
        } else {
            conn.query_drop("ROLLBACK").await.ok();
        }
        if rng.gen_ratio(1, 4) {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(0..5))).await;
        }
    }
    Ok(())
}

/// What happens to the star while the writers write.
#[derive(Clone, Copy)]
enum Meanwhile {
    /// Schema changes on the master: a column added at the end and one in the middle, an
    /// index; rows written in the old shape meet the new one.
    SchemaChanges,
    /// `kill -9` of snap1's agent, then of the hub and snap2's agent, each restarted a second
    /// later.
    Kills,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_conflicting_writes_and_schema_changes_converge() {
    run(Meanwhile::SchemaChanges).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn random_conflicting_writes_through_kills_converge() {
    run(Meanwhile::Kills).await;
}

/// The third `step` (1 or 2) of `meanwhile`.
async fn step(star: &mut Star, meanwhile: Meanwhile, step: u32) {
    match (meanwhile, step) {
        (Meanwhile::SchemaChanges, 1) => star
            .master()
            .exec("ALTER TABLE MOST.g ADD COLUMN z INT NOT NULL DEFAULT 5")
            .await
            .unwrap(),
        (Meanwhile::SchemaChanges, _) => star
            .master()
            .exec(
                "ALTER TABLE MOST.f ADD COLUMN w VARCHAR(10) DEFAULT 'w' AFTER v, ADD INDEX (v); \
                 ALTER TABLE MOST.m ADD COLUMN w INT",
            )
            .await
            .unwrap(),
        (Meanwhile::Kills, 1) => restart_agent(star, 0).await,
        (Meanwhile::Kills, _) => {
            star.hub_proc().kill9();
            star.agent_proc(1).kill9();
            tokio::time::sleep(Duration::from_secs(1)).await;
            star.start_hub().unwrap();
            star.start_agent(1).unwrap();
        }
    }
}

/// `kill -9` of snap `i + 1`'s agent, restarted a second later.
async fn restart_agent(star: &mut Star, i: usize) {
    star.agent_proc(i).kill9();
    tokio::time::sleep(Duration::from_secs(1)).await;
    star.start_agent(i).unwrap();
}

async fn run(meanwhile: Meanwhile) {
    let seed: u64 = std::env::var("STARSYNC_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(rand::random);
    let secs: u64 = std::env::var("STARSYNC_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    println!("STARSYNC_FUZZ_SEED={seed} STARSYNC_FUZZ_SECS={secs}");
    let mut star = Star::start(2).await.unwrap();
    star.master().exec(SCHEMA).await.unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    let mut counts = Vec::new();
    for (i, node) in star.cluster.nodes.iter().enumerate() {
        for j in 0..2u64 {
            let conn = if i == 0 {
                node.conn().await.unwrap()
            } else {
                app_conn(node).await.unwrap()
            };
            let committed = Arc::new(AtomicU64::new(0));
            counts.push((format!("{}#{j}", node.name()), committed.clone()));
            writers.push(tokio::spawn(writer(
                conn,
                node.name().to_string(),
                seed ^ ((i as u64) << 8 | j),
                stop.clone(),
                committed,
            )));
        }
    }
    let restarts: u32 = std::env::var("STARSYNC_FUZZ_RESTARTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let slice = Duration::from_secs(secs) / 3 / (restarts + 1);
    for n in 1..=3 {
        for r in 0..=restarts {
            tokio::time::sleep(slice).await;
            if r < restarts {
                restart_agent(&mut star, (n + r) as usize % 2).await;
            }
        }
        if n < 3 {
            step(&mut star, meanwhile, n).await;
        }
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.await.unwrap().unwrap();
    }
    for (name, n) in &counts {
        let n = n.load(Ordering::Relaxed);
        println!("{name}: {n} transactions committed");
        assert!(n > 20, "{name} made progress");
    }
    let catching_up = std::time::Instant::now();
    let converged = star
        .wait_converged(Duration::from_secs(120 + 4 * secs))
        .await;
    println!(
        "{} {:.1} s after the writers stopped",
        if converged.is_ok() {
            "converged"
        } else {
            "not converged"
        },
        catching_up.elapsed().as_secs_f64()
    );
    if let Err(e) = &converged {
        println!("seed {seed}: {e:#}");
        for t in [
            "f", "g", "m", "pp", "cc", "pq", "cq", "gq", "nq", "pu", "cu", "gu", "nu", "tq",
        ] {
            for node in &star.cluster.nodes {
                let rows: Vec<Option<String>> = node
                    .query(&format!(
                        "SELECT GROUP_CONCAT(CONCAT_WS(':', {}) ORDER BY 1 SEPARATOR ' ') FROM MOST.{t}",
                        match t { "g" => "a, b, x, LENGTH(t)", "f" => "id, v, s, u", "cc" | "cq" | "nq" | "cu" | "nu" | "tq" => "id, pid", "gq" => "id, cid", "gu" => "id, cpid", _ => "id, v" }
                    ))
                    .await
                    .unwrap_or_default();
                println!("{t} on {}: {rows:?}", node.name());
            }
        }
        panic!("seed {seed}: {e:#}");
    }
}
