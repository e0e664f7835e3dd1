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

/// A hub with `[hub] http_token` answers every path but `/health` only with that token, and
/// says where it goes; master-admin sends it from `MASTER_ADMIN_HUB_TOKEN` or
/// `--hub-token-file`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_token_guards_the_hub_and_master_admin_sends_it() {
    const TOKEN: &str = "hub-http-token-0123456";
    let star = starsync_tests::Star::start_tuned(1, 1, &format!("http_token = \"{TOKEN}\""), "")
        .await
        .unwrap();
    star.master()
        .exec("CREATE DATABASE MOST; CREATE TABLE MOST.t (id INT PRIMARY KEY)")
        .await
        .unwrap();
    star.wait_converged(std::time::Duration::from_secs(30))
        .await
        .unwrap();
    let addr = crate::common::hub_addr(&star);
    let ask = |method: &'static str, path: &'static str, token: Option<&'static str>| {
        let addr = addr.clone();
        async move {
            replicator::http::request(
                &addr,
                method,
                path,
                std::time::Duration::from_secs(30),
                token,
            )
            .await
            .unwrap()
        }
    };
    for path in ["/status", "/metrics", "/verify"] {
        let (code, body) = ask("GET", path, None).await;
        assert_eq!(code, 401, "{path}: {body}");
        assert!(body.contains("MASTER_ADMIN_HUB_TOKEN"), "{path}: {body}");
    }
    let (code, body) = ask("POST", "/repair?table=MOST.t&node=snap1", None).await;
    assert_eq!(code, 401, "{body}");
    let (code, body) = ask("GET", "/status", Some("not-the-token-0123456")).await;
    assert_eq!(code, 401, "{body}");
    assert!(body.contains("does not match"), "{body}");
    assert!(star
        .hub_log()
        .contains("HTTP request refused: its token is not the hub's"));
    assert_eq!(ask("GET", "/health", None).await.0, 200);
    let (code, body) = ask("GET", "/status", Some(TOKEN)).await;
    assert_eq!(code, 200, "{body}");

    // master-admin without the token: the hub's words; with it, from the environment or a file.
    crate::common::admin(&star, &["status"])
        .await
        .expect(3)
        .says(&["HTTP 401", "MASTER_ADMIN_HUB_TOKEN"]);
    let mut args = crate::common::node_args(star.master(), &addr);
    args.push("status".into());
    run_with(&args, None, &[("MASTER_ADMIN_HUB_TOKEN", TOKEN)])
        .await
        .expect(0)
        .says(&["snap1"]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, format!("{TOKEN}\n")).unwrap();
    let mut args = crate::common::node_args(star.master(), &addr);
    args.extend([
        "--hub-token-file".into(),
        file.to_str().unwrap().into(),
        "verify".into(),
    ]);
    run_with(&args, None, &[]).await.expect(0);
}
