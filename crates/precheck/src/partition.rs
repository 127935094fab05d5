//! Splitting a run across machines, as cargo-nextest's `--partition`: `hash:K/N` puts each test in a shard
//! chosen from its name alone (a test keeps its shard when others are added or removed), `count:K/N` takes
//! every N-th of the tests the filters kept, in the order of the files (shards of even size). The N shards
//! of one kind together run every test exactly once.
//!
//! ```
//! use precheck::partition::Partition;
//!
//! let shards: Vec<Partition> = (1..=3).map(|k| format!("hash:{k}/3").parse().unwrap()).collect();
//! for (index, name) in ["a.check::one", "a.check::two", "b.check::three"].iter().enumerate() {
//!     assert_eq!(shards.iter().filter(|s| s.contains(name, index)).count(), 1);
//! }
//! assert_eq!("count:2/3".parse::<Partition>().unwrap().to_string(), "count:2/3");
//! assert!("hash:4/3".parse::<Partition>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;

use crate::outcome::{Classified, Fault};

/// One shard of a run: the `shard`-th (from 1) of `total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partition {
    /// How tests are dealt to shards.
    pub kind: PartitionKind,
    /// This shard, from 1.
    pub shard: u64,
    /// How many shards there are.
    pub total: u64,
}

/// How tests are dealt to shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionKind {
    /// By a stable hash of the test's full name (`file::test`).
    Hash,
    /// By the test's place among the tests the filters kept.
    Count,
}

impl Partition {
    /// Whether this shard runs the test named `name` (`file::test`), the `index`-th (from 0) of the tests
    /// the filters and tags kept.
    pub fn contains(&self, name: &str, index: usize) -> bool {
        let place = match self.kind {
            PartitionKind::Hash => stable_hash(name),
            PartitionKind::Count => index as u64,
        };
        place % self.total == self.shard - 1
    }
}

/// FNV-1a (64 bits): the same number for the same name on every machine and with every Rust version (the
/// standard library's hasher promises neither), so every shard of a CI job agrees.
fn stable_hash(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3))
}

impl fmt::Display for Partition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.kind {
            PartitionKind::Hash => "hash",
            PartitionKind::Count => "count",
        };
        write!(f, "{kind}:{}/{}", self.shard, self.total)
    }
}

/// A partition that is not `hash:K/N` or `count:K/N` with 1 ≤ K ≤ N.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid partition '{text}': {why} (expected `hash:K/N` or `count:K/N`, 1 <= K <= N, e.g. `hash:1/3`)")]
pub struct PartitionError {
    text: String,
    why: &'static str,
}

impl Classified for PartitionError {
    fn fault(&self) -> Fault {
        Fault::Input
    }
}

impl FromStr for Partition {
    type Err = PartitionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = |why| PartitionError { text: text.to_owned(), why };
        let (kind, shares) = text.split_once(':').ok_or_else(|| error("no kind before ':'"))?;
        let kind = match kind {
            "hash" => PartitionKind::Hash,
            "count" => PartitionKind::Count,
            _ => return Err(error("unknown kind")),
        };
        let (shard, total) = shares.split_once('/').ok_or_else(|| error("no '/' between K and N"))?;
        let number = |s: &str| s.parse::<u64>().map_err(|_| error("K and N are whole numbers"));
        let (shard, total) = (number(shard)?, number(total)?);
        if total == 0 || shard == 0 || shard > total {
            return Err(error("K must be between 1 and N"));
        }
        Ok(Self { kind, shard, total })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shards(kind: &str, total: u64) -> Vec<Partition> {
        (1..=total).map(|k| format!("{kind}:{k}/{total}").parse().unwrap()).collect()
    }

    #[test]
    fn every_test_is_in_exactly_one_shard_of_each_kind() {
        let names: Vec<String> = (0..500).map(|i| format!("f{}.check::test {i}", i % 7)).collect();
        for kind in ["hash", "count"] {
            for total in [1, 2, 3, 7] {
                let shards = shards(kind, total);
                let mut sizes = vec![0usize; total as usize];
                for (index, name) in names.iter().enumerate() {
                    let holding: Vec<usize> = (0..shards.len()).filter(|&s| shards[s].contains(name, index)).collect();
                    assert_eq!(holding.len(), 1, "{kind}:{total} {name}: {holding:?}");
                    sizes[holding[0]] += 1;
                }
                // Count deals evenly; the hash spreads 500 names over 7 shards within a loose bound.
                let (least, most) = (*sizes.iter().min().unwrap(), *sizes.iter().max().unwrap());
                match kind {
                    "count" => assert!(most - least <= 1, "{sizes:?}"),
                    _ => assert!(least * 2 > most, "{kind}:{total} {sizes:?}"),
                }
            }
        }
    }

    #[test]
    fn a_test_keeps_its_hash_shard_whatever_else_is_there() {
        let shard = shards("hash", 4).into_iter().find(|s| s.contains("a.check::stable", 0)).unwrap();
        assert!(shard.contains("a.check::stable", 999));
        // The value every machine computes (FNV-1a of the name), pinned so a change is seen.
        assert_eq!(stable_hash("a.check::stable"), 0x804f_c505_c0a6_cc9d);
    }

    #[test]
    fn bad_partitions_say_what_was_expected() {
        for (text, why) in [
            ("hash", "no kind before ':'"),
            ("slice:1/2", "unknown kind"),
            ("hash:1", "no '/' between K and N"),
            ("hash:a/2", "K and N are whole numbers"),
            ("count:0/2", "K must be between 1 and N"),
            ("count:3/2", "K must be between 1 and N"),
            ("count:1/0", "K must be between 1 and N"),
        ] {
            let error = text.parse::<Partition>().unwrap_err();
            assert_eq!(error.why, why, "{text}");
            assert!(error.to_string().contains("expected `hash:K/N` or `count:K/N`"), "{error}");
        }
    }
}
