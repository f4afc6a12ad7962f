//! Splitting a script into statements, so that a failure can name the statement at fault and a
//! migration outside a transaction can run one statement at a time.
//!
//! The lexer reads a script as the database of its dialect reads it, because a form one database
//! knows and the other does not decides where a `;` ends a statement:
//! - both: `'...'` strings with doubled quotes, `"..."` identifiers, `--` comments;
//! - PostgreSQL: `/* */` comments that nest, `E'...'` strings with backslash escapes, `U&'...'` and
//!   `U&"..."`, dollar quotes (`$$ ... $$`, `$tag$ ... $tag$`);
//! - SQLite: `/* */` comments that end at the first `*/`, `[...]` and `` `...` `` identifiers.
//! - MySQL: `'...'` and `"..."` strings with backslash escapes (its default `sql_mode`), `` `...` ``
//!   identifiers, `#` comments, `--` comments only when a space follows, `/* */` that do not nest.
//!
//! A `;` ends a statement except inside the `BEGIN ... END` body of a `CREATE TRIGGER` (SQLite), a
//! `BEGIN ATOMIC ... END` function body (PostgreSQL), or the parentheses of a `CREATE RULE`
//! (PostgreSQL's `DO ALSO (...; ...)`). Parentheses hide a `;` nowhere else, so one stray `(` cannot
//! swallow the statements after it.

use std::borrow::Cow;

use super::Dialect;

/// The statements of `sql` as `dialect` reads it, trimmed, without their terminating `;`, skipping
/// ones that hold only comments.
///
/// A script in which no statement is found but which is not only comments and whitespace (by the
/// plainest reading: `--` to the end of the line, `/*` to the first `*/`, `;` alone) comes back whole, as one
/// statement: the database then runs or refuses it, and a migration is never recorded as applied
/// having run nothing because of a misreading here.
pub fn split(sql: &str, dialect: Dialect) -> Vec<&str> {
    let mut statements = Vec::new();
    let mut current = Statement::default();
    // The first and the end of the last byte of code in the current statement.
    let mut span: Option<(usize, usize)> = None;
    for token in tokens(sql, dialect) {
        match token.kind {
            TokenKind::Space | TokenKind::Comment => continue,
            TokenKind::Punct if token.text == ";" && current.ends_at_semicolon() => {
                if let Some((start, end)) = span.take() {
                    statements.push(&sql[start..end]);
                }
                current = Statement::default();
                continue;
            }
            _ => {}
        }
        let end = token.start + token.text.len();
        span = Some((span.map_or(token.start, |(start, _)| start), end));
        current.see(&token);
    }
    if let Some((start, end)) = span {
        statements.push(&sql[start..end]);
    }
    if statements.is_empty() && !only_comments(sql) {
        statements.push(sql.trim());
    }
    statements
}

/// The words and quoted identifiers of `sql` as `dialect` reads it (quotes removed), leaving out
/// comments, string literals and dollar-quoted bodies.
pub fn identifiers(sql: &str, dialect: Dialect) -> impl Iterator<Item = Cow<'_, str>> {
    tokens(sql, dialect).filter_map(|token| token.identifier())
}

/// Whether `sql` holds nothing but whitespace, empty statements (`;`), `--` comments and `/* */` comments, each comment
/// ending at its first `*/`: the reading that finds the most code, kept apart from the lexer on
/// purpose so that it can check it.
fn only_comments(sql: &str) -> bool {
    let code = |c: char| !(c.is_whitespace() || c == ';');
    let mut rest = sql.trim_start_matches(|c| !code(c));
    while !rest.is_empty() {
        if let Some(comment) = rest.strip_prefix("--") {
            rest = comment.find('\n').map_or("", |end| &comment[end..]);
        } else if let Some(comment) = rest.strip_prefix("/*") {
            rest = comment.find("*/").map_or("", |end| &comment[end + 2..]);
        } else {
            return false;
        }
        rest = rest.trim_start_matches(|c| !code(c));
    }
    true
}

