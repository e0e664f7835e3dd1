//! Database and table creation and deletion, on the master only.
//!
//! Every statement runs on the master with the binlog on, so the hub replicates it to every snap
//! (DDL run on a snap would stay there). Each command first checks that the server is the master
//! ([`Db::ensure_master`]); the system schemas (`mysql`, `information_schema`,
//! `performance_schema`, `sys`) and starsync's own `starsync` never replicate and are refused.
//! Drops ask the DBA to type the name (or take `--yes`).
//!
//! `init` is idempotent: `IF NOT EXISTS` everywhere, and it says what it created and what was
//! already there.

use std::io::Write;

use mysql_async::prelude::*;
use replicator::config::is_system_schema;

use crate::db::{confirm, Db};
use crate::error::{Error, Result};
use crate::hub::Hub;
use crate::names::{ColumnDef, Ident, TableName};

/// The replicated database `init` creates.
pub const MOST: &str = "MOST";

/// `init`: the `MOST` database and its starter tables, in dependency order (orders refers to
/// the other two). References name their database: the statement replicates as text and must
/// not depend on the default database of whoever applies it.
pub const INIT_TABLES: &[(&str, &str)] = &[
    (
        "customers",
        "CREATE TABLE IF NOT EXISTS `MOST`.`customers` (
            id INT AUTO_INCREMENT PRIMARY KEY,
            name VARCHAR(100) NOT NULL,
            email VARCHAR(255) UNIQUE,
            city VARCHAR(100),
            created_at DATETIME DEFAULT CURRENT_TIMESTAMP
        ) ENGINE=InnoDB",
    ),
    (
        "products",
        "CREATE TABLE IF NOT EXISTS `MOST`.`products` (
            id INT AUTO_INCREMENT PRIMARY KEY,
            sku VARCHAR(32) NOT NULL UNIQUE,
            name VARCHAR(200) NOT NULL,
            price DECIMAL(10,2) NOT NULL,
            stock INT NOT NULL DEFAULT 0
        ) ENGINE=InnoDB",
    ),
    (
        "orders",
        "CREATE TABLE IF NOT EXISTS `MOST`.`orders` (
            id INT AUTO_INCREMENT PRIMARY KEY,
            customer_id INT NOT NULL,
            product_id INT NOT NULL,
            quantity INT NOT NULL,
            ordered_at DATETIME DEFAULT CURRENT_TIMESTAMP,
            FOREIGN KEY (customer_id) REFERENCES `MOST`.`customers`(id) ON DELETE CASCADE,
            FOREIGN KEY (product_id) REFERENCES `MOST`.`products`(id)
        ) ENGINE=InnoDB",
    ),
];

/// `init`'s database statement.
pub const INIT_DATABASE: &str =
    "CREATE DATABASE IF NOT EXISTS `MOST` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci";

/// Refuses the system schemas, which never replicate.
pub fn refuse_system(db: &Ident, doing: &str) -> Result<()> {
    if is_system_schema(db.as_str()) {
        return Err(Error::Refused(format!(
            "{} is a system schema ({}): master-admin does not {doing} there, and it never \
             replicates",
            db,
            replicator::config::SYSTEM_SCHEMAS.join(", ")
        )));
    }
    Ok(())
}

async fn database_exists(db: &mut Db, name: &Ident) -> Result<bool> {
    let err = db.err("looking up the database");
    let n: Option<u64> = db
        .conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (name.as_str(),),
        )
        .await
        .map_err(err)?;
    Ok(n.unwrap_or(0) > 0)
}

/// The table's type (`BASE TABLE`, `VIEW`, …) and estimated rows, if it exists.
async fn table_info(db: &mut Db, t: &TableName) -> Result<Option<(String, Option<u64>)>> {
    let err = db.err("looking up the table");
    db.conn
        .exec_first(
            "SELECT TABLE_TYPE, TABLE_ROWS FROM information_schema.TABLES \
             WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (t.db.as_str(), t.table.as_str()),
        )
        .await
        .map_err(err)
}

/// `init`: creates `MOST` and the starter tables on the master; prints what it did.
pub async fn init(db: &mut Db, hub: &Hub, out: &mut dyn Write) -> Result<()> {
    db.ensure_master(hub).await?;
    let most = Ident::new(MOST, "database")?;
    let had_db = database_exists(db, &most).await?;
    db.exec("creating database MOST", INIT_DATABASE).await?;
    let _ = writeln!(
        out,
        "database MOST: {}",
        if had_db { "already there" } else { "created" }
    );
    for (name, ddl) in INIT_TABLES {
        let t = TableName {
            db: most.clone(),
            table: Ident::new(name, "table")?,
        };
        let had = table_info(db, &t).await?.is_some();
        db.exec(&format!("creating table MOST.{name}"), ddl).await?;
        let _ = writeln!(
            out,
            "table MOST.{name}: {}",
            if had { "already there" } else { "created" }
        );
    }
    let _ = writeln!(
        out,
        "done on the master {}; replication creates the same on every snap",
        db.address
    );
    Ok(())
}

