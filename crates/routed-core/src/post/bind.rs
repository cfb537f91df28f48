//! Binds computed measures, shares and `having` to the aggregated columns: names resolved,
//! cycles refused, every operand numeric, every expression typed (numeric unless an operand is
//! float4 or float8, then float8).

use super::{Computed, Condition, Post, Share, Term, Value};
use crate::error::{show, Error, ErrorKind, Result};
use crate::model::OutputColumn;
use crate::model::{oid, SqlType};
use crate::query::expr::Expr;
use crate::query::{Op, Query};

/// The types a condition's operand is read as, for one aggregate measure.
#[derive(Debug, Clone)]
pub struct MeasureType {
    pub scalar: SqlType,
    pub array: Option<SqlType>,
    /// The base type (the type itself unless it is a domain).
    pub base_oid: u32,
}

const NUMERIC_ARRAY: u32 = 1231;
const FLOAT8_ARRAY: u32 = 1022;

/// None when the document has neither computed measures nor `having`. `aggregated`: the
/// columns the aggregation yields (its first `keys` are bucket and dimensions); `types`: per
/// aggregate measure.
pub fn bind_post(
    q: &Query,
    aggregated: &[OutputColumn],
    keys: usize,
    types: &[MeasureType],
) -> Result<Option<Post>> {
    if q.computed.is_empty() && q.having.is_empty() {
        return Ok(None);
    }
    let mut b = Binder {
        q,
        aggregated,
        keys,
        types,
        done: vec![None; q.computed.len()],
        shares: Vec::new(),
    };
    for j in 0..q.computed.len() {
        b.computed(j, &mut Vec::new())?;
    }
    let mut outputs: Vec<OutputColumn> = aggregated[..keys].to_vec();
    let mut columns: Vec<Value> = (0..keys).map(Value::Aggregated).collect();
    for name in q.measure_names() {
        let value = b.value(name);
        outputs.push(match &value {
            Value::Aggregated(k) => aggregated[*k].clone(),
            Value::Computed(c) => computed_column(name, c.float),
        });
        columns.push(value);
    }
    let (mut early, mut late) = (Vec::new(), Vec::new());
    for (i, h) in q.having.iter().enumerate() {
        let value = b.value(&h.column);
        let (scalar, array) = match &value {
            Value::Aggregated(k) => {
                let t = &types[*k - keys];
                (t.scalar.clone(), t.array.clone())
            }
            Value::Computed(c) if c.float => (
                SqlType::builtin(oid::FLOAT8, "float8"),
                Some(SqlType::builtin(FLOAT8_ARRAY, "_float8")),
            ),
            Value::Computed(_) => (
                SqlType::builtin(oid::NUMERIC, "numeric"),
                Some(SqlType::builtin(NUMERIC_ARRAY, "_numeric")),
            ),
        };
        let cast = match h.op {
            Op::IsNull | Op::IsNotNull => None,
            Op::In | Op::NotIn => Some(array.ok_or_else(|| {
                Error::new(
                    ErrorKind::DatatypeMismatch,
                    format!("having[{i}].op"),
                    format!(
                        "measure {} of type {} has no array type for \"{}\"",
                        show(&h.column),
                        scalar.name,
                        h.op.name()
                    ),
                )
            })?),
            _ => Some(scalar),
        };
        let late_one = matches!(&value, Value::Computed(c) if c.expr.has_share());
        let condition = Condition {
            value,
            op: h.op,
            operand: h.value.clone(),
            cast,
            path: h.path.clone(),
        };
        if late_one {
            late.push(condition);
        } else {
            early.push(condition);
        }
    }
    Ok(Some(Post {
        outputs,
        columns,
        shares: b.shares,
        early,
        late,
    }))
}

fn computed_column(name: &str, float: bool) -> OutputColumn {
    let (type_oid, type_name) = if float {
        (oid::FLOAT8, "float8")
    } else {
        (oid::NUMERIC, "numeric")
    };
    OutputColumn {
        name: name.into(),
        type_name: type_name.into(),
        type_oid,
    }
}

struct Binder<'a> {
    q: &'a Query,
    aggregated: &'a [OutputColumn],
    keys: usize,
    types: &'a [MeasureType],
    done: Vec<Option<Computed>>,
    shares: Vec<Share>,
}

enum Ref {
    Aggregate(usize),
    Computed(usize),
}

