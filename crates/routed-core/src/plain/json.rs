//! The recipe travels inside the plan (which PostgreSQL copies and caches) as JSON text.

use super::{Bound, BucketKind, Filter, FilterValue, Measure, Output, Recipe};
use serde_json::{json, Value};

fn value_json(v: &FilterValue) -> Value {
    match v {
        FilterValue::None => Value::Null,
        FilterValue::Scalar(i) => json!({"scalar": i}),
        FilterValue::List(i) => json!({"list": i}),
    }
}

fn filter_to(f: &Filter) -> Value {
    json!({"column": f.column, "op": f.op, "value": value_json(&f.value)})
}

fn filter_from(v: &Value) -> Option<Filter> {
    let value = match &v["value"] {
        Value::Null => FilterValue::None,
        o if o.get("scalar").is_some() => FilterValue::Scalar(o["scalar"].as_u64()? as usize),
        o => FilterValue::List(o.get("list")?.as_u64()? as usize),
    };
    Some(Filter {
        column: v["column"].as_str()?.into(),
        op: v["op"].as_str()?.into(),
        value,
    })
}

fn bounds_to(b: &[Bound]) -> Value {
    b.iter().map(|b| json!([b.expr, b.inclusive])).collect()
}

fn bounds_from(v: &Value) -> Option<Vec<Bound>> {
    v.as_array()?
        .iter()
        .map(|b| {
            Some(Bound {
                expr: b[0].as_u64()? as usize,
                inclusive: b[1].as_bool()?,
            })
        })
        .collect()
}

impl Recipe {
    pub fn to_json(&self) -> String {
        let bucket = match &self.bucket {
            None => Value::Null,
            Some(BucketKind::Trunc(u)) => json!({"trunc": u}),
            Some(BucketKind::TruncIn { unit, zone }) => json!({"trunc": unit, "zone": zone}),
            Some(BucketKind::Epoch(n)) => json!({"epoch": n}),
            Some(BucketKind::Bin { stride, origin }) => json!({"bin": [stride, origin]}),
            Some(BucketKind::Date) => json!({"date": true}),
        };
        let measures: Vec<Value> = self
            .measures
            .iter()
            .map(|m| {
                json!({"agg": m.agg, "column": m.column, "q": m.q,
                       "filters": m.filters.iter().map(filter_to).collect::<Vec<_>>()})
            })
            .collect();
        let outputs: Vec<Value> = self
            .outputs
            .iter()
            .map(|o| match o {
                Output::Bucket => json!("bucket"),
                Output::Column(i) => json!(i),
                Output::Junk => Value::Null,
            })
            .collect();
        json!({
            "source": self.source, "time_column": self.time_column,
            "lower": bounds_to(&self.lower), "upper": bounds_to(&self.upper),
            "bucket": bucket, "dimensions": self.dimensions, "measures": measures,
            "filters": self.filters.iter().map(filter_to).collect::<Vec<_>>(),
            "order": self.order.iter().map(|(n, d)| json!([n, d])).collect::<Vec<_>>(),
            "limit": self.limit, "outputs": outputs, "exact": self.exact,
        })
        .to_string()
    }

    pub fn from_json(text: &str) -> Option<Recipe> {
        let v: Value = serde_json::from_str(text).ok()?;
        let b = &v["bucket"];
        let bucket = if b.is_null() {
            None
        } else if let Some(u) = b.get("trunc") {
            let unit: String = u.as_str()?.into();
            Some(match b.get("zone").and_then(Value::as_str) {
                Some(zone) => BucketKind::TruncIn {
                    unit,
                    zone: zone.into(),
                },
                None => BucketKind::Trunc(unit),
            })
        } else if let Some(n) = b.get("epoch") {
            Some(BucketKind::Epoch(n.as_i64()?))
        } else if let Some(sb) = b.get("bin") {
            Some(BucketKind::Bin {
                stride: sb[0].as_u64()? as usize,
                origin: sb[1].as_u64()? as usize,
            })
        } else {
            Some(BucketKind::Date)
        };
        let measures = v["measures"]
            .as_array()?
            .iter()
            .map(|m| {
                Some(Measure {
                    agg: m["agg"].as_str()?.into(),
                    column: m["column"].as_str().map(Into::into),
                    q: m["q"].as_f64(),
                    filters: m["filters"]
                        .as_array()?
                        .iter()
                        .map(filter_from)
                        .collect::<Option<_>>()?,
                })
            })
            .collect::<Option<_>>()?;
        let outputs = v["outputs"]
            .as_array()?
            .iter()
            .map(|o| match o {
                Value::Null => Some(Output::Junk),
                Value::String(_) => Some(Output::Bucket),
                n => Some(Output::Column(n.as_u64()? as usize)),
            })
            .collect::<Option<_>>()?;
        Some(Recipe {
            source: v["source"].as_str()?.into(),
            time_column: v["time_column"].as_str()?.into(),
            lower: bounds_from(&v["lower"])?,
            upper: bounds_from(&v["upper"])?,
            bucket,
            dimensions: v["dimensions"]
                .as_array()?
                .iter()
                .map(|d| d.as_str().map(Into::into))
                .collect::<Option<_>>()?,
            measures,
            filters: v["filters"]
                .as_array()?
                .iter()
                .map(filter_from)
                .collect::<Option<_>>()?,
            order: v["order"]
                .as_array()?
                .iter()
                .map(|o| Some((o[0].as_str()?.to_string(), o[1].as_bool()?)))
                .collect::<Option<_>>()?,
            limit: v["limit"].as_u64().map(|l| l as usize),
            outputs,
            exact: v["exact"].as_bool()?,
        })
    }
}
