//! `$filter` for directory collections: a tokenizer, a recursive-descent parser into an
//! expression tree, Entra's rules on which properties and operators may be used (and which need
//! an advanced query), and an evaluator over an entity's JSON form.
//!
//! Supported: `eq ne gt ge lt le`, `in (…)`, `not`, `and`, `or`, parentheses, `startsWith`,
//! `endsWith`, `null`, booleans, numbers, GUIDs and date-times as bare literals, property paths
//! (`onPremisesExtensionAttributes/extensionAttribute1`) and `any` lambdas on collections
//! (`proxyAddresses/any(p:startsWith(p,'smtp:'))`, `assignedLicenses/any(x:x/skuId eq GUID)`).
//! String comparison ignores case, as Entra does.

use crate::error::GraphError;
use serde_json::{Map, Value};
use std::cmp::Ordering;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

impl CmpOp {
    /// The operator's kind as OData names it in errors.
    pub fn kind(self) -> &'static str {
        match self {
            CmpOp::Eq => "Equal",
            CmpOp::Ne => "NotEqual",
            CmpOp::Gt => "GreaterThan",
            CmpOp::Ge => "GreaterThanOrEqual",
            CmpOp::Lt => "LessThan",
            CmpOp::Le => "LessThanOrEqual",
        }
    }
}

/// A literal value in a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    /// `'text'`, a GUID or a date-time.
    Str(String),
    /// A number.
    Num(f64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// A parsed filter expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// `a and b`
    And(Box<Expr>, Box<Expr>),
    /// `a or b`
    Or(Box<Expr>, Box<Expr>),
    /// `not a`
    Not(Box<Expr>),
    /// `path op literal`
    Cmp(Vec<String>, CmpOp, Lit),
    /// `path in (literal, …)`
    In(Vec<String>, Vec<Lit>),
    /// `startsWith(path, 'x')` (`ends` = `endsWith`)
    Starts {
        /// Property path.
        path: Vec<String>,
        /// Prefix or suffix.
        text: String,
        /// `endsWith` instead of `startsWith`.
        ends: bool,
    },
    /// `path/any(var: body)`
    Any {
        /// The collection's path.
        path: Vec<String>,
        /// Lambda variable.
        var: String,
        /// Condition on each element.
        body: Box<Expr>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Lit(Lit),
    LParen,
    RParen,
    Comma,
    Slash,
    Colon,
}

/// Why a filter was refused (turned into Graph's error by [`FilterError::into_graph`]).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FilterError {
    /// Not well-formed.
    #[error("Syntax error at position {0} in '{1}'.")]
    Syntax(usize, String),
    /// A property the type does not have.
    #[error("Could not find a property named '{0}' on type '{1}'.")]
    UnknownProperty(String, String),
    /// A literal of the wrong type for the property.
    #[error("A binary operator with incompatible types was detected. Found operand types '{0}' and '{1}' for operator kind '{2}'.")]
    Incompatible(String, String, String),
    /// A property or operator the directory does not filter on.
    #[error("Unsupported or invalid query filter clause specified for property '{0}' of resource '{1}'.")]
    Unsupported(String, String),
}

impl FilterError {
    /// Graph's answer: syntax and name errors are 400 `BadRequest` "Invalid filter clause: …",
    /// unsupported properties 400 `Request_UnsupportedQuery`.
    pub fn into_graph(self) -> GraphError {
        match self {
            FilterError::Unsupported(..) => GraphError::unsupported_query(self.to_string()),
            other => GraphError::bad_request(format!("Invalid filter clause: {other}")),
        }
    }
}

fn is_guid_at(chars: &[char], i: usize) -> bool {
    const GROUPS: [usize; 5] = [8, 4, 4, 4, 12];
    let mut p = i;
    for (n, g) in GROUPS.iter().enumerate() {
        for _ in 0..*g {
            match chars.get(p) {
                Some(c) if c.is_ascii_hexdigit() => p += 1,
                _ => return false,
            }
        }
        if n < 4 {
            if chars.get(p) != Some(&'-') {
                return false;
            }
            p += 1;
        }
    }
    !chars
        .get(p)
        .is_some_and(|c| c.is_ascii_alphanumeric() || *c == '_')
}

