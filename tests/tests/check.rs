//! `replicator check` against real servers: a misconfigured one fails naming every setting and its
//! fix; a harness node passes.

use std::process::Command;

use starsync_tests::{mariadb, process, Cluster, Node, NodeSpec};

fn agent_config(
    node: &Node,
    dir: &std::path::Path,
    user: &str,
    password: &str,
) -> std::path::PathBuf {
    let path = dir.join(format!("{}.toml", node.name()));
    std::fs::write(
        &path,
        format!(
            "[node]\nname = \"{}\"\nserver_id = {}\ndomain_id = {}\n\n\
             [mariadb]\nhost = \"127.0.0.1\"\nport = {}\nuser = \"{user}\"\npassword = \"{password}\"\n\n\
             [agent]\nhub = \"127.0.0.1:4500\"\nsecret = \"0123456789abcdef0123\"\n",
            node.name(),
            node.spec.server_id,
            node.spec.domain_id,
            node.port
        ),
    )
    .unwrap();
    path
}

fn check(config: &std::path::Path) -> (i32, String) {
    let out = Command::new(process::bin("replicator"))
        .args(["check", "--config"])
        .arg(config)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_bad_settings_and_passes_on_harness_node() {
    let cluster = Cluster::start_specs(vec![
        NodeSpec::new("good", 1),
        // binlog_row_metadata left at the server default (NO_LOG).
        NodeSpec::new("bad", 2)
            .arg("--binlog-format=STATEMENT")
            .arg("--binlog-row-metadata=NO_LOG"),
    ])
    .await
    .unwrap();
    let dir = cluster.root.path();

    let (code, out) = check(&agent_config(
        cluster.node("good"),
        dir,
        mariadb::REPL_USER,
        mariadb::REPL_PASSWORD,
    ));
    assert_eq!(code, 0, "{out}");
    assert!(out.starts_with("OK:"), "{out}");

    let (code, out) = check(&agent_config(
        cluster.node("bad"),
        dir,
        mariadb::REPL_USER,
        mariadb::REPL_PASSWORD,
    ));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("binlog_format: expected ROW, found STATEMENT"),
        "{out}"
    );
    assert!(out.contains("binlog_format = ROW"), "fix missing: {out}");
    assert!(
        out.contains("binlog_row_metadata: expected FULL, found NO_LOG"),
        "{out}"
    );
    assert!(
        out.contains("binlog_row_metadata = FULL"),
        "fix missing: {out}"
    );
    assert!(out.contains("2 problems"), "{out}");

    // The snap application account lacks the replication privileges: named with the GRANT.
    let (code, out) = check(&agent_config(
        cluster.node("good"),
        dir,
        mariadb::APP_USER,
        mariadb::APP_PASSWORD,
    ));
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("GRANT ") && out.contains("REPLICATION SLAVE"),
        "{out}"
    );
    assert!(out.contains("BINLOG REPLAY"), "{out}");

    // Server id mismatch against the config.
    let path = agent_config(
        cluster.node("good"),
        dir,
        mariadb::REPL_USER,
        mariadb::REPL_PASSWORD,
    );
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("server_id = 1", "server_id = 9");
    std::fs::write(&path, text).unwrap();
    let (code, out) = check(&path);
    assert_eq!(code, 1, "{out}");
    assert!(out.contains("server_id: expected 9, found 1"), "{out}");

    // A wrong password is a clear connection error, not a check result.
    let (code, out) = check(&agent_config(
        cluster.node("good"),
        dir,
        mariadb::REPL_USER,
        "wrong",
    ));
    assert_eq!(code, 3, "{out}");
    assert!(
        out.contains("Access denied") && out.contains("password"),
        "{out}"
    );

    // A config typo is a config error naming the field.
    let path = agent_config(
        cluster.node("good"),
        dir,
        mariadb::REPL_USER,
        mariadb::REPL_PASSWORD,
    );
    let text = std::fs::read_to_string(&path)
        .unwrap()
        .replace("server_id = 1", "serverid = 1");
    std::fs::write(&path, text).unwrap();
    let (code, out) = check(&path);
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("serverid"), "{out}");
}
