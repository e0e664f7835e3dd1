//! One-way capture and apply over a byte stream: `replicator capture | replicator apply`.
//!
//! The same frames as the hub protocol carry transaction items, so a binlog can be captured to a
//! file, inspected, or applied elsewhere. Both ends stream: memory stays bounded by one chunk
//! per stage whatever the transaction size, and the pipe's backpressure slows the reader down.

use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_util::codec::{FramedRead, FramedWrite};
use tracing::info;

use crate::apply::{Applier, TxnMode};
use crate::binlog::{BinlogReader, Read};
use crate::error::{Error, Result};
use crate::gtid::GtidPos;
use crate::model::TxnItem;
use crate::wire::codec::FrameCodec;

/// Counts for progress lines.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    pub txns: u64,
    pub rows: u64,
    pub bytes: u64,
}

struct Meter {
    start: Instant,
    last: Instant,
    every: Duration,
    what: &'static str,
}

impl Meter {
    fn new(what: &'static str) -> Self {
        let now = Instant::now();
        Self {
            start: now,
            last: now,
            every: Duration::from_secs(2),
            what,
        }
    }

    fn tick(&mut self, p: &Progress, force: bool) {
        if force || self.last.elapsed() >= self.every {
            self.last = Instant::now();
            let secs = self.start.elapsed().as_secs_f64().max(1e-9);
            info!(
                txns = p.txns,
                rows = p.rows,
                mib = p.bytes as f64 / 1048576.0,
                rows_per_sec = (p.rows as f64 / secs) as u64,
                "{} progress",
                self.what
            );
        }
    }
}

fn count(p: &mut Progress, item: &TxnItem) {
    match item {
        TxnItem::Rows(c) => p.rows += c.len() as u64,
        TxnItem::Commit(_) => p.txns += 1,
        _ => {}
    }
}

/// Streams the binlog as frames to `out` until `until` is covered (when given) and the reader is
/// caught up, or forever.
pub async fn capture_to<W: AsyncWrite + Unpin>(
    reader: &mut BinlogReader,
    out: W,
    until: Option<GtidPos>,
    max_frame: usize,
) -> Result<Progress> {
    let mut sink = FramedWrite::new(out, FrameCodec::<TxnItem>::new(max_frame));
    let mut p = Progress::default();
    let mut meter = Meter::new("capture");
    loop {
        match reader.next().await? {
            Read::Item(item) => {
                count(&mut p, &item);
                p.bytes += item.approx_bytes() as u64;
                sink.send(item).await.map_err(|e| Error::Io {
                    context: "writing captured frames".into(),
                    source: std::io::Error::other(e.to_string()),
                })?;
                meter.tick(&p, false);
            }
            Read::Idle => {
                if until.as_ref().is_some_and(|u| reader.position().covers(u)) {
                    break;
                }
            }
        }
    }
    meter.tick(&p, true);
    Ok(p)
}

/// Applies frames from `input` until it ends.
pub async fn apply_from<R: AsyncRead + Unpin>(
    applier: &mut Applier,
    input: R,
    mode: &TxnMode,
    max_frame: usize,
) -> Result<Progress> {
    let mut frames = FramedRead::new(input, FrameCodec::<TxnItem>::new(max_frame));
    let mut p = Progress::default();
    let mut meter = Meter::new("apply");
    while let Some(frame) = frames.next().await {
        let item = frame.map_err(|e| Error::Protocol {
            peer: "input".into(),
            problem: e.to_string(),
        })?;
        count(&mut p, &item);
        applier.apply_item(&item, mode).await?;
        meter.tick(&p, false);
    }
    if applier.in_txn() {
        applier.abort().await?;
        return Err(Error::Protocol {
            peer: "input".into(),
            problem: "the input ended inside a transaction; it was rolled back".into(),
        });
    }
    meter.tick(&p, true);
    Ok(p)
}