fn tokenize(src: &str) -> Result<Vec<(usize, Tok)>, FilterError> {
    let chars: Vec<char> = src.chars().collect();
    let syntax = |i: usize| FilterError::Syntax(i, src.to_string());
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                i += 1;
                continue;
            }
            '(' => out.push((start, Tok::LParen)),
            ')' => out.push((start, Tok::RParen)),
            ',' => out.push((start, Tok::Comma)),
            '/' => out.push((start, Tok::Slash)),
            ':' => out.push((start, Tok::Colon)),
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(syntax(start)),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            s.push('\'');
                            i += 2;
                        }
                        Some('\'') => break,
                        Some(ch) => {
                            s.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push((start, Tok::Lit(Lit::Str(s))));
            }
            _ if is_guid_at(&chars, i) => {
                let s: String = chars[i..i + 36].iter().collect();
                out.push((start, Tok::Lit(Lit::Str(s.to_ascii_lowercase()))));
                i += 36;
                continue;
            }
            _ if c.is_ascii_digit() || c == '-' => {
                let mut s = String::new();
                s.push(c);
                i += 1;
                while let Some(ch) = chars.get(i) {
                    if ch.is_ascii_alphanumeric() || matches!(ch, '-' | ':' | '.' | '+') {
                        s.push(*ch);
                        i += 1;
                    } else {
                        break;
                    }
                }
                let lit = match s.parse::<f64>() {
                    Ok(n) => Lit::Num(n),
                    Err(_) if s.len() >= 10 && s[..1].chars().all(|c| c.is_ascii_digit()) => {
                        Lit::Str(s)
                    }
                    Err(_) => return Err(syntax(start)),
                };
                out.push((start, Tok::Lit(lit)));
                continue;
            }
            _ if c.is_alphabetic() || c == '_' || c == '@' || c == '$' => {
                let mut s = String::new();
                while let Some(ch) = chars.get(i) {
                    if ch.is_alphanumeric() || matches!(ch, '_' | '.' | '@' | '$') {
                        s.push(*ch);
                        i += 1;
                    } else {
                        break;
                    }
                }
                let tok = match s.as_str() {
                    "true" => Tok::Lit(Lit::Bool(true)),
                    "false" => Tok::Lit(Lit::Bool(false)),
                    "null" => Tok::Lit(Lit::Null),
                    _ => Tok::Ident(s),
                };
                out.push((start, tok));
                continue;
            }
            _ => return Err(syntax(start)),
        }
        i += 1;
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<(usize, Tok)>,
    pos: usize,
    src: &'a str,
    vars: Vec<String>,
}

