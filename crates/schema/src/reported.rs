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

/// Parses the column type MySQL or MariaDB reports (`COLUMN_TYPE`: `bigint(20)`, `tinyint(1)`,
/// `varchar(200)`, `datetime`, `longblob`) into a [`ColumnType`]: the types MySQL renders the models'
/// types as read back as those types, integer display widths aside.
pub fn parse_mysql_type(reported: &str) -> ColumnType {
    let lower = reported.trim().to_ascii_lowercase();
    // BOOLEAN is TINYINT(1); the width is all that tells it from a TINYINT.
    if lower == "tinyint(1)" {
        return ColumnType::Bool;
    }
    let integer = ["tinyint", "smallint", "mediumint", "int", "bigint"];
    let words: Vec<String> = lower
        .split_whitespace()
        .enumerate()
        .map(|(i, word)| match word.split_once('(') {
            // A display width (`int(11)`) is no part of the type.
            Some((base, _)) if i == 0 && integer.contains(&base) => base.to_string(),
            _ => word.to_string(),
        })
        .collect();
    match words.join(" ").as_str() {
        "float" => ColumnType::Float,
        "double" => ColumnType::Double,
        // The models' timestamps keep microseconds, as on SQLite and PostgreSQL: a bare DATETIME
        // (whole seconds) or another precision is another type, which a comparison shows.
        "datetime(6)" => ColumnType::Timestamp,
        t if t.starts_with("datetime") => ColumnType::Other(t.to_ascii_uppercase()),
        "longblob" | "blob" => ColumnType::Binary,
        "tinyint" => ColumnType::Other("TINYINT".into()),
        other => parse_type(other),
    }
}

/// A default as MySQL or MariaDB reports it (`COLUMN_DEFAULT`), in the form models are compared in;
/// `None` for no default. MariaDB quotes literals (`'todo'`, with `\'` for a quote) and reports a
/// nullable column without one as `NULL`; MySQL reports a literal unquoted and marks an expression
/// `DEFAULT_GENERATED` (`generated`). A boolean's `0` and `1` are `FALSE` and `TRUE`.
pub fn normalise_mysql_default(
    raw: Option<&str>,
    ty: &ColumnType,
    mariadb: bool,
    generated: bool,
) -> Option<String> {
    let raw = raw?;
    let text = if mariadb || generated {
        if raw.eq_ignore_ascii_case("NULL") {
            return None;
        }
        let unescaped = unescape_quotes(raw);
        match unescaped.to_ascii_lowercase().as_str() {
            "current_timestamp()" | "current_timestamp(6)" | "now()" | "now(6)" => {
                "CURRENT_TIMESTAMP".to_string()
            }
            "curdate()" | "current_date()" => "CURRENT_DATE".to_string(),
            "curtime()" | "current_time()" => "CURRENT_TIME".to_string(),
            _ => unescaped,
        }
    } else if is_number(raw) && !is_text(ty) {
        raw.to_string()
    } else {
        format!("'{}'", raw.replace('\'', "''"))
    };
    let text = default_of_kind(&normalise_default(&text), ty);
    Some(match (ty, text.as_str()) {
        (ColumnType::Bool, "0") => "FALSE".into(),
        (ColumnType::Bool, "1") => "TRUE".into(),
        _ => text,
    })
}

