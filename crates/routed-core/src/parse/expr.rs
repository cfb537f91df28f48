//! Reading a computed measure's expression (`errors / runs`, `100 * share(runs, category)`)
//! into a tree; errors name the 1-based character position they are at.

use crate::query::expr::{BinOp, Expr};
use crate::query::MAX_IDENTIFIER_BYTES;

/// Longest expression text, in bytes.
pub const MAX_EXPR_BYTES: usize = 1000;
/// Deepest nesting of parentheses and unary minus (keeps recursion bounded).
const MAX_DEPTH: usize = 32;

/// Why an expression was refused, and the 1-based character position it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    pub position: usize,
    pub message: String,
}

pub fn parse_expr(text: &str) -> Result<Expr, ExprError> {
    if text.len() > MAX_EXPR_BYTES {
        return Err(ExprError {
            position: 1,
            message: format!(
                "is {} bytes; at most {MAX_EXPR_BYTES} are allowed",
                text.len()
            ),
        });
    }
    let mut p = Parser {
        chars: text.chars().collect(),
        at: 0,
        depth: 0,
    };
    let e = p.expr()?;
    p.space();
    if p.at < p.chars.len() {
        return Err(p.error(format!("unexpected {}", p.describe())));
    }
    Ok(e)
}

struct Parser {
    chars: Vec<char>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn error(&self, message: String) -> ExprError {
        ExprError {
            position: self.at + 1,
            message,
        }
    }

    fn describe(&self) -> String {
        match self.chars.get(self.at) {
            None => "end of expression".into(),
            Some(c) => format!("\"{c}\""),
        }
    }

    fn space(&mut self) {
        while self.chars.get(self.at).is_some_and(|c| c.is_whitespace()) {
            self.at += 1;
        }
    }

    fn peek(&mut self) -> Option<char> {
        self.space();
        self.chars.get(self.at).copied()
    }