impl Parser<'_> {
    fn err(&self) -> FilterError {
        let at = self
            .toks
            .get(self.pos)
            .map(|(p, _)| *p)
            .unwrap_or(self.src.chars().count());
        FilterError::Syntax(at, self.src.to_string())
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|(_, t)| t)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).map(|(_, t)| t.clone());
        self.pos += 1;
        t
    }

    fn expect(&mut self, t: Tok) -> Result<(), FilterError> {
        if self.peek() == Some(&t) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err())
        }
    }

    fn keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s == kw)
    }

    fn or(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        if self.keyword("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn path(&mut self) -> Result<Vec<String>, FilterError> {
        let mut segs = Vec::new();
        match self.next() {
            Some(Tok::Ident(s)) => segs.push(s),
            _ => {
                self.pos -= 1;
                return Err(self.err());
            }
        }
        while self.peek() == Some(&Tok::Slash) {
            // `/any(` ends the path.
            if matches!(self.toks.get(self.pos + 1), Some((_, Tok::Ident(s))) if s == "any")
                && matches!(self.toks.get(self.pos + 2), Some((_, Tok::LParen)))
            {
                break;
            }
            self.pos += 1;
            match self.next() {
                Some(Tok::Ident(s)) => segs.push(s),
                _ => {
                    self.pos -= 1;
                    return Err(self.err());
                }
            }
        }
        Ok(segs)
    }

    fn literal(&mut self) -> Result<Lit, FilterError> {
        match self.next() {
            Some(Tok::Lit(l)) => Ok(l),
            _ => {
                self.pos -= 1;
                Err(self.err())
            }
        }
    }

    fn string(&mut self) -> Result<String, FilterError> {
        match self.literal()? {
            Lit::Str(s) => Ok(s),
            _ => {
                self.pos -= 1;
                Err(self.err())
            }
        }
    }

    fn primary(&mut self) -> Result<Expr, FilterError> {
        if self.peek() == Some(&Tok::LParen) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(Tok::RParen)?;
            return Ok(e);
        }
        let is_func = matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case("startswith") || s.eq_ignore_ascii_case("endswith"))
            && matches!(self.toks.get(self.pos + 1), Some((_, Tok::LParen)));
        if is_func {
            let Some(Tok::Ident(name)) = self.next() else {
                return Err(self.err());
            };
            self.expect(Tok::LParen)?;
            let path = self.path()?;
            self.expect(Tok::Comma)?;
            let text = self.string()?;
            self.expect(Tok::RParen)?;
            return Ok(Expr::Starts {
                path,
                text,
                ends: name.eq_ignore_ascii_case("endswith"),
            });
        }
        let path = self.path()?;
        if self.peek() == Some(&Tok::Slash) {
            // `/any(var: body)`
            self.pos += 2;
            self.expect(Tok::LParen)?;
            let var = match self.next() {
                Some(Tok::Ident(v)) => v,
                _ => {
                    self.pos -= 1;
                    return Err(self.err());
                }
            };
            self.expect(Tok::Colon)?;
            self.vars.push(var.clone());
            let body = self.or()?;
            self.vars.pop();
            self.expect(Tok::RParen)?;
            return Ok(Expr::Any {
                path,
                var,
                body: Box::new(body),
            });
        }
        let op = match self.next() {
            Some(Tok::Ident(op)) => op,
            _ => {
                self.pos = self.pos.saturating_sub(1);
                return Err(self.err());
            }
        };
        let cmp = match op.as_str() {
            "eq" => CmpOp::Eq,
            "ne" => CmpOp::Ne,
            "gt" => CmpOp::Gt,
            "ge" => CmpOp::Ge,
            "lt" => CmpOp::Lt,
            "le" => CmpOp::Le,
            "in" => {
                self.expect(Tok::LParen)?;
                let mut vals = vec![self.literal()?];
                while self.peek() == Some(&Tok::Comma) {
                    self.pos += 1;
                    vals.push(self.literal()?);
                }
                self.expect(Tok::RParen)?;
                return Ok(Expr::In(path, vals));
            }
            _ => {
                self.pos -= 1;
                return Err(self.err());
            }
        };
        let lit = self.literal()?;
        Ok(Expr::Cmp(path, cmp, lit))
    }
}

/// Parses a `$filter` value.
pub fn parse(src: &str) -> Result<Expr, FilterError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        pos: 0,
        src,
        vars: Vec::new(),
    };
    if p.toks.is_empty() {
        return Err(FilterError::Syntax(0, src.to_string()));
    }
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err(p.err());
    }
    Ok(e)
}

/// What a type allows to be filtered on.
#[derive(Debug, Clone, Copy)]
pub struct FilterRules {
    /// `microsoft.graph.user` etc. (for messages).
    pub type_name: &'static str,
    /// `User` etc. (for "of resource" messages).
    pub resource: &'static str,
    /// Properties (top-level; `a/b` for nested) that may be filtered on.
    pub filterable: &'static [&'static str],
    /// Properties of type `Edm.Boolean` (compared only with `true`/`false`/`null`).
    pub booleans: &'static [&'static str],
}

impl Expr {
    /// Checks properties against the type: unknown properties are refused, and so are
    /// properties outside the default filterable set unless the query is an advanced one
    /// (Entra's advanced index filters on more properties). `declared` says whether a
    /// top-level name exists on the type.
    pub fn validate(
        &self,
        rules: &FilterRules,
        declared: &dyn Fn(&str) -> bool,
        advanced: bool,
    ) -> Result<(), FilterError> {
        self.validate_in(rules, declared, None, advanced)
    }