/// A literal default in its column's kind, as MySQL and PostgreSQL store it: a number on a text
/// column is that text (`0` as `'0'`: MariaDB reports a `TEXT` column's `DEFAULT 0` unquoted,
/// PostgreSQL as `'0'::text`), a quoted number on a numeric column the number (`'0'` as `0`).
/// Anything else is unchanged. (SQLite keeps a default as written, so it is compared as written.)
pub fn default_of_kind(default: &str, ty: &ColumnType) -> String {
    if is_text(ty) && is_number(default) {
        return format!("'{default}'");
    }
    let numeric = match ty {
        ColumnType::SmallInt | ColumnType::Integer | ColumnType::BigInt => true,
        ColumnType::Float | ColumnType::Double => true,
        ColumnType::Other(name) => matches!(
            base_type(name),
            "TINYINT"
                | "MEDIUMINT"
                | "INT"
                | "BIGINT"
                | "SMALLINT"
                | "DECIMAL"
                | "NUMERIC"
                | "FLOAT"
                | "DOUBLE"
                | "YEAR"
        ),
        _ => false,
    };
    match default
        .strip_prefix('\'')
        .and_then(|d| d.strip_suffix('\''))
    {
        Some(inner) if numeric && is_number(inner) => inner.to_string(),
        _ => default.to_string(),
    }
}

/// Whether a column of `ty` holds text on MySQL (its defaults are strings, whatever they look
/// like): `TEXT` and `VARCHAR`, under any collation, `CHAR`, `ENUM`, `SET` and the other `TEXT`s.
fn is_text(ty: &ColumnType) -> bool {
    match ty {
        ColumnType::Text | ColumnType::Varchar(_) => true,
        ColumnType::Other(name) => matches!(
            base_type(name),
            "CHAR" | "VARCHAR" | "TINYTEXT" | "TEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET"
        ),
        _ => false,
    }
}

/// A type's name without its arguments and attributes: `ENUM('a','b')` is `ENUM`.
fn base_type(name: &str) -> &str {
    name.split(['(', ' ']).next().unwrap_or(name)
}

/// Whether `text` is a decimal number literal (`-3`, `0`, `1.5`, `2e3`), as SQL writes one.
fn is_number(text: &str) -> bool {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => {
            (digits(whole) || whole.is_empty())
                && (digits(fraction) || fraction.is_empty())
                && !(whole.is_empty() && fraction.is_empty())
        }
        None => digits(mantissa),
    };
    mantissa_ok && exponent.is_none_or(|e| digits(e.strip_prefix(['-', '+']).unwrap_or(e)))
}

