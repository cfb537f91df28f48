//! Computed measures' expressions as a tree: `+ - * /`, numeric literals, names of the
//! document's measures and `share(m, dim, …)`. `parse::expr` reads them.

#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A numeric literal as written (`100`, `0.5`, `1e3`).
    Number(String),
    /// A measure of the document.
    Name(String),
    Neg(Box<Expr>),
    Bin(BinOp, Box<Expr>, Box<Expr>),
    /// `share(measure, dims…)`: the measure over its sum among rows with the same dims.
    Share(String, Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
}

impl BinOp {
    pub fn symbol(self) -> char {
        match self {
            BinOp::Add => '+',
            BinOp::Sub => '-',
            BinOp::Mul => '*',
            BinOp::Div => '/',
        }
    }
}

impl Expr {
    /// Fully parenthesized text: one spelling per meaning, for the document's fingerprint.
    pub fn canonical(&self) -> String {
        match self {
            Expr::Number(n) => n.clone(),
            Expr::Name(n) => quoted(n),
            Expr::Neg(e) => format!("(-{})", e.canonical()),
            Expr::Bin(op, a, b) => format!("({}{}{})", a.canonical(), op.symbol(), b.canonical()),
            Expr::Share(m, dims) => {
                let mut s = format!("share({}", quoted(m));
                for d in dims {
                    s.push(',');
                    s.push_str(&quoted(d));
                }
                s.push(')');
                s
            }
        }
    }

    /// Every measure name the expression reads (share's measure included), in order.
    pub fn names(&self, out: &mut Vec<String>) {
        match self {
            Expr::Number(_) => {}
            Expr::Name(n) | Expr::Share(n, _) => out.push(n.clone()),
            Expr::Neg(e) => e.names(out),
            Expr::Bin(_, a, b) => {
                a.names(out);
                b.names(out);
            }
        }
    }
}

fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}