    fn validate_in(
        &self,
        rules: &FilterRules,
        declared: &dyn Fn(&str) -> bool,
        lambda: Option<(&str, &str)>,
        advanced: bool,
    ) -> Result<(), FilterError> {
        let check = |path: &[String]| -> Result<(), FilterError> {
            let (full, first) = match lambda {
                Some((var, coll)) if path.first().is_some_and(|p| p == var) => {
                    let mut s = coll.to_string();
                    for p in &path[1..] {
                        s.push('/');
                        s.push_str(p);
                    }
                    (s, coll.to_string())
                }
                _ => (path.join("/"), path.first().cloned().unwrap_or_default()),
            };
            if !declared(&first) {
                return Err(FilterError::UnknownProperty(
                    first,
                    rules.type_name.to_string(),
                ));
            }
            if !advanced
                && !rules
                    .filterable
                    .iter()
                    .any(|f| f.eq_ignore_ascii_case(&full))
            {
                return Err(FilterError::Unsupported(full, rules.resource.to_string()));
            }
            Ok(())
        };
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.validate_in(rules, declared, lambda, advanced)?;
                b.validate_in(rules, declared, lambda, advanced)
            }
            Expr::Not(a) => a.validate_in(rules, declared, lambda, advanced),
            Expr::Cmp(p, op, lit) => {
                check(p)?;
                let boolean =
                    p.len() == 1 && rules.booleans.iter().any(|b| b.eq_ignore_ascii_case(&p[0]));
                let found = match lit {
                    Lit::Str(_) => Some("Edm.String"),
                    Lit::Num(_) => Some("Edm.Int32"),
                    Lit::Bool(_) | Lit::Null => None,
                };
                match (boolean, found) {
                    (true, Some(t)) => Err(FilterError::Incompatible(
                        "Edm.Boolean".into(),
                        t.into(),
                        op.kind().into(),
                    )),
                    (false, None) if matches!(lit, Lit::Bool(_)) && lambda.is_none() => {
                        Err(FilterError::Incompatible(
                            "Edm.String".into(),
                            "Edm.Boolean".into(),
                            op.kind().into(),
                        ))
                    }
                    _ => Ok(()),
                }
            }
            Expr::In(p, _) | Expr::Starts { path: p, .. } => check(p),
            Expr::Any { path, var, body } => {
                let coll = path.join("/");
                if lambda.is_some() {
                    return Err(FilterError::Unsupported(coll, rules.resource.to_string()));
                }
                if !declared(&path[0]) {
                    return Err(FilterError::UnknownProperty(
                        path[0].clone(),
                        rules.type_name.to_string(),
                    ));
                }
                body.validate_in(rules, declared, Some((var, &coll)), advanced)
            }
        }
    }

    /// The first operator that Entra only runs as an advanced query (`ne`, `not`, `endsWith`).
    pub fn advanced_operator(&self) -> Option<&'static str> {
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => a.advanced_operator().or(b.advanced_operator()),
            Expr::Not(_) => Some("not"),
            Expr::Cmp(_, CmpOp::Ne, _) => Some("ne"),
            Expr::Cmp(..) | Expr::In(..) => None,
            Expr::Starts { ends: true, .. } => Some("endsWith"),
            Expr::Starts { .. } => None,
            Expr::Any { body, .. } => body.advanced_operator(),
        }
    }

    /// Evaluates the filter on an entity's JSON form.
    pub fn matches(&self, obj: &Map<String, Value>) -> bool {
        self.eval(obj, None)
    }

    fn eval(&self, obj: &Map<String, Value>, env: Option<(&str, &Value)>) -> bool {
        match self {
            Expr::And(a, b) => a.eval(obj, env) && b.eval(obj, env),
            Expr::Or(a, b) => a.eval(obj, env) || b.eval(obj, env),
            Expr::Not(a) => !a.eval(obj, env),
            Expr::Cmp(p, op, lit) => {
                let v = resolve(obj, env, p);
                compare(&v, *op, lit)
            }
            Expr::In(p, lits) => {
                let v = resolve(obj, env, p);
                lits.iter().any(|l| compare(&v, CmpOp::Eq, l))
            }
            Expr::Starts { path, text, ends } => match resolve(obj, env, path) {
                Value::String(s) => {
                    let (s, t) = (s.to_lowercase(), text.to_lowercase());
                    if *ends {
                        s.ends_with(&t)
                    } else {
                        s.starts_with(&t)
                    }
                }
                _ => false,
            },
            Expr::Any { path, var, body } => match resolve(obj, env, path) {
                Value::Array(items) => items.iter().any(|it| body.eval(obj, Some((var, it)))),
                _ => false,
            },
        }
    }
}

