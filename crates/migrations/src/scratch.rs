//! The schema a set of migrations builds, read from a scratch database they are replayed into: never
//! the developer's database.

use workhub_schema::render::{self, Generator};
use workhub_schema::{diff, Change, Schema};

#[cfg(feature = "mysql")]
use crate::apply::{Mysql, TemporaryMysqlDatabase};
use crate::apply::{Postgres, Silent, Sqlite, TemporaryDatabase};
use crate::introspect;
use crate::plan::Target;
use crate::schema_cache;
use crate::{DatabaseError, DatabaseUrl, Dialect, MigrateError, Migration, Migrator};

/// The schema `migrations` build up to `target` on the database `url` names: replayed into an
/// in-memory SQLite database for a SQLite URL, into a temporary database on the same server for a
/// PostgreSQL or MySQL one. A dialect's SQL is never replayed into another.
pub fn built_on(
    url: &DatabaseUrl,
    migrations: &[Migration],
    target: &Target,
) -> Result<Schema, MigrateError> {
    match url {
        DatabaseUrl::Sqlite(_) => built_by(migrations, target),
        DatabaseUrl::Postgres(_) => built_by_postgres(url, migrations, target),
        #[cfg(feature = "mysql")]
        DatabaseUrl::Mysql(_) => built_by_mysql(url, migrations, target),
        #[cfg(not(feature = "mysql"))]
        DatabaseUrl::Mysql(_) => Err(MigrateError::NotBuiltFor {
            url: url.to_string(),
            backend: "MySQL",
            feature: "mysql",
        }),
    }
}

/// What turns `from` into `to`, as `dialect` sees the two (each rendered for it first): empty when
/// they agree there.
pub fn differences(from: &Schema, to: &Schema, dialect: Dialect) -> Vec<Change> {
    let (from, to) = render::comparable(from, to, dialect);
    diff(&from, &to)
}

/// Replays `migrations` (up to `target`) into an in-memory SQLite database and reads its schema back,
/// once per history state: a schema [`schema_cache`] keeps for exactly these migrations and this
/// code is reused instead.
pub fn built_by(migrations: &[Migration], target: &Target) -> Result<Schema, MigrateError> {
    let fingerprint = schema_cache::fingerprint(migrations, target, Dialect::Sqlite);
    if let Some(schema) = schema_cache::get(&fingerprint) {
        return Ok(schema);
    }
    let schema = match from_kept_database(migrations, target, &fingerprint) {
        Some(schema) => schema,
        None => replayed_and_kept(migrations, target, &fingerprint)?,
    };
    schema_cache::put(&fingerprint, &schema);
    Ok(schema)
}

/// How many migrations back a kept database is looked for: a branch's few new ones.
const NEW_MIGRATIONS: usize = 16;

/// The schema built by applying the migrations a kept database of an earlier state of this history
/// lacks to a copy of it, keeping the result in its place; `None` when no such database is kept or
/// anything fails on the way (the caller replays the whole history, which reports any error).
fn from_kept_database(
    migrations: &[Migration],
    target: &Target,
    fingerprint: &str,
) -> Option<Schema> {
    if *target != Target::Head {
        return None;
    }
    let kept = (migrations.len().saturating_sub(NEW_MIGRATIONS).max(1)..migrations.len())
        .rev()
        .find_map(|k| {
            schema_cache::database(&schema_cache::fingerprint(
                &migrations[..k],
                &Target::Head,
                Dialect::Sqlite,
            ))
        })?;
    let work = schema_cache::workspace()?;
    let path = work.join("replay.db");
    let built = std::fs::copy(&kept, &path)
        .ok()
        .and_then(|_| replay_into_file(migrations, &path).ok());
    if built.is_some() {
        schema_cache::keep_database(fingerprint, &path);
    }
    let _ = std::fs::remove_dir_all(&work);
    built
}

