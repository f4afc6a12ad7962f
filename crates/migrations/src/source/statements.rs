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
//!
//! MySQL scripts are read as the mysql client reads them ([`split_mysql`]): `;` ends every statement,
//! a `DELIMITER` line sets another terminator (how stored programs with compound bodies are written,
//! and how mysqldump writes them), and `/*! ... */` comments are code, which the server runs. A
//! compound body written without `DELIMITER` is found, not guessed at: see
//! [`ScriptProblem::CompoundBody`].

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
    if dialect == Dialect::Mysql {
        return split_mysql(sql).statements;
    }
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

/// A MySQL script as the mysql client reads it: its statements, and what keeps them from being the
/// ones its author meant, if anything does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MysqlScript<'a> {
    /// Trimmed, without their terminators; `DELIMITER` lines and comment-only statements left out.
    pub statements: Vec<&'a str>,
    /// The first problem found; such a script must not run.
    pub problem: Option<ScriptProblem>,
}

/// Why a MySQL script cannot be split into the statements its author meant.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ScriptProblem {
    /// A `DELIMITER` line that sets no terminator, or one the mysql client would read otherwise.
    #[error(
        "line {line}: `{text}` sets no delimiter: DELIMITER takes one terminator, without \
         backslashes or quotes, alone on its line (`DELIMITER //`, and `DELIMITER ;` after the \
         statements it ends)"
    )]
    BadDelimiter { line: usize, text: String },
    /// A stored program (procedure, function, trigger, event) whose compound body `;` cuts:
    /// without a `DELIMITER`, `;` ends a statement there, as it does in the mysql client. Found
    /// exactly: such a body always closes with an `END` (or a `REPEAT`'s `UNTIL`) right after a
    /// `;`, and no MySQL statement begins with either word.
    #[error(
        "line {line}: `{start}` has a compound body (BEGIN ... END, IF ... END IF, a loop) \
         whose inner `;` end the statement, as the mysql client reads it: put a `DELIMITER //` \
         line before it, end it with `//` instead of `;`, and put a `DELIMITER ;` line after it \
         (mysqldump writes `DELIMITER ;;`)"
    )]
    CompoundBody { line: usize, start: String },
}

