//! What a database reports of a column, read into the model's terms: a declared SQL type as a
//! [`ColumnType`], a default in the form models and databases are compared in.

use crate::{squash, ColumnType};

/// Parses a declared SQL type (`VARCHAR(200)`, `int8`, `DOUBLE PRECISION`) into a [`ColumnType`].
pub fn parse_type(declared: &str) -> ColumnType {
    let upper = declared.trim().to_ascii_uppercase();
    let (base, args) = match upper.split_once('(') {
        Some((base, rest)) => (
            base.trim().to_string(),
            Some(rest.trim_end_matches(')').trim().to_string()),
        ),
        None => (upper.clone(), None),
    };
    match (base.as_str(), args) {
        ("VARCHAR" | "CHARACTER VARYING", Some(n)) => n
            .parse()
            .map_or(ColumnType::Other(upper.clone()), ColumnType::Varchar),
        ("VARCHAR" | "CHARACTER VARYING", None) => ColumnType::Text,
        ("SMALLINT" | "INT2", _) => ColumnType::SmallInt,
        ("INTEGER" | "INT" | "INT4", _) => ColumnType::Integer,
        ("BIGINT" | "INT8", _) => ColumnType::BigInt,
        ("TEXT", _) => ColumnType::Text,
        ("BOOLEAN" | "BOOL", _) => ColumnType::Bool,
        ("REAL" | "FLOAT4", _) => ColumnType::Float,
        ("DOUBLE PRECISION" | "DOUBLE" | "FLOAT8", _) => ColumnType::Double,
        ("DATE", _) => ColumnType::Date,
        ("TIMESTAMP" | "TIMESTAMP WITHOUT TIME ZONE", _) => ColumnType::Timestamp,
        ("BLOB" | "BYTEA", _) => ColumnType::Binary,
        _ => ColumnType::Other(upper),
    }
}

/// A default as the database reports it, made comparable with a model's: outer parentheses and
/// PostgreSQL's `::type` casts removed, whitespace collapsed, `TRUE`/`FALSE`/`NULL` upper-cased.
pub fn normalise_default(raw: &str) -> String {
    let mut text = strip_casts(&squash(raw));
    loop {
        let trimmed = text.trim();
        if trimmed.starts_with('(')
            && trimmed.ends_with(')')
            && balanced(&trimmed[1..trimmed.len() - 1])
        {
            text = trimmed[1..trimmed.len() - 1].trim().to_string();
        } else {
            break;
        }
    }
    match text.to_ascii_uppercase().as_str() {
        keyword @ ("TRUE" | "FALSE" | "NULL" | "CURRENT_TIMESTAMP" | "CURRENT_DATE"
        | "CURRENT_TIME") => keyword.to_string(),
        _ => text,
    }
}

/// Removes `::type` casts (`'todo'::text`, `'x'::character varying(20)`) outside string literals.
fn strip_casts(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let mut quoted = false;
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            quoted = !quoted;
        }
        if !quoted && c == ':' && text[i..].starts_with("::") {
            chars.next();
            // The type name: words, spaces between words, an optional (n) and [].
            let rest = &text[i + 2..];
            let mut end = 0;
            let bytes = rest.as_bytes();
            while end < bytes.len() {
                let b = bytes[end];
                let next_is_word = bytes.get(end + 1).is_some_and(|n| n.is_ascii_alphabetic());
                if b.is_ascii_alphanumeric()
                    || b == b'_'
                    || b == b'"'
                    || b == b'['
                    || b == b']'
                    || (b == b' '
                        && next_is_word
                        && !rest[end + 1..].to_ascii_uppercase().starts_with("AND")
                        && !rest[end + 1..].to_ascii_uppercase().starts_with("OR"))
                {
                    end += 1;
                } else if b == b'(' {
                    match rest[end..].find(')') {
                        Some(close) => end += close + 1,
                        None => break,
                    }
                } else {
                    break;
                }
            }
            for _ in 0..rest[..end].chars().count() {
                chars.next();
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn balanced(text: &str) -> bool {
    let mut depth = 0i32;
    let mut quoted = false;
    for c in text.chars() {
        match c {
            '\'' => quoted = !quoted,
            '(' if !quoted => depth += 1,
            ')' if !quoted => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_parse_to_column_types() {
        assert_eq!(parse_type("varchar(200)"), ColumnType::Varchar(200));
        assert_eq!(parse_type("character varying(20)"), ColumnType::Varchar(20));
        assert_eq!(parse_type("int8"), ColumnType::BigInt);
        assert_eq!(parse_type("DOUBLE PRECISION"), ColumnType::Double);
        assert_eq!(parse_type("jsonb"), ColumnType::Other("JSONB".into()));
    }

    #[test]
    fn defaults_lose_outer_parentheses_only() {
        assert_eq!(normalise_default("(datetime('now'))"), "datetime('now')");
        assert_eq!(normalise_default("'todo'"), "'todo'");
        assert_eq!(normalise_default("(a) + (b)"), "(a) + (b)");
        assert_eq!(normalise_default("'todo'::text"), "'todo'");
        assert_eq!(normalise_default("'x'::character varying(20)"), "'x'");
        assert_eq!(normalise_default("false"), "FALSE");
        assert_eq!(normalise_default("'a::b'"), "'a::b'");
    }
}