/// `create-database NAME`.
pub async fn create_database(
    db: &mut Db,
    hub: &Hub,
    name: &Ident,
    out: &mut dyn Write,
) -> Result<()> {
    refuse_system(name, "create databases")?;
    db.ensure_master(hub).await?;
    if database_exists(db, name).await? {
        let _ = writeln!(out, "database {name} is already there");
        return Ok(());
    }
    db.exec(
        &format!("creating database {name}"),
        &format!(
            "CREATE DATABASE IF NOT EXISTS {} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
            name.quoted()
        ),
    )
    .await?;
    let _ = writeln!(
        out,
        "created database {name} on the master; replication creates it on every snap"
    );
    Ok(())
}

/// What `create-table` makes.
#[derive(Debug, Clone)]
pub struct NewTable {
    pub name: TableName,
    pub columns: Vec<ColumnDef>,
    /// Primary key columns (`--primary-key a,b`), unless a column says `PRIMARY KEY`.
    pub primary_key: Vec<Ident>,
    pub allow_no_primary_key: bool,
    pub if_not_exists: bool,
}

impl NewTable {
    /// The `CREATE TABLE` statement; refuses a table without primary key unless allowed.
    pub fn sql(&self) -> Result<String> {
        if self.columns.is_empty() {
            return Err(Error::Usage(format!(
                "table {} needs at least one --column \"name TYPE\"",
                self.name
            )));
        }
        for k in &self.primary_key {
            if !self.columns.iter().any(|c| c.name == *k) {
                return Err(Error::Usage(format!(
                    "--primary-key names {k}, which is not one of the columns"
                )));
            }
        }
        let inline = self.columns.iter().filter(|c| c.is_primary_key()).count();
        if inline > 0 && !self.primary_key.is_empty() || inline > 1 {
            return Err(Error::Usage(
                "the primary key is given twice: use --primary-key or one column's PRIMARY KEY"
                    .into(),
            ));
        }
        if inline == 0 && self.primary_key.is_empty() && !self.allow_no_primary_key {
            return Err(Error::Usage(format!(
                "table {} has no primary key. Replication matches rows by primary key (without \
                 one, every change compares whole rows and duplicates are ambiguous): add \
                 --primary-key COLUMN, or pass --allow-no-primary-key if you really mean it",
                self.name
            )));
        }
        // InnoDB always: replication applies each transaction atomically and logs conflicts in
        // the same transaction, which a non-transactional engine cannot do.
        let mut parts: Vec<String> = self.columns.iter().map(ColumnDef::sql).collect();
        if !self.primary_key.is_empty() {
            let cols: Vec<String> = self.primary_key.iter().map(Ident::quoted).collect();
            parts.push(format!("PRIMARY KEY ({})", cols.join(", ")));
        }
        Ok(format!(
            "CREATE TABLE {}{} (\n  {}\n) ENGINE=InnoDB",
            if self.if_not_exists {
                "IF NOT EXISTS "
            } else {
                ""
            },
            self.name.quoted(),
            parts.join(",\n  ")
        ))
    }
}

/// `create-table DB.TABLE --column … [--primary-key …]`.
pub async fn create_table(db: &mut Db, hub: &Hub, t: &NewTable, out: &mut dyn Write) -> Result<()> {
    refuse_system(&t.name.db, "create tables")?;
    let sql = t.sql()?;
    db.ensure_master(hub).await?;
    if !database_exists(db, &t.name.db).await? {
        return Err(Error::NotFound(format!(
            "there is no database {} on the master: create it first \
             (`master-admin create-database {}` or `master-admin init` for MOST)",
            t.name.db, t.name.db
        )));
    }
    if t.if_not_exists && table_info(db, &t.name).await?.is_some() {
        let _ = writeln!(out, "table {} is already there", t.name);
        return Ok(());
    }
    db.exec(&format!("creating table {}", t.name), &sql).await?;
    let _ = writeln!(
        out,
        "created table {} on the master; replication creates it on every snap",
        t.name
    );
    Ok(())
}