impl Binder<'_> {
    fn find(&self, name: &str) -> Option<Ref> {
        if let Some(i) = self.q.measures.iter().position(|m| m.name == name) {
            return Some(Ref::Aggregate(i));
        }
        self.q
            .computed
            .iter()
            .position(|c| c.name == name)
            .map(Ref::Computed)
    }

    /// A measure's value, after every computed measure is bound.
    fn value(&self, name: &str) -> Value {
        match self.find(name).expect("parse checked measure names") {
            Ref::Aggregate(i) => Value::Aggregated(self.keys + i),
            Ref::Computed(j) => Value::Computed(self.done[j].clone().expect("bound above")),
        }
    }

    fn computed(&mut self, j: usize, stack: &mut Vec<usize>) -> Result<Computed> {
        if let Some(c) = &self.done[j] {
            return Ok(c.clone());
        }
        let path = format!("measures[{}].expr", self.q.computed[j].at);
        if let Some(first) = stack.iter().position(|&s| s == j) {
            let names: Vec<&str> = stack[first..]
                .iter()
                .chain(std::iter::once(&j))
                .map(|&s| self.q.computed[s].name.as_str())
                .collect();
            return Err(Error::invalid(
                path,
                format!(
                    "measures refer to each other in a cycle: {}",
                    names.join(" -> ")
                ),
            ));
        }
        stack.push(j);
        let expr = self.q.computed[j].expr.clone();
        let float = self.is_float(&expr, &path, stack)?;
        let term = self.term(&expr, float, &path, stack)?;
        stack.pop();
        let c = Computed { expr: term, float };
        self.done[j] = Some(c.clone());
        Ok(c)
    }

    /// Whether an operand is float4 or float8 (so the expression is float8); every operand
    /// must be a number.
    fn is_float(&mut self, e: &Expr, path: &str, stack: &mut Vec<usize>) -> Result<bool> {
        Ok(match e {
            Expr::Number(_) => false,
            Expr::Name(n) | Expr::Share(n, _) => match self.resolve(n, path)? {
                Ref::Aggregate(i) => self.numeric_measure(i, path)?,
                Ref::Computed(j) => self.computed(j, stack)?.float,
            },
            Expr::Neg(a) => self.is_float(a, path, stack)?,
            Expr::Bin(_, a, b) => {
                let fa = self.is_float(a, path, stack)?;
                self.is_float(b, path, stack)? || fa
            }
        })
    }

    fn resolve(&self, name: &str, path: &str) -> Result<Ref> {
        self.find(name).ok_or_else(|| {
            let names = self.q.measure_names();
            Error::invalid(
                path,
                format!(
                    "{} is not a measure of this document; expected one of {}",
                    show(name),
                    names.join(", ")
                ),
            )
        })
    }

    /// Aggregate measure `i` as an operand: true when it is a float.
    fn numeric_measure(&self, i: usize, path: &str) -> Result<bool> {
        match self.types[i].base_oid {
            oid::FLOAT4 | oid::FLOAT8 => Ok(true),
            oid::INT2 | oid::INT4 | oid::INT8 | oid::NUMERIC => Ok(false),
            _ => Err(Error::new(
                ErrorKind::DatatypeMismatch,
                path,
                format!(
                    "measure {} has type {}; expressions take numeric measures",
                    show(&self.q.measures[i].name),
                    self.aggregated[self.keys + i].type_name
                ),
            )),
        }
    }

    fn term(&mut self, e: &Expr, float: bool, path: &str, stack: &mut Vec<usize>) -> Result<Term> {
        Ok(match e {
            Expr::Number(n) => Term::Number {
                text: n.clone(),
                path: path.to_string(),
            },
            Expr::Name(n) => match self.resolve(n, path)? {
                Ref::Aggregate(i) => Term::Aggregated(self.keys + i),
                Ref::Computed(j) => Term::Measure(Box::new(self.computed(j, stack)?)),
            },
            Expr::Share(n, dims) => {
                let Ref::Aggregate(i) = self.resolve(n, path)? else {
                    return Err(Error::invalid(
                        path,
                        format!("share takes an aggregate measure; {} is computed", show(n)),
                    ));
                };
                let partition = dims
                    .iter()
                    .map(|d| self.key(d, path))
                    .collect::<Result<Vec<_>>>()?;
                let measure = self.keys + i;
                let share = Share {
                    measure,
                    partition,
                    float,
                };
                let slot = match self.shares.iter().position(|s| *s == share) {
                    Some(k) => k,
                    None => {
                        self.shares.push(share);
                        self.shares.len() - 1
                    }
                };
                Term::Share { slot, measure }
            }
            Expr::Neg(a) => Term::Neg(Box::new(self.term(a, float, path, stack)?)),
            Expr::Bin(op, a, b) => Term::Bin(
                *op,
                Box::new(self.term(a, float, path, stack)?),
                Box::new(self.term(b, float, path, stack)?),
            ),
        })
    }

    /// A share's partition: one of the answer's group keys (bucket or a dimension).
    fn key(&self, name: &str, path: &str) -> Result<usize> {
        self.aggregated[..self.keys]
            .iter()
            .position(|c| c.name == name)
            .ok_or_else(|| {
                let keys: Vec<&str> = self.aggregated[..self.keys]
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect();
                Error::invalid(
                    path,
                    format!(
                        "share: {} is not a dimension of the answer; expected {}",
                        show(name),
                        if keys.is_empty() {
                            "none (the answer has no dimensions)".to_string()
                        } else {
                            format!("one of {}", keys.join(", "))
                        }
                    ),
                )
            })
    }
}
