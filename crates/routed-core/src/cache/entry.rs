//! What a cache entry records beside its answer, and the one staleness rule it is served by
//! (SPEC "Staleness"): 0 while no committed change intersects its time range and the range is
//! absolute; otherwise the age of the first instant the answer could have changed.

pub const MAX_RELS: usize = 10;

pub const RELATIVE: u32 = 1;
/// Every relation the answer read publishes its changes (a tracked source).
pub const TRACKED: u32 = 2;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EntryMeta {
    pub db: u32,
    /// The document's source table: the relation whose published changes concern the entry.
    pub source: u32,
    /// Every relation the answer read (source, rollup, deltas): privileges are re-checked on each.
    pub nrels: u32,
    pub rels: [u32; MAX_RELS],
    pub flags: u32,
    /// Bit i set: `rels[i]` is read as a whole (a joined table), so any change of it touches
    /// the entry whatever its range.
    pub whole: u32,
    /// The role the entry was computed as (also part of the key).
    pub role: u32,
    /// The time range read, `[from_us, to_us)`; open ends are i64::MIN / i64::MAX.
    pub from_us: i64,
    pub to_us: i64,
    /// When the answer was computed: relative ranges were evaluated at this instant.
    pub as_of_us: i64,
    /// Already stale at fill (a rollup bucket served within budget) since this instant;
    /// i64::MAX when exact.
    pub stale_since_us: i64,
    /// Change-ring position from which published changes may be missing from the answer.
    pub pos: u64,
    /// What computing it cost, in microseconds (eviction keeps costly entries longer).
    pub cost_us: u64,
}

impl EntryMeta {
    pub fn relative(&self) -> bool {
        self.flags & RELATIVE != 0
    }

    pub fn tracked(&self) -> bool {
        self.flags & TRACKED != 0
    }

    pub fn rels(&self) -> &[u32] {
        &self.rels[..self.nrels as usize]
    }

    /// Whether a change of `rel` in database `db` over `[lo, hi]` can change this answer.
    /// `rel == 0` is a change of every relation (DDL, a reset).
    pub fn touched_by(&self, db: u32, rel: u32, lo: i64, hi: i64) -> bool {
        db == self.db
            && ((rel == 0 || rel == self.source) && lo < self.to_us && hi >= self.from_us
                || self.whole != 0
                    && self
                        .rels()
                        .iter()
                        .enumerate()
                        .any(|(i, &r)| r == rel && self.whole & (1 << i) != 0))
    }

    /// Staleness at `now_us`, given the commit time of the first intersecting change found
    /// (i64::MAX when none) and whether the ring lost changes the entry never saw.
    pub fn staleness(&self, first_change_us: i64, wrapped: bool, now_us: i64) -> i64 {
        let mut t0 = self.stale_since_us.min(first_change_us);
        if self.relative() || !self.tracked() || wrapped {
            t0 = t0.min(self.as_of_us);
        }
        if t0 == i64::MAX {
            0
        } else {
            now_us.saturating_sub(t0).max(1)
        }
    }
}

/// The answer as stored: the body (`columns` and `rows` as a jsonb value's bytes, so a hit does
/// not parse JSON) and the facts `meta` repeats.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredAnswer {
    pub body: Vec<u8>,
    pub source: String,
    pub rollup: Option<String>,
    pub approximate: bool,
    pub fingerprint: String,
}

impl StoredAnswer {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 64);
        for part in [
            self.body.as_slice(),
            self.source.as_bytes(),
            self.rollup.as_deref().unwrap_or("").as_bytes(),
            self.fingerprint.as_bytes(),
        ] {
            out.extend_from_slice(&(part.len() as u32).to_le_bytes());
            out.extend_from_slice(part);
        }
        out.push(u8::from(self.approximate) | (u8::from(self.rollup.is_some()) << 1));
        out
    }

    pub fn decode(bytes: &[u8]) -> Option<StoredAnswer> {
        StoredAnswerRef::decode(bytes).map(|a| StoredAnswer {
            body: a.body.to_vec(),
            source: a.source.to_string(),
            rollup: a.rollup.map(str::to_string),
            approximate: a.approximate,
            fingerprint: a.fingerprint.to_string(),
        })
    }

    pub fn as_ref(&self) -> StoredAnswerRef<'_> {
        StoredAnswerRef {
            body: &self.body,
            source: &self.source,
            rollup: self.rollup.as_deref(),
            approximate: self.approximate,
            fingerprint: &self.fingerprint,
        }
    }
}

/// A stored answer read in place from its encoded bytes (a hit copies nothing more).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredAnswerRef<'a> {
    pub body: &'a [u8],
    pub source: &'a str,
    pub rollup: Option<&'a str>,
    pub approximate: bool,
    pub fingerprint: &'a str,
}

impl<'a> StoredAnswerRef<'a> {
    pub fn decode(bytes: &'a [u8]) -> Option<StoredAnswerRef<'a>> {
        let mut rest = bytes;
        let mut parts: [&[u8]; 4] = [&[]; 4];
        for part in &mut parts {
            let len = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?) as usize;
            *part = rest.get(4..4 + len)?;
            rest = &rest[4 + len..];
        }
        let flags = *rest.first()?;
        let text = |b: &'a [u8]| std::str::from_utf8(b).ok();
        Some(StoredAnswerRef {
            body: parts[0],
            source: text(parts[1])?,
            rollup: if flags & 2 != 0 {
                Some(text(parts[2])?)
            } else {
                None
            },
            approximate: flags & 1 != 0,
            fingerprint: text(parts[3])?,
        })
    }
}