/// The statements of MySQL script `sql` as the mysql client splits it (see [`MysqlScript`]).
///
/// `;` ends every statement, as in the client; a `DELIMITER` line at the start of a statement sets
/// another terminator (`DELIMITER ;` restores `;`), matched anywhere in code outside strings,
/// quoted names and comments, before anything else is read there, as the client matches it.
pub fn split_mysql(sql: &str) -> MysqlScript<'_> {
    let mut script = MysqlScript {
        statements: Vec::new(),
        problem: None,
    };
    // `None` is `;`, read as a token (so never inside a string or a comment).
    let mut delimiter: Option<&str> = None;
    let mut span: Option<(usize, usize)> = None;
    // Only whitespace since the line began: where the client reads a command such as DELIMITER.
    let mut line_start = true;
    // Where the text outside DELIMITER lines begins, and whether all of it so far is comments.
    let mut region = 0;
    let mut only_comments_so_far = true;
    // The start of the last statement cut at `;` that creates a stored program.
    let mut stored_program: Option<usize> = None;
    let mut tokens = tokens(sql, Dialect::Mysql);
    while let Some(token) = tokens.next() {
        let end = token.start + token.text.len();
        if span.is_none()
            && line_start
            && token.kind == TokenKind::Word
            && token.text.eq_ignore_ascii_case("delimiter")
        {
            let line_end = sql[end..].find('\n').map_or(sql.len(), |p| end + p);
            only_comments_so_far &= only_comments(&sql[region..token.start]);
            match delimiter_argument(&sql[end..line_end]) {
                Some(terminator) => {
                    delimiter = (terminator != ";").then_some(terminator);
                    stored_program = None;
                }
                None => {
                    script.problem.get_or_insert(ScriptProblem::BadDelimiter {
                        line: line_of(sql, token.start),
                        text: sql[token.start..line_end].trim_end().to_string(),
                    });
                }
            }
            region = line_end;
            tokens = Tokens {
                sql,
                at: line_end,
                dialect: Dialect::Mysql,
            };
            continue;
        }
        if token.kind == TokenKind::Space {
            line_start |= token.text.contains('\n');
            continue;
        }
        line_start = false;
        if let Some(terminator) = delimiter {
            // Inside a string, a quoted name or a comment the client sees no terminator; where one
            // begins, it looks for the terminator first.
            let positions = match token.kind {
                TokenKind::Word | TokenKind::Punct => token.start..end,
                _ => token.start..token.start + 1,
            };
            let found = positions
                .filter(|&i| sql.is_char_boundary(i))
                .find(|&i| sql[i..].starts_with(terminator));
            if let Some(at) = found {
                if at > token.start {
                    span = Some((span.map_or(token.start, |(start, _)| start), at));
                }
                if let Some((start, end)) = span.take() {
                    script.statements.push(&sql[start..end]);
                }
                tokens = Tokens {
                    sql,
                    at: at + terminator.len(),
                    dialect: Dialect::Mysql,
                };
                continue;
            }
        } else if token.kind == TokenKind::Punct && token.text == ";" {
            if let Some((start, end)) = span.take() {
                let statement = &sql[start..end];
                closes_cut_body(&mut script, sql, stored_program, statement);
                if creates_stored_program(statement) {
                    stored_program = Some(start);
                }
                script.statements.push(statement);
            }
            continue;
        }
        if token.kind == TokenKind::Comment {
            continue;
        }
        span = Some((span.map_or(token.start, |(start, _)| start), end));
    }
    if let Some((start, end)) = span {
        let statement = &sql[start..end];
        if delimiter.is_none() {
            closes_cut_body(&mut script, sql, stored_program, statement);
        }
        script.statements.push(statement);
    }
    only_comments_so_far &= only_comments(&sql[region..]);
    if script.statements.is_empty() && !only_comments_so_far {
        script.statements.push(sql.trim());
    }
    script
}

/// The terminator a `DELIMITER` line sets, from the rest of its line `rest`: one word of
/// non-space characters after a space, with nothing after it; `None` for any other line.
fn delimiter_argument(rest: &str) -> Option<&str> {
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let mut words = rest.split_ascii_whitespace();
    let terminator = words.next()?;
    let plain = !terminator.contains(['\\', '\'', '"', '`']);
    (plain && words.next().is_none()).then_some(terminator)
}

/// The number (from 1) of the line `at` is on.
fn line_of(sql: &str, at: usize) -> usize {
    sql[..at].bytes().filter(|&b| b == b'\n').count() + 1
}

/// Records a [`ScriptProblem::CompoundBody`] when `statement`, cut at `;` after the stored program
/// that began at `stored_program`, begins with the `END` or `UNTIL` that closes a compound body.
fn closes_cut_body(
    script: &mut MysqlScript<'_>,
    sql: &str,
    stored_program: Option<usize>,
    statement: &str,
) {
    let Some(opened) = stored_program else {
        return;
    };
    let first = first_word(statement);
    if first.eq_ignore_ascii_case("end") || first.eq_ignore_ascii_case("until") {
        script
            .problem
            .get_or_insert_with(|| compound_body(sql, opened));
    }
}

fn compound_body(sql: &str, start: usize) -> ScriptProblem {
    let first_line = sql[start..].lines().next().unwrap_or_default().trim();
    let shown: String = first_line.chars().take(60).collect();
    ScriptProblem::CompoundBody {
        line: line_of(sql, start),
        start: if shown.len() < first_line.len() {
            format!("{shown} ...")
        } else {
            shown
        },
    }
}

