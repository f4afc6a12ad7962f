//! The SQL a run on MySQL sends around a migration's statements, as text: written once for the
//! MySQL backend, which sends it, and for the offline script (`Offline`), which prints it for the
//! mysql client, so that a script records what a run records, statement for statement. No
//! connection is needed to write it (a build without the `mysql` feature prints scripts too).

use crate::history::run::BY_SCRIPT;
use crate::history::{quote, InterruptedRun};
use crate::source::statements::{tokens, TokenKind};
use crate::Dialect;

/// The user lock of database `database`: GET_LOCK names are server-wide and at most 64 characters,
/// so a database name too long for them is replaced by its checksum.
#[cfg(feature = "mysql")]
pub(crate) fn lock_name(database: &str) -> String {
    let name = format!("workhub_migrate:{database}");
    if name.len() <= 64 {
        name
    } else {
        format!(
            "workhub_migrate:{}",
            &crate::source::checksum(database)[..40]
        )
    }
}

/// [`lock_name`] of the session's database, as an SQL expression (for a script, which does not know
/// which database it will run on).
pub(crate) const LOCK_NAME_SQL: &str = "IF(LENGTH(CONCAT('workhub_migrate:', DATABASE())) <= 64, \
     CONCAT('workhub_migrate:', DATABASE()), \
     CONCAT('workhub_migrate:', LEFT(SHA2(DATABASE(), 256), 40)))";

/// The statement that records `run` as started in run table `table`, replacing any record its
/// version has (an offline script's says so where an error would go). Every value is quoted or a
/// number.
pub(crate) fn start(table: &str, run: &InterruptedRun) -> String {
    let (column, mark) = if run.by_script {
        (", error", format!(", {}", quote(BY_SCRIPT)))
    } else {
        ("", String::new())
    };
    format!(
        "REPLACE INTO {table} (version, folder, direction, statements, done, done_checksum{column}) \
         VALUES ({}, {}, {}, {}, {}, {}{mark})",
        quote(&run.version),
        quote(&run.folder),
        quote(run.direction.as_str()),
        run.statements,
        run.done,
        quote(&run.done_checksum)
    )
}

/// The statement that deletes `version`'s record: the migration finished (or the record is
/// forgotten). Ends with `;` and a newline.
pub(crate) fn finish(table: &str, version: &str) -> String {
    format!("DELETE FROM {table} WHERE version = {};\n", quote(version))
}

/// One round trip of a migration's statement and its record: `START TRANSACTION` first when they
/// share a transaction, then the statement, then workhub's own statements after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Trip<'a> {
    /// The statement and its record commit together (or, for the last one, with the history rows).
    pub begins: bool,
    pub statement: &'a str,
    /// workhub's statements after it, separated by `;` and newlines; empty for a last statement
    /// left open for the history rows.
    pub after: String,
}

impl Trip<'_> {
    /// The round trip as one multi-statement text, as the backend sends it.
    #[cfg(feature = "mysql")]
    pub(crate) fn sql(&self) -> String {
        let mut sql = String::new();
        if self.begins {
            sql.push_str("START TRANSACTION;\n");
        }
        sql.push_str(self.statement);
        if !self.after.is_empty() {
            sql.push_str(";\n");
            sql.push_str(&self.after);
        }
        sql
    }
}

/// What a run has seen of the migration running under its record: decides how each statement's
/// record moves on, and how the history rows commit.
///
/// Each write of the record is a commit, which InnoDB syncs to disk: it is what a run pays beyond
/// the statements themselves. So the record moves on in the statement's own round trip, and in the
/// statement's own transaction where the statement is one a transaction holds (`INSERT`,
/// `UPDATE`, `DELETE`, `REPLACE`): there the statement and its record commit together or not at
/// all. A migration's last such statement stays open for its history rows, which commit it. After a
/// DDL statement the record is its own commit: nothing can share the DDL's.
#[derive(Debug, Default)]
pub(crate) struct Tracker {
    statements: usize,
    /// A statement that may start, end or shape a transaction ran (or none may be put in one).
    own_transactions: bool,
    /// The last statement runs in a transaction left open for the history rows.
    open: bool,
    /// The last statement is DDL after the migration took its transactions into its own hands:
    /// its record is committed explicitly (autocommit may be off).
    commits_records: bool,
}

