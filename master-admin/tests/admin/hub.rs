//! An unreachable hub exits 3 naming the address; bad configuration exits 2.

use crate::common::{dead_port, run_with, Out};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_hub_exits_3_naming_the_address_and_bad_config_exits_2() {
    let addr = format!("127.0.0.1:{}", dead_port());
    for cmd in ["status", "verify"] {
        let out = run_with(&["--hub".into(), addr.clone(), cmd.into()], None, &[]).await;
        out.expect(3).says(&[
            &addr,
            "does not answer",
            "systemctl status starsync-hub",
            "hub.http_listen",
        ]);
    }
    // From the environment, and the flag wins over it.
    // Another free port: the system may hand out the one just freed again.
    let env_addr = loop {
        let a = format!("127.0.0.1:{}", dead_port());
        if a != addr {
            break a;
        }
    };
    run_with(&["status".into()], None, &[("MASTER_ADMIN_HUB", &env_addr)])
        .await
        .expect(3)
        .says(&[&env_addr]);
    let out = run_with(
        &["--hub".into(), addr.clone(), "status".into()],
        None,
        &[("MASTER_ADMIN_HUB", &env_addr)],
    )
    .await
    .expect(3);
    assert!(
        out.stderr.contains(&addr) && !out.stderr.contains(&env_addr),
        "--hub {addr} over MASTER_ADMIN_HUB={env_addr}: {}",
        out.stderr
    );

    // Configuration errors: exit 2, naming the problem.
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("admin.toml");
    std::fs::write(&cfg, "hub = \"127.0.0.1:4580\"\nhots = \"typo\"\n").unwrap();
    run_with(
        &[
            "--config".into(),
            cfg.to_str().unwrap().into(),
            "status".into(),
        ],
        None,
        &[],
    )
    .await
    .expect(2)
    .says(&["hots"]);
    run_with(
        &["--hub".into(), "nowhere".into(), "status".into()],
        None,
        &[],
    )
    .await
    .expect(2)
    .says(&["hub", "host:port"]);
    run_with(&["status".into(), "--bogus".into()], None, &[])
        .await
        .expect(2);
    // The example config file is accepted (the hub it names is then only unreachable).
    let example = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/master-admin.toml");
    let out: Out = run_with(
        &[
            "--config".into(),
            example.into(),
            "--hub".into(),
            addr.clone(),
            "status".into(),
        ],
        None,
        &[],
    )
    .await;
    out.expect(3);
}
