// Shared fixtures for routed-core's integration tests.
#![allow(dead_code)]

use routed_core::model::{oid, Column, Relation, SqlType};

fn col(name: &str, oid: u32, ty: &str) -> Column {
    Column {
        name: name.into(),
        ty: SqlType::builtin(oid, ty),
        array_ty: Some(SqlType::builtin(oid + 100_000, &format!("_{ty}"))),
        base_oid: oid,
        selectable: true,
    }
}

pub fn metrics() -> Relation {
    Relation {
        oid: 16_384,
        schema: "public".into(),
        name: "metrics".into(),
        kind: 'r',
        columns: vec![
            col("ts", oid::TIMESTAMPTZ, "timestamptz"),
            col("day", oid::DATE, "date"),
            col("status", oid::TEXT, "text"),
            col("rule_category", oid::TEXT, "text"),
            col("execution_time_ms", oid::FLOAT8, "float8"),
            col("records", oid::INT8, "int8"),
            col("n", oid::INT4, "int4"),
            col("payload", oid::JSON, "json"),
        ],
        table_selectable: true,
    }
}