/// What the splitter needs to know of the statement read so far.
#[derive(Default)]
struct Statement {
    words: usize,
    create: bool,
    /// What a `CREATE` statement creates, once read past `OR REPLACE` and `TEMP`.
    object: Option<Object>,
    parens: usize,
    /// How deep inside a trigger's or an atomic function's `BEGIN ... END` (and its `CASE ... END`).
    body: usize,
    after_begin: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Object {
    Trigger,
    Rule,
    Other,
}

impl Statement {
    fn ends_at_semicolon(&self) -> bool {
        self.body == 0 && !(self.parens > 0 && self.object == Some(Object::Rule))
    }

    fn see(&mut self, token: &Token<'_>) {
        match (token.kind, token.text) {
            (TokenKind::Punct, "(") => self.parens += 1,
            (TokenKind::Punct, ")") => self.parens = self.parens.saturating_sub(1),
            (TokenKind::Word, word) => self.see_word(word),
            _ => {}
        }
        if token.kind != TokenKind::Word {
            self.after_begin = false;
        }
    }

    fn see_word(&mut self, word: &str) {
        let is = |keyword: &str| word.eq_ignore_ascii_case(keyword);
        self.words += 1;
        if self.words == 1 {
            self.create = is("create");
        } else if self.create && self.object.is_none() {
            if is("trigger") {
                self.object = Some(Object::Trigger);
            } else if is("rule") {
                self.object = Some(Object::Rule);
            } else if !(is("or") || is("replace") || is("temp") || is("temporary")) {
                self.object = Some(Object::Other);
            }
        }
        if self.body > 0 {
            if is("case") {
                self.body += 1;
            } else if is("end") {
                self.body -= 1;
            }
        } else if self.parens == 0 && self.create {
            // A trigger's body opens at its BEGIN; a function's SQL-standard body at BEGIN ATOMIC.
            // Anywhere else `begin` may be a column's name.
            let opens = (self.object == Some(Object::Trigger) && is("begin"))
                || (self.after_begin && is("atomic"));
            if opens {
                self.body = 1;
            }
        }
        self.after_begin = is("begin");
    }
}

/// What a token of SQL is, as far as splitting and finding identifiers need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// A keyword or an unquoted identifier (or a number).
    Word,
    /// `"..."`, and on SQLite `[...]` and `` `...` ``; on PostgreSQL also `U&"..."`.
    QuotedIdentifier,
    /// A string literal, prefix included (`E'...'`, `U&'...'`), or a dollar-quoted body.
    Literal,
    Comment,
    Space,
    /// Any other single character: `;`, `(`, operators.
    Punct,
}

/// One token of a script: its kind, its text and where it starts in the script.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token<'a> {
    pub kind: TokenKind,
    pub text: &'a str,
    pub start: usize,
}

impl<'a> Token<'a> {
    /// The identifier this token names, quotes removed and doubled quotes undone, if it is a word
    /// or a quoted identifier.
    pub fn identifier(&self) -> Option<Cow<'a, str>> {
        match self.kind {
            TokenKind::Word => Some(Cow::Borrowed(self.text)),
            TokenKind::QuotedIdentifier => {
                let text = self.text.strip_prefix("U&").unwrap_or(self.text);
                let text = text.strip_prefix("u&").unwrap_or(text);
                let close = match text.as_bytes().first() {
                    Some(b'[') => "]",
                    Some(b'`') => "`",
                    _ => "\"",
                };
                let inner = &text[1..];
                let inner = inner.strip_suffix(close).unwrap_or(inner);
                let doubled = close.repeat(2);
                if close != "]" && inner.contains(&doubled) {
                    Some(Cow::Owned(inner.replace(&doubled, close)))
                } else {
                    Some(Cow::Borrowed(inner))
                }
            }
            _ => None,
        }
    }
}

/// The tokens of `sql` as `dialect` reads it; together they cover the whole script.
pub fn tokens(sql: &str, dialect: Dialect) -> Tokens<'_> {
    Tokens {
        sql,
        at: 0,
        dialect,
    }
}

