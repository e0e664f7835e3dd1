//! A wrong shared secret and a stream of garbage bytes to the hub port each get a clear error on
//! both sides, while replication between the other nodes continues.

use std::time::Duration;

use starsync_tests::star::{app_exec, status_node};
use starsync_tests::{eventually, Star};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_secret_and_garbage_are_refused_and_others_go_on() {
    let mut star = Star::start(2).await.unwrap();
    star.master()
        .exec("CREATE DATABASE MOST; CREATE TABLE MOST.t (id INT PRIMARY KEY, v VARCHAR(20))")
        .await
        .unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();

    // snap2's agent restarts with a wrong secret.
    star.agent_proc(1).kill9();
    let cfg = star.agent_config(1);
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(starsync_tests::star::SECRET, "not-the-right-secret-00"),
    )
    .unwrap();
    star.start_agent(1).unwrap();
    eventually(
        "both sides log the refusal",
        Duration::from_secs(15),
        || async {
            Ok(star
                .hub_log()
                .contains("authentication failed for node \"snap2\"")
                && star.agent_log(1).contains("shared secret does not match"))
        },
    )
    .await
    .unwrap();

    // Garbage bytes, and a frame announcing 4 GiB.
    let hub = format!("127.0.0.1:{}", star.hub_port);
    let mut g = tokio::net::TcpStream::connect(&hub).await.unwrap();
    g.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), g.read_to_end(&mut sink)).await;
    let mut big = tokio::net::TcpStream::connect(&hub).await.unwrap();
    big.write_all(&[0xff, 0xff, 0xff, 0xff, 1, 2, 3])
        .await
        .unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), big.read_to_end(&mut sink)).await;
    // A well-sized frame whose content is not MessagePack.
    let mut bad = tokio::net::TcpStream::connect(&hub).await.unwrap();
    bad.write_all(&[0, 0, 0, 8, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1, 0xc1])
        .await
        .unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(5), bad.read_to_end(&mut sink)).await;
    eventually(
        "the hub logs both bad connections",
        Duration::from_secs(10),
        || async {
            let log = star.hub_log();
            Ok(log.contains("malformed frame") && log.contains("exceeds the maximum"))
        },
    )
    .await
    .unwrap();

    // Replication between the master and snap1 goes on.
    app_exec(
        star.snap(0),
        "INSERT INTO MOST.t VALUES (1, 'still flowing')",
    )
    .await
    .unwrap();
    star.master()
        .exec("INSERT INTO MOST.t VALUES (2, 'both ways')")
        .await
        .unwrap();
    eventually(
        "master and snap1 exchange rows",
        Duration::from_secs(15),
        || async {
            let a: Vec<u64> = star.master().query("SELECT COUNT(*) FROM MOST.t").await?;
            let b: Vec<u64> = star.snap(0).query("SELECT COUNT(*) FROM MOST.t").await?;
            Ok(a[0] == 2 && b[0] == 2)
        },
    )
    .await
    .unwrap();
    let st = star.status().await.unwrap();
    let snap1 = status_node(&st, "snap1").unwrap();
    assert_eq!(snap1["connected"], true);

    // With the right secret snap2 catches up.
    star.agent_proc(1).kill9();
    std::fs::write(&cfg, text).unwrap();
    star.start_agent(1).unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
}

/// A snap whose server would make other tables of the master's DDL (here a TIMESTAMP column
/// declared without NULL or DEFAULT, under another `explicit_defaults_for_timestamp`) is refused
/// before it loads or applies anything, with what differs and the fix; the other snap goes on;
/// once fixed, it joins and its tables are the master's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snap_whose_server_would_make_other_tables_is_refused_until_fixed() {
    let mut star = Star::start_partial(2, 1, |s| {
        if s.name == "snap2" {
            s.arg("--explicit-defaults-for-timestamp=0")
        } else {
            s
        }
    })
    .await
    .unwrap();
    star.start_agent(1).unwrap();
    star.master()
        .exec("CREATE DATABASE MOST; CREATE TABLE MOST.t (id INT PRIMARY KEY, ts TIMESTAMP)")
        .await
        .unwrap();
    eventually("snap2 is refused", Duration::from_secs(30), || async {
        Ok(star
            .agent_log(1)
            .contains("explicit_defaults_for_timestamp is OFF here and ON on the master"))
    })
    .await
    .unwrap_or_else(|e| panic!("{e}\n{}", star.agent_log(1)));
    eventually("snap1 has the table", Duration::from_secs(30), || async {
        Ok(star
            .snap(0)
            .query::<String>("SHOW TABLES FROM MOST")
            .await
            .is_ok_and(|t| t == ["t"]))
    })
    .await
    .unwrap();
    let none: Vec<String> = star
        .snap(1)
        .query("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'MOST'")
        .await
        .unwrap();
    assert!(none.is_empty(), "snap2 loaded nothing");

    star.snap(1)
        .exec("SET GLOBAL explicit_defaults_for_timestamp = 1")
        .await
        .unwrap();
    // The agent tries again on its own.
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let ddl = |i: usize| {
        let node = if i == 0 {
            star.master()
        } else {
            star.snap(i - 1)
        };
        async move {
            node.query::<(String, String)>("SHOW CREATE TABLE MOST.t")
                .await
                .unwrap()
        }
    };
    let want = ddl(0).await;
    assert_eq!(ddl(1).await, want);
    assert_eq!(ddl(2).await, want);
}
