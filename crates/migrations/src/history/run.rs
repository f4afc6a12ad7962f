//! The record of a migration running where DDL commits itself (MySQL, MariaDB): a row written before
//! its first statement and moved on after each, so that a run that fails or dies halfway leaves in
//! the database exactly which statements took effect and which one did not.
//!
//! The row lives in a third table beside the history, `<companion>_run` (`__workhub_migrations_run`
//! by default), one row per migration that started and did not finish. Finishing records the
//! migration in the history and deletes its row in one transaction (the history is InnoDB data, so
//! that part does roll back).

use std::fmt;

use crate::plan::Direction;
use crate::source::checksum;

/// A migration that started and did not finish: what its row records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterruptedRun {
    pub version: String,
    pub folder: String,
    pub direction: Direction,
    /// How many statements the script has.
    pub statements: usize,
    /// How many took effect (the first `done`, counted from 1 in messages).
    pub done: usize,
    /// The checksum of the statements that took effect ([`prefix_checksum`]): a resume checks that
    /// they are still the script's first ones.
    pub done_checksum: String,
    /// The statement that failed and the database's message, or `None` when the run stopped
    /// without saying why (the process or its connection died).
    pub failure: Option<(String, String)>,
    pub started_at: Option<String>,
    /// Run by an offline script (`Offline`), which stops at its first error without recording it:
    /// the mysql client printed it.
    pub by_script: bool,
}

/// What an offline script's record says in place of an error ([`InterruptedRun::by_script`]).
pub(crate) const BY_SCRIPT: &str = "run by an offline script: its client printed any error";

impl InterruptedRun {
    /// The statements that took effect, as people count them (`1-2`, `1`, `none`).
    pub fn took_effect(&self) -> String {
        match self.done {
            0 => "none".to_string(),
            1 => "statement 1".to_string(),
            n => format!("statements 1-{n}"),
        }
    }

    /// The number (from 1) of the statement a resume starts at.
    pub fn resumes_at(&self) -> usize {
        self.done + 1
    }
}

impl fmt::Display for InterruptedRun {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "migration {} ({}) did not finish: {} of its {} statement{} took effect (MySQL commits \
             each DDL statement as it runs, so they stay)",
            self.folder,
            self.direction,
            self.took_effect(),
            self.statements,
            if self.statements == 1 { "" } else { "s" }
        )?;
        match &self.failure {
            Some((statement, error)) => write!(
                f,
                "\n  statement {} failed: {}\n{}",
                self.resumes_at(),
                error.trim(),
                indented(statement)
            ),
            None if self.by_script => write!(
                f,
                "\n  the offline script (--sql) stopped before statement {} finished: the mysql \
                 client printed why (a statement that fails takes no effect; if the client was \
                 killed instead, it may have)",
                self.resumes_at()
            ),
            None => write!(
                f,
                "\n  the run stopped before statement {} finished (the process or its connection \
                 died): it may have taken effect too",
                self.resumes_at()
            ),
        }
    }
}

fn indented(text: &str) -> String {
    text.lines()
        .map(|line| format!("    {line}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The checksum of a script's first statements, as [`InterruptedRun::done_checksum`] records it.
pub fn prefix_checksum(statements: &[&str]) -> String {
    checksum(&statements.join(";\n"))
}

/// The statement that creates the run table `table` when it is missing (MySQL's SQL).
pub(crate) fn create(table: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {table} (
    version VARCHAR(50) PRIMARY KEY NOT NULL,
    folder TEXT NOT NULL,
    direction VARCHAR(4) NOT NULL,
    statements INTEGER NOT NULL,
    done INTEGER NOT NULL,
    done_checksum TEXT NOT NULL,
    failed_statement TEXT NULL,
    error TEXT NULL,
    started_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn says_what_took_effect_and_what_failed() {
        let mut run = InterruptedRun {
            version: "1".into(),
            folder: "2024-01-01-000001_a".into(),
            direction: Direction::Up,
            statements: 3,
            done: 2,
            done_checksum: prefix_checksum(&["A", "B"]),
            failure: Some(("CREATE TABLE c (id INT)".into(), "table exists".into())),
            started_at: None,
            by_script: false,
        };
        let text = run.to_string();
        assert!(
            text.contains("statements 1-2 of its 3 statements took effect"),
            "{text}"
        );
        assert!(text.contains("statement 3 failed: table exists"), "{text}");
        assert!(text.contains("    CREATE TABLE c (id INT)"), "{text}");
        run.failure = None;
        run.done = 0;
        let text = run.to_string();
        assert!(text.contains("none of its 3 statements"), "{text}");
        assert!(text.contains("before statement 1 finished"), "{text}");
        run.by_script = true;
        let text = run.to_string();
        assert!(
            text.contains("the offline script (--sql) stopped before statement 1"),
            "{text}"
        );
        assert_ne!(prefix_checksum(&["A", "B"]), prefix_checksum(&["A"]));
    }
}
