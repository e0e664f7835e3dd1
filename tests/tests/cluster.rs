//! The harness itself: a 3-node cluster starts with the settings the design needs, takes writes,
//! and leaves no server behind.

use mysql_async::prelude::*;
use starsync_tests::{mariadb, pgrep, Cluster};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_node_cluster_has_design_settings_and_tears_down() {
    let cluster = Cluster::start(3).await.expect("cluster starts");
    let pids = cluster.pids();
    assert_eq!(pids.len(), 3);
    for (i, node) in cluster.nodes.iter().enumerate() {
        let id = i as u64 + 1;
        let row: Vec<(u64, u64, String, String, String, u64, u64)> = node
            .query(
                "SELECT @@server_id, @@gtid_domain_id, @@binlog_format, @@binlog_row_image, \
                 @@binlog_row_metadata, @@gtid_strict_mode, @@log_bin",
            )
            .await
            .unwrap();
        assert_eq!(
            row[0],
            (id, id, "ROW".into(), "FULL".into(), "FULL".into(), 1, 1),
            "settings of {}",
            node.name()
        );
        // Accounts: the replication account passes `check`'s privilege list, the app account
        // has DML on MOST only.
        let mut app =
            mysql_async::Conn::new(node.opts_as(mariadb::APP_USER, mariadb::APP_PASSWORD))
                .await
                .unwrap();
        let grants: Vec<String> = app.query("SHOW GRANTS").await.unwrap();
        assert!(
            grants
                .iter()
                .any(|g| g.contains("SELECT, INSERT, UPDATE, DELETE ON `MOST`.*")),
            "{grants:?}"
        );
        let err = app.query_drop("CREATE DATABASE other").await.unwrap_err();
        assert!(err.to_string().contains("denied"), "{err}");
        app.disconnect().await.unwrap();
    }
    // Writes on each node land in that node's own GTID domain.
    for node in &cluster.nodes {
        node.exec(&format!(
            "CREATE DATABASE IF NOT EXISTS MOST; CREATE TABLE MOST.t_{n} (id INT PRIMARY KEY, v TEXT); \
             INSERT INTO MOST.t_{n} VALUES (1, '{n}')",
            n = node.name()
        ))
        .await
        .unwrap();
        let pos = node.gtid_binlog_pos().await.unwrap();
        let d = node.spec.domain_id;
        assert_eq!(pos.domains().collect::<Vec<_>>(), vec![d], "{pos}");
        assert_eq!(pos.get(d).unwrap().server, node.spec.server_id);
        assert_eq!(pos.get(d).unwrap().seq, 3);
    }
    let root = cluster.root.path().to_owned();
    drop(cluster);
    let left: Vec<u32> = pgrep("mariadbd")
        .into_iter()
        .filter(|p| pids.contains(p))
        .collect();
    assert!(left.is_empty(), "servers left running: {left:?}");
    assert!(!root.exists(), "temp folder {} left behind", root.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_die_on_panic_and_log_tail_is_kept() {
    let cluster = Cluster::start(1).await.unwrap();
    let pid = cluster.pids()[0];
    let log = cluster.nodes[0].log_tail(50);
    assert!(log.contains("ready for connections"), "{log}");
    let handle = std::thread::spawn(move || {
        let _c = cluster;
        panic!("simulated test failure");
    });
    assert!(handle.join().is_err());
    assert!(
        !pgrep("mariadbd").contains(&pid),
        "server {pid} survived a panic"
    );
}
