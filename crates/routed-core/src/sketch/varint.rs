//! LEB128 varints (zigzag for signed values): sketch states are mostly small numbers.

use super::DecodeError;

pub fn put_u64(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_i64(out: &mut Vec<u8>, v: i64) {
    put_u64(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Reads from `bytes` at `*pos`, advancing it.
pub fn get_u64(bytes: &[u8], pos: &mut usize) -> Result<u64, DecodeError> {
    let mut v: u64 = 0;
    for shift in (0..64).step_by(7) {
        let b = *bytes.get(*pos).ok_or(DecodeError("truncated sketch"))?;
        *pos += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err(DecodeError("malformed varint in sketch"))
}

pub fn get_i64(bytes: &[u8], pos: &mut usize) -> Result<i64, DecodeError> {
    let u = get_u64(bytes, pos)?;
    Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_extremes() {
        let mut out = Vec::new();
        let values = [0i64, 1, -1, 63, -64, i64::MAX, i64::MIN, 300, -300];
        for v in values {
            put_i64(&mut out, v);
        }
        put_u64(&mut out, u64::MAX);
        let mut pos = 0;
        for v in values {
            assert_eq!(get_i64(&out, &mut pos).unwrap(), v);
        }
        assert_eq!(get_u64(&out, &mut pos).unwrap(), u64::MAX);
        assert_eq!(pos, out.len());
        assert!(get_u64(&[0x80], &mut 0).is_err());
    }
}
