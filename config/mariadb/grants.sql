-- starsync: the accounts every node needs. Run once per node, as root, after the server runs
-- with starsync.cnf:
--
--   sed -e "s/@REPL_PASSWORD@/$STARSYNC_DB_PASSWORD/" -e "s/@APP_PASSWORD@/$SNAP_APP_PASSWORD/" \
--       grants.sql | sudo mariadb
--
-- (the sed line suits passwords without / & ' or \; otherwise edit the two placeholders by hand.
-- The Docker entrypoint replaces them from its environment, quoting any password). Safe to run
-- again: it replaces the accounts with the same grants.
--
-- The GRANT list of starsync_repl is REQUIRED_PRIVILEGES in replicator/src/check.rs, copied by
-- hand; tests/tests/demo.rs fails when the two differ. `replicator check` prints the exact
-- GRANT for anything missing.

-- Accounts are per node: never write them to the binlog, so they are not replicated (and a snap's
-- account changes are not reported as local DDL drift).
SET SESSION sql_log_bin = 0;

-- The replication account, used by `replicator hub` on the master and `replicator agent` on each
-- snap. It reads the binlog, applies changes with their origin's GTID, applies echoes without
-- binlogging and loads snapshots. '%' because the hub and agents may connect over TCP; narrow
-- the host to 'localhost' / '127.0.0.1' when the replicator runs on the same machine.
CREATE OR REPLACE USER 'starsync_repl'@'%' IDENTIFIED BY '@REPL_PASSWORD@';
GRANT
  SELECT,                   -- read rows for snapshots, verification and conflict detection
  INSERT,                   -- apply row changes
  UPDATE,                   -- apply row changes
  DELETE,                   -- apply row changes
  CREATE,                   -- apply CREATE DATABASE/TABLE from the master
  DROP,                     -- apply DROP DATABASE/TABLE from the master
  ALTER,                    -- apply ALTER TABLE from the master
  INDEX,                    -- apply CREATE/DROP INDEX from the master
  REFERENCES,               -- create tables with foreign keys
  CREATE VIEW,              -- replicate views
  SHOW VIEW,                -- snapshot views
  TRIGGER,                  -- replicate triggers
  CREATE ROUTINE,           -- replicate stored routines
  ALTER ROUTINE,            -- replicate stored routines
  RELOAD,                   -- RESET MASTER when a new snap loads its snapshot
  REPLICATION SLAVE,        -- read the binlog over the replication protocol
  BINLOG MONITOR,           -- read binlog positions and GTID state
  BINLOG REPLAY,            -- apply with the origin's server_id, gtid_domain_id and gtid_seq_no
  BINLOG ADMIN,             -- apply echoes and snapshots with sql_log_bin=0
  REPLICATION MASTER ADMIN, -- set gtid_binlog_state after a snapshot load
  SET USER,                 -- create views and routines with their original DEFINER
  READ_ONLY ADMIN           -- hold local writes off (read_only) while a snap loads a snapshot
ON *.* TO 'starsync_repl'@'%';

-- The snap application account: what snap-cli users log in as. Plain DML on the replicated
-- database only; DDL is the master's business (DESIGN.md, "DDL").
CREATE OR REPLACE USER 'snap_user'@'%' IDENTIFIED BY '@APP_PASSWORD@';
GRANT SELECT, INSERT, UPDATE, DELETE ON `MOST`.* TO 'snap_user'@'%';

FLUSH PRIVILEGES;