    fn nest(&mut self) -> Result<(), ExprError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error(format!("nested more than {MAX_DEPTH} levels deep")));
        }
        Ok(())
    }

    fn expr(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.term()?;
        while let Some(c @ ('+' | '-')) = self.peek() {
            self.at += 1;
            let op = if c == '+' { BinOp::Add } else { BinOp::Sub };
            left = Expr::Bin(op, Box::new(left), Box::new(self.term()?));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Expr, ExprError> {
        let mut left = self.factor()?;
        while let Some(c @ ('*' | '/')) = self.peek() {
            self.at += 1;
            let op = if c == '*' { BinOp::Mul } else { BinOp::Div };
            left = Expr::Bin(op, Box::new(left), Box::new(self.factor()?));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Expr, ExprError> {
        match self.peek() {
            Some('-') => {
                self.at += 1;
                self.nest()?;
                let e = Expr::Neg(Box::new(self.factor()?));
                self.depth -= 1;
                Ok(e)
            }
            Some('(') => {
                self.at += 1;
                self.nest()?;
                let e = self.expr()?;
                self.expect(')')?;
                self.depth -= 1;
                Ok(e)
            }
            Some(c) if c.is_ascii_digit() || c == '.' => self.number(),
            Some(c) if c == '"' || is_name_start(c) => {
                let start = self.at;
                let name = self.name()?;
                if name == "share" && self.chars[start] != '"' && self.peek() == Some('(') {
                    self.share()
                } else {
                    Ok(Expr::Name(name))
                }
            }
            _ => Err(self.error(format!(
                "unexpected {}; expected a number, a measure name, share(…) or \"(\"",
                self.describe()
            ))),
        }
    }

    fn expect(&mut self, c: char) -> Result<(), ExprError> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.error(format!("expected \"{c}\", got {}", self.describe())))
        }
    }

    fn share(&mut self) -> Result<Expr, ExprError> {
        self.expect('(')?;
        let measure = self.argument("a measure name")?;
        let mut dims = Vec::new();
        while self.peek() == Some(',') {
            self.at += 1;
            dims.push(self.argument("a dimension name")?);
        }
        self.expect(')')?;
        Ok(Expr::Share(measure, dims))
    }

    fn argument(&mut self, what: &str) -> Result<String, ExprError> {
        match self.peek() {
            Some(c) if c == '"' || is_name_start(c) => self.name(),
            _ => Err(self.error(format!("expected {what}, got {}", self.describe()))),
        }
    }

    /// An unquoted name (letters, digits, `_`, `$`, `.`) or a double-quoted one (`""` is `"`).
    fn name(&mut self) -> Result<String, ExprError> {
        let start = self.at;
        let mut name = String::new();
        if self.chars[self.at] == '"' {
            self.at += 1;
            loop {
                match self.chars.get(self.at) {
                    None => {
                        self.at = start;
                        return Err(self.error("unterminated quoted name".into()));
                    }
                    Some('"') if self.chars.get(self.at + 1) == Some(&'"') => {
                        name.push('"');
                        self.at += 2;
                    }
                    Some('"') => {
                        self.at += 1;
                        break;
                    }
                    Some(c) => {
                        name.push(*c);
                        self.at += 1;
                    }
                }
            }
        } else {
            while let Some(&c) = self.chars.get(self.at) {
                if !(is_name_start(c) || c.is_ascii_digit() || c == '$' || c == '.') {
                    break;
                }
                name.push(c);
                self.at += 1;
            }
        }
        if name.is_empty() || name.len() > MAX_IDENTIFIER_BYTES || name.contains('\0') {
            self.at = start;
            return Err(self.error(format!(
                "invalid name; expected 1 to {MAX_IDENTIFIER_BYTES} bytes without NUL"
            )));
        }
        Ok(name)
    }

    /// Digits with an optional fraction and exponent: what PostgreSQL's numeric input reads.
    fn number(&mut self) -> Result<Expr, ExprError> {
        let start = self.at;
        let digits = |p: &mut Parser| {
            let from = p.at;
            while p.chars.get(p.at).is_some_and(|c| c.is_ascii_digit()) {
                p.at += 1;
            }
            p.at - from
        };
        let mut n = digits(self);
        if self.chars.get(self.at) == Some(&'.') {
            self.at += 1;
            n += digits(self);
        }
        if n == 0 {
            self.at = start;
            return Err(self.error("invalid number".into()));
        }
        if matches!(self.chars.get(self.at), Some('e' | 'E')) {
            self.at += 1;
            if matches!(self.chars.get(self.at), Some('+' | '-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return Err(self.error("invalid number: the exponent needs digits".into()));
            }
        }
        if self.chars.get(self.at).is_some_and(|c| is_name_start(*c)) {
            return Err(self.error(format!("unexpected {} after a number", self.describe())));
        }
        Ok(Expr::Number(self.chars[start..self.at].iter().collect()))
    }
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(s: &str) -> String {
        parse_expr(s).unwrap().canonical()
    }

    #[test]
    fn precedence_and_associativity() {
        assert_eq!(canon("a + b * c"), r#"("a"+("b"*"c"))"#);
        assert_eq!(canon("a - b - c"), r#"(("a"-"b")-"c")"#);
        assert_eq!(canon("a / b / 2"), r#"(("a"/"b")/2)"#);
        assert_eq!(canon("-(a + 1.5e2)"), r#"(-("a"+1.5e2))"#);
        assert_eq!(
            canon(" 100*share(n, rules.rule_category) "),
            r#"(100*share("n","rules.rule_category"))"#
        );
        assert_eq!(canon("share(n)"), r#"share("n")"#);
        // a quoted "share" is a measure's name, never the function
        assert_eq!(parse_expr(r#""share"(n)"#).unwrap_err().position, 8);
    }

    #[test]
    fn quoted_names_keep_their_text() {
        assert_eq!(canon(r#""p95 ms" / "a""b""#), r#"("p95 ms"/"a""b")"#);
        assert_eq!(canon("share / 2"), r#"("share"/2)"#);
    }

    #[test]
    fn errors_name_their_position() {
        let err = |s: &str| parse_expr(s).unwrap_err();
        assert_eq!(err("a +").position, 4);
        assert_eq!(err("a + * b").position, 5);
        assert_eq!(
            err("(a + b").message,
            "expected \")\", got end of expression"
        );
        assert_eq!(err("a b").position, 3);
        assert_eq!(err("1e").position, 3);
        assert_eq!(err("12abc").position, 3);
        assert_eq!(err("share(1)").position, 7);
        assert_eq!(err("\"abc").position, 1);
        assert!(err(&"(".repeat(40)).message.contains("nested"));
        assert!(err(&"a+".repeat(600)).message.contains("bytes"));
        assert!(err("a % b").message.contains("unexpected \"%\""));
    }
}
