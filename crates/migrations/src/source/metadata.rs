/// A migration's `metadata.toml`, read exactly as diesel reads it: TOML whose one setting is
/// `run_in_transaction`. diesel deserialises it with `#[serde(default)]`, so a file WITHOUT the key means
/// `false` (no file at all means `true`), it ignores unknown keys, and it ignores a file it cannot
/// read at all (`unwrap_or_default()`: in a transaction). Every surprise is kept, so a migration runs
/// as diesel_cli runs it, and reported in [`Metadata::findings`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    pub run_in_transaction: bool,
    /// Warnings about what diesel reads differently from what a reader might expect.
    pub findings: Vec<String>,
}

impl Default for Metadata {
    fn default() -> Self {
        Self {
            run_in_transaction: true,
            findings: Vec::new(),
        }
    }
}

impl Metadata {
    /// Reads a `metadata.toml` from its bytes, as diesel does: a file diesel cannot read (not UTF-8,
    /// not TOML, or a `run_in_transaction` that is not a boolean) is ignored, so the migration runs in
    /// a transaction; that is kept and reported as a finding, never refused.
    pub fn read(bytes: &[u8]) -> Self {
        match std::str::from_utf8(bytes) {
            Ok(text) => Self::parse(text),
            Err(_) => Self::unreadable("it is not valid UTF-8".to_string()),
        }
    }

    pub fn parse(text: &str) -> Self {
        let table: toml::Table = match text.parse() {
            Ok(table) => table,
            Err(err) => return Self::unreadable(not_toml(text, &err)),
        };
        let mut findings = Vec::new();
        let run_in_transaction = match table.get("run_in_transaction") {
            Some(toml::Value::Boolean(value)) => *value,
            Some(other) => {
                return Self::unreadable(format!(
                    "`run_in_transaction` is of TOML type {}, not a boolean",
                    other.type_str()
                ))
            }
            None => {
                findings.push(
                    "metadata.toml has no `run_in_transaction`, which diesel reads as \
                     `run_in_transaction = false`: the migration runs outside a transaction; \
                     write the key out to say which is meant"
                        .to_string(),
                );
                false
            }
        };
        for key in table.keys().filter(|key| *key != "run_in_transaction") {
            findings.push(format!(
                "metadata.toml: unknown setting `{key}` is ignored (diesel knows only \
                 `run_in_transaction`)"
            ));
        }
        Self {
            run_in_transaction,
            findings,
        }
    }

    /// A file diesel ignores, as if it were absent: the migration runs in a transaction.
    fn unreadable(why: String) -> Self {
        Self {
            run_in_transaction: true,
            findings: vec![format!(
                "metadata.toml is ignored, as diesel ignores it, because {why}: the migration runs \
                 IN a transaction; write `run_in_transaction = true` or `run_in_transaction = false` \
                 (an unquoted TOML boolean) to say which is meant"
            )],
        }
    }
}

/// The parser's message with the line it points at: its own rendering spans several lines.
fn not_toml(text: &str, err: &toml::de::Error) -> String {
    let message = err.message().trim();
    match err.span() {
        Some(span) => {
            let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
            format!("line {line}: not TOML: {message}")
        }
        None => format!("not TOML: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_run_in_transaction() {
        let text = "# indexes built concurrently\nrun_in_transaction = false # no tx\n";
        let metadata = Metadata::parse(text);
        assert!(!metadata.run_in_transaction);
        assert!(metadata.findings.is_empty());
        let metadata = Metadata::parse("run_in_transaction = true");
        assert!(metadata.run_in_transaction);
        assert!(metadata.findings.is_empty());
    }

    #[test]
    fn a_file_without_the_key_means_false_as_for_diesel_and_says_so() {
        for text in ["", "# nothing\n", "[section]\nrun_in_transaction = true\n"] {
            let metadata = Metadata::parse(text);
            assert!(!metadata.run_in_transaction, "{text:?}");
            assert!(
                metadata.findings[0].contains("reads as `run_in_transaction = false`"),
                "{text:?}: {:?}",
                metadata.findings
            );
        }
    }

    #[test]
    fn unknown_keys_are_ignored_with_a_finding() {
        let metadata = Metadata::parse("run_in_transction = true\nrun_in_transaction = true\n");
        assert!(metadata.run_in_transaction);
        assert_eq!(metadata.findings.len(), 1);
        assert!(metadata.findings[0].contains("`run_in_transction`"));
    }

    #[test]
    fn a_file_diesel_cannot_read_means_a_transaction_with_a_finding() {
        for (bytes, needle) in [
            (
                &b"run_in_transaction = \"false\""[..],
                "of TOML type string, not a boolean",
            ),
            (b"run_in_transaction = 0", "of TOML type integer"),
            (b"run_in_transaction = no", "line 1: not TOML"),
            (b"# a comment\nrun_in_transaction", "line 2: not TOML"),
            (b"run_in_transaction = false # \xff", "not valid UTF-8"),
        ] {
            let metadata = Metadata::read(bytes);
            assert!(metadata.run_in_transaction, "{needle}");
            assert_eq!(metadata.findings.len(), 1, "{needle}");
            let finding = &metadata.findings[0];
            assert!(finding.contains(needle), "{finding}");
            assert!(finding.contains("runs IN a transaction"), "{finding}");
        }
    }
}