fn resolve(obj: &Map<String, Value>, env: Option<(&str, &Value)>, path: &[String]) -> Value {
    let (mut cur, rest) = match env {
        Some((var, v)) if path.first().is_some_and(|p| p == var) => (v.clone(), &path[1..]),
        _ => {
            let first = path.first().map(String::as_str).unwrap_or("");
            let v = obj
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(first))
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null);
            (v, path.get(1..).unwrap_or(&[]))
        }
    };
    for seg in rest {
        cur = match cur {
            Value::Object(m) => m
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(seg))
                .map(|(_, v)| v.clone())
                .unwrap_or(Value::Null),
            _ => Value::Null,
        };
    }
    cur
}

fn compare(v: &Value, op: CmpOp, lit: &Lit) -> bool {
    let ord: Option<Ordering> = match (v, lit) {
        (Value::Null, Lit::Null) => Some(Ordering::Equal),
        (_, Lit::Null) | (Value::Null, _) => None,
        (Value::String(s), Lit::Str(l)) => Some(s.to_lowercase().cmp(&l.to_lowercase())),
        (Value::Bool(b), Lit::Bool(l)) => Some(b.cmp(l)),
        (Value::Number(n), Lit::Num(l)) => n.as_f64().and_then(|n| n.partial_cmp(l)),
        _ => None,
    };
    match (op, ord) {
        (CmpOp::Eq, o) => o == Some(Ordering::Equal),
        (CmpOp::Ne, o) => o != Some(Ordering::Equal),
        (_, None) => false,
        (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
        (CmpOp::Ge, Some(o)) => o != Ordering::Less,
        (CmpOp::Lt, Some(o)) => o == Ordering::Less,
        (CmpOp::Le, Some(o)) => o != Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => Map::new(),
        }
    }

    #[test]
    fn parses_and_evaluates() {
        let u = obj(json!({
            "displayName": "Ann Lee", "accountEnabled": true, "mail": null,
            "proxyAddresses": ["SMTP:ann@contoso.com", "smtp:a@x.com"],
            "assignedLicenses": [{"skuId": "fd249f8f-dd6a-48bd-981b-b2478377c7e3", "disabledPlans": []}],
            "onPremisesExtensionAttributes": {"extensionAttribute1": "X1"}
        }));
        let t = |f: &str| parse(f).unwrap().matches(&u);
        assert!(t("displayName eq 'ann lee'"));
        assert!(t("startsWith(displayName,'AN') and accountEnabled eq true"));
        assert!(t("mail eq null"));
        assert!(t("not (mail ne null)"));
        assert!(t("displayName in ('Bob', 'Ann Lee')"));
        assert!(t("proxyAddresses/any(p:startsWith(p,'smtp:a@'))"));
        assert!(t(
            "assignedLicenses/any(x:x/skuId eq FD249F8F-DD6A-48BD-981B-B2478377C7E3)"
        ));
        assert!(t(
            "onPremisesExtensionAttributes/extensionAttribute1 eq 'x1'"
        ));
        assert!(t("endsWith(displayName,'LEE') or displayName eq 'z'"));
        assert!(!t("displayName eq 'it''s'"));
        assert!(matches!(
            parse("displayName eq"),
            Err(FilterError::Syntax(..))
        ));
        assert!(matches!(parse("(a eq 'b'"), Err(FilterError::Syntax(..))));
        assert!(matches!(
            parse("a eq 'b"),
            Err(FilterError::Syntax(0 | 5, _))
        ));
    }

    #[test]
    fn advanced_operators_are_found() {
        assert_eq!(parse("a ne 'x'").unwrap().advanced_operator(), Some("ne"));
        assert_eq!(
            parse("a eq 'x' and endsWith(b,'y')")
                .unwrap()
                .advanced_operator(),
            Some("endsWith")
        );
        assert_eq!(parse("a eq 'x'").unwrap().advanced_operator(), None);
    }
}