/// MariaDB's `\'` inside a string literal as SQL's `''`.
fn unescape_quotes(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => match chars.next() {
                Some('\'') => out.push_str("''"),
                Some(next) => {
                    out.push('\\');
                    out.push(next);
                }
                None => out.push('\\'),
            },
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// A key or index part over the first `length` characters (bytes, of a binary column) of `column`,
/// as MySQL writes it and reports it (`STATISTICS.SUB_PART`): `name(10)`. The models declare no
/// prefix, so such a part never equals a whole column's.
pub fn prefix_part(column: &str, length: u64) -> String {
    format!("{column}({length})")
}

/// A key or index part as its column and, for a [`prefix_part`], the prefix's length.
pub fn split_prefix(part: &str) -> (&str, Option<&str>) {
    match part
        .strip_suffix(')')
        .and_then(|rest| rest.rsplit_once('('))
    {
        Some((column, length))
            if !length.is_empty() && length.bytes().all(|b| b.is_ascii_digit()) =>
        {
            (column, Some(length))
        }
        _ => (part, None),
    }
}

/// Whether a check's expression as MySQL or MariaDB reports it (`CHECK_CLAUSE`: identifiers
/// backquoted, keywords lower-cased, its own spacing, some functions renamed) is `declared`: compared
/// token by token. A check the server rewrites further (dropping redundant parentheses, `NOT (a = b)`
/// as `a <> b`) does not compare equal to its declared form.
pub fn same_mysql_check(reported: &str, declared: &str) -> bool {
    mysql_check_tokens(reported) == mysql_check_tokens(declared)
}

fn mysql_check_tokens(expression: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = expression.trim().chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            // A string literal, kept as written (a quote as `''`).
            chars.next();
            let mut literal = String::from("'");
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(next) = chars.next() {
                            literal.push_str(if next == '\'' { "''" } else { "\\" });
                            if next != '\'' {
                                literal.push(next);
                            }
                        }
                    }
                    '\'' if chars.peek() == Some(&'\'') => {
                        chars.next();
                        literal.push_str("''");
                    }
                    '\'' => break,
                    _ => literal.push(c),
                }
            }
            literal.push('\'');
            tokens.push(literal);
        } else if c == '`' {
            chars.next();
            let name: String = chars.by_ref().take_while(|&c| c != '`').collect();
            tokens.push(name.to_ascii_lowercase());
        } else if c.is_alphanumeric() || c == '_' || c == '.' {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if !(c.is_alphanumeric() || c == '_' || c == '.') {
                    break;
                }
                word.push(c.to_ascii_lowercase());
                chars.next();
            }
            // MariaDB writes these functions and constants under other names.
            tokens.push(match word.as_str() {
                "false" => "0".into(),
                "true" => "1".into(),
                "lower" => "lcase".into(),
                "upper" => "ucase".into(),
                "length" => "octet_length".into(),
                _ => word,
            });
        } else {
            chars.next();
            let pair = chars.peek().map(|&next| format!("{c}{next}"));
            match pair.as_deref() {
                Some(op @ ("<=" | ">=" | "<>" | "!=" | "||" | "&&")) => {
                    chars.next();
                    tokens.push(if op == "!=" {
                        "<>".into()
                    } else {
                        op.to_string()
                    });
                }
                _ => tokens.push(c.to_string()),
            }
        }
    }
    // Redundant outer parentheses.
    while tokens.first().is_some_and(|t| t == "(")
        && tokens.last().is_some_and(|t| t == ")")
        && balanced(&tokens[1..tokens.len() - 1].concat())
    {
        tokens = tokens[1..tokens.len() - 1].to_vec();
    }
    tokens
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

    #[test]
    fn mysql_types_read_as_the_types_they_render() {
        assert_eq!(parse_mysql_type("bigint(20)"), ColumnType::BigInt);
        assert_eq!(parse_mysql_type("int"), ColumnType::Integer);
        assert_eq!(parse_mysql_type("smallint(6)"), ColumnType::SmallInt);
        assert_eq!(parse_mysql_type("tinyint(1)"), ColumnType::Bool);
        assert_eq!(parse_mysql_type("varchar(30)"), ColumnType::Varchar(30));
        assert_eq!(parse_mysql_type("datetime(6)"), ColumnType::Timestamp);
        assert_eq!(
            parse_mysql_type("datetime"),
            ColumnType::Other("DATETIME".into())
        );
        assert_eq!(parse_mysql_type("longblob"), ColumnType::Binary);
        assert_eq!(parse_mysql_type("float"), ColumnType::Float);
        assert_eq!(
            parse_mysql_type("bigint(20) unsigned"),
            ColumnType::Other("BIGINT UNSIGNED".into())
        );
        assert_eq!(
            parse_mysql_type("decimal(10,2)"),
            ColumnType::Other("DECIMAL(10,2)".into())
        );
    }

    #[test]
    fn mysql_defaults_read_in_the_models_form() {
        let text = ColumnType::Text;
        let read =
            |raw, ty: &ColumnType, mariadb| normalise_mysql_default(Some(raw), ty, mariadb, false);
        assert_eq!(read("'it\\'s'", &text, true).as_deref(), Some("'it''s'"));
        assert_eq!(read("NULL", &text, true), None);
        assert_eq!(read("'NULL'", &text, true).as_deref(), Some("'NULL'"));
        assert_eq!(read("0", &ColumnType::Bool, true).as_deref(), Some("FALSE"));
        assert_eq!(
            read("current_timestamp()", &ColumnType::Timestamp, true).as_deref(),
            Some("CURRENT_TIMESTAMP")
        );
        assert_eq!(
            read("current_timestamp(6)", &ColumnType::Timestamp, true).as_deref(),
            Some("CURRENT_TIMESTAMP")
        );
        assert_eq!(
            read("(1 + 2)", &ColumnType::Integer, true).as_deref(),
            Some("1 + 2")
        );
        // MySQL's unquoted literals.
        assert_eq!(read("it's", &text, false).as_deref(), Some("'it''s'"));
        assert_eq!(
            read("-3", &ColumnType::SmallInt, false).as_deref(),
            Some("-3")
        );
    }

    #[test]
    fn numeric_looking_defaults_are_of_their_columns_kind() {
        let read =
            |raw, ty: &ColumnType, mariadb| normalise_mysql_default(Some(raw), ty, mariadb, false);
        let other = |name: &str| ColumnType::Other(name.into());
        // MySQL reports every literal unquoted: on a text column of any kind it is text.
        for ty in [
            ColumnType::Varchar(10),
            other("CHAR(1)"),
            other("ENUM('0','1')"),
            other("VARCHAR(10) COLLATE UTF8MB4_GENERAL_CI"),
        ] {
            assert_eq!(read("0", &ty, false).as_deref(), Some("'0'"), "{ty:?}");
            assert_eq!(read("1.5", &ty, false).as_deref(), Some("'1.5'"), "{ty:?}");
        }
        // Text that is no number is text wherever it is (Rust's f64 parsing takes `inf`).
        assert_eq!(read("inf", &other("DATE"), false).as_deref(), Some("'inf'"));
        assert_eq!(read("0", &ColumnType::Integer, false).as_deref(), Some("0"));
        assert_eq!(
            read("2.5", &ColumnType::Double, false).as_deref(),
            Some("2.5")
        );
        // MariaDB quotes literals, except a TEXT column's numeric default.
        assert_eq!(read("0", &ColumnType::Text, true).as_deref(), Some("'0'"));
        assert_eq!(read("'0'", &other("CHAR(1)"), true).as_deref(), Some("'0'"));
        // A model's default in the other kind's spelling reads as the server stores it.
        assert_eq!(default_of_kind("'0'", &ColumnType::Integer), "0");
        assert_eq!(
            default_of_kind("'-2.5e3'", &other("DECIMAL(10,2)")),
            "-2.5e3"
        );
        assert_eq!(default_of_kind("0", &ColumnType::Text), "'0'");
        assert_eq!(default_of_kind("'x'", &ColumnType::Integer), "'x'");
        assert_eq!(default_of_kind("1 + 2", &ColumnType::Text), "1 + 2");
        assert_eq!(
            default_of_kind("CURRENT_TIMESTAMP", &ColumnType::Timestamp),
            "CURRENT_TIMESTAMP"
        );
        for text in ["", ".", "-", "1e", "e3", "0x10", "1.2.3"] {
            assert!(!is_number(text), "{text}");
        }
        for number in ["0", "-3", "+1", "1.", ".5", "2e3", "2E-3"] {
            assert!(is_number(number), "{number}");
        }
    }

    #[test]
    fn prefix_parts_split_into_their_column_and_length() {
        assert_eq!(prefix_part("name", 10), "name(10)");
        assert_eq!(split_prefix("name(10)"), ("name", Some("10")));
        assert_eq!(split_prefix("name"), ("name", None));
        assert_eq!(split_prefix("(expression)"), ("(expression)", None));
        assert_eq!(split_prefix("f(x)"), ("f(x)", None));
    }

    #[test]
    fn mysql_checks_compare_in_the_servers_form() {
        assert!(same_mysql_check(
            "`role` in ('owner','member')",
            "role IN ('owner', 'member')"
        ));
        assert!(same_mysql_check(
            "`i` >= 0 and octet_length(`v`) > 0",
            "(i >= 0 AND length(v) > 0)"
        ));
        assert!(same_mysql_check("`b` <> 'it\\'s'", "b != 'it''s'"));
        assert!(same_mysql_check("`shown` <> 0", "shown != FALSE"));
        assert!(!same_mysql_check("`a` > 1", "a > 0"));
        assert!(!same_mysql_check("(`a` or `b`) and `c`", "a OR (b AND c)"));
    }
}