impl Tracker {
    /// A migration of `statements` statements, starting.
    pub(crate) fn new(statements: usize) -> Self {
        Self {
            statements,
            ..Self::default()
        }
    }

    /// The round trip of statement `sql`, the `done`-th (from 1), in the migration `version` whose
    /// record is in `table`; `done_checksum` is that of the statements up to it.
    pub(crate) fn statement<'a>(
        &mut self,
        table: &str,
        version: &str,
        sql: &'a str,
        done: usize,
        done_checksum: &str,
    ) -> Trip<'a> {
        // The server runs the update only after the statement succeeded. Every value is a version
        // or a hex checksum, safe to inline.
        let update = format!(
            "UPDATE {table} SET done = {done}, done_checksum = '{done_checksum}' WHERE version = {}",
            quote(version)
        );
        if self.own_transactions || !holds_in_transaction(sql) {
            // DDL commits itself (and, before it, any transaction open); the update after it is a
            // commit of its own, in the same round trip. Where the migration may have turned
            // autocommit off, the update is committed explicitly: the DDL left nothing of the
            // migration's open, and a record left pending behind a DDL that took effect would say
            // it did not.
            self.commits_records = self.own_transactions && commits_implicitly(sql);
            let after = if self.commits_records {
                format!("{update};\nCOMMIT")
            } else {
                update
            };
            self.own_transactions |= !commits_itself(sql);
            return Trip {
                begins: false,
                statement: sql,
                after,
            };
        }
        // The statement and its record commit together: a failure or a kill leaves neither. The
        // last one is committed by the history rows, which delete the record.
        self.commits_records = false;
        let last = done == self.statements;
        self.open = last;
        Trip {
            begins: true,
            statement: sql,
            after: if last {
                String::new()
            } else {
                format!("{update};\nCOMMIT")
            },
        }
    }

    /// Whether the last statement's record is committed explicitly (see [`Tracker::statement`]):
    /// so is the record of its failure.
    #[cfg(feature = "mysql")]
    pub(crate) fn commits_records(&self) -> bool {
        self.commits_records
    }

    /// The round trip that records the migration `version` done: `history` (its rows, each ending
    /// `;` and a newline), its record deleted from `table`, and `next`'s record started, committed
    /// together with the last statement where that one was left open.
    ///
    /// A migration that took its transactions into its own hands may end with autocommit off or a
    /// transaction open: autocommit is set back on first, which commits what the migration left
    /// open (as the end of a migration does everywhere), so that neither workhub's writes nor the
    /// next migration run in a session the migration shaped.
    pub(crate) fn done(
        &mut self,
        table: &str,
        version: &str,
        history: &str,
        next: Option<&InterruptedRun>,
    ) -> String {
        let begin = if std::mem::take(&mut self.open) {
            ""
        } else if self.own_transactions {
            "SET autocommit = 1;\nSTART TRANSACTION;\n"
        } else {
            "START TRANSACTION;\n"
        };
        let next = next
            .map(|run| start(table, run) + ";\n")
            .unwrap_or_default();
        format!("{begin}{history}{}{next}COMMIT", finish(table, version))
    }
}

/// Whether MySQL statement `sql` is one a transaction holds whole, so that it and its record
/// commit together: `INSERT`, `UPDATE`, `DELETE` and `REPLACE`, which neither commit implicitly nor
/// touch the transaction they run in.
fn holds_in_transaction(sql: &str) -> bool {
    first_word_is(sql, &["insert", "update", "delete", "replace"])
}

