use super::SourceError;

/// A migration's `metadata.toml`, read exactly as diesel reads it: TOML whose one setting is
/// `run_in_transaction`. diesel deserialises it with `#[serde(default)]`, so a file WITHOUT the key means
/// `false` (no file at all means `true`), and it ignores unknown keys. Both surprises are kept, so a
/// migration runs as diesel_cli runs it, and reported in [`Metadata::findings`].
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
    pub fn parse(folder: &str, text: &str) -> Result<Self, SourceError> {
        let bad = |message: String| SourceError::BadMetadata {
            folder: folder.to_string(),
            message,
        };
        let table: toml::Table = text
            .parse()
            .map_err(|err: toml::de::Error| bad(not_toml(text, &err)))?;
        let mut findings = Vec::new();
        let run_in_transaction = match table.get("run_in_transaction") {
            Some(toml::Value::Boolean(value)) => *value,
            Some(other) => {
                return Err(bad(format!(
                    "run_in_transaction must be true or false, not a {}",
                    other.type_str()
                )))
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
        Ok(Self {
            run_in_transaction,
            findings,
        })
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
        let metadata = Metadata::parse("f", text).unwrap();
        assert!(!metadata.run_in_transaction);
        assert!(metadata.findings.is_empty());
        let metadata = Metadata::parse("f", "run_in_transaction = true").unwrap();
        assert!(metadata.run_in_transaction);
        assert!(metadata.findings.is_empty());
    }

    #[test]
    fn a_file_without_the_key_means_false_as_for_diesel_and_says_so() {
        for text in ["", "# nothing\n", "[section]\nrun_in_transaction = true\n"] {
            let metadata = Metadata::parse("f", text).unwrap();
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
        let metadata =
            Metadata::parse("f", "run_in_transction = true\nrun_in_transaction = true\n").unwrap();
        assert!(metadata.run_in_transaction);
        assert_eq!(metadata.findings.len(), 1);
        assert!(metadata.findings[0].contains("`run_in_transction`"));
    }

    #[test]
    fn refuses_values_that_are_not_booleans_and_text_that_is_not_toml() {
        for (text, needle) in [
            ("run_in_transaction = \"false\"", "must be true or false"),
            ("run_in_transaction = 0", "must be true or false"),
            ("run_in_transaction = no", "line 1: not TOML"),
            ("# a comment\nrun_in_transaction", "line 2: not TOML"),
        ] {
            let err = Metadata::parse("f", text).unwrap_err();
            match err {
                SourceError::BadMetadata { ref message, .. } => {
                    assert!(message.contains(needle), "{text}: {message}")
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
