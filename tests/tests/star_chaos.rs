//! `kill -9` of a snap's agent, of the hub, of a snap's MariaDB and of the master's MariaDB,
//! each in the middle of a steady write load on all three nodes: after restart, no write is
//! lost or doubled and the nodes converge.

use std::time::Duration;

use starsync_tests::load::{self, Load, Outcome};
use starsync_tests::Star;

async fn pause(ms: u64) {
    tokio::time::sleep(Duration::from_millis(ms)).await;
}

/// A star of two snaps with the load's tables, and a writer on every node.
async fn loaded_star() -> (Star, Load) {
    let star = Star::start(2).await.unwrap();
    star.master().exec(load::SCHEMA).await.unwrap();
    star.wait_converged(Duration::from_secs(30)).await.unwrap();
    let load = Load::start(&star.cluster.nodes, Duration::from_millis(5));
    pause(1500).await;
    (star, load)
}

/// Stops the load; every writer made progress, and once converged every node holds exactly
/// the committed writes.
async fn converged_without_loss(star: &Star, load: Load) -> Vec<Outcome> {
    let outcomes = load.finish().await;
    for o in &outcomes {
        assert!(o.committed.len() > 50, "writer {} made progress", o.tag);
    }
    star.wait_converged(Duration::from_secs(90)).await.unwrap();
    for node in &star.cluster.nodes {
        load::verify(node, &outcomes).await.unwrap();
    }
    outcomes
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_agent_hub_and_snap_server_under_load() {
    let (mut star, load) = loaded_star().await;

    // 1. The agent of snap1 dies and comes back.
    star.agent_proc(0).kill9();
    pause(1000).await;
    star.start_agent(0).unwrap();
    pause(1500).await;

    // 2. The hub dies and comes back.
    star.hub_proc().kill9();
    pause(1000).await;
    star.start_hub().unwrap();
    pause(1500).await;

    // 3. snap2's MariaDB dies (its writer and its agent lose their server) and comes back.
    star.cluster.nodes[2].kill9();
    pause(1000).await;
    star.cluster.nodes[2].start().await.unwrap();
    pause(2000).await;

    converged_without_loss(&star, load).await;
    let hub = star.hub_log();
    assert!(
        hub.matches("hub started").count() == 2,
        "the hub was restarted once"
    );
}

/// The master's MariaDB dies (`kill -9`) under load on all nodes and comes back a few seconds
/// later. The hub keeps running: it reconnects by itself, snaps keep committing locally
/// meanwhile, and afterwards every node holds every committed write once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_the_masters_server_under_load() {
    let (mut star, load) = loaded_star().await;
    star.cluster.nodes[0].kill9();
    pause(3000).await;
    star.cluster.nodes[0].start().await.unwrap();
    pause(3000).await;

    converged_without_loss(&star, load).await;
    assert!(star.hub_proc().running(), "the hub outlived its database");
    let hub = star.hub_log();
    assert_eq!(
        hub.matches("hub started").count(),
        1,
        "the hub was not restarted"
    );
    assert!(
        hub.contains("the master database does not answer"),
        "the hub logged the outage"
    );
    // While the master is down the hub refuses the agents' new sessions with the reason,
    // instead of an ERROR per snap at every reconnect (5 per snap in 3 s before).
    let session_errors = hub.matches("session ended with an error").count();
    assert!(
        session_errors <= 4,
        "{session_errors} session errors logged by the hub:\n{hub}"
    );
    // The agents were told why their sessions ended, not just that the hub hung up.
    for i in 0..2 {
        let log = star.agent_log(i);
        assert!(
            log.lines()
                .any(|l| l
                    .contains("ended the session: the master database does not answer the hub")),
            "agent {i} logged the hub's reason:\n{log}"
        );
        assert!(
            !log.contains("definite error"),
            "agent {i} treated the outage as transient:\n{log}"
        );
    }
}
