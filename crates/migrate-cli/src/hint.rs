//! The way out of each engine error, in this command line's words: the engine says what happened
//! and where the database stands; these hints name the commands, flags and variables that fix it,
//! with the program's own name.

use workhub_migrations::{DatabaseError, MigrateError, SourceError, WrongWay};

/// The message of `err` as `program`'s user reads it: what happened, then the way out.
pub fn message(err: &MigrateError, program: &str) -> String {
    match err {
        MigrateError::Source(err) => source_message(err),
        // The flag that chose the mode is this command line's: it words the whole refusal.
        MigrateError::NeedsOwnTransaction { folders } => format!(
            "--transaction all cannot include migrations with run_in_transaction = false \
             (CREATE INDEX CONCURRENTLY and other statements a transaction block refuses):{}\n  \
             nothing was run\n  \
             hint: use --transaction each (the default), or stop the run before them",
            folders
                .iter()
                .map(|f| format!("\n    {f}"))
                .collect::<String>()
        ),
        // The command that goes the other way, on the same line.
        MigrateError::WrongDirection { target, reason } => {
            let way = match reason {
                WrongWay::UpgradeToBase => format!("use `{program} db downgrade base`"),
                WrongWay::UpgradeBack => format!("use `{program} db downgrade {target}`"),
                WrongWay::AlreadyPast { .. } => {
                    format!("use `{program} db downgrade {target}` to go back")
                }
                WrongWay::DowngradeForward => format!("use `{program} db upgrade`"),
                WrongWay::NotApplied { .. } => format!("use `{program} db upgrade {target}`"),
                _ => return err.to_string(),
            };
            format!("{err}; {way}")
        }
        _ => match hint(err, program) {
            Some(hint) => format!("{err}\n  hint: {hint}"),
            None => err.to_string(),
        },
    }
}

/// A migration folder's error with its remedy, or for an unreadable directory, where to point.
/// The two ways past a migration a run on MySQL left unfinished.
pub fn unfinished_hint(run: &workhub_migrations::history::InterruptedRun, program: &str) -> String {
    use workhub_migrations::plan::Direction;
    let command = match run.direction {
        Direction::Up => "upgrade",
        Direction::Down => "downgrade",
    };
    let fix = match &run.failure {
        Some(_) => format!("fix the cause of statement {}'s failure", run.resumes_at()),
        None if run.by_script => format!(
            "fix the cause of statement {}'s failure, which the client printed",
            run.resumes_at()
        ),
        None => format!(
            "check whether statement {} took effect and undo it by hand if it did",
            run.resumes_at()
        ),
    };
    let after_repair = match run.direction {
        Direction::Up => "the migration is then pending and runs again from its first statement",
        Direction::Down => "the migration then stays applied, as before the downgrade",
    };
    format!(
        "{fix} (in the database, or in the migration's not yet run statements), then `{program} db \
         {command} --resume` continues {} from statement {}; or undo by hand what took effect ({}) \
         and `{program} db repair` forgets the unfinished run: {after_repair}",
        run.folder,
        run.resumes_at(),
        run.took_effect()
    )
}

pub fn source_message(err: &SourceError) -> String {
    let remedy = match err {
        SourceError::Unreadable { .. } => Some(
            "run from the project root, or point --migrations-dir / WORKHUB_MIGRATIONS_DIR at it"
                .to_string(),
        ),
        other => other.remedy(),
    };
    match remedy {
        Some(remedy) => format!("{err}\n  hint: {remedy}"),
        None => err.to_string(),
    }
}

