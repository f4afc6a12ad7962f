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
    let (kept, previous) = (migrations.len().saturating_sub(NEW_MIGRATIONS).max(1)
        ..migrations.len())
        .rev()
        .find_map(|k| {
            let prefix =
                schema_cache::fingerprint(&migrations[..k], &Target::Head, Dialect::Sqlite);
            Some((schema_cache::database(&prefix)?, schema_cache::get(&prefix)))
        })?;
    let work = schema_cache::workspace()?;
    let path = work.join("replay.db");
    let built = std::fs::copy(&kept, &path)
        .ok()
        .and_then(|_| replay_into_file(migrations, &path, previous.as_ref()).ok());
    // Used now, so pruned last: the base a branch's migrations keep being built on stays.
    if let Ok(file) = std::fs::File::options().append(true).open(&kept) {
        let _ = file.set_modified(std::time::SystemTime::now());
    }
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
            let built = replay_into_file(migrations, &path, None);
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
/// back: only the tables the migrations changed when `previous` is the schema the file held before
/// ([`introspect::sqlite_since`]). The file is a cache: it is written without syncs (a crash leaves
/// it in a work directory that is never kept).
fn replay_into_file(
    migrations: &[Migration],
    path: &std::path::Path,
    previous: Option<&Schema>,
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
    let reading = |err| MigrateError::Database {
        doing: "reading the schema".into(),
        cause: crate::apply::sqlite::classify(path, err),
    };
    let before = match previous {
        Some(_) => Some(introspect::catalog(db.connection()?).map_err(reading)?),
        None => None,
    };
    let mut migrator = Migrator::new(migrations);
    migrator.allow_out_of_order = true;
    migrator.allow_diverged = true;
    if !migrations.is_empty() {
        migrator.upgrade(&mut db, &Target::Head, &mut Silent)?;
    }
    match (before, previous) {
        (Some(before), Some(previous)) => {
            introspect::sqlite_since(db.connection()?, &before, previous).map_err(reading)
        }
        _ => read(&mut db),
    }
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
/// the server `server` points at, reads its schema back, and drops the database; once per history
/// state and server ([`schema_cache`]): a schema kept for exactly these migrations on a server that
/// is the same in everything a replay depends on ([`fresh_database`]) is reused instead.
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
    let fingerprint = schema_cache::fingerprint_on(
        migrations,
        target,
        Dialect::Postgres,
        &fresh_database(&mut db)?,
    );
    if let Some(schema) = schema_cache::get(&fingerprint) {
        return Ok(schema);
    }
    let mut migrator = Migrator::new(migrations);
    migrator.allow_out_of_order = true;
    migrator.allow_diverged = true;
    if !(migrations.is_empty() || *target == Target::Base) {
        migrator.upgrade(&mut db, target, &mut Silent)?;
    }
    let schema = read_postgres(&mut db)?;
    drop(db);
    schema_cache::put(&fingerprint, &schema);
    Ok(schema)
}

