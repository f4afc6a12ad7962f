use super::SourceError;

/// A migration's `metadata.toml`. diesel knows one setting, and so do we; anything else is refused so a
/// misspelt key cannot silently run a migration inside a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metadata {
    pub run_in_transaction: bool,
}

impl Default for Metadata {
    fn default() -> Self {
        Self {
            run_in_transaction: true,
        }
    }
}

impl Metadata {
    pub fn parse(folder: &str, text: &str) -> Result<Self, SourceError> {
        let mut metadata = Self::default();
        for (index, raw) in text.lines().enumerate() {
            let bad = |message: String| SourceError::BadMetadata {
                folder: folder.to_string(),
                line: index + 1,
                message,
            };
            let line = strip_comment(raw).trim();
            if line.is_empty() {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or_else(|| bad(format!("expected `key = value`, found `{line}`")))?;
            match (key.trim(), value.trim()) {
                ("run_in_transaction", "true") => metadata.run_in_transaction = true,
                ("run_in_transaction", "false") => metadata.run_in_transaction = false,
                ("run_in_transaction", other) => {
                    return Err(bad(format!(
                        "run_in_transaction must be true or false, not `{other}`"
                    )))
                }
                (other, _) => return Err(bad(format!("unknown setting `{other}`"))),
            }
        }
        Ok(metadata)
    }
}

fn strip_comment(line: &str) -> &str {
    line.split_once('#').map_or(line, |(before, _)| before)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_run_in_transaction() {
        assert!(Metadata::parse("f", "").unwrap().run_in_transaction);
        let text = "# indexes built concurrently\nrun_in_transaction = false # no tx\n";
        assert!(!Metadata::parse("f", text).unwrap().run_in_transaction);
    }

    #[test]
    fn refuses_unknown_keys_and_values() {
        let err = Metadata::parse("f", "\nrun_in_transction = false").unwrap_err();
        assert!(
            matches!(err, SourceError::BadMetadata { line: 2, ref message, .. } if message.contains("run_in_transction"))
        );
        let err = Metadata::parse("f", "run_in_transaction = no").unwrap_err();
        assert!(matches!(err, SourceError::BadMetadata { line: 1, .. }));
        assert!(Metadata::parse("f", "[section]").is_err());
    }
}