/// The first word of MySQL statement `statement`, or "".
fn first_word(statement: &str) -> &str {
    tokens(statement, Dialect::Mysql)
        .find(|token| !matches!(token.kind, TokenKind::Space | TokenKind::Comment))
        .filter(|token| token.kind == TokenKind::Word)
        .map_or("", |token| token.text)
}

/// Whether MySQL statement `statement` creates a procedure, a function, a trigger or an event: a
/// `CREATE` that names one of those before any parenthesis (after `OR REPLACE`, `DEFINER = ...`).
fn creates_stored_program(statement: &str) -> bool {
    let mut words = tokens(statement, Dialect::Mysql)
        .filter(|token| !matches!(token.kind, TokenKind::Space | TokenKind::Comment))
        .take_while(|token| token.text != "(");
    let Some(create) = words.next() else {
        return false;
    };
    create.text.eq_ignore_ascii_case("create")
        && words.any(|token| {
            ["procedure", "function", "trigger", "event"]
                .iter()
                .any(|object| token.text.eq_ignore_ascii_case(object))
        })
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
            // `/*! ... */` and MariaDB's `/*M! ... */` hold code the server runs (mysqldump writes them).
            b'/' if next == Some(b'*') && mysql && is_executable_comment(&bytes[start + 2..]) => {
                (TokenKind::Literal, skip_block_comment(bytes, start, false))
            }
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

/// Whether a `/*` comment whose text after `/*` is `rest` is one MySQL runs: `/*!` (optionally with a
/// version) or MariaDB's `/*M!`.
fn is_executable_comment(rest: &[u8]) -> bool {
    rest.first() == Some(&b'!') || rest.starts_with(b"M!")
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
    fn mysql_delimiter_lines_keep_compound_bodies_whole() {
        let sql = "CREATE TABLE a (id INT);\n\
                   DELIMITER //\n\
                   CREATE PROCEDURE p(IN n INT)\n\
                   BEGIN\n  IF n > 0 THEN\n    INSERT INTO a VALUES (n);\n  END IF;\n  SELECT ';//' AS `x//`; -- a // comment\nEND//\n\
                   CREATE FUNCTION f(n INT) RETURNS INT DETERMINISTIC\nBEGIN\n  RETURN n * 2;\nEND //\n\
                   delimiter ;\n\
                   CALL p(1);\n";
        let script = split_mysql(sql);
        assert_eq!(script.problem, None);
        let statements = script.statements;
        assert_eq!(statements.len(), 4, "{statements:#?}");
        assert_eq!(statements[0], "CREATE TABLE a (id INT)");
        assert!(
            statements[1].starts_with("CREATE PROCEDURE p"),
            "{statements:#?}"
        );
        assert!(
            statements[1].ends_with("-- a // comment\nEND"),
            "{statements:#?}"
        );
        assert!(
            statements[2].ends_with("RETURN n * 2;\nEND"),
            "{statements:#?}"
        );
        assert_eq!(statements[3], "CALL p(1)");
        assert_eq!(split(sql, Dialect::Mysql), statements);
    }

    #[test]
    fn mysql_reads_mysqldump_delimiters_and_executable_comments() {
        let sql = "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE */;\n\
                   /*!50003 SET sql_mode = '' */ ;\n\
                   DELIMITER ;;\n\
                   CREATE DEFINER=`root`@`localhost` PROCEDURE `p`()\nBEGIN\n  SELECT 1;\nEND ;;\n\
                   /*!50003 CREATE*/ /*!50017 DEFINER=`root`@`%`*/ /*!50003 TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN\n  SET NEW.id = 1;\nEND */;;\n\
                   DELIMITER ;\n\
                   /*M!100100 SET @x = 1 */;\n\
                   /* a plain comment; */";
        let script = split_mysql(sql);
        assert_eq!(script.problem, None);
        let statements = script.statements;
        assert_eq!(statements.len(), 5, "{statements:#?}");
        assert_eq!(statements[0], "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE */");
        assert!(statements[2].ends_with("SELECT 1;\nEND"), "{statements:#?}");
        assert!(statements[3].ends_with("END */"), "{statements:#?}");
        assert_eq!(statements[4], "/*M!100100 SET @x = 1 */");
    }

    #[test]
    fn a_mysql_terminator_is_matched_where_the_client_matches_it() {
        // Glued to a word, in the middle of a line, and several on one line; never inside a
        // string, a quoted name or a comment.
        let sql = "DELIMITER $$\nSELECT 'a$$b', `c$$d` /* $$ */ FROM t$$SELECT 2$$ SELECT 3\n$$\n";
        assert_eq!(
            split(sql, Dialect::Mysql),
            vec![
                "SELECT 'a$$b', `c$$d` /* $$ */ FROM t",
                "SELECT 2",
                "SELECT 3"
            ]
        );
        // A statement left open at the end runs as it is, as the client sends it.
        assert_eq!(
            split("DELIMITER //\nSELECT 1; SELECT 2", Dialect::Mysql),
            vec!["SELECT 1; SELECT 2"]
        );
        // DELIMITER is a command only where a statement begins, first on its line.
        assert_eq!(
            split(
                "SELECT\ndelimiter FROM t;\nSELECT 2 /* x */ ;",
                Dialect::Mysql
            ),
            vec!["SELECT\ndelimiter FROM t", "SELECT 2"]
        );
        // Only DELIMITER lines and comments: nothing to run.
        assert!(split("-- nothing\nDELIMITER //\nDELIMITER ;\n", Dialect::Mysql).is_empty());
    }

    #[test]
    fn a_delimiter_line_that_sets_no_terminator_is_a_problem() {
        for line in [
            "DELIMITER",
            "DELIMITER '//'",
            "DELIMITER // extra",
            "delimiter;",
        ] {
            let sql = format!("SELECT 1;\n{line}\nSELECT 2;\n");
            let script = split_mysql(&sql);
            assert_eq!(
                script.problem,
                Some(ScriptProblem::BadDelimiter {
                    line: 2,
                    text: line.to_string()
                }),
                "{line}"
            );
        }
    }

    #[test]
    fn a_compound_body_cut_at_its_semicolons_is_found_and_a_simple_body_is_not() {
        let cut = [
            "CREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\nEND;",
            // mysqldump's header, a label, and END with its label.
            "CREATE DEFINER=`root`@`%` PROCEDURE p() l: BEGIN SELECT 1; END l;",
            "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET NEW.x = 1; END;",
            "CREATE FUNCTION f() RETURNS INT BEGIN IF 1 THEN RETURN 1; END IF; RETURN 0; END;",
            // A body that is one loop; a REPEAT closes with UNTIL after its last `;`.
            "CREATE PROCEDURE p() REPEAT SET @n = @n + 1; UNTIL @n > 3 END REPEAT;",
            "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN DELETE FROM a; DELETE FROM b; END",
        ];
        for sql in cut {
            let script = format!("CREATE TABLE a (id INT);\n{sql}\nSELECT 9;");
            let script = split_mysql(&script);
            assert!(
                matches!(
                    script.problem,
                    Some(ScriptProblem::CompoundBody { line: 2, .. })
                ),
                "{sql}: {:?}",
                script.problem
            );
        }
        let message = split_mysql(cut[0]).problem.unwrap().to_string();
        assert!(message.contains("`CREATE PROCEDURE p()`"), "{message}");
        assert!(message.contains("DELIMITER //"), "{message}");
        // Bodies of one statement hold no `;`: nothing is cut.
        let simple = "CREATE FUNCTION f(a INT) RETURNS INT DETERMINISTIC\n  RETURN IF(a > 0, 1, CASE WHEN a = 0 THEN 0 ELSE -1 END);\n\
                      CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW SET NEW.x = 1;\n\
                      CREATE TABLE shifts (id INT, `end` INT);\n\
                      SELECT `end` FROM shifts;";
        let script = split_mysql(simple);
        assert_eq!(script.problem, None);
        assert_eq!(script.statements.len(), 4);
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