fn hint(err: &MigrateError, program: &str) -> Option<String> {
    Some(match err {
        MigrateError::BadUrl { .. } => "use a SQLite path (workhub.db, sqlite://path/to.db), \
             postgres://user@host/dbname or mysql://user@host/dbname, via --database-url or \
             DATABASE_URL"
            .into(),
        MigrateError::NotBuiltFor { feature, .. } => format!(
            "build {program} with MySQL: `cargo build --release -p {program} --features {feature}` \
             (`cargo run` and `cargo install` take the same flag); it links the \
             system's MySQL/MariaDB client library, on Debian and Ubuntu `apt-get install \
             libmariadb-dev` (see the README's MySQL section)"
        ),
        MigrateError::NoTransactionalDdl { .. } => {
            "drop --transaction all: each migration then runs statement by statement, and a failure \
             says exactly which statements took effect"
                .into()
        }
        MigrateError::NoMysqlScripts { file, .. } => format!(
            "write {file} in each folder (up.mysql.sql and down.mysql.sql go together when the \
             folder has a down.sql); a migration whose schema the database already has can be \
             recorded with `{program} db stamp` instead"
        ),
        MigrateError::Interrupted { run, .. } => unfinished_hint(run, program),
        MigrateError::Connect { url, cause } => match cause {
            _ if url.starts_with("postgres") => "check --database-url / DATABASE_URL and that the \
                 server is running and reachable from here (host, port, TLS, credentials)"
                .into(),
            DatabaseError::MissingDirectory { .. } => format!(
                "check --database-url / DATABASE_URL; to start a database there, create the \
                 directory, then `{program} db upgrade` creates the database"
            ),
            DatabaseError::Replaced => return None,
            _ => "check --database-url / DATABASE_URL and that the server is running and the \
                  directory exists"
                .into(),
        },
        MigrateError::UnknownTarget { .. } => format!(
            "use head, base, +N, -N, a version or a version prefix; `{program} db history` lists them"
        ),
        MigrateError::AmbiguousTarget { .. } => "give more digits of the version".into(),
        MigrateError::OutOfRange { .. } => {
            format!("`{program} db history` shows where the database stands")
        }
        MigrateError::Modified { .. } => format!(
            "restore their up.sql from version control and put the change in a new migration; if \
             the edit is deliberate and the schema already matches, record the new checksums with \
             `{program} db repair`"
        ),
        MigrateError::UnknownApplied { newer: true, .. } => {
            "the database is ahead of this build; deploy the newer binary".into()
        }
        MigrateError::UnknownApplied { .. } => "they sort below this binary's newest migration, so \
             no newer build explains them: a migration folder was renamed or removed, or they come \
             from another branch; revert them with the build that has them"
            .into(),
        MigrateError::EmptyUp { .. } => {
            "write the SQL it runs (a comment alone is a no-op), or delete the folder".into()
        }
        MigrateError::OutOfOrder { .. } => "check they do not conflict with it, then rerun with \
             --allow-out-of-order, or recreate them with a newer timestamp"
            .into(),
        MigrateError::Irreversible { .. } => {
            "add a down.sql, or choose a target above them".into()
        }
        MigrateError::Statement { statement, .. } => {
            // PostgreSQL keeps the catalog entry of a concurrent index build that failed midway.
            let upper = statement.to_ascii_uppercase();
            if !(upper.contains("CREATE") && upper.contains("INDEX") && upper.contains("CONCURRENTLY"))
            {
                return None;
            }
            "a failed CREATE INDEX CONCURRENTLY may leave an INVALID index behind (see \\d TABLE in \
             psql); drop it with DROP INDEX CONCURRENTLY IF EXISTS before rerunning"
                .into()
        }
        MigrateError::LockTimeout { .. } => "another process is migrating this database; wait for \
             it, or raise WORKHUB_LOCK_TIMEOUT (--lock-timeout)"
            .into(),
        MigrateError::WriterTimeout { .. } => {
            "retry when it is done, or raise WORKHUB_LOCK_TIMEOUT (--lock-timeout)".into()
        }
        MigrateError::SchemaMismatch { .. } => {
            "bring the schema in line, or stamp anyway with --force".into()
        }
        MigrateError::Diverged { .. } => crate::db::rebase_hint(program),
        _ => return None,
    })
}