/// `drop-table DB.TABLE`: asks for the name unless `yes`.
pub async fn drop_table(
    db: &mut Db,
    hub: &Hub,
    t: &TableName,
    yes: bool,
    out: &mut dyn Write,
) -> Result<()> {
    refuse_system(&t.db, "drop tables")?;
    db.ensure_master(hub).await?;
    let rows = match table_info(db, t).await? {
        None => {
            return Err(Error::NotFound(format!(
                "there is no table {t} on the master {}",
                db.address
            )))
        }
        Some((kind, _)) if kind != "BASE TABLE" => {
            return Err(Error::Refused(format!(
                "{t} is a {}, not a table; master-admin drops tables only",
                kind.to_lowercase()
            )))
        }
        Some((_, rows)) => rows,
    };
    // Ask only after every check passed, so that a "yes" is never wasted on a refusal.
    if !yes {
        let rows = rows
            .map(|r| format!(" (about {r} rows)"))
            .unwrap_or_default();
        confirm(
            &format!(
                "This drops table {t}{rows} on the master {} and, through replication, on \
                 every snap. It cannot be undone.",
                db.address
            ),
            &[t.to_string(), t.quoted()],
            &mut std::io::stdin().lock(),
            &mut std::io::stderr(),
        )?;
    }
    db.exec(
        &format!("dropping table {t}"),
        &format!("DROP TABLE {}", t.quoted()),
    )
    .await?;
    let _ = writeln!(
        out,
        "dropped table {t} on the master; replication drops it on every snap"
    );
    Ok(())
}

/// `drop-database DB`: asks for the name unless `yes`.
pub async fn drop_database(
    db: &mut Db,
    hub: &Hub,
    name: &Ident,
    yes: bool,
    out: &mut dyn Write,
) -> Result<()> {
    refuse_system(name, "drop databases")?;
    db.ensure_master(hub).await?;
    if !database_exists(db, name).await? {
        return Err(Error::NotFound(format!(
            "there is no database {name} on the master {}",
            db.address
        )));
    }
    if !yes {
        let err = db.err("counting the database's tables");
        let tables: Option<u64> = db
            .conn
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
                (name.as_str(),),
            )
            .await
            .map_err(err)?;
        confirm(
            &format!(
                "This drops database {name} with its {} table(s) on the master {} and, through \
                 replication, on every snap. It cannot be undone.",
                tables.unwrap_or(0),
                db.address
            ),
            &[name.to_string(), name.quoted()],
            &mut std::io::stdin().lock(),
            &mut std::io::stderr(),
        )?;
    }
    db.exec(
        &format!("dropping database {name}"),
        &format!("DROP DATABASE {}", name.quoted()),
    )
    .await?;
    let _ = writeln!(
        out,
        "dropped database {name} on the master; replication drops it on every snap"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(cols: &[&str], pk: &[&str]) -> NewTable {
        NewTable {
            name: "MOST.t".parse().unwrap(),
            columns: cols.iter().map(|c| c.parse().unwrap()).collect(),
            primary_key: pk
                .iter()
                .map(|k| Ident::new(k, "column").unwrap())
                .collect(),
            allow_no_primary_key: false,
            if_not_exists: false,
        }
    }

    #[test]
    fn create_table_sql_quotes_names_and_adds_the_key() {
        let sql = table(&["id INT", "name VARCHAR(10) NOT NULL"], &["id"])
            .sql()
            .unwrap();
        assert_eq!(
            sql,
            "CREATE TABLE `MOST`.`t` (\n  `id` INT,\n  `name` VARCHAR(10) NOT NULL,\n  \
             PRIMARY KEY (`id`)\n) ENGINE=InnoDB"
        );
        table(&["id INT PRIMARY KEY"], &[]).sql().unwrap();
    }

    #[test]
    fn a_table_without_primary_key_needs_the_flag() {
        let mut t = table(&["a INT"], &[]);
        let e = t.sql().unwrap_err().to_string();
        assert!(e.contains("--allow-no-primary-key"), "{e}");
        t.allow_no_primary_key = true;
        t.sql().unwrap();
        let e = table(&["a INT"], &["b"]).sql().unwrap_err().to_string();
        assert!(e.contains("not one of the columns"), "{e}");
        assert!(table(&["a INT PRIMARY KEY"], &["a"]).sql().is_err());
        assert!(table(&[], &[]).sql().is_err());
    }

    #[test]
    fn system_schemas_are_refused() {
        for s in [
            "mysql",
            "INFORMATION_SCHEMA",
            "performance_schema",
            "sys",
            "starsync",
        ] {
            let e = refuse_system(&Ident::new(s, "database").unwrap(), "drop tables");
            assert!(matches!(e, Err(Error::Refused(_))), "{s}");
        }
        refuse_system(&Ident::new("MOST", "database").unwrap(), "drop tables").unwrap();
    }
}
