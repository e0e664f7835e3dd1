//! MariaDB GTIDs and GTID positions as types.
//!
//! A MariaDB GTID is `domain-server-seq`. Within one replication domain the sequence numbers grow
//! strictly (with `gtid_strict_mode=ON` the server refuses anything else), so a position is one
//! GTID per domain: the last one applied. Every node's `@@gtid_binlog_pos` is such a position and
//! says exactly which changes of which origin the node holds.
//!
//! Positions are never passed around as strings: they parse once at the edge (`FromStr`) and print
//! in MariaDB's own syntax (`Display`), so they can be fed straight back to the server.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// One MariaDB global transaction id: `domain-server-seq`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Gtid {
    /// Replication domain (`gtid_domain_id` of the origin).
    #[serde(rename = "d")]
    pub domain: u32,
    /// Server id of the origin.
    #[serde(rename = "s")]
    pub server: u32,
    /// Sequence number within the domain.
    #[serde(rename = "n")]
    pub seq: u64,
}

impl Gtid {
    pub const fn new(domain: u32, server: u32, seq: u64) -> Self {
        Self {
            domain,
            server,
            seq,
        }
    }
}

/// GTIDs order by domain, then sequence number (the order MariaDB gives them within a domain),
/// then server id so that the order is total.
impl Ord for Gtid {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.domain, self.seq, self.server).cmp(&(other.domain, other.seq, other.server))
    }
}

impl PartialOrd for Gtid {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Gtid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}", self.domain, self.server, self.seq)
    }
}

/// Why a GTID or position did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid GTID {input:?}: {reason} (expected domain-server-seq, e.g. 0-1-42)")]
pub struct ParseGtidError {
    input: String,
    reason: &'static str,
}

impl FromStr for Gtid {
    type Err = ParseGtidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = |reason| ParseGtidError {
            input: s.to_owned(),
            reason,
        };
        let mut parts = s.trim().split('-');
        let (Some(d), Some(srv), Some(n), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(err("it does not have exactly three parts"));
        };
        Ok(Gtid {
            domain: d.parse().map_err(|_| err("bad domain id"))?,
            server: srv.parse().map_err(|_| err("bad server id"))?,
            seq: n.parse().map_err(|_| err("bad sequence number"))?,
        })
    }
}

/// A GTID position: the last GTID of every domain, as in `@@gtid_binlog_pos`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct GtidPos(BTreeMap<u32, Gtid>);

impl GtidPos {
    pub fn new() -> Self {
        Self::default()
    }

    /// The last GTID of `domain`, if the position has one.
    pub fn get(&self, domain: u32) -> Option<Gtid> {
        self.0.get(&domain).copied()
    }

    /// Whether the position already holds `gtid`: its domain's last sequence number is at least
    /// as high. This is the exactly-once test: within a domain sequence numbers only grow.
    pub fn contains(&self, gtid: &Gtid) -> bool {
        self.0.get(&gtid.domain).is_some_and(|g| g.seq >= gtid.seq)
    }

    /// Records `gtid` as applied: it becomes its domain's last GTID when it is newer.
    pub fn advance(&mut self, gtid: Gtid) {
        match self.0.get_mut(&gtid.domain) {
            Some(g) if g.seq >= gtid.seq => {}
            Some(g) => *g = gtid,
            None => {
                self.0.insert(gtid.domain, gtid);
            }
        }
    }

    /// Sets the domain's entry unconditionally (also backwards).
    pub fn set(&mut self, gtid: Gtid) {
        self.0.insert(gtid.domain, gtid);
    }

    /// Removes a domain from the position.
    pub fn remove(&mut self, domain: u32) -> Option<Gtid> {
        self.0.remove(&domain)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Gtid> {
        self.0.values()
    }

    pub fn domains(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.keys().copied()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every domain of `other` is held here at least as far.
    pub fn covers(&self, other: &GtidPos) -> bool {
        other.iter().all(|g| self.contains(g))
    }

    /// How many transactions `self` is behind `ahead`: the sum over domains of the sequence
    /// number distance. Exact when sequence numbers in a domain are dense, which they are for
    /// binlogs written by starsync (every origin numbers its own domain).
    pub fn behind(&self, ahead: &GtidPos) -> u64 {
        ahead
            .iter()
            .map(|g| {
                g.seq
                    .saturating_sub(self.get(g.domain).map_or(0, |m| m.seq))
            })
            .sum()
    }
}

impl fmt::Display for GtidPos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, g) in self.0.values().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{g}")?;
        }
        Ok(())
    }
}

impl FromStr for GtidPos {
    type Err = ParseGtidError;

    /// Parses MariaDB's syntax: comma-separated GTIDs, at most one per domain, whitespace and
    /// newlines allowed (the server folds long positions).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut pos = GtidPos::new();
        for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let g: Gtid = part.parse()?;
            if pos.0.insert(g.domain, g).is_some() {
                return Err(ParseGtidError {
                    input: s.to_owned(),
                    reason: "a domain appears twice",
                });
            }
        }
        Ok(pos)
    }
}

impl FromIterator<Gtid> for GtidPos {
    fn from_iter<T: IntoIterator<Item = Gtid>>(iter: T) -> Self {
        let mut pos = GtidPos::new();
        for g in iter {
            pos.advance(g);
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gtid_round_trips() {
        let g: Gtid = "2-20-1234".parse().unwrap();
        assert_eq!(g, Gtid::new(2, 20, 1234));
        assert_eq!(g.to_string(), "2-20-1234");
        assert!("2-20".parse::<Gtid>().is_err());
        assert!("2-20-x".parse::<Gtid>().is_err());
        assert!("-1-2-3".parse::<Gtid>().is_err());
    }

    #[test]
    fn position_parses_server_syntax() {
        let p: GtidPos = " 0-1-5,\n2-2-9 ".parse().unwrap();
        assert_eq!(p.to_string(), "0-1-5,2-2-9");
        assert!("".parse::<GtidPos>().unwrap().is_empty());
        assert!("0-1-5,0-2-6".parse::<GtidPos>().is_err());
    }

    #[test]
    fn contains_and_advance() {
        let mut p: GtidPos = "1-1-10".parse().unwrap();
        assert!(p.contains(&Gtid::new(1, 7, 10)));
        assert!(!p.contains(&Gtid::new(1, 1, 11)));
        assert!(!p.contains(&Gtid::new(2, 1, 1)));
        p.advance(Gtid::new(1, 1, 9));
        assert_eq!(p.get(1), Some(Gtid::new(1, 1, 10)));
        p.advance(Gtid::new(1, 3, 12));
        p.advance(Gtid::new(2, 2, 1));
        assert_eq!(p.to_string(), "1-3-12,2-2-1");
        let q: GtidPos = "1-1-4,3-3-3".parse().unwrap();
        assert_eq!(q.behind(&p), 8 + 1);
        assert!(p.covers(&"1-1-4".parse().unwrap()));
        assert!(!p.covers(&q));
    }

    #[test]
    fn serde_is_compact() {
        let p: GtidPos = "1-1-10,2-5-3".parse().unwrap();
        let bytes = rmp_serde::to_vec(&p).unwrap();
        let back: GtidPos = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, p);
    }
}