/// A whole replay. When schemas are kept across runs it is made into a file in the kept directory,
/// which is then kept beside the schema; should that fail, into memory (which reports what is wrong
/// with the history, if anything is).
fn replayed_and_kept(
    migrations: &[Migration],
    target: &Target,
    fingerprint: &str,
) -> Result<Schema, MigrateError> {
    if *target == Target::Head {
        if let Some(work) = schema_cache::workspace() {
            let path = work.join("replay.db");
            let built = replay_into_file(migrations, &path);
            if built.is_ok() {
                schema_cache::keep_database(fingerprint, &path);
            }
            let _ = std::fs::remove_dir_all(&work);
            if let Ok(schema) = built {
                return Ok(schema);
            }
        }
    }
    replayed(migrations, target)
}

/// Applies what `migrations` (up to head) the database file `path` lacks, and reads its schema
/// back. The file is a cache: it is written without syncs (a crash leaves it in a work directory
/// that is never kept).
fn replay_into_file(
    migrations: &[Migration],
    path: &std::path::Path,
) -> Result<Schema, MigrateError> {
    let mut db = Sqlite::open(path)?;
    diesel::connection::SimpleConnection::batch_execute(
        db.connection()?,
        "PRAGMA synchronous = OFF; PRAGMA journal_mode = MEMORY; PRAGMA cache_size = -65536;",
    )
    .map_err(|err| MigrateError::Database {
        doing: "preparing the scratch database".into(),
        cause: crate::apply::sqlite::classify(path, err),
    })?;
    let mut migrator = Migrator::new(migrations);
    migrator.allow_out_of_order = true;
    migrator.allow_diverged = true;
    if !migrations.is_empty() {
        migrator.upgrade(&mut db, &Target::Head, &mut Silent)?;
    }
    read(&mut db)
}

/// The replay itself, with nothing kept.
pub fn replayed(migrations: &[Migration], target: &Target) -> Result<Schema, MigrateError> {
    read(&mut replay_into_memory(migrations, target)?)
}

fn replay_into_memory(
    migrations: &[Migration],
    target: &Target,
) -> Result<Sqlite<'static>, MigrateError> {
    let mut scratch = Sqlite::open(std::path::Path::new(":memory:"))?;
    let mut migrator = Migrator::new(migrations);
    migrator.allow_out_of_order = true;
    migrator.allow_diverged = true;
    if !(migrations.is_empty() || *target == Target::Base) {
        migrator.upgrade(&mut scratch, target, &mut Silent)?;
    }
    Ok(scratch)
}

/// Replays `migrations` (their PostgreSQL SQL) up to `target` into a temporary database created on
/// the server `server` points at, reads its schema back, and drops the database.
pub fn built_by_postgres(
    server: &DatabaseUrl,
    migrations: &[Migration],
    target: &Target,
) -> Result<Schema, MigrateError> {
    let scratch = TemporaryDatabase::create(server, "scratch")?;
    let mut db = Postgres::open(scratch.url())?;
    // Never replay into anything but the scratch database, whatever the URL's parameters say.
    let current = db.current_database()?;
    if current != scratch.name() {
        return Err(MigrateError::ScratchElsewhere {
            reached: current,
            created: scratch.name().to_string(),
        });
    }
    let mut migrator = Migrator::new(migrations);
    migrator.allow_out_of_order = true;
    migrator.allow_diverged = true;
    if !(migrations.is_empty() || *target == Target::Base) {
        migrator.upgrade(&mut db, target, &mut Silent)?;
    }
    let schema = read_postgres(&mut db);
    drop(db);
    schema
}

/// Reads the schema of an open PostgreSQL database.
pub fn read_postgres(db: &mut Postgres) -> Result<Schema, MigrateError> {
    introspect::postgres(db.connection()).map_err(|err| MigrateError::Database {
        doing: "reading the schema".into(),
        cause: DatabaseError::Query(err),
    })
}