/// What a replay into the fresh database `db` depends on besides the migrations: the server's
/// version; the settings that change what DDL creates or how it reads back (the schema it creates
/// in, the tablespace, encodings and the database's locale, the time zone and styles constants in
/// defaults are printed in); the roles (a migration may ask which exist); the extensions the
/// server offers (a migration's `CREATE EXTENSION` installs their files); and everything the
/// database's template put into it (its schema as introspection reads it, and the user-made
/// schemas, types, functions, operators, casts and relations it holds).
fn fresh_database(db: &mut Postgres) -> Result<String, MigrateError> {
    #[derive(diesel::QueryableByName)]
    struct Described {
        #[diesel(sql_type = diesel::sql_types::Text)]
        server: String,
    }
    // Objects made after initdb have OIDs from 16384 (FirstNormalObjectId) on.
    // A setting a server version lacks reads as NULL (`current_setting(name, true)`), which
    // concat_ws leaves out; the database's own locale is read from its pg_database row, whatever
    // that version's columns are (less what differs between any two fresh databases).
    const DESCRIBE: &str = "SELECT concat_ws(E'\\n', version(), current_user, \
        (SELECT string_agg(format('%s=%s', s, current_setting(s, true)), ',') FROM unnest(ARRAY[\
           'search_path', 'default_tablespace', 'default_table_access_method', 'server_encoding', \
           'TimeZone', 'timezone_abbreviations', 'DateStyle', 'IntervalStyle', 'lc_monetary', \
           'lc_numeric', 'extra_float_digits', 'standard_conforming_strings', \
           'default_toast_compression', 'check_function_bodies']) s), \
        (SELECT (to_jsonb(d) - 'oid' - 'datname' - 'datfrozenxid' - 'datminmxid')::text \
           FROM pg_database d WHERE datname = current_database()), \
        (SELECT string_agg(rolname, ',' ORDER BY rolname) FROM pg_roles), \
        (SELECT string_agg(name || ' ' || coalesce(default_version, ''), ',' ORDER BY name) \
           FROM pg_available_extensions), \
        (SELECT string_agg(extname || ' ' || extversion, ',' ORDER BY extname) FROM pg_extension), \
        (SELECT string_agg(nspname, ',' ORDER BY nspname) FROM pg_namespace WHERE oid >= 16384), \
        (SELECT string_agg(format('%s.%s %s %s', n.nspname, c.relname, c.relkind, c.relnatts), ',' \
           ORDER BY n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
           WHERE c.oid >= 16384), \
        (SELECT string_agg(format('%s.%s %s %s', n.nspname, t.typname, t.typtype, \
           format_type(t.typbasetype, t.typtypmod)), ',' ORDER BY n.nspname, t.typname) \
           FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace WHERE t.oid >= 16384), \
        (SELECT string_agg(format('%s.%s(%s) %s %s %s', n.nspname, p.proname, \
           pg_get_function_identity_arguments(p.oid), pg_get_function_result(p.oid), p.provolatile, \
           md5(coalesce(p.prosrc, ''))), ',' \
           ORDER BY n.nspname, p.proname, pg_get_function_identity_arguments(p.oid)) \
           FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE p.oid >= 16384), \
        (SELECT string_agg(x, ',' ORDER BY x) FROM (SELECT format('%s %s %s', o.oprname, \
           o.oprleft::regtype, o.oprright::regtype) AS x FROM pg_operator o WHERE o.oid >= 16384) q), \
        (SELECT string_agg(x, ',' ORDER BY x) FROM (SELECT format('%s %s %s', c.castsource::regtype, \
           c.casttarget::regtype, c.castcontext) AS x FROM pg_cast c WHERE c.oid >= 16384) q), \
        (SELECT string_agg(x, ',' ORDER BY x) FROM (SELECT format('%s %s', o.opcname, \
           o.opcintype::regtype) AS x FROM pg_opclass o WHERE o.oid >= 16384) q)) AS server";
    use diesel::RunQueryDsl;
    let described = diesel::sql_query(DESCRIBE)
        .get_result::<Described>(db.connection())
        .map_err(|err| MigrateError::Database {
            doing: "describing the scratch database".into(),
            cause: DatabaseError::Query(err),
        })?;
    let template = read_postgres(db)?;
    Ok(format!("{}\n{template:?}", described.server))
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
    let header = match dialect {
        Dialect::Mysql => render::header_mysql,
        Dialect::Sqlite | Dialect::Postgres => render::header,
    };
    let up = header(title, &changes, generator)
        + &guard("up.postgres.sql")
        + &render::render(dialect, current, &target, &changes, generator);
    let reverts = match dialect {
        Dialect::Mysql => "up.mysql.sql",
        Dialect::Sqlite | Dialect::Postgres => "up.sql",
    };
    let down = header(
        &format!("{title} (down: reverts {reverts})"),
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
