//! What must never go wrong, through the real binary: typed text is data (never SQL), server
//! errors are explained and the menu goes on, a lost connection is offered a reconnect, a wrong
//! password is said plainly, and the replicator status line tells the truth.

mod common;

use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use common::{Fixture, Screen};
use starsync_tests::mariadb::{APP_PASSWORD, APP_USER};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn open(s: &Screen, n: &str, heading: &str, table: &str) {
    s.wait_for("What do you want to do?");
    s.answer(n);
    s.wait_for(heading);
    s.at("? Which table?", table);
}

/// Answers the INSERT prompts of `people` up to and including `note`, skipping the rest.
fn insert_person(s: &Screen, name: &str, note: &str) {
    open(s, "1", "INSERT — add a row", "people");
    s.at("? name (", name);
    s.at("? note (", note);
    for col in [
        "price", "ratio", "born", "seen", "dur", "yr", "color", "tags", "flags", "doc", "raw",
        "big", "active", "created",
    ] {
        s.at(&format!("? {col} ("), "");
    }
    s.wait_all(&["✔ Inserted a row into people", "What do you want to do?"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn injection_attempts_are_stored_verbatim() {
    let f = Fixture::start().await;
    let s = f.app(&[]);
    let name = "'; DROP TABLE x; --";
    // Quotes, backslashes (also before a quote), a fake newline escape, emoji with joiners,
    // and a NUL typed as \0.
    let typed_note = r#"a\0b Robert'); DELETE FROM MOST.people; -- "dq" \' \\ \n 🙂👩‍👩‍👧"#;
    let stored_note = typed_note.replace(r"a\0b", "a\0b");
    insert_person(&s, name, typed_note);
    // A raw NUL from the terminal (Ctrl+Space / Ctrl+@): the terminal library reads it as a
    // key, not a character; it must not crash anything or reach the server as anything else.
    open(&s, "1", "INSERT — add a row", "people");
    s.wait_for("? name (");
    s.type_text("raw");
    s.bytes(&[0x00]);
    s.type_text("nul");
    s.keys(&["Enter"]);
    s.at("? note (", "\\\\0 is not NUL");
    for col in [
        "price", "ratio", "born", "seen", "dur", "yr", "color", "tags", "flags", "doc", "raw",
        "big", "active", "created",
    ] {
        s.at(&format!("? {col} ("), "");
    }
    let shown = s.wait_all(&[
        "✔ Inserted a row into people (id = 2)",
        "What do you want to do?",
    ]);
    assert!(shown.contains(r"\\0 is not NUL"), "{shown}");

    let rows: Vec<(u32, Vec<u8>, Vec<u8>)> = f
        .query("SELECT id, CAST(name AS BINARY), CAST(note AS BINARY) FROM MOST.people ORDER BY id")
        .await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0].1, name.as_bytes());
    assert_eq!(
        rows[0].2,
        stored_note.as_bytes(),
        "{:?}",
        String::from_utf8_lossy(&rows[0].2)
    );
    assert!(rows[0].2.contains(&0u8), "the NUL byte is stored");
    // Ctrl+Space arrives as a space: the documented way to type NUL is \0.
    assert_eq!(rows[1].1, b"raw nul");
    assert_eq!(rows[1].2, br"\0 is not NUL");
    // Nothing else happened.
    let x: Vec<u32> = f.query("SELECT id FROM MOST.x").await;
    assert_eq!(x, vec![1]);

    // Searching with SQL and LIKE metacharacters finds exactly the stored text.
    open(&s, "5", "SEARCH — find rows", "people");
    s.at("? Search which column?", "note");
    s.at("? note …", ""); // contains
    s.at("? note contains:", "'); DELETE FROM");
    let r = s.wait_all(&["— rows 1–1 of 1", "? Page 1 of 1:"]);
    s.save("search-injection");
    assert!(
        r.contains(r"a\0b Robert'); DELETE FROM"),
        "the NUL is shown as \\0: {r}"
    );
    s.back("? Page 1 of 1:", "? Search which column?");
    s.answer("name");
    s.at("? name …", "");
    s.at("? name contains:", "%");
    s.wait_all(&["where name contains '%' — no rows", "? Page 1 of 1:"]);
    s.back("? Page 1 of 1:", "? Search which column?");
    s.keys(&["C-c"]);
    s.wait_for("What do you want to do?");

    // UPDATE to text that looks like the NULL escape, typed literally.
    open(&s, "2", "UPDATE — change a row", "people");
    s.at("? Find the row", "");
    s.at("? id (", "1");
    s.wait_for("? Which columns do you want to change?");
    s.keys(&["Down", "Space", "Enter"]);
    s.wait_for("? name (varchar(40), NOT NULL): '; DROP TABLE x; --");
    s.keys(&["End"]);
    s.type_text(" `; SELECT 1; ` \\\\N");
    s.keys(&["Enter"]);
    s.at("? Save this change? (y/N)", "y");
    s.wait_for("✔ Updated people (id = 1)");
    let names: Vec<String> = f.query("SELECT name FROM MOST.people WHERE id = 1").await;
    assert_eq!(
        names,
        vec!["'; DROP TABLE x; -- `; SELECT 1; ` \\\\N".to_string()]
    );
    let tables: Vec<String> = f
        .query("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'MOST' ORDER BY 1")
        .await;
    assert_eq!(tables, vec!["people", "x"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_are_explained_and_the_menu_goes_on() {
    let f = Fixture::start().await;
    f.exec(
        "CREATE TABLE MOST.parent (id INT PRIMARY KEY, label VARCHAR(20) NOT NULL); \
         CREATE TABLE MOST.child (id INT PRIMARY KEY, pid INT NOT NULL, \
           FOREIGN KEY (pid) REFERENCES MOST.parent (id)); \
         INSERT INTO MOST.parent VALUES (1, 'one'); INSERT INTO MOST.child VALUES (10, 1);",
    )
    .await;
    let s = f.app(&[]);

    // Duplicate key.
    open(&s, "1", "INSERT — add a row", "parent");
    s.at("? id (int(11), NOT NULL):", "1");
    s.at("? label (", "again");
    let e = s.wait_all(&["What do you want to do?", "✘ A row with that key"]);
    s.save("error-duplicate");
    assert!(
        e.contains(
            "✘ A row with that key already exists ('1' is already used by key PRIMARY). \
             Nothing was saved."
        ),
        "{e}"
    );
    // Foreign key, child side.
    open(&s, "1", "INSERT — add a row", "child");
    s.at("? id (", "11");
    s.at("? pid (int(11), NOT NULL, → parent.id):", "99");
    let e = s.wait_all(&["What do you want to do?", "✘ The value you gave"]);
    assert!(
        e.contains("must match an existing row in table `parent` (a foreign key)"),
        "{e}"
    );
    // Foreign key, parent side.
    open(&s, "3", "DELETE — remove rows", "parent");
    s.at("? Find the rows", "");
    s.at("? id (", "1");
    s.at("? Delete this row? (y/N)", "y");
    let e = s.wait_all(&["What do you want to do?", "✘ Other rows"]);
    assert!(
        e.contains("Other rows still point to this one from table `MOST`.`child`"),
        "{e}"
    );
    let counts: Vec<(u64, u64)> = f
        .query("SELECT (SELECT COUNT(*) FROM MOST.parent), (SELECT COUNT(*) FROM MOST.child)")
        .await;
    assert_eq!(counts, vec![(1, 1)]);

    // The connection dies while the user is typing: explained, reconnect offered.
    open(&s, "1", "INSERT — add a row", "parent");
    s.at("? id (", "2");
    s.wait_for("? label (");
    let ids: Vec<u64> = f
        .query(&format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '{APP_USER}'"
        ))
        .await;
    assert_eq!(ids.len(), 1, "one snap-cli session: {ids:?}");
    f.exec(&format!("KILL CONNECTION {}", ids[0])).await;
    s.answer("two");
    let e = s.wait_for("? Reconnect to the database now? (Y/n)");
    s.save("error-lost-connection");
    assert!(
        e.contains("✘ The connection to the database was lost"),
        "{e}"
    );
    s.answer("");
    let e = s.wait_all(&["✔ Reconnected to", "What do you want to do?"]);
    assert!(e.contains("may not have been saved"), "{e}");
    // The menu works on the new connection.
    open(&s, "4", "SELECT ALL — show a table", "parent");
    let page = s.wait_all(&["SELECT ALL from parent — rows", "? Page 1 of 1:"]);
    assert!(page.contains("one"), "{page}");
    s.at("? Page 1 of 1:", "Main menu");

    // The account loses DELETE (and its session, so the change applies): refused plainly.
    f.exec(&format!("REVOKE DELETE ON MOST.* FROM '{APP_USER}'@'%'"))
        .await;
    let ids: Vec<u64> = f
        .query(&format!(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE USER = '{APP_USER}'"
        ))
        .await;
    f.exec(&format!("KILL CONNECTION {}", ids[0])).await;
    open(&s, "3", "DELETE — remove rows", "child");
    s.at("? Find the rows", "");
    s.at("? id (", "10");
    s.at("? Delete this row? (y/N)", "y");
    let e = s.wait_all(&["What do you want to do?", "✘ Your account"]);
    assert!(
        e.contains("✘ Your account is not allowed to do that (DELETE command denied"),
        "{e}"
    );
    let counts: Vec<u64> = f.query("SELECT COUNT(*) FROM MOST.child").await;
    assert_eq!(counts, vec![1]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_is_said_plainly() {
    let f = Fixture::start().await;
    let port = f.node().port.to_string();
    // From the environment, without a terminal: a clear message and exit code 2.
    let out = Command::new(env!("CARGO_BIN_EXE_snap-cli"))
        .args(["--port", &port, "--user", APP_USER])
        .env("SNAP_CLI_PASSWORD", "not-the-password")
        .env_remove("SNAP_CLI_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr
            .contains("snap-cli: Wrong user name or password (Access denied for user 'snap_user'"),
        "{stderr}"
    );
    // A server that is not there: exit code 3.
    let out = Command::new(env!("CARGO_BIN_EXE_snap-cli"))
        .args(["--port", "1", "--user", APP_USER])
        .env("SNAP_CLI_PASSWORD", APP_PASSWORD)
        .env_remove("SNAP_CLI_CONFIG")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("connection to the database was lost or could not be made"),
        "{stderr}"
    );

    // Typed at the prompt: asked again, then in.
    let s = Screen::start(
        &[
            "--port",
            &port,
            "--user",
            APP_USER,
            "--agent-status",
            &f.no_agent,
        ],
        &[],
    );
    s.at(
        &format!("? Password for snap_user@127.0.0.1:{port}:"),
        "wrong",
    );
    let again = s.wait_for("Try again.");
    s.save("login-wrong-password");
    assert!(again.contains("✘ Wrong user name or password"), "{again}");
    s.wait_until("a second password prompt", |t| {
        t.split("Try again.")
            .nth(1)
            .is_some_and(|rest| rest.contains("? Password for snap_user"))
    });
    s.answer(APP_PASSWORD);
    s.wait_for("What do you want to do?");
    // Exit from the menu: exit code 0.
    s.answer("6");
    assert_eq!(s.wait_exit(), 0);
}

/// A stand-in for the replicator agent's status endpoint: serves whatever `doc` holds.
async fn fake_agent(doc: Arc<Mutex<String>>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let body = doc.lock().unwrap().clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let mut got = Vec::new();
                while !got.windows(4).any(|w| w == b"\r\n\r\n") {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => got.extend_from_slice(&buf[..n]),
                    }
                }
                assert!(got.starts_with(b"GET /status HTTP/1.0\r\n"));
                let resp = format!(
                    "HTTP/1.0 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
                sock.write_all(resp.as_bytes()).await.ok();
            });
        }
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_line_follows_the_agent() {
    let f = Fixture::start().await;
    let doc = Arc::new(Mutex::new(
        r#"{"node":"snap1","hub":"127.0.0.1:4500","connected":true,"connected_since":"2026-11-26T14:00:00Z","lag_ms":12,"pending_own_txns":0,"gtid_pos":"1-1-5,2-2-9","last_error":null}"#
            .to_string(),
    ));
    let (addr, agent) = fake_agent(doc.clone()).await;
    let port = f.node().port.to_string();
    let s = Screen::start(
        &["--port", &port, "--agent-status", &addr],
        &[
            ("SNAP_CLI_USER", APP_USER),
            ("SNAP_CLI_PASSWORD", APP_PASSWORD),
        ],
    );
    let top = s.wait_for("What do you want to do?");
    s.save("status-connected");
    assert!(
        top.contains(
            "replicator: connected to hub 127.0.0.1:4500 · lag 12 ms · 0 local changes on their way"
        ),
        "{top}"
    );
    // The hub goes away: the agent says so; the line is read again at every main menu.
    *doc.lock().unwrap() = r#"{"node":"snap1","hub":"127.0.0.1:4500","connected":false,"lag_ms":null,"pending_own_txns":2,"last_error":"connection refused"}"#.into();
    open(&s, "4", "SELECT ALL — show a table", "Back");
    let top = s.wait_for("replicator: NOT connected");
    assert!(
        top.contains(
            "replicator: NOT connected to hub 127.0.0.1:4500 (connection refused) · 2 local \
             changes waiting — your changes are saved locally and will replicate when it reconnects"
        ),
        "{top}"
    );
    // The agent stops.
    agent.abort();
    let _ = agent.await;
    open(&s, "4", "SELECT ALL — show a table", "Back");
    let top = s.wait_for("replicator: agent not reachable");
    assert!(
        top.contains(&format!(
            "replicator: agent not reachable at {addr} — your changes are saved locally and will \
             replicate when it returns"
        )),
        "{top}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_file_over_the_socket_with_flag_and_env_precedence() {
    let f = Fixture::start().await;
    f.exec("INSERT INTO MOST.people (name) SELECT CONCAT('n', seq) FROM MOST.seq_1_to_10")
        .await;
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("snap-cli.toml");
    std::fs::write(
        &config,
        format!(
            "socket = {:?}\nuser = \"nobody\"\npassword = {:?}\nagent_status = {:?}\npage_size = 7\n",
            f.node().socket.display().to_string(),
            APP_PASSWORD,
            f.no_agent
        ),
    )
    .unwrap();
    let cfg = config.display().to_string();
    // The file says user "nobody" and 7 rows a page; the environment overrides the user, a flag
    // overrides the page size.
    let s = Screen::start(
        &["--config", &cfg, "--page-size", "4"],
        &[("SNAP_CLI_USER", APP_USER), ("SNAP_CLI_PAGE_SIZE", "5")],
    );
    let top = s.wait_for("What do you want to do?");
    assert!(
        top.contains(&format!(
            "snap-cli · snap_user@{} · database MOST",
            f.node().socket.display()
        )),
        "{top}"
    );
    open(&s, "4", "SELECT ALL — show a table", "people");
    s.wait_all(&["rows 1–4 of 10 (page 1 of 3)", "? Page 1 of 3:"]);
    // A file with an unknown key is refused, naming it.
    std::fs::write(&config, "hots = \"x\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_snap-cli"))
        .args(["--config", &cfg])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("hots"), "{stderr}");
}