/// Replays `migrations` (their MySQL SQL) up to `target` into a temporary database created on the
/// MySQL or MariaDB server `server` points at, reads its schema back, and drops the database.
#[cfg(feature = "mysql")]
pub fn built_by_mysql(
    server: &DatabaseUrl,
    migrations: &[Migration],
    target: &Target,
) -> Result<Schema, MigrateError> {
    let scratch = TemporaryMysqlDatabase::create(server, "scratch")?;
    let mut db = open_mysql_scratch(&scratch)?;
    let mut migrator = Migrator::new(migrations);
    migrator.allow_out_of_order = true;
    migrator.allow_diverged = true;
    if !(migrations.is_empty() || *target == Target::Base) {
        migrator.upgrade(&mut db, target, &mut Silent)?;
    }
    let schema = read_mysql(&mut db);
    // The connection closes before the temporary database is dropped.
    drop(db);
    schema
}

/// A connection to the MySQL scratch database `scratch`, refused when it reached another (never
/// replay into anything but the scratch database, whatever the URL's parameters say).
#[cfg(feature = "mysql")]
pub fn open_mysql_scratch(scratch: &TemporaryMysqlDatabase) -> Result<Mysql, MigrateError> {
    let mut db = Mysql::open(scratch.url())?;
    let reached = db
        .current_database()
        .map_err(|cause| MigrateError::Database {
            doing: "reading which database the scratch connection reached".into(),
            cause,
        })?
        .unwrap_or_default();
    if reached != scratch.name() {
        return Err(MigrateError::ScratchElsewhere {
            reached,
            created: scratch.name().to_string(),
        });
    }
    Ok(db)
}

/// Reads the schema of an open MySQL or MariaDB database.
#[cfg(feature = "mysql")]
pub fn read_mysql(db: &mut Mysql) -> Result<Schema, MigrateError> {
    introspect::mysql(db.connection()).map_err(|err| MigrateError::Database {
        doing: "reading the schema".into(),
        cause: DatabaseError::Query(err),
    })
}

/// Reads the schema of an open SQLite database.
pub fn read(db: &mut Sqlite) -> Result<Schema, MigrateError> {
    let path = db.path().to_path_buf();
    // A file not created yet has no schema.
    let Some(conn) = db.reading() else {
        return Ok(Schema::default());
    };
    introspect::sqlite(conn).map_err(|err| MigrateError::Database {
        doing: "reading the schema".into(),
        cause: crate::apply::sqlite::classify(&path, err),
    })
}

/// A migration generated from the difference between what the migrations build and the models.
#[derive(Debug, Clone)]
pub struct Generated {
    pub changes: Vec<Change>,
    pub up: String,
    pub down: String,
}

/// The migration that turns `current` into `models` on `dialect`, or `None` when they already agree.
pub fn generate(
    current: &Schema,
    models: &Schema,
    dialect: Dialect,
    title: &str,
    generator: &Generator,
) -> Option<Generated> {
    let current = &render::for_dialect(current, dialect);
    let target = render::for_dialect(models, dialect);
    let changes = diff(current, &target);
    if changes.is_empty() {
        return None;
    }
    let reverse = diff(&target, current);
    // SQLite's scripts have PostgreSQL counterparts beside them, which another runner may not know.
    let guard = |file: &str| match dialect {
        Dialect::Sqlite => render::postgres_refusal(file, generator),
        Dialect::Postgres | Dialect::Mysql => String::new(),
    };
    let up = render::header(title, &changes, generator)
        + &guard("up.postgres.sql")
        + &render::render(dialect, current, &target, &changes, generator);
    let down = render::header(
        &format!("{title} (down: reverts up.sql)"),
        &reverse,
        generator,
    ) + &guard("down.postgres.sql")
        + &render::render(dialect, &target, current, &reverse, generator);
    Some(Generated { changes, up, down })
}

/// The model changes no migration captures yet: empty when models and migrations agree.
pub fn uncaptured(migrations: &[Migration], models: &Schema) -> Result<Vec<Change>, MigrateError> {
    let current = built_by(migrations, &Target::Head)?;
    Ok(differences(&current, models, Dialect::Sqlite))
}