/// The iterator [`tokens`] returns.
#[derive(Debug, Clone)]
pub struct Tokens<'a> {
    sql: &'a str,
    at: usize,
    dialect: Dialect,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let bytes = self.sql.as_bytes();
        let start = self.at;
        let first = *bytes.get(start)?;
        let postgres = self.dialect == Dialect::Postgres;
        let mysql = self.dialect == Dialect::Mysql;
        let next = bytes.get(start + 1).copied();
        let (kind, end) = match first {
            b'\'' => (TokenKind::Literal, skip_quoted(bytes, start, b'\'', mysql)),
            b'"' if mysql => (TokenKind::Literal, skip_quoted(bytes, start, b'"', true)),
            b'"' => (
                TokenKind::QuotedIdentifier,
                skip_quoted(bytes, start, b'"', false),
            ),
            b'`' if !postgres => (
                TokenKind::QuotedIdentifier,
                skip_quoted(bytes, start, b'`', false),
            ),
            // SQLite's `[name]` ends at the first `]`: there is no escape inside it.
            b'[' if !postgres && !mysql => (
                TokenKind::QuotedIdentifier,
                bytes[start..]
                    .iter()
                    .position(|&b| b == b']')
                    .map_or(bytes.len(), |p| start + p + 1),
            ),
            // MySQL reads `--` as a comment only before a space or a line's end (`1--1` is 2).
            b'-' if next == Some(b'-')
                && !(mysql
                    && bytes
                        .get(start + 2)
                        .is_some_and(|b| !b.is_ascii_whitespace())) =>
            {
                (TokenKind::Comment, skip_line_comment(bytes, start))
            }
            b'#' if mysql => (TokenKind::Comment, skip_line_comment(bytes, start)),
            b'/' if next == Some(b'*') => (
                TokenKind::Comment,
                skip_block_comment(bytes, start, postgres),
            ),
            b'$' if postgres => match dollar_quote_end(bytes, start) {
                Some(end) => (TokenKind::Literal, end),
                None => (TokenKind::Punct, start + 1),
            },
            b if b.is_ascii_whitespace() => (
                TokenKind::Space,
                bytes[start..]
                    .iter()
                    .position(|b| !b.is_ascii_whitespace())
                    .map_or(bytes.len(), |p| start + p),
            ),
            b if is_word_start(b) => {
                let end = bytes[start..]
                    .iter()
                    .position(|&b| !(is_word_start(b) || (postgres && b == b'$')))
                    .map_or(bytes.len(), |p| start + p);
                let word = &bytes[start..end];
                let after = bytes.get(end).copied();
                if postgres && word.eq_ignore_ascii_case(b"e") && after == Some(b'\'') {
                    (TokenKind::Literal, skip_quoted(bytes, end, b'\'', true))
                } else if postgres && word.eq_ignore_ascii_case(b"u") && after == Some(b'&') {
                    match bytes.get(end + 1) {
                        Some(b'\'') => (
                            TokenKind::Literal,
                            skip_quoted(bytes, end + 1, b'\'', false),
                        ),
                        Some(b'"') => (
                            TokenKind::QuotedIdentifier,
                            skip_quoted(bytes, end + 1, b'"', false),
                        ),
                        _ => (TokenKind::Word, end),
                    }
                } else {
                    (TokenKind::Word, end)
                }
            }
            _ => (TokenKind::Punct, start + 1),
        };
        self.at = end;
        Some(Token {
            kind,
            text: &self.sql[start..end],
            start,
        })
    }
}

/// Letters, digits, `_`, and every byte of a non-ASCII character (both databases accept those in
/// identifiers), so a word never ends inside a character.
fn is_word_start(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80
}

