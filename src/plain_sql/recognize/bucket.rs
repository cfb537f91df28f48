//! Bucket expressions of the time column the router builds alike: `date_trunc` (with a named
//! zone too), Grafana's
//! `floor(extract(epoch from ts)/n)*n`, `date_bin`, `::date`.

use super::super::nodes::{const_integer, const_text, list, node_tag, text, value_expr};
use super::Ctx;
use pgrx::pg_sys::{self, NodeTag};
use routed_core::plain::BucketKind;

/// The bucket an expression of the time column makes, if it is one the router builds alike.
pub(super) unsafe fn bucket(cx: &mut Ctx, e: *mut pg_sys::Node) -> Option<BucketKind> {
    // SAFETY: e is a node of the query.
    unsafe {
        let func = |n: *mut pg_sys::Node| -> Option<(String, Vec<*mut pg_sys::Node>, pg_sys::Oid)> {
            if node_tag(n) != NodeTag::T_FuncExpr {
                return None;
            }
            let f = n as *mut pg_sys::FuncExpr;
            if pg_sys::get_func_namespace((*f).funcid)
                != pg_sys::Oid::from(pg_sys::PG_CATALOG_NAMESPACE)
            {
                return None;
            }
            Some((
                text(pg_sys::get_func_name((*f).funcid))?,
                list((*f).args),
                (*f).funcresulttype,
            ))
        };
        if let Some((name, args, result)) = func(e) {
            return match (name.as_str(), args.as_slice()) {
                ("date_trunc", [unit, ts])
                    if cx.is_time(*ts) && result == pg_sys::TIMESTAMPTZOID =>
                {
                    trunc_unit(*unit).map(BucketKind::Trunc)
                }
                ("date_trunc", [unit, ts, zone])
                    if cx.is_time(*ts) && result == pg_sys::TIMESTAMPTZOID =>
                {
                    let zone = const_text(*zone)?;
                    if !named_zone(&zone) {
                        return None;
                    }
                    Some(BucketKind::TruncIn {
                        unit: trunc_unit(*unit)?,
                        zone,
                    })
                }
                ("date_bin", [stride, ts, origin])
                    if cx.is_time(*ts) && value_expr(*stride) && value_expr(*origin) =>
                {
                    Some(BucketKind::Bin {
                        stride: cx.keep(*stride),
                        origin: cx.keep(*origin),
                    })
                }
                ("date", [ts]) if cx.is_time(*ts) && result == pg_sys::DATEOID => {
                    Some(BucketKind::Date)
                }
                _ => None,
            };
        }
        // floor(extract(epoch from ts) / n) * n
        let binary = |n: *mut pg_sys::Node, name: &str| -> Option<[*mut pg_sys::Node; 2]> {
            if node_tag(n) != NodeTag::T_OpExpr {
                return None;
            }
            let op = n as *mut pg_sys::OpExpr;
            let args = list::<pg_sys::Node>((*op).args);
            let opname = text(pg_sys::get_opname((*op).opno))?;
            ((*op).opresulttype == pg_sys::NUMERICOID && opname == name && args.len() == 2)
                .then(|| [args[0], args[1]])
        };
        let [floored, n1] = binary(e, "*")?;
        let (fname, fargs, _) = func(floored)?;
        if fname != "floor" || fargs.len() != 1 {
            return None;
        }
        let [epoch, n2] = binary(fargs[0], "/")?;
        let (ename, eargs, _) = func(epoch)?;
        let width = const_integer(n1)?;
        if ename != "extract" || eargs.len() != 2 || const_integer(n2)? != width {
            return None;
        }
        let field = const_text(eargs[0])?.to_ascii_lowercase();
        (field == "epoch" && cx.is_time(eargs[1]) && width > 0).then_some(BucketKind::Epoch(width))
    }
}

/// A constant `date_trunc` unit the router buckets alike (second to month), singular.
///
/// # Safety
/// `unit` is a node of the query.
unsafe fn trunc_unit(unit: *mut pg_sys::Node) -> Option<String> {
    // SAFETY: passed on from the caller.
    let u = unsafe { const_text(unit) }?.to_ascii_lowercase();
    let u = u.strip_suffix('s').unwrap_or(&u).to_string();
    ["second", "minute", "hour", "day", "week", "month"]
        .contains(&u.as_str())
        .then_some(u)
}

/// Whether `date_trunc`'s zone argument means what the same TimeZone setting means: a zone
/// PostgreSQL knows by a full name (with a `/`, or UTC and GMT). A bare abbreviation is read
/// from the abbreviation table first (`CET` as a fixed +01:00, without its summer time).
fn named_zone(zone: &str) -> bool {
    let full = zone.contains('/') || ["utc", "gmt"].contains(&zone.to_ascii_lowercase().as_str());
    let Ok(name) = std::ffi::CString::new(zone) else {
        return false;
    };
    // SAFETY: pg_tzset reads a NUL-terminated name and returns the cached zone or NULL; it
    // raises no error.
    full && !unsafe { pg_sys::pg_tzset(name.as_ptr()) }.is_null()
}