/// Whether MySQL statement `sql` commits implicitly and leaves no transaction open or shaped
/// (`CREATE`, `ALTER`, `DROP`, `RENAME`, `TRUNCATE`), or is one [`holds_in_transaction`] names. Any
/// other statement (`START TRANSACTION`, `SET autocommit`, `LOCK TABLES`, a `CALL`) may leave the
/// session in a transaction of the migration's own, which workhub then leaves alone until the
/// migration's end (see [`Tracker::done`]).
fn commits_itself(sql: &str) -> bool {
    holds_in_transaction(sql) || is_ddl(sql)
}

fn is_ddl(sql: &str) -> bool {
    first_word_is(sql, &["create", "alter", "drop", "rename", "truncate"])
}

/// Whether DDL statement `sql` commits whatever transaction is open, as DDL does, and so leaves
/// none: not `CREATE TEMPORARY TABLE` or `DROP TEMPORARY TABLE`, which stay inside one.
fn commits_implicitly(sql: &str) -> bool {
    is_ddl(sql)
        && !tokens(sql, Dialect::Mysql)
            .filter(|token| !matches!(token.kind, TokenKind::Space | TokenKind::Comment))
            .nth(1)
            .is_some_and(|token| token.text.eq_ignore_ascii_case("temporary"))
}

fn first_word_is(sql: &str, words: &[&str]) -> bool {
    tokens(sql, Dialect::Mysql)
        .find(|token| !matches!(token.kind, TokenKind::Space | TokenKind::Comment))
        .is_some_and(|token| {
            token.kind == TokenKind::Word
                && words
                    .iter()
                    .any(|word| token.text.eq_ignore_ascii_case(word))
        })
}

#[cfg(test)]
mod tests {
    use super::Tracker;

    #[cfg(feature = "mysql")]
    #[test]
    fn lock_names_fit_the_servers_limit() {
        use super::lock_name;
        assert_eq!(lock_name("app"), "workhub_migrate:app");
        assert!(lock_name(&"d".repeat(64)).len() <= 64);
    }

    #[test]
    fn data_statements_share_their_records_transaction_until_the_migration_takes_its_own() {
        let mut tracker = Tracker::new(6);
        let ddl = tracker.statement("r", "1", "CREATE TABLE a (id INT)", 1, "c1");
        assert!(!ddl.begins && ddl.after.starts_with("UPDATE r SET done = 1"));
        let data = tracker.statement("r", "1", "INSERT INTO a VALUES (1)", 2, "c2");
        assert!(data.begins && data.after.ends_with("COMMIT"), "{data:?}");
        // After a statement that may shape a transaction, none is put around the rest.
        tracker.statement("r", "1", "SET autocommit = 0", 3, "c3");
        let after = tracker.statement("r", "1", "INSERT INTO a VALUES (2)", 4, "c4");
        assert!(
            !after.begins && !after.after.contains("COMMIT"),
            "{after:?}"
        );
        // A DDL's record is committed even with autocommit off; a temporary table's is not.
        let ddl = tracker.statement("r", "1", "ALTER TABLE a ADD b INT", 5, "c5");
        assert!(ddl.after.ends_with("COMMIT"), "{ddl:?}");
        let temporary = tracker.statement("r", "1", "CREATE TEMPORARY TABLE t (x INT)", 6, "c6");
        assert!(!temporary.after.contains("COMMIT"), "{temporary:?}");
        assert!(tracker
            .done("r", "1", "", None)
            .starts_with("SET autocommit = 1;\nSTART TRANSACTION"));
        // A last data statement is left open for the history rows, which commit it.
        let mut tracker = Tracker::new(1);
        let last = tracker.statement("r", "1", "INSERT INTO a VALUES (1)", 1, "c1");
        assert!(last.begins && last.after.is_empty(), "{last:?}");
        assert!(tracker
            .done("r", "1", "", None)
            .starts_with("DELETE FROM r"));
    }
}
