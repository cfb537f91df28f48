//! Typed rows as a cache entry's body (answers of `routed_rows` and of plain SQL): the column
//! types, then each row's bytes exactly as PostgreSQL formed them (a heap tuple's header and
//! data), each starting at a multiple of 8 bytes, so a reader copies the body once into aligned
//! memory and points its tuples into it.

/// "ROWS", then the format version in the low byte.
const MAGIC: u32 = 0x524f_5701;

fn pad8(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(8) {
        out.push(0);
    }
}

/// The body of `rows` with columns of these type oids.
pub fn encode<'a>(types: &[u32], rows: impl IntoIterator<Item = &'a [u8]>) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&MAGIC.to_le_bytes());
    out.extend_from_slice(&(types.len() as u32).to_le_bytes());
    for t in types {
        out.extend_from_slice(&t.to_le_bytes());
    }
    pad8(&mut out);
    for row in rows {
        out.extend_from_slice(&(row.len() as u32).to_le_bytes());
        pad8(&mut out);
        out.extend_from_slice(row);
        pad8(&mut out);
    }
    out
}

/// Where a body's parts lie: column types and each row's (offset, length) in the body.
#[derive(Debug, PartialEq, Eq)]
pub struct RowsLayout {
    pub types: Vec<u32>,
    pub rows: Vec<(usize, usize)>,
}

fn u32_at(body: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(body.get(at..at + 4)?.try_into().ok()?))
}

fn up8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// The column types of a body `encode` wrote, read from its header alone.
pub fn types(body: &[u8]) -> Option<Vec<u32>> {
    if u32_at(body, 0)? != MAGIC {
        return None;
    }
    let ncols = u32_at(body, 4)? as usize;
    (0..ncols).map(|i| u32_at(body, 8 + 4 * i)).collect()
}

/// Reads a body `encode` wrote; None for anything else (another format version, a torn body).
pub fn decode(body: &[u8]) -> Option<RowsLayout> {
    if u32_at(body, 0)? != MAGIC {
        return None;
    }
    let ncols = u32_at(body, 4)? as usize;
    let types = (0..ncols)
        .map(|i| u32_at(body, 8 + 4 * i))
        .collect::<Option<Vec<u32>>>()?;
    let mut at = up8(8 + 4 * ncols);
    let mut rows = Vec::new();
    while at < body.len() {
        let len = u32_at(body, at)? as usize;
        let start = at + 8;
        body.get(start..start + len)?;
        rows.push((start, len));
        at = up8(start + len);
    }
    Some(RowsLayout { types, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_come_back_aligned_and_whole() {
        let rows: Vec<Vec<u8>> = vec![vec![1, 2, 3], vec![], (0..29).collect(), vec![9; 8]];
        let body = encode(&[1184, 20, 1700], rows.iter().map(Vec::as_slice));
        let layout = decode(&body).expect("decodes");
        assert_eq!(layout.types, vec![1184, 20, 1700]);
        assert_eq!(types(&body), Some(vec![1184, 20, 1700]));
        assert_eq!(layout.rows.len(), rows.len());
        for ((at, len), row) in layout.rows.iter().zip(&rows) {
            assert_eq!(at % 8, 0);
            assert_eq!(&body[*at..at + len], row.as_slice());
        }
    }

    #[test]
    fn no_rows_and_no_columns() {
        let body = encode(&[], std::iter::empty());
        assert_eq!(
            decode(&body),
            Some(RowsLayout {
                types: vec![],
                rows: vec![]
            })
        );
    }

    #[test]
    fn other_bodies_are_refused() {
        assert_eq!(decode(b"[[1,2]]"), None);
        let mut body = encode(&[20], [[7u8; 12].as_slice()]);
        body.truncate(body.len() - 8);
        assert_eq!(decode(&body), None, "a torn row");
        body[0] ^= 1;
        assert_eq!(decode(&body), None, "another version");
    }
}
