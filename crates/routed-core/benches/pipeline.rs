//! Per-call cost of the pure pipeline for a typical dashboard document:
//! parse + fingerprint + bind + plan + codegen. Target: ≤ 20 µs (issue #3).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use routed_core::codegen::generate;
use routed_core::normalize::fingerprint;
use routed_core::parse::parse_text;
use routed_core::resolve::bind;
use routed_core::route::plan;

#[path = "../tests/common.rs"]
mod common;

fn pipeline(c: &mut Criterion) {
    let rel = common::metrics();
    c.bench_function("parse+normalize+plan+codegen", |b| {
        b.iter(|| {
            let q = parse_text(black_box(common::SPEC_EXAMPLE)).unwrap();
            let fp = fingerprint(&q);
            let bound = bind(&q, &rel).unwrap();
            let p = plan(&bound, 300_000_000, &[], None);
            black_box((fp, generate(&bound, &p, &[])))
        })
    });
}

fn stages(c: &mut Criterion) {
    let rel = common::metrics();
    let q = parse_text(common::SPEC_EXAMPLE).unwrap();
    let bound = bind(&q, &rel).unwrap();
    let p = plan(&bound, 0, &[], None);
    c.bench_function("json", |b| {
        b.iter(|| {
            black_box(
                serde_json::from_str::<serde_json::Value>(black_box(common::SPEC_EXAMPLE)).unwrap(),
            )
        })
    });
    c.bench_function("parse", |b| {
        b.iter(|| black_box(parse_text(black_box(common::SPEC_EXAMPLE)).unwrap()))
    });
    c.bench_function("fingerprint", |b| b.iter(|| black_box(fingerprint(&q))));
    c.bench_function("bind", |b| b.iter(|| black_box(bind(&q, &rel).unwrap())));
    c.bench_function("codegen", |b| {
        b.iter(|| black_box(generate(&bound, &p, &[])))
    });
}
criterion_group!(benches, pipeline, stages);
criterion_main!(benches);
