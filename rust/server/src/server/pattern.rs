//! Route patterns: which entry of a route table serves a request path.
//!
//! The syntax and matching rules are Starlette's, so a route table written
//! for Starlette routes the same requests here: `{name}` matches one path
//! segment, `{name:conv}` uses a convertor (`str`, `path`, `int`, `float`,
//! `uuid`), the whole path must match, and the first matching entry in table
//! order wins. Matching runs in the engine before the upgrade, so a path no
//! entry matches is answered 404 without Python running.
//!
//! Why a hand-written matcher and not a regex engine: a pattern is a short
//! list of literals and typed holes, and matching one is a backtracking walk
//! over those (each hole tries its longest candidate first, as a greedy regex
//! does). Literal entries never reach it: they sit in a hash map, so a table
//! of literal paths costs one lookup per request, as before patterns existed.
//!
//! Like Starlette (whose server hands it the percent-decoded path), patterns
//! are matched against the percent-decoded path; literal entries are looked
//! up with the path as sent first and decoded only when it has a `%`.

use std::collections::HashMap;
use std::fmt;

/// How a `{name:conv}` hole matches and what its value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Convertor {
    /// `str` (the default): one or more characters other than `/`.
    Str,
    /// `path`: any characters, `/` included, possibly none.
    Path,
    /// `int`: one or more ASCII digits.
    Int,
    /// `float`: digits, optionally `.` and more digits.
    Float,
    /// `uuid`: 32 hex digits, optionally dashed 8-4-4-4-12.
    Uuid,
}

impl Convertor {
    /// The convertor's name in a pattern (`"int"`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            Convertor::Str => "str",
            Convertor::Path => "path",
            Convertor::Int => "int",
            Convertor::Float => "float",
            Convertor::Uuid => "uuid",
        }
    }

    fn parse(name: &str) -> Option<Convertor> {
        Some(match name {
            "str" => Convertor::Str,
            "path" => Convertor::Path,
            "int" => Convertor::Int,
            "float" => Convertor::Float,
            "uuid" => Convertor::Uuid,
            _ => return None,
        })
    }

    /// Whether `value`, whole, is a value of this convertor.
    fn accepts(self, value: &str) -> bool {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        match self {
            Convertor::Str => !value.is_empty() && !value.contains('/'),
            Convertor::Path => true,
            Convertor::Int => digits(value),
            Convertor::Float => match value.split_once('.') {
                Some((a, b)) => digits(a) && digits(b),
                None => digits(value),
            },
            Convertor::Uuid => {
                let hex_digits = value.bytes().filter(u8::is_ascii_hexdigit).count();
                let dashes = value.bytes().filter(|&b| b == b'-').count();
                hex_digits == 32
                    && hex_digits + dashes == value.len()
                    && dashes_at_group_bounds(value)
            }
        }
    }
}

/// Dashes only at the 8-4-4-4-12 boundaries, at most one each.
fn dashes_at_group_bounds(value: &str) -> bool {
    let mut hex_seen = 0;
    let mut last_dash_at = None;
    for c in value.chars() {
        if c == '-' {
            if ![8, 12, 16, 20].contains(&hex_seen) || last_dash_at == Some(hex_seen) {
                return false;
            }
            last_dash_at = Some(hex_seen);
        } else {
            hex_seen += 1;
        }
    }
    true
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Part {
    Literal(String),
    Hole(String, Convertor),
}

/// Why a route pattern was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PatternError(String);

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PatternError {}

/// One parsed route pattern such as `/rooms/{room_id}` or `/f/{rest:path}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern {
    parts: Vec<Part>,
}

