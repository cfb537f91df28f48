//! Typed answers: the generated rows query run through SPI, its tuples kept as a cache body
//! (routed-core's `cache::rows` format), and a body read back as heap tuples pointing into one
//! aligned copy, for `routed_rows`' tuplestore and the plain SQL node's slots.

use crate::pg::params::typed_args;
use crate::pg::snapshot::{read_planned, Planning};
use pgrx::pg_sys;
use routed_core::cache::rows::{decode, encode};
use routed_core::codegen::Generated;

/// Runs the rows form of the query in the statement's snapshot; the body of its answer.
pub fn rows_body(generated: &Generated) -> Vec<u8> {
    let args = typed_args(&generated.params);
    read_planned(&generated.rows_sql, &args, Planning::Custom, |rows| {
        let table = rows.table();
        // SAFETY: SPI's tuptable holds rows.len() tuples of its tupdesc until SPI_finish, after
        // this closure; a tuple with out-of-line values is flattened into a palloc'd copy (the
        // body must not point into a table's TOAST, which a later VACUUM may remove).
        unsafe {
            if table.is_null() {
                return encode(&[], std::iter::empty());
            }
            let desc = (*table).tupdesc;
            let types: Vec<u32> = pgrx::PgTupleDesc::from_pg_unchecked(desc)
                .iter()
                .map(|a| a.type_oid().value().to_u32())
                .collect();
            let tuples: Vec<&[u8]> = (0..rows.len())
                .map(|i| {
                    let t = *(*table).vals.add(i);
                    if (*(*t).t_data).t_infomask & pg_sys::HEAP_HASEXTERNAL as u16 != 0 {
                        // a composite datum's header is a tuple header (deforming reads
                        // neither the datum length nor the type fields it overwrites)
                        let d = pg_sys::heap_copy_tuple_as_datum(t, desc).cast_mut_ptr::<u8>();
                        let len = pgrx::varsize_any(d as *const pg_sys::varlena);
                        return std::slice::from_raw_parts(d as *const u8, len);
                    }
                    std::slice::from_raw_parts((*t).t_data as *const u8, (*t).t_len as usize)
                })
                .collect();
            encode(&types, tuples)
        }
    })
}

/// A body's rows, in one 8-byte-aligned copy.
pub struct TypedRows {
    words: Vec<u64>,
    pub types: Vec<pg_sys::Oid>,
    rows: Vec<(usize, usize)>,
}

impl TypedRows {
    /// None when `body` is not a rows body (an entry of another format version).
    pub fn from_body(body: &[u8]) -> Option<TypedRows> {
        let layout = decode(body)?;
        let mut words = vec![0u64; body.len().div_ceil(8)];
        // SAFETY: words has at least body.len() bytes; the two do not overlap.
        unsafe {
            std::ptr::copy_nonoverlapping(body.as_ptr(), words.as_mut_ptr() as *mut u8, body.len())
        };
        Some(TypedRows {
            words,
            types: layout.types.into_iter().map(pg_sys::Oid::from).collect(),
            rows: layout.rows,
        })
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Row `i` as a heap tuple whose data lives in `self` (valid while `self` is).
    pub fn tuple(&self, i: usize) -> pg_sys::HeapTupleData {
        let (at, len) = self.rows[i];
        pg_sys::HeapTupleData {
            t_len: len as u32,
            t_self: pg_sys::ItemPointerData::default(),
            t_tableOid: pg_sys::InvalidOid,
            // SAFETY: at is a multiple of 8 inside the body, so the header is MAXALIGNed
            // within words' allocation.
            t_data: unsafe { (self.words.as_ptr() as *mut u8).add(at) }
                as *mut pg_sys::HeapTupleHeaderData,
        }
    }

    /// A tuple descriptor of the body's column types (deforming needs only the types).
    pub fn descriptor(&self) -> pg_sys::TupleDesc {
        // SAFETY: a template descriptor of types.len() attributes, each initialized with a type
        // from the body (the types of the query that produced it); palloc'd in the current
        // memory context.
        unsafe {
            let desc = pg_sys::CreateTemplateTupleDesc(self.types.len() as i32);
            for (i, t) in self.types.iter().enumerate() {
                pg_sys::TupleDescInitEntry(desc, (i + 1) as i16, std::ptr::null(), *t, -1, 0);
            }
            desc
        }
    }
}