/// Where the quoted text opened at `open` ends; a doubled quote is an escaped quote, and in an
/// escape string a backslash also escapes what follows it. Unterminated, it runs to the end.
fn skip_quoted(bytes: &[u8], open: usize, quote: u8, backslash_escapes: bool) -> usize {
    let mut i = open + 1;
    while i < bytes.len() {
        if backslash_escapes && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// A `--` comment runs to the end of its line (the line break is not part of it).
fn skip_line_comment(bytes: &[u8], open: usize) -> usize {
    bytes[open..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| open + p)
}

/// PostgreSQL nests `/* */` comments; SQLite ends one at the first `*/`.
fn skip_block_comment(bytes: &[u8], open: usize, nests: bool) -> usize {
    let mut depth = 0;
    let mut i = open;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') if nests || depth == 0 => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Where the dollar quote opened at `open` (`$$` or `$tag$`) ends, or `None` when the `$` opens
/// none (a `$1` parameter). An unterminated one runs to the end.
fn dollar_quote_end(bytes: &[u8], open: usize) -> Option<usize> {
    let tag_len = bytes[open + 1..]
        .iter()
        .position(|&b| !is_word_start(b))
        .unwrap_or(bytes.len() - open - 1);
    let close = open + 1 + tag_len;
    if bytes.get(close) != Some(&b'$') || bytes.get(open + 1).is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let tag = &bytes[open..=close];
    let body = close + 1;
    Some(
        bytes[body..]
            .windows(tag.len())
            .position(|window| window == tag)
            .map_or(bytes.len(), |p| body + p + tag.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dialect::{Postgres, Sqlite};

    #[test]
    fn splits_plain_statements_and_drops_comment_only_ones() {
        let sql = "-- header\nCREATE TABLE a (id INTEGER);\n\n/* note */\nINSERT INTO a VALUES (1);\n-- trailing\n";
        assert_eq!(
            split(sql, Postgres),
            vec!["CREATE TABLE a (id INTEGER)", "INSERT INTO a VALUES (1)"]
        );
        assert!(split("-- nothing here\n/* or here */ ;", Postgres).is_empty());
    }

    #[test]
    fn semicolons_inside_literals_comments_and_dollar_quotes_do_not_split() {
        let sql = "INSERT INTO a VALUES ('x;y', 'it''s;');\n\
                   SELECT \"odd;name\" FROM a; -- a;comment\n\
                   /* outer /* inner; */ still; */ SELECT 1;\n\
                   CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n\
                   SELECT $$a;b$$, $1";
        let statements = split(sql, Postgres);
        assert_eq!(statements.len(), 5, "{statements:#?}");
        assert!(statements[3].ends_with("LANGUAGE sql"));
        assert_eq!(statements[4], "SELECT $$a;b$$, $1");
    }

    #[test]
    fn mysql_reads_backslash_escapes_hash_comments_and_double_quoted_strings() {
        let sql = "INSERT INTO a VALUES ('it\\'s;', \"x;\\\"y\");\n\
                   # a;comment\n\
                   SELECT `odd;name` FROM a; -- a;comment\n\
                   SELECT 1--1;\n\
                   SELECT 2";
        let statements = split(sql, Dialect::Mysql);
        assert_eq!(statements.len(), 4, "{statements:#?}");
        assert!(statements[0].ends_with("\"x;\\\"y\")"), "{statements:#?}");
        assert_eq!(statements[1], "SELECT `odd;name` FROM a");
        assert_eq!(statements[2], "SELECT 1--1");
        // The same script as SQLite reads it: `'it\'` ends the string, so its `;` splits.
        assert_ne!(split(sql, Sqlite).len(), 4);
    }

    #[test]
    fn trigger_bodies_stay_whole() {
        let sql = "CREATE TRIGGER t AFTER UPDATE ON a BEGIN\n  UPDATE a SET n = CASE WHEN n > 0 THEN 1 ELSE 0 END;\n  SELECT 1;\nEND;\nBEGIN;\nSELECT 2;";
        let statements = split(sql, Sqlite);
        assert_eq!(statements.len(), 3, "{statements:#?}");
        assert!(statements[0].ends_with("END"));
        assert_eq!(statements[1], "BEGIN");
    }

    #[test]
    fn escape_strings_hide_backslash_escaped_quotes() {
        let sql = "INSERT INTO a VALUES (E'it\\'s; fine', e'\\\\', E'a''b;c');\nSELECT 2;";
        let statements = split(sql, Postgres);
        assert_eq!(statements.len(), 2, "{statements:#?}");
        assert_eq!(statements[1], "SELECT 2");
        // Outside an escape string a backslash is an ordinary character (standard_conforming_strings).
        let plain = split("SELECT 'C:\\'; SELECT 3;", Postgres);
        assert_eq!(plain, vec!["SELECT 'C:\\'", "SELECT 3"]);
        // A word ending in e before a quote is no escape string.
        let word = split("SELECT name'x\\'; SELECT 4;", Postgres);
        assert_eq!(word.len(), 2, "{word:#?}");
    }

    #[test]
    fn unicode_strings_and_identifiers_hide_semicolons() {
        let sql = "SELECT U&'d\\0061t;a' UESCAPE '!', U&\"col;umn\";\nSELECT u&'x''y;';\nSELECT 5";
        let statements = split(sql, Postgres);
        assert_eq!(statements.len(), 3, "{statements:#?}");
        assert!(statements[0].ends_with("U&\"col;umn\""));
        assert_eq!(statements[2], "SELECT 5");
    }

    #[test]
    fn nested_block_comments_hide_semicolons() {
        let sql = "/* one /* two; /* three; */ */ still; */ SELECT 1;\nSELECT /* ; */ 2;";
        assert_eq!(split(sql, Postgres), vec!["SELECT 1", "SELECT /* ; */ 2"]);
    }

    #[test]
    fn dollar_tags_are_not_confused_with_parameters() {
        let sql = "CREATE FUNCTION f(int) RETURNS int AS $fn$\n  SELECT $1; -- $2$ is no tag\n  SELECT $$;$$;\n$fn$ LANGUAGE sql;\n\
                   PREPARE p AS SELECT $1, $2;\n\
                   SELECT $a$ $b$; $b$ $a$;\n\
                   SELECT price$1 FROM t;";
        let statements = split(sql, Postgres);
        assert_eq!(statements.len(), 4, "{statements:#?}");
        assert!(statements[0].ends_with("$fn$ LANGUAGE sql"));
        assert_eq!(statements[1], "PREPARE p AS SELECT $1, $2");
        assert_eq!(statements[2], "SELECT $a$ $b$; $b$ $a$");
        assert_eq!(statements[3], "SELECT price$1 FROM t");
    }

    #[test]
    fn quoted_identifiers_hide_semicolons_and_doubled_quotes() {
        let sql = "CREATE TABLE \"odd;name\" (\"a\"\"b;\" int);\nSELECT \"x;y\" FROM \"odd;name\";";
        for dialect in [Postgres, Sqlite] {
            let statements = split(sql, dialect);
            assert_eq!(statements.len(), 2, "{statements:#?}");
            assert_eq!(statements[0], "CREATE TABLE \"odd;name\" (\"a\"\"b;\" int)");
        }
    }

    #[test]
    fn sqlite_brackets_and_backquotes_are_identifiers_there_only() {
        let sql = "CREATE TABLE [odd;name] (`a``b;` int);\nSELECT 1;";
        assert_eq!(
            split(sql, Sqlite),
            vec!["CREATE TABLE [odd;name] (`a``b;` int)", "SELECT 1"]
        );
        let names: Vec<_> = identifiers(sql, Sqlite).collect();
        assert!(names.contains(&Cow::Borrowed("odd;name")), "{names:?}");
        assert!(names.contains(&Cow::Borrowed("a`b;")), "{names:?}");
        // PostgreSQL has neither: `arr[1]` is a subscript, so the `;` after it ends the statement.
        assert_eq!(
            split("SELECT arr[1]; SELECT 2", Postgres),
            vec!["SELECT arr[1]", "SELECT 2"]
        );
    }

    #[test]
    fn block_comments_nest_on_postgres_only() {
        // SQLite ends the comment at the first `*/`: both tables are created there.
        let sql = "/* files under logs/* are kept */\nCREATE TABLE a(x);\nCREATE TABLE b(y);";
        assert_eq!(
            split(sql, Sqlite),
            vec!["CREATE TABLE a(x)", "CREATE TABLE b(y)"]
        );
        let nested = "/* a /* b */ c; */ SELECT 1;";
        assert_eq!(split(nested, Postgres), vec!["SELECT 1"]);
        assert_eq!(split(nested, Sqlite), vec!["c", "*/ SELECT 1"]);
    }

    #[test]
    fn escape_strings_are_postgres_only() {
        // In SQLite a backslash is an ordinary character and `E` a word: the string ends at `\'`.
        let sql = "INSERT INTO a VALUES (E'C:\\'); SELECT 2;";
        assert_eq!(
            split(sql, Sqlite),
            vec!["INSERT INTO a VALUES (E'C:\\')", "SELECT 2"]
        );
        assert_eq!(split(sql, Postgres).len(), 1);
    }

    #[test]
    fn a_script_with_code_never_splits_into_nothing() {
        // Whatever the dialect's reading, code outside the plainest comments comes back whole.
        let sql = "/* outer /* inner */ CREATE TABLE a(x); */";
        assert_eq!(split(sql, Postgres), vec![sql]);
        assert!(split("-- only\n/* comments */\n", Postgres).is_empty());
        assert!(split("-- only\n/* comments */\n", Sqlite).is_empty());
    }

    #[test]
    fn a_column_named_begin_opens_no_block() {
        let sql = "CREATE TABLE shifts (id int, begin text);\nCREATE INDEX CONCURRENTLY i ON shifts (id);\nALTER TABLE shifts ADD end_at text;";
        for dialect in [Postgres, Sqlite] {
            assert_eq!(split(sql, dialect).len(), 3, "{dialect}");
        }
        let alter = "ALTER TABLE shifts ADD COLUMN begin text; SELECT 1;";
        assert_eq!(split(alter, Sqlite).len(), 2);
    }

    #[test]
    fn temporary_triggers_and_atomic_bodies_stay_whole() {
        let trigger =
            "CREATE TEMP TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; SELECT 2; END; SELECT 3;";
        assert_eq!(
            split(trigger, Sqlite),
            vec![
                "CREATE TEMP TRIGGER t AFTER INSERT ON a BEGIN SELECT 1; SELECT 2; END",
                "SELECT 3"
            ]
        );
        let atomic = "CREATE OR REPLACE FUNCTION f(a int) RETURNS int LANGUAGE sql\nBEGIN ATOMIC\n  SELECT CASE WHEN a > 0 THEN 1 END;\n  SELECT 2;\nEND;\nSELECT 3;";
        let statements = split(atomic, Postgres);
        assert_eq!(statements.len(), 2, "{statements:#?}");
        assert!(statements[0].ends_with("END"));
    }

    #[test]
    fn a_stray_parenthesis_swallows_nothing_after_its_statement() {
        let sql = "INSERT INTO a VALUES ((1);\nCREATE TABLE b(y);\nCREATE TABLE c(z);";
        assert_eq!(split(sql, Sqlite).len(), 3);
        assert_eq!(split(sql, Postgres).len(), 3);
    }

    #[test]
    fn identifiers_leave_out_comments_strings_and_dollar_bodies() {
        let sql = "-- tasks\n/* projects /* nested */ accounts */ UPDATE \"Odd\"\"s\" SET n = E'it\\'s tasks' || $$ teams $$;";
        let names: Vec<_> = identifiers(sql, Postgres).collect();
        assert_eq!(names, ["UPDATE", "Odd\"s", "SET", "n"]);
    }

    #[test]
    fn semicolons_inside_parentheses_do_not_split() {
        let sql = "CREATE RULE log_insert AS ON INSERT TO a DO ALSO (INSERT INTO l VALUES (1); NOTIFY a);\nSELECT (1);";
        let statements = split(sql, Postgres);
        assert_eq!(statements.len(), 2, "{statements:#?}");
        assert!(statements[0].ends_with("NOTIFY a)"));
        assert_eq!(statements[1], "SELECT (1)");
    }
}
