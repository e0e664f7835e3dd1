//! The five operations, driven through the real binary in tmux against a real MariaDB node:
//! what the user sees on screen, and what ends up in the database.

mod common;

use common::{Fixture, Screen};

/// Waits for the prompt of `column` in an INSERT/UPDATE form, then answers it.
fn column(s: &Screen, name: &str, input: &str) {
    s.at(&format!("? {name} ("), input);
}

/// Deletes `typed` from the input line.
fn erase(s: &Screen, typed: &str) {
    let keys = vec!["BSpace"; typed.chars().count()];
    s.keys(&keys);
}

/// From the main menu: picks operation `n` by its number and `table` by typing its name.
fn open(s: &Screen, n: &str, heading: &str, table: &str) {
    s.wait_for("What do you want to do?");
    s.answer(n);
    s.wait_for(heading);
    s.at("? Which table?", table);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_a_row_of_every_type_with_validation() {
    let f = Fixture::start().await;
    let s = f.app(&[]);
    let menu = s.save("main-menu");
    for item in [
        "1 - INSERT",
        "2 - UPDATE",
        "3 - DELETE",
        "4 - SELECT ALL",
        "5 - SEARCH",
        "6 - Exit",
    ] {
        assert!(menu.contains(item), "{menu}");
    }
    assert!(menu.contains(&format!(
        "replicator: agent not reachable at {} — your changes are saved locally",
        f.no_agent
    )));

    s.answer("1");
    s.wait_all(&["INSERT — add a row", "? Which table?", "  Back"]);
    s.save("insert-tables");
    s.answer("people");
    let form = s.wait_for("? name (varchar(40), NOT NULL):");
    let line = |name: &str| {
        form.lines()
            .find(|l| l.trim_start().starts_with(name))
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        line("id ").ends_with("(filled in by the server: auto-increment)"),
        "{form}"
    );
    assert!(
        line("twice ").ends_with("(computed by the server)"),
        "{form}"
    );
    column(&s, "name", "Zoë 🙂 O'Brien");
    column(&s, "note", "\\N");
    // Too many decimals: refused at the prompt, before the server sees it.
    s.wait_for("? price (decimal(8,2), NOT NULL, default 0.00):");
    s.type_text("12.345");
    s.keys(&["Enter"]);
    s.wait_for("at most 2 digits after the point");
    s.keys(&["BSpace", "Enter"]);
    column(&s, "ratio", "1.5e-3");
    s.wait_for("? born (");
    s.type_text("2023-02-29");
    s.keys(&["Enter"]);
    s.wait_for("2023-02 has no day 29");
    s.keys(&["BSpace", "BSpace"]);
    s.answer("28");
    column(&s, "seen", "2024-05-06 07:08:09.123");
    column(&s, "dur", "-12:30:00");
    column(&s, "yr", "2024");
    // ENUM: a list of the members (plus the default).
    let e = s.wait_all(&[
        "? color (enum('red','green','blue'), NOT NULL, default 'red'):",
        "(the default: red)",
        "  blue",
    ]);
    assert!(
        e.contains("(the default: red)") && e.contains("blue"),
        "{e}"
    );
    s.type_text("blue");
    s.wait_for("> blue");
    s.keys(&["Enter"]);
    // SET: tick a and c.
    s.wait_for("? tags (set('a','b','c'), nullable, default NULL):");
    // The default (NULL) is ticked at first; Enter alone would keep it.
    s.wait_for("[x] (NULL)");
    s.keys(&["Space", "Down", "Down", "Space", "Down", "Space"]);
    s.wait_for("> [ ] (NULL)");
    s.save("insert-form");
    s.keys(&["Enter"]);
    s.wait_for("? flags (");
    s.type_text("b'10000'");
    s.keys(&["Enter"]);
    s.wait_for("too large for 4 bits");
    erase(&s, "b'10000'");
    s.answer("b'1010'");
    s.wait_for("? doc (");
    s.type_text("{broken");
    s.keys(&["Enter"]);
    s.wait_for("not valid JSON");
    erase(&s, "{broken");
    s.answer(r#"{"k": [1, "two"]}"#);
    column(&s, "raw", "0x00ff10");
    column(&s, "big", "18446744073709551615");
    column(&s, "active", "");
    column(&s, "created", "");
    let done = s.wait_all(&[
        "✔ Inserted a row into people (id = 1):",
        "What do you want to do?",
    ]);
    s.save("insert-done");
    assert!(done.contains("Zoë 🙂 O'Brien"), "{done}");
    assert!(done.contains("What do you want to do?"), "{done}");

    type Row = (String, Option<String>, String, f64, String, String, String);
    let rows: Vec<Row> = f
        .query(
            "SELECT name, note, CAST(price AS CHAR), ratio, CAST(born AS CHAR), \
             CAST(seen AS CHAR), CAST(dur AS CHAR) FROM MOST.people",
        )
        .await;
    assert_eq!(
        rows,
        vec![(
            "Zoë 🙂 O'Brien".into(),
            None,
            "12.34".into(),
            0.0015,
            "2023-02-28".into(),
            "2024-05-06 07:08:09.123".into(),
            "-12:30:00".into()
        )]
    );
    type Row2 = (u16, String, String, u8, String, String, u64, i8, u64, u64);
    let rows: Vec<Row2> = f
        .query(
            "SELECT yr, color, tags, flags + 0, doc, HEX(raw), big, active, \
             created > NOW() - INTERVAL 1 HOUR, twice FROM MOST.people",
        )
        .await;
    assert_eq!(
        rows,
        vec![(
            2024,
            "blue".into(),
            "a,c".into(),
            10,
            r#"{"k": [1, "two"]}"#.into(),
            "00FF10".into(),
            u64::MAX,
            1,
            1,
            2
        )]
    );
}

const THREE_PEOPLE: &str = "INSERT INTO MOST.people (name, note, price, born, color) VALUES \
    ('Ann', 'first', 10.00, '1990-01-02', 'red'), \
    ('Bob', 'second', 20.00, '1985-06-07', 'green'), \
    ('Cy', NULL, 30.00, NULL, 'blue')";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn update_by_key_and_from_a_search() {
    let f = Fixture::start().await;
    f.exec(THREE_PEOPLE).await;
    let s = f.app(&[]);

    // By key: id 2, change name and price.
    open(&s, "2", "UPDATE — change a row", "people");
    s.at("? Find the row", ""); // "by its key (id)" is first
    s.at("? id (int(10) unsigned, NOT NULL):", "2");
    let cols = s.wait_all(&[
        "? Which columns do you want to change?",
        "name = Bob",
        "Space to tick",
    ]);
    s.save("update-columns");
    assert!(cols.contains("name = Bob"), "{cols}");
    s.keys(&["Down", "Space", "Down", "Down", "Space"]);
    s.wait_for("> [x] price = 20.00");
    s.keys(&["Enter"]);
    let name = s.wait_for("? name (varchar(40), NOT NULL): Bob");
    assert!(name.contains("name: now Bob"), "{name}");
    erase(&s, "Bob");
    s.answer("Robert \"Bob\" Jr.");
    s.wait_for("? price (decimal(8,2), NOT NULL, default 0.00): 20.00");
    erase(&s, "20.00");
    s.answer("21.5");
    let confirm = s.wait_for("? Save this change? (y/N)");
    s.save("update-confirm");
    assert!(
        confirm.contains(" name   │ Bob    │ Robert \"Bob\" Jr."),
        "{confirm}"
    );
    assert!(confirm.contains(" price  │ 20.00  │ 21.50"), "{confirm}");
    s.answer("y");
    let done = s.wait_all(&["✔ Updated people (id = 2):", "What do you want to do?"]);
    s.save("update-done");
    assert!(done.contains("21.50"), "{done}");
    let rows: Vec<(String, String)> = f
        .query("SELECT name, CAST(price AS CHAR) FROM MOST.people WHERE id = 2")
        .await;
    assert_eq!(rows, vec![("Robert \"Bob\" Jr.".into(), "21.50".into())]);

    // From a search; the row changes underneath before the user confirms: nothing is
    // overwritten.
    open(&s, "2", "UPDATE — change a row", "people");
    s.wait_for("? Find the row");
    s.keys(&["Down", "Enter"]);
    s.at("? Search which column?", "name");
    s.at("? name …", ""); // contains
    s.at("? name contains:", "AN");
    let pick = s.wait_all(&["? Which row?", "id=1 · name=Ann"]);
    assert!(pick.contains("1 matching row."), "{pick}");
    assert!(pick.contains("id=1 · name=Ann · note=first"), "{pick}");
    s.keys(&["Enter"]);
    s.wait_for("? Which columns do you want to change?");
    s.keys(&["Down", "Down", "Space", "Enter"]);
    s.wait_for("? note (text, nullable, default NULL): first");
    erase(&s, "first");
    s.answer("mine");
    s.wait_for("? Save this change? (y/N)");
    f.exec("UPDATE MOST.people SET note = 'theirs' WHERE id = 1")
        .await;
    s.answer("y");
    s.wait_for("✘ Nothing was saved: that row of people was changed or deleted meanwhile");
    let note: Vec<String> = f.query("SELECT note FROM MOST.people WHERE id = 1").await;
    assert_eq!(note, vec!["theirs".to_string()]);

    // An ENUM from its list, then "no" at the confirmation.
    open(&s, "2", "UPDATE — change a row", "people");
    s.at("? Find the row", "");
    s.at("? id (", "3");
    s.wait_for("? Which columns do you want to change?");
    s.type_text("color");
    s.wait_for("> [ ] color = blue");
    s.keys(&["Space", "Enter"]);
    s.wait_for("? color (enum('red','green','blue'), NOT NULL, default 'red'):");
    s.type_text("gr");
    s.wait_for("> green");
    s.keys(&["Enter"]);
    s.at("? Save this change? (y/N)", "n");
    s.wait_for("Nothing was changed.");
    let color: Vec<String> = f.query("SELECT color FROM MOST.people WHERE id = 3").await;
    assert_eq!(color, vec!["blue".to_string()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_rows_picked_from_a_search_and_by_key() {
    let f = Fixture::start().await;
    f.exec(THREE_PEOPLE).await;
    f.exec("INSERT INTO MOST.people (name, color) VALUES ('Dee', 'green'), ('Eve', 'green')")
        .await;
    let s = f.app(&[]);

    open(&s, "3", "DELETE — remove rows", "people");
    s.wait_for("? Find the rows");
    s.keys(&["Down", "Enter"]);
    s.at("? Search which column?", "color");
    s.at("? color …", ""); // equals
    s.wait_for("? color equals:");
    s.type_text("green");
    s.wait_for("> green");
    s.keys(&["Enter"]);
    let pick = s.wait_for("? Which rows?");
    assert!(pick.contains("3 matching rows."), "{pick}");
    // Bob and Eve, not Dee.
    s.keys(&["Space", "Down", "Down", "Space"]);
    s.wait_for("> [x] id=5 · name=Eve");
    s.save("delete-pick");
    s.keys(&["Enter"]);
    let confirm = s.wait_for("? Delete these 2 rows? (y/N)");
    s.save("delete-confirm");
    assert!(confirm.contains("Bob") && confirm.contains("Eve") && !confirm.contains("Dee"));
    s.answer("y");
    s.wait_all(&["✔ Deleted 2 rows from people.", "What do you want to do?"]);
    s.save("delete-done");
    let names: Vec<String> = f.query("SELECT name FROM MOST.people ORDER BY id").await;
    assert_eq!(names, vec!["Ann", "Cy", "Dee"]);

    // By key, and "no".
    open(&s, "3", "DELETE — remove rows", "people");
    s.at("? Find the rows", "");
    s.at("? id (", "1");
    let confirm = s.wait_for("? Delete this row? (y/N)");
    assert!(confirm.contains("Ann"), "{confirm}");
    s.answer("n");
    s.wait_for("Nothing was deleted.");
    // By key, a row that does not exist.
    open(&s, "3", "DELETE — remove rows", "people");
    s.at("? Find the rows", "");
    s.at("? id (", "99");
    s.wait_for("✘ No row has that key.");
    s.keys(&["C-c"]);
    s.wait_for("What do you want to do?");
    let names: Vec<String> = f.query("SELECT name FROM MOST.people ORDER BY id").await;
    assert_eq!(names, vec!["Ann", "Cy", "Dee"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn select_all_pages_through_a_large_table() {
    let f = Fixture::start().await;
    f.exec(
        "INSERT INTO MOST.people (name, price) \
         SELECT CONCAT('p-', LPAD(seq, 3, '0')), seq FROM MOST.seq_1_to_45",
    )
    .await;
    let s = f.app(&["--page-size", "20"]);
    // Arrows work as well as numbers.
    s.keys(&["Down", "Down", "Down"]);
    s.wait_for("> 4 - SELECT ALL");
    s.keys(&["Enter"]);
    s.at("? Which table?", "people");
    let p1 = s.wait_all(&[
        "SELECT ALL from people — rows 1–20 of 45 (page 1 of 3)",
        "? Page 1 of 3:",
    ]);
    s.save("select-all");
    assert!(
        p1.contains("p-001") && p1.contains("p-020") && !p1.contains("p-021"),
        "{p1}"
    );
    s.wait_for("> Next page");
    s.keys(&["Enter"]);
    let p2 = s.wait_all(&["rows 21–40 of 45 (page 2 of 3)", "? Page 2 of 3:"]);
    assert!(
        p2.contains("p-021") && p2.contains("p-040") && !p2.contains("p-020"),
        "{p2}"
    );
    s.at("? Page 2 of 3:", "last");
    let p3 = s.wait_all(&["rows 41–45 of 45 (page 3 of 3)", "? Page 3 of 3:"]);
    assert!(p3.contains("p-045") && !p3.contains("Next page"), "{p3}");
    s.at("? Page 3 of 3:", "first");
    s.wait_for("rows 1–20 of 45 (page 1 of 3)");
    // Rows arriving meanwhile (e.g. through replication) show on the next page turn.
    f.exec("INSERT INTO MOST.people (name) VALUES ('p-046')")
        .await;
    s.at("? Page 1 of 3:", "last");
    s.wait_for("rows 41–46 of 46 (page 3 of 3)");
    // Esc: back to the table list; Back: to the main menu.
    s.back("? Page 3 of 3:", "SELECT ALL — show a table");
    s.at("? Which table?", "Back");
    s.wait_for("What do you want to do?");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_by_contains_starts_with_equals_range_and_null() {
    let f = Fixture::start().await;
    f.exec(THREE_PEOPLE).await;
    f.exec("INSERT INTO MOST.people (name, born, price) VALUES ('Zoë O''Brien', '1988-03-04', 30)")
        .await;
    let s = f.app(&[]);
    open(&s, "5", "SEARCH — find rows", "people");

    s.at("? Search which column?", "name");
    s.wait_all(&["? name …", "  equals", "  Back"]);
    s.save("search-how");
    s.answer(""); // contains
    s.at("? name contains:", "o'b");
    let r = s.wait_all(&[
        "SEARCH people where name contains 'o'b' — rows 1–1 of 1",
        "? Page 1 of 1:",
    ]);
    s.save("search");
    assert!(r.contains("Zoë O'Brien"), "{r}");

    s.back("? Page 1 of 1:", "? Search which column?");
    s.answer("name");
    s.wait_for("? name …");
    s.keys(&["Down", "Enter"]); // starts with
    s.at("? name starts with:", "b");
    let r = s.wait_all(&[
        "where name starts with 'b' — rows 1–1 of 1",
        "? Page 1 of 1:",
    ]);
    assert!(r.contains("Bob") && !r.contains("Zoë"), "{r}");

    s.back("? Page 1 of 1:", "? Search which column?");
    s.answer("born");
    s.wait_for("? born …");
    s.keys(&["Down", "Enter"]); // range
    s.at("? born from:", "1985-01-01");
    s.at("? born to:", "1989-12-31");
    let r = s.wait_all(&[
        "where born from '1985-01-01' to '1989-12-31' — rows 1–2 of 2",
        "? Page 1 of 1:",
    ]);
    assert!(
        r.contains("Bob") && r.contains("Zoë") && !r.contains("Ann"),
        "{r}"
    );

    s.back("? Page 1 of 1:", "? Search which column?");
    s.answer("price");
    s.at("? price …", ""); // equals
    s.at("? price equals:", "30");
    let r = s.wait_all(&["where price = 30.00 — rows 1–2 of 2", "? Page 1 of 1:"]);
    assert!(r.contains("Cy") && r.contains("Zoë"), "{r}");

    s.back("? Page 1 of 1:", "? Search which column?");
    s.answer("note");
    s.wait_for("? note …");
    s.type_text("is NULL");
    s.wait_for("> is NULL");
    s.keys(&["Enter"]);
    let r = s.wait_all(&["where note is NULL — rows 1–2 of 2", "? Page 1 of 1:"]);
    assert!(r.contains("Cy") && r.contains("Zoë"), "{r}");

    // No match is said plainly.
    s.back("? Page 1 of 1:", "? Search which column?");
    s.answer("name");
    s.at("? name …", "");
    s.at("? name contains:", "nobody");
    s.wait_for("where name contains 'nobody' — no rows");
    s.at("? Page 1 of 1:", "Main menu");
    s.wait_for("What do you want to do?");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn back_from_every_level_then_exit() {
    let f = Fixture::start().await;
    f.exec(THREE_PEOPLE).await;
    let s = f.app(&[]);
    let menu = "What do you want to do?";

    // Every operation's table list: the Back entry, and Esc.
    for (n, heading) in [
        ("1", "INSERT — add a row"),
        ("2", "UPDATE — change a row"),
        ("3", "DELETE — remove rows"),
        ("4", "SELECT ALL — show a table"),
        ("5", "SEARCH — find rows"),
    ] {
        s.at(menu, n);
        s.wait_all(&[heading, "? Which table?", "  Back"]);
        s.answer("Back");
        s.wait_for(menu);
        s.at(menu, n);
        s.back("? Which table?", menu);
    }

    // INSERT: Esc walks back column by column, keeping answers, then to the table list.
    s.at(menu, "1");
    s.at("? Which table?", "people");
    s.at("? name (", "Keep me");
    s.back("? note (", "? name (varchar(40), NOT NULL): Keep me");
    s.back("? name (", "INSERT — add a row");
    s.back("? Which table?", menu);

    // UPDATE: the value prompt → columns → how to find → key prompt → … → main menu.
    s.at(menu, "2");
    s.at("? Which table?", "people");
    s.at("? Find the row", "");
    s.back("? id (", "? Find the row");
    s.answer("");
    s.at("? id (", "1");
    s.wait_for("? Which columns do you want to change?");
    s.keys(&["Down", "Space", "Enter"]);
    s.back("? name (", "? Which columns do you want to change?");
    s.keys(&["Enter"]);
    s.at("? name (", "");
    s.back(
        "? Save this change? (y/N)",
        "? Which columns do you want to change?",
    );
    s.back("? Which columns do you want to change?", "? Find the row");
    s.back("? Find the row", "UPDATE — change a row");
    s.back("? Which table?", menu);

    // DELETE through a search: match kind → column list → how to find → table list.
    s.at(menu, "3");
    s.at("? Which table?", "people");
    s.wait_for("? Find the rows");
    s.keys(&["Down", "Enter"]);
    s.at("? Search which column?", "name");
    s.at("? name …", "");
    s.back("? name contains:", "? name …");
    s.back("? name …", "? Search which column?");
    s.back("? Search which column?", "? Find the rows");
    s.back("? Find the rows", "DELETE — remove rows");
    s.back("? Which table?", menu);

    // SEARCH: results → column list → table list; Ctrl+C from deep inside → main menu.
    s.at(menu, "5");
    s.at("? Which table?", "people");
    s.at("? Search which column?", "name");
    s.at("? name …", "");
    s.at("? name contains:", "o");
    s.back("? Page 1 of 1:", "? Search which column?");
    s.back("? Search which column?", "SEARCH — find rows");
    s.at("? Which table?", "people");
    s.at("? Search which column?", "name");
    s.wait_for("? name …");
    s.keys(&["C-c"]);
    s.wait_for(menu);

    // Esc on the main menu does nothing; Exit ends with status 0.
    s.keys(&["Escape"]);
    s.wait_for(menu);
    s.answer("6");
    assert_eq!(s.wait_exit(), 0);
    assert!(s.text().contains("Bye."));
    // Nothing was written on the way.
    let n: Vec<u64> = f.query("SELECT COUNT(*) FROM MOST.people").await;
    assert_eq!(n, vec![3]);
}
