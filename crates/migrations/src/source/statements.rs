//! Splitting a script into statements, so that a failure can name the statement at fault and a
//! migration outside a transaction can run one statement at a time.
//!
//! The splitter knows what hides a `;` from the database: quoted strings and identifiers (PostgreSQL's
//! `E'...'` with backslash escapes and `U&'...'` included), `--` and (nested) `/* */` comments,
//! PostgreSQL's dollar quotes, parentheses, and the `BEGIN ... END` body of a SQLite trigger or a PostgreSQL
//! `BEGIN ATOMIC` function.

/// The statements of `sql`, trimmed, without their terminating `;`, skipping ones that hold only
/// comments.
pub fn split(sql: &str) -> Vec<&str> {
    let bytes = sql.as_bytes();
    let mut statements = Vec::new();
    let mut start = 0;
    let mut i = 0;
    let mut words = Words::default();
    let mut parens = 0usize;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' | b'`' => i = skip_quoted(bytes, i, opens_escape_string(bytes, i)),
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = skip_line_comment(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i),
            b'$' => i = skip_dollar_quoted(bytes, i),
            // A `;` inside parentheses (a PostgreSQL rule's `DO ALSO (...; ...)`) ends nothing.
            b'(' => {
                parens += 1;
                i += 1;
            }
            b')' => {
                parens = parens.saturating_sub(1);
                i += 1;
            }
            b';' if words.depth == 0 && parens == 0 => {
                push(&mut statements, &sql[start..i]);
                start = i + 1;
                i += 1;
                words = Words::default();
            }
            b if is_word_byte(b) => {
                let end = bytes[i..]
                    .iter()
                    .position(|&b| !is_word_byte(b))
                    .map_or(bytes.len(), |p| i + p);
                words.see(&sql[i..end]);
                i = end;
            }
            _ => i += 1,
        }
    }
    push(&mut statements, &sql[start..]);
    statements
}

fn push<'a>(statements: &mut Vec<&'a str>, text: &'a str) {
    if let Some(code) = first_code(text) {
        statements.push(text[code..].trim_end());
    }
}

/// Where the first byte that is neither whitespace nor comment stands in `text`, if anywhere.
fn first_code(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'-' if bytes.get(i + 1) == Some(&b'-') => i = skip_line_comment(bytes, i),
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i),
            b if b.is_ascii_whitespace() => i += 1,
            _ => return Some(i),
        }
    }
    None
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Tracks the words of the current statement to find `BEGIN ... END` blocks in `CREATE` statements.
#[derive(Default)]
struct Words {
    count: usize,
    starts_with_create: bool,
    depth: usize,
}

impl Words {
    fn see(&mut self, word: &str) {
        if self.count == 0 {
            self.starts_with_create = word.eq_ignore_ascii_case("create");
        }
        self.count += 1;
        if !self.starts_with_create {
            return;
        }
        if word.eq_ignore_ascii_case("begin")
            || (self.depth > 0 && word.eq_ignore_ascii_case("case"))
        {
            self.depth += 1;
        } else if self.depth > 0 && word.eq_ignore_ascii_case("end") {
            self.depth -= 1;
        }
    }
}

/// Whether the quote at `open` starts PostgreSQL's escape string `E'...'`: an `E` standing alone before
/// it, not the end of a longer word (`name'` is no escape string).
fn opens_escape_string(bytes: &[u8], open: usize) -> bool {
    bytes[open] == b'\''
        && open > 0
        && matches!(bytes[open - 1], b'E' | b'e')
        && (open < 2 || !is_word_byte(bytes[open - 2]))
}

/// Skips a quoted literal or identifier; in an escape string a backslash also escapes what follows it.
fn skip_quoted(bytes: &[u8], open: usize, backslash_escapes: bool) -> usize {
    let quote = bytes[open];
    let mut i = open + 1;
    while i < bytes.len() {
        if backslash_escapes && bytes[i] == b'\\' {
            i += 2;
            continue;
        }
        if bytes[i] == quote {
            // A doubled quote is an escaped quote inside the literal.
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

fn skip_line_comment(bytes: &[u8], open: usize) -> usize {
    bytes[open..]
        .iter()
        .position(|&b| b == b'\n')
        .map_or(bytes.len(), |p| open + p + 1)
}

fn skip_block_comment(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0;
    let mut i = open;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
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

/// Skips `$tag$ ... $tag$`; a `$` that does not open a dollar quote (a `$1` parameter) is one byte.
fn skip_dollar_quoted(bytes: &[u8], open: usize) -> usize {
    if open > 0 && is_word_byte(bytes[open - 1]) {
        return open + 1;
    }
    let tag_len = bytes[open + 1..].iter().position(|&b| !is_word_byte(b));
    let Some(tag_len) = tag_len else {
        return bytes.len();
    };
    let close = open + 1 + tag_len;
    if bytes[close] != b'$' || bytes.get(open + 1).is_some_and(u8::is_ascii_digit) {
        return open + 1;
    }
    let tag = &bytes[open..=close];
    let body = close + 1;
    bytes[body..]
        .windows(tag.len())
        .position(|window| window == tag)
        .map_or(bytes.len(), |p| body + p + tag.len())
}

#[cfg(test)]
mod tests {
    use super::split;

    #[test]
    fn splits_plain_statements_and_drops_comment_only_ones() {
        let sql = "-- header\nCREATE TABLE a (id INTEGER);\n\n/* note */\nINSERT INTO a VALUES (1);\n-- trailing\n";
        assert_eq!(
            split(sql),
            vec!["CREATE TABLE a (id INTEGER)", "INSERT INTO a VALUES (1)"]
        );
        assert!(split("-- nothing here\n/* or here */ ;").is_empty());
    }

    #[test]
    fn semicolons_inside_literals_comments_and_dollar_quotes_do_not_split() {
        let sql = "INSERT INTO a VALUES ('x;y', 'it''s;');\n\
                   SELECT \"odd;name\" FROM a; -- a;comment\n\
                   /* outer /* inner; */ still; */ SELECT 1;\n\
                   CREATE FUNCTION f() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;\n\
                   SELECT $$a;b$$, $1";
        let statements = split(sql);
        assert_eq!(statements.len(), 5, "{statements:#?}");
        assert!(statements[3].ends_with("LANGUAGE sql"));
        assert_eq!(statements[4], "SELECT $$a;b$$, $1");
    }

    #[test]
    fn trigger_bodies_stay_whole() {
        let sql = "CREATE TRIGGER t AFTER UPDATE ON a BEGIN\n  UPDATE a SET n = CASE WHEN n > 0 THEN 1 ELSE 0 END;\n  SELECT 1;\nEND;\nBEGIN;\nSELECT 2;";
        let statements = split(sql);
        assert_eq!(statements.len(), 3, "{statements:#?}");
        assert!(statements[0].ends_with("END"));
        assert_eq!(statements[1], "BEGIN");
    }

    #[test]
    fn escape_strings_hide_backslash_escaped_quotes() {
        let sql = "INSERT INTO a VALUES (E'it\\'s; fine', e'\\\\', E'a''b;c');\nSELECT 2;";
        let statements = split(sql);
        assert_eq!(statements.len(), 2, "{statements:#?}");
        assert_eq!(statements[1], "SELECT 2");
        // Outside an escape string a backslash is an ordinary character (standard_conforming_strings).
        let plain = split("SELECT 'C:\\'; SELECT 3;");
        assert_eq!(plain, vec!["SELECT 'C:\\'", "SELECT 3"]);
        // A word ending in e before a quote is no escape string.
        let word = split("SELECT name'x\\'; SELECT 4;");
        assert_eq!(word.len(), 2, "{word:#?}");
    }

    #[test]
    fn unicode_strings_and_identifiers_hide_semicolons() {
        let sql = "SELECT U&'d\\0061t;a' UESCAPE '!', U&\"col;umn\";\nSELECT u&'x''y;';\nSELECT 5";
        let statements = split(sql);
        assert_eq!(statements.len(), 3, "{statements:#?}");
        assert!(statements[0].ends_with("U&\"col;umn\""));
        assert_eq!(statements[2], "SELECT 5");
    }

    #[test]
    fn nested_block_comments_hide_semicolons() {
        let sql = "/* one /* two; /* three; */ */ still; */ SELECT 1;\nSELECT /* ; */ 2;";
        assert_eq!(split(sql), vec!["SELECT 1", "SELECT /* ; */ 2"]);
    }

    #[test]
    fn dollar_tags_are_not_confused_with_parameters() {
        let sql = "CREATE FUNCTION f(int) RETURNS int AS $fn$\n  SELECT $1; -- $2$ is no tag\n  SELECT $$;$$;\n$fn$ LANGUAGE sql;\n\
                   PREPARE p AS SELECT $1, $2;\n\
                   SELECT $a$ $b$; $b$ $a$;\n\
                   SELECT price$1 FROM t;";
        let statements = split(sql);
        assert_eq!(statements.len(), 4, "{statements:#?}");
        assert!(statements[0].ends_with("$fn$ LANGUAGE sql"));
        assert_eq!(statements[1], "PREPARE p AS SELECT $1, $2");
        assert_eq!(statements[2], "SELECT $a$ $b$; $b$ $a$");
        assert_eq!(statements[3], "SELECT price$1 FROM t");
    }

    #[test]
    fn quoted_identifiers_hide_semicolons_and_doubled_quotes() {
        let sql = "CREATE TABLE \"odd;name\" (\"a\"\"b;\" int);\nSELECT `x;y` FROM \"odd;name\";";
        let statements = split(sql);
        assert_eq!(statements.len(), 2, "{statements:#?}");
        assert_eq!(statements[0], "CREATE TABLE \"odd;name\" (\"a\"\"b;\" int)");
    }

    #[test]
    fn semicolons_inside_parentheses_do_not_split() {
        let sql = "CREATE RULE log_insert AS ON INSERT TO a DO ALSO (INSERT INTO l VALUES (1); NOTIFY a);\nSELECT (1);";
        let statements = split(sql);
        assert_eq!(statements.len(), 2, "{statements:#?}");
        assert!(statements[0].ends_with("NOTIFY a)"));
        assert_eq!(statements[1], "SELECT (1)");
    }
}
