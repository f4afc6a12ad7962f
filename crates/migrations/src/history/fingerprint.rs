//! The head fingerprint: how a run with nothing to do finds out without reading the history.
//!
//! SQLite parses the whole schema before the first query on a database, so reading the history of a
//! database with a thousand tables costs a thousand `CREATE` statements parsed, every time a process
//! starts. Two header fields are read without that parse: the schema cookie (`PRAGMA
//! schema_version`, which SQLite bumps on every schema change, whoever makes it) and `PRAGMA
//! user_version`, which belongs to the application. When a run leaves a database exactly at head, with
//! every checksum recorded, the migrator stores in `user_version` a digest of the migration set it knows
//! and of the schema cookie; before it changes anything, it stores 0. A later run whose own digest
//! matches knows the database is at head.
//!
//! What the digest notices: any schema change by anyone, any migration added, removed or edited, any
//! run of workhub that changed the history. What it cannot notice: a history row changed without a
//! schema change, outside workhub (a hand-made `DELETE`, or another tool reverting a migration whose
//! `down.sql` runs no DDL). [`misleads`] tells the commands that read the whole history when that
//! has happened, so they can say so.

use sha2::{Digest, Sha256};

use crate::plan::{State, Status};
use crate::{Dialect, Migration};

/// The fingerprint value that claims nothing.
pub const NONE: i32 = 0;

/// The header fields behind the fingerprint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// `PRAGMA schema_version`.
    pub schema_cookie: i32,
    /// `PRAGMA user_version`: the stored fingerprint, [`NONE`] when there is none.
    pub fingerprint: i32,
}

/// The fingerprint of a database at the head of `migrations` whose schema cookie is `schema_cookie`.
/// Never [`NONE`].
pub fn of(migrations: &[Migration], dialect: Dialect, schema_cookie: i32) -> i32 {
    let mut hasher = Sha256::new();
    hasher.update(b"workhub head fingerprint 1\n");
    for migration in migrations {
        hasher.update(migration.version().as_bytes());
        hasher.update(b" ");
        hasher.update(migration.scripts(dialect).checksum().as_bytes());
        hasher.update(b"\n");
    }
    hasher.update(schema_cookie.to_be_bytes());
    let digest = hasher.finalize();
    let value = i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    if value == NONE {
        1
    } else {
        value
    }
}

/// Whether `header` proves the database is at the head of `migrations`.
pub fn proves_head(header: Header, migrations: &[Migration], dialect: Dialect) -> bool {
    header.fingerprint != NONE
        && header.fingerprint == of(migrations, dialect, header.schema_cookie)
}

/// The fingerprint a database with this status and header should carry: [`of`] when it is exactly at
/// head with every checksum recorded (a version diesel_cli applied has none to trust), else [`NONE`].
pub fn deserved(status: &Status<'_>, schema_cookie: i32) -> i32 {
    let verified = status.is_at_head()
        && status.entries().iter().all(|entry| {
            entry.state == State::Applied
                && entry
                    .applied
                    .as_ref()
                    .is_some_and(|row| row.checksum.is_some())
        });
    if verified {
        of(status.migrations(), status.dialect(), schema_cookie)
    } else {
        NONE
    }
}

/// Whether the stored fingerprint claims head while the history, read in full, says otherwise: the
/// history was changed outside workhub without a schema change, and a run that trusts the fingerprint
/// would wrongly do nothing.
pub fn misleads(header: Header, status: &Status<'_>) -> bool {
    proves_head(header, status.migrations(), status.dialect()) && !status.is_at_head()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Scripts;

    fn migration(version: &str, up: &str) -> Migration {
        Migration::new(
            format!("{version}_m"),
            version.to_string(),
            "m".to_string(),
            true,
            Scripts::new(up.to_string(), None),
            None,
        )
    }

    fn set() -> Vec<Migration> {
        vec![
            migration("20240101000001", "CREATE TABLE a (id INTEGER);"),
            migration("20240101000002", "CREATE TABLE b (id INTEGER);"),
        ]
    }

    #[test]
    fn the_fingerprint_changes_with_the_cookie_the_set_and_every_checksum() {
        let base = of(&set(), Dialect::Sqlite, 7);
        assert_eq!(base, of(&set(), Dialect::Sqlite, 7), "deterministic");
        assert_ne!(base, of(&set(), Dialect::Sqlite, 8), "schema cookie");
        assert_ne!(
            base,
            of(&set()[..1], Dialect::Sqlite, 7),
            "a migration fewer"
        );
        let mut edited = set();
        edited[1] = migration("20240101000002", "CREATE TABLE b (id BIGINT);");
        assert_ne!(base, of(&edited, Dialect::Sqlite, 7), "an edited migration");
    }

    #[test]
    fn only_a_stored_matching_fingerprint_proves_head() {
        let migrations = set();
        let stored = of(&migrations, Dialect::Sqlite, 3);
        let header = |schema_cookie, fingerprint| Header {
            schema_cookie,
            fingerprint,
        };
        assert!(proves_head(header(3, stored), &migrations, Dialect::Sqlite));
        assert!(!proves_head(
            header(4, stored),
            &migrations,
            Dialect::Sqlite
        ));
        assert!(!proves_head(header(3, NONE), &migrations, Dialect::Sqlite));
        assert!(!proves_head(
            header(3, stored),
            &migrations[..1],
            Dialect::Sqlite
        ));
    }
}
