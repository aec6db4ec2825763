//! `PBX365_…` environment overrides, applied to the parsed TOML tree before it is typed.

use crate::error::ConfigError;
use toml::{Table, Value};

/// Prefix of every configuration variable.
pub const ENV_PREFIX: &str = "PBX365_";

/// Keys whose environment value is always taken verbatim as a string (a secret may look like a
/// number or an array, and must never be reinterpreted).
const VERBATIM_KEYS: &[&str] = &["client_secret", "password"];

/// One override: the variable, its key path segments (lower-cased) and the raw value.
struct Override {
    var: String,
    segments: Vec<String>,
    raw: String,
}

/// Applies every `PBX365_A__B__C=value` variable to `root`. Variables without `__` after the
/// prefix (`PBX365_LOG`, `PBX365_CONFIG`) are not configuration keys and are ignored.
pub(crate) fn apply<I, K, V>(root: &mut Table, env: I) -> Result<(), ConfigError>
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let mut overrides: Vec<Override> = env
        .into_iter()
        .filter_map(|(k, v)| {
            let rest = k.as_ref().strip_prefix(ENV_PREFIX)?;
            if !rest.contains("__") {
                return None;
            }
            Some(Override {
                var: k.as_ref().to_owned(),
                segments: rest.split("__").map(str::to_ascii_lowercase).collect(),
                raw: v.as_ref().to_owned(),
            })
        })
        .collect();
    // Deterministic whatever order the process environment has.
    overrides.sort_by(|a, b| a.var.cmp(&b.var));
    for o in overrides {
        apply_one(root, &o)?;
    }
    Ok(())
}

/// Renders segments as a key path: `site[0].tenant.client_id`.
fn key_path(segments: &[String]) -> String {
    let mut out = String::new();
    for s in segments {
        if s.parse::<usize>().is_ok() {
            out.push('[');
            out.push_str(s);
            out.push(']');
        } else {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(s);
        }
    }
    out
}

fn apply_one(root: &mut Table, o: &Override) -> Result<(), ConfigError> {
    let err = |message: String| ConfigError::Env {
        var: o.var.clone(),
        key: key_path(&o.segments),
        message,
    };
    if o.segments.iter().any(String::is_empty) {
        return Err(err(
            "empty key segment; separate levels with exactly two underscores".into(),
        ));
    }
    let last = &o.segments[o.segments.len() - 1];
    let value = parse_value(last, &o.raw);
    set_in_table(root, &o.segments, 0, value).map_err(err)
}

/// Sets `segments[depth..]` below table `t`, creating missing tables (and empty lists where the
/// next segment is an index, which then reports "out of range").
fn set_in_table(
    t: &mut Table,
    segments: &[String],
    depth: usize,
    value: Value,
) -> Result<(), String> {
    let seg = &segments[depth];
    if depth + 1 == segments.len() {
        t.insert(seg.clone(), value);
        return Ok(());
    }
    let next_is_index = segments[depth + 1].parse::<usize>().is_ok();
    let child = t.entry(seg.clone()).or_insert_with(|| {
        if next_is_index {
            Value::Array(Vec::new())
        } else {
            Value::Table(Table::new())
        }
    });
    set_in_value(child, segments, depth + 1, value)
}

/// Sets `segments[depth..]` below `node`, which `segments[..depth]` addresses.
fn set_in_value(
    node: &mut Value,
    segments: &[String],
    depth: usize,
    value: Value,
) -> Result<(), String> {
    let here = key_path(&segments[..depth]);
    let seg = &segments[depth];
    match node {
        Value::Table(t) => set_in_table(t, segments, depth, value),
        Value::Array(items) => {
            let Ok(index) = seg.parse::<usize>() else {
                return Err(format!(
                    "{here} is a list; address its entries by index, e.g. {}__0__{}",
                    segments[..depth].join("__").to_ascii_uppercase(),
                    seg.to_ascii_uppercase()
                ));
            };
            let len = items.len();
            let Some(item) = items.get_mut(index) else {
                return Err(format!(
                    "index {index} is out of range: {here} has {len} entr{} in the file",
                    if len == 1 { "y" } else { "ies" }
                ));
            };
            if depth + 1 == segments.len() {
                *item = value;
                Ok(())
            } else {
                set_in_value(item, segments, depth + 1, value)
            }
        }
        _ => Err(format!(
            "{here} is a single value, not a table, so it has no key {seg}"
        )),
    }
}

/// Reads an environment value with the TOML value grammar (numbers, booleans, arrays, inline
/// tables, quoted strings); anything else is taken as a plain string.
fn parse_value(key: &str, raw: &str) -> Value {
    // `+4930…` is a TOML integer, but on a command line it is a phone number.
    if VERBATIM_KEYS.contains(&key) || raw.starts_with('+') {
        return Value::String(raw.to_owned());
    }
    if let Ok(mut t) = format!("v = {raw}").parse::<Table>() {
        if t.len() == 1 {
            if let Some(v) = t.remove("v") {
                return v;
            }
        }
    }
    Value::String(raw.to_owned())
}
