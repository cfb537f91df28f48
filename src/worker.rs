//! The background worker: one per database in `routed.databases`, registered in `_PG_init`
//! when the library is preloaded. Every `routed.refresh_naptime` it refreshes the rollups whose
//! `refresh_interval` has passed, each as its owner and in its own transactions (the same steps
//! as `CALL routed.refresh_rollup`). An error in one rollup is logged and the others go on;
//! SIGTERM ends it between steps.

use crate::gucs;
use pgrx::bgworkers::{BackgroundWorker, BackgroundWorkerBuilder, SignalWakeFlags};
use pgrx::pg_sys::panic::CaughtError;
use pgrx::prelude::*;
use std::time::{Duration, Instant};

/// Registers a worker per database named in `routed.databases` (at most 16).
pub fn register() {
    for db in gucs::databases().into_iter().take(16) {
        BackgroundWorkerBuilder::new(&format!("pg_routed refresh {db}"))
            .set_type("pg_routed refresh")
            .set_function("routed_worker_main")
            .set_library("pg_routed")
            .set_extra(&db)
            .enable_spi_access()
            .set_restart_time(Some(Duration::from_secs(10)))
            .load();
    }
}

thread_local! {
    static STOPPING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether SIGTERM arrived (pgrx's flag resets when read; this one stays set).
fn stopping() -> bool {
    if BackgroundWorker::sigterm_received() {
        STOPPING.set(true);
    }
    STOPPING.get()
}

#[pg_guard]
#[unsafe(no_mangle)]
pub extern "C-unwind" fn routed_worker_main(_arg: pg_sys::Datum) {
    BackgroundWorker::attach_signal_handlers(SignalWakeFlags::SIGHUP | SignalWakeFlags::SIGTERM);
    let db = BackgroundWorker::get_extra().to_string();
    BackgroundWorker::connect_worker_to_spi(Some(&db), None);
    log!("pg_routed: refresh worker started for database \"{db}\"");
    warm_after_restart();
    let mut last_check: Option<Instant> = None;
    // wakes every second for cache revalidation; rollups every routed.refresh_naptime
    while !stopping() && BackgroundWorker::wait_latch(Some(Duration::from_secs(1))) {
        if BackgroundWorker::sighup_received() {
            // SAFETY: the worker's main loop, outside any transaction, as ProcessConfigFile
            // requires.
            unsafe { pg_sys::ProcessConfigFile(pg_sys::GucContext::PGC_SIGHUP) };
        }
        revalidate_cache();
        let naptime = Duration::from_secs(gucs::refresh_naptime_secs());
        if last_check.is_some_and(|t| t.elapsed() < naptime) {
            continue;
        }
        last_check = Some(Instant::now());
        let due = in_transaction("list due rollups", due_rollups).unwrap_or_default();
        in_transaction("the invalidation log", || {
            if installed() {
                // a stream of corrections logs rows per statement: one per run of touched buckets
                let _ = Spi::run("SELECT routed._compact_invalidations()");
            }
        });
        for (name, owner) in due {
            if stopping() {
                break;
            }
            refresh(&name, &owner);
        }
    }
    // SAFETY: PostmasterPid is set before any child starts and never changes.
    let postmaster = unsafe { pg_sys::PostmasterPid } as u32;
    if std::os::unix::process::parent_id() == postmaster {
        // SIGTERM (a clean shutdown, or a terminated worker), not postmaster death: what to
        // warm at the next start
        let max = gucs::WARM_ENTRIES.get().max(0) as usize;
        let db = crate::pg::fast::database_id().to_u32();
        let stats = crate::cache::query_stats::save(db, &stats_path(db));
        match (crate::cache::warm::save(db, max), stats) {
            (Ok(n), Ok(q)) => log!(
                "pg_routed: saved {n} cache entries to warm and the statistics of {q} documents for the next start"
            ),
            (Err(e), _) | (_, Err(e)) => {
                warning!("pg_routed: could not save the cache entries and statistics: {e}")
            }
        }
    }
    log!("pg_routed: refresh worker for database \"{db}\" exiting");
}

/// (rollup, owner of its table) for rollups whose refresh_interval has passed; none when the
/// extension is not installed in this database.
fn due_rollups() -> Vec<(String, String)> {
    if !installed() {
        return Vec::new();
    }
    Spi::connect(|c| {
        c.select(
            "SELECT c.name, pg_catalog.pg_get_userbyid(cl.relowner)::text
               FROM routed.rollup_catalog c
               JOIN pg_catalog.pg_class cl ON cl.oid = pg_catalog.to_regclass(format('routed.%I', c.name))
              WHERE c.source IS NOT NULL
                AND (c.last_refresh IS NULL OR c.last_refresh + c.refresh_interval <= now())
              -- rollups built from a finer one after it, so they read its fresh states
              ORDER BY (pg_catalog.to_jsonb(c) ->> 'from_rollup') IS NOT NULL, c.last_refresh NULLS FIRST",
            None,
            &[],
        )?
        .map(|r| Ok((r.get::<String>(1)?.unwrap_or_default(), r.get::<String>(2)?.unwrap_or_default())))
        .collect::<Result<Vec<_>, pgrx::spi::Error>>()
    })
    .unwrap_or_default()
}

fn installed() -> bool {
    Spi::get_one::<bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_routed')",
    )
    .ok()
    .flatten()
    .unwrap_or(false)
}

/// For this transaction: act as the rollup's owner, and give up waiting on locks (a writer left
/// open on the source) after 30 s, so one stuck rollup does not hold up the others.
fn as_owner(owner: &str) -> Result<(), pgrx::spi::Error> {
    Spi::run_with_args(
        "SELECT set_config('role', $1, true), set_config('lock_timeout', '30s', true)",
        &[owner.into()],
    )
}

/// Runs one rollup's refresh as its owner: begin (commits the raised threshold), then steps.
fn refresh(name: &str, owner: &str) {
    let started = Instant::now();
    let target = in_transaction(name, || {
        as_owner(owner).and_then(|_| {
            Spi::get_one_with_args::<pgrx::datum::TimestampWithTimeZone>(
                "SELECT routed._refresh_begin($1, NULL)",
                &[name.into()],
            )
        })
    });
    let Some(Ok(Some(target))) = target else {
        return;
    };
    let mut steps = 0;
    loop {
        steps += 1;
        let more = in_transaction(name, || {
            as_owner(owner).and_then(|_| {
                Spi::get_one_with_args::<bool>(
                    "SELECT routed._refresh_step($1, NULL, NULL, $2)",
                    &[name.into(), target.into()],
                )
            })
        });
        match more {
            Some(Ok(Some(true))) if !stopping() => continue,
            Some(Ok(_)) => break,
            _ => return,
        }
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    in_transaction(name, || {
        Spi::run_with_args(
            "UPDATE routed.rollup_catalog SET last_refresh = clock_timestamp() - make_interval(secs => $2 / 1000), last_refresh_ms = $2 WHERE name = $1",
            &[name.into(), ms.into()],
        )?;
        Spi::run_with_args("SELECT routed._notify_refreshed($1)", &[name.into()])
    });
    log!("pg_routed: refreshed rollup \"{name}\" in {ms:.1} ms ({steps} steps)");
}

/// Recomputes the cache entries hits flagged (stale-while-revalidate), each in its own
/// transaction as the role and with the settings that computed it.
fn revalidate_cache() {
    for due in crate::cache::revalidate::take_due(64) {
        if stopping() {
            break;
        }
        recompute(due);
        crate::cache::revalidate::count();
    }
}

/// The file query statistics are saved to at a clean shutdown (in the data directory).
fn stats_path(db: u32) -> String {
    format!("pg_routed_stats.{db}")
}

/// Restores the query statistics and recomputes the entries the worker saved at the last clean
/// shutdown (`cache::warm`).
fn warm_after_restart() {
    let db = crate::pg::fast::database_id().to_u32();
    let restored = crate::cache::query_stats::load(db, &stats_path(db));
    if restored > 0 {
        log!("pg_routed: restored the statistics of {restored} documents");
    }
    let due = crate::cache::warm::take_saved(db);
    if due.is_empty() {
        return;
    }
    let started = Instant::now();
    let n = due.len();
    for d in due {
        if stopping() {
            break;
        }
        recompute(d);
    }
    log!(
        "pg_routed: warmed {n} cache entries in {:.1} ms",
        started.elapsed().as_secs_f64() * 1000.0
    );
}

/// Recomputes one entry, in its own transaction, as the role and with the settings of its key.
fn recompute(due: crate::cache::revalidate::Due) {
    {
        in_transaction("cache revalidation", || {
            let (names, values): (Vec<_>, Vec<_>) = due.settings.into_iter().unzip();
            let role = Spi::get_one_with_args::<String>(
                "SELECT set_config('role', r.rolname, true) FROM pg_catalog.pg_roles r WHERE r.oid = $1",
                &[pg_sys::Oid::from(due.role).into()],
            );
            if !matches!(role, Ok(Some(_))) {
                // the role is gone: nobody can be served this entry any more
                return Ok(());
            }
            Spi::run_with_args(
                "SELECT pg_catalog.set_config(n, v, true) FROM unnest($1::text[], $2::text[]) AS s(n, v)",
                &[names.into(), values.into()],
            )?;
            use crate::answer::flow::{
                answer, answer_rows, DocRef, RowsForm, PLAIN_PREFIX, ROWS_PREFIX,
            };
            if due.document.starts_with(PLAIN_PREFIX) {
                // plain SQL's entries are shaped by its plan node: the next miss recomputes them
                return Ok(());
            }
            match due.document.strip_prefix(ROWS_PREFIX) {
                Some(rows) => {
                    let form = RowsForm {
                        prefix: ROWS_PREFIX,
                        accept: &|_| true,
                        check: &|_| {},
                        reshape: None,
                    };
                    answer_rows(DocRef::Text(rows), Some(0), true, form, |_| ());
                }
                None => {
                    answer(
                        &crate::pg::jsonb::JsonbDoc::from_text(&due.document),
                        Some(0),
                        true,
                    );
                }
            }
            Ok::<(), pgrx::spi::Error>(())
        });
    }
}

/// Runs `f` in its own transaction; an error is logged, the transaction aborted, and None
/// returned, so one rollup's failure does not stop the worker.
fn in_transaction<R>(what: &str, f: impl FnOnce() -> R) -> Option<R> {
    // SAFETY: the worker starts and ends its own transactions here, between which it holds no
    // resources.
    unsafe {
        pg_sys::SetCurrentStatementStartTimestamp();
        pg_sys::StartTransactionCommand();
        pg_sys::PushActiveSnapshot(pg_sys::GetTransactionSnapshot());
    }
    let result = PgTryBuilder::new(std::panic::AssertUnwindSafe(|| Some(f())))
        .catch_others(|e| {
            let message = match e {
                CaughtError::PostgresError(r) | CaughtError::ErrorReport(r) => {
                    r.message().to_string()
                }
                CaughtError::RustPanic { ereport, .. } => ereport.message().to_string(),
            };
            warning!("pg_routed: refreshing \"{what}\" failed: {message}");
            None
        })
        .execute();
    // SAFETY: ends the transaction started above (commit, or abort after an error was caught).
    unsafe {
        if result.is_some() {
            pg_sys::PopActiveSnapshot();
            pg_sys::CommitTransactionCommand();
        } else {
            pg_sys::AbortCurrentTransaction();
        }
    }
    result
}
