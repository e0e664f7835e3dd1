//! snap-cli's status line against a real agent (not a stand-in): connected with its lag while the
//! hub runs, "not reachable" wording from the same code when the agent is gone.

use std::time::Duration;

use snap_cli::status::{fetch, status_line};
use starsync_tests::{eventually, Star};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_line_reads_the_real_agent() {
    let mut star = Star::start(1).await.unwrap();
    let addr = format!("127.0.0.1:{}", star.status_ports[0]);
    eventually(
        "the agent reports a lag",
        Duration::from_secs(15),
        || async {
            let s = fetch(&addr, Duration::from_secs(2)).await;
            let line = status_line(&addr, &s);
            Ok(s.is_ok() && line.contains("connected to hub") && line.contains(" ms"))
        },
    )
    .await
    .unwrap();
    let line = status_line(&addr, &fetch(&addr, Duration::from_secs(2)).await);
    println!("{line}");
    assert!(
        line.contains(&format!("127.0.0.1:{}", star.hub_port)),
        "{line}"
    );

    star.agent_proc(0).kill9();
    let s = fetch(&addr, Duration::from_secs(2)).await;
    let line = status_line(&addr, &s);
    println!("{line}");
    assert!(line.contains("not reachable"), "{line}");
}
