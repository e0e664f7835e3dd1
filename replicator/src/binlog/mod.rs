//! Change capture: a MariaDB binlog read over the replication protocol and turned into
//! transaction items ([`crate::model::TxnItem`]).
//!
//! [`reader`] owns the connection (reconnects, resumes, reports purged positions); [`assemble`]
//! groups events into transactions; [`table`] and [`rows`] decode table maps and row images;
//! [`events`] parses MariaDB's own events. The reader never writes to a database.

pub mod assemble;
pub mod events;
pub mod files;
pub mod reader;
pub mod rows;
pub mod table;

pub use assemble::{AssembleOptions, Assembler, ForeignHook, SchemaFilter};
pub use reader::{BinlogReader, Read, ReaderOptions};
