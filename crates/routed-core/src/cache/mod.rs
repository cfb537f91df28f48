//! The result cache's pure parts: the partition store, the change ring and the staleness rule.
//! The extension places them in shared memory and supplies the locks.

pub mod entry;
mod outcome;
pub mod ring;
pub mod rows;
pub mod store;

pub use outcome::Outcome;

use xxhash_rust::xxh3::xxh3_128;

/// A fast hasher for per-backend maps keyed by documents.
pub use xxhash_rust::xxh3::Xxh3DefaultBuilder as FastHash;

/// A cache key: the canonical document and the context its answer depends on (database, role,
/// row security, search_path, TimeZone, ...), with its hash split in two (partition and bucket
/// from the first half, a second check from the other).
#[derive(Clone)]
pub struct Key {
    pub bytes: Vec<u8>,
    pub hash: u64,
    pub hash2: u64,
}

impl Key {
    pub fn new(canonical: &str, context: &[&str]) -> Key {
        let mut bytes = Vec::with_capacity(canonical.len() + 128);
        bytes.extend_from_slice(canonical.as_bytes());
        for part in context {
            // NUL cannot occur in either part, so the joined form is unambiguous
            bytes.push(0);
            bytes.extend_from_slice(part.as_bytes());
        }
        let h = xxh3_128(&bytes);
        Key {
            bytes,
            hash: h as u64,
            hash2: (h >> 64) as u64,
        }
    }
}