/// One matched hole: its name, its convertor and the matched text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Param {
    /// The hole's name.
    pub name: String,
    /// Its convertor.
    pub convertor: Convertor,
    /// The matched (percent-decoded) text; the convertor accepts it.
    pub value: String,
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl Pattern {
    /// Parse a pattern. A `{` that does not open a valid `{name}` or
    /// `{name:conv}` is literal text, as in Starlette; an unknown convertor
    /// or a repeated name is an error.
    pub fn parse(source: &str) -> Result<Pattern, PatternError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = source;
        while let Some(open) = rest.find('{') {
            let after = &rest[open + 1..];
            let hole = after
                .find('}')
                .map(|close| &after[..close])
                .and_then(|inner| {
                    let (name, conv) = inner.split_once(':').unwrap_or((inner, "str"));
                    (is_name(name) && is_name(conv)).then_some((inner.len(), name, conv))
                });
            let Some((len, name, conv)) = hole else {
                literal.push_str(&rest[..open + 1]);
                rest = after;
                continue;
            };
            let convertor = Convertor::parse(conv).ok_or_else(|| {
                PatternError(format!(
                    "unknown path convertor {conv:?} in route {source:?}"
                ))
            })?;
            if parts
                .iter()
                .any(|p| matches!(p, Part::Hole(n, _) if n == name))
            {
                return Err(PatternError(format!(
                    "duplicated param name {name:?} in route {source:?}"
                )));
            }
            literal.push_str(&rest[..open]);
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(Part::Hole(name.to_owned(), convertor));
            rest = &after[len + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Pattern { parts })
    }

    /// Whether the pattern has no holes (a literal path).
    pub fn is_literal(&self) -> bool {
        !self.parts.iter().any(|p| matches!(p, Part::Hole(..)))
    }

    /// The holes' values if the whole of `path` matches.
    pub fn matches(&self, path: &str) -> Option<Vec<Param>> {
        let mut params = Vec::new();
        match_parts(&self.parts, path, &mut params).then_some(params)
    }
}

fn match_parts(parts: &[Part], path: &str, params: &mut Vec<Param>) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return path.is_empty();
    };
    match first {
        Part::Literal(lit) => path
            .strip_prefix(lit.as_str())
            .is_some_and(|tail| match_parts(rest, tail, params)),
        Part::Hole(name, convertor) => {
            // Candidate ends, longest first (a greedy regex's order).
            let limit = match convertor {
                Convertor::Path => path.len(),
                _ => path.find('/').unwrap_or(path.len()),
            };
            let ends = (0..=limit).rev().filter(|&i| path.is_char_boundary(i));
            for end in ends {
                let value = &path[..end];
                if !convertor.accepts(value) {
                    continue;
                }
                let mark = params.len();
                params.push(Param {
                    name: name.clone(),
                    convertor: *convertor,
                    value: value.to_owned(),
                });
                if match_parts(rest, &path[end..], params) {
                    return true;
                }
                params.truncate(mark);
            }
            false
        }
    }
}

/// `%XX` sequences decoded; invalid UTF-8 in the result is replaced, as
/// ASGI servers do when they build `scope["path"]`.
pub fn percent_decode(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A route table: literal paths in a hash map, patterns in order.
#[derive(Clone, Debug, Default)]
pub struct RouteTable {
    literal: HashMap<String, usize>,
    patterns: Vec<(usize, Pattern)>,
}

impl RouteTable {
    /// A table of `routes` in order (their indexes are what [`find`] and
    /// [`resolve`] return).
    ///
    /// [`find`]: RouteTable::find
    /// [`resolve`]: RouteTable::resolve
    pub fn new<'a>(routes: impl IntoIterator<Item = &'a str>) -> Result<Self, PatternError> {
        let mut table = RouteTable::default();
        for (index, source) in routes.into_iter().enumerate() {
            let pattern = Pattern::parse(source)?;
            if pattern.is_literal() {
                table.literal.entry(source.to_owned()).or_insert(index);
            } else {
                table.patterns.push((index, pattern));
            }
        }
        Ok(table)
    }

    /// Whether any entry is a pattern.
    pub fn has_patterns(&self) -> bool {
        !self.patterns.is_empty()
    }

    /// The index of the first entry matching `path`, with its holes' values.
    pub fn resolve(&self, path: &str) -> Option<(usize, Vec<Param>)> {
        let raw_literal = self.literal.get(path).copied();
        let decoded;
        let path = if path.contains('%') {
            decoded = percent_decode(path);
            decoded.as_str()
        } else {
            path
        };
        let literal = raw_literal.or_else(|| self.literal.get(path).copied());
        for (index, pattern) in &self.patterns {
            if literal.is_some_and(|l| l < *index) {
                break;
            }
            if let Some(params) = pattern.matches(path) {
                return Some((*index, params));
            }
        }
        literal.map(|l| (l, Vec::new()))
    }

    /// Whether some entry matches `path` (a hash lookup when the table has
    /// no patterns).
    pub fn find(&self, path: &str) -> bool {
        if self.patterns.is_empty() && !path.contains('%') {
            return self.literal.contains_key(path);
        }
        self.resolve(path).is_some()
    }
}

#[cfg(test)]
#[path = "pattern_tests.rs"]
mod tests;
