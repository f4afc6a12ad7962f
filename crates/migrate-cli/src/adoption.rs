//! A database that has tables but no recorded migration: made by other means (an older deploy, a
//! dump, `create_all`), waiting to be adopted with `db stamp`. Every command that meets one says so,
//! naming the revision whose schema the database has, if any.

#[cfg(feature = "mysql")]
use workhub_migrations::apply::TemporaryMysqlDatabase;
use workhub_migrations::apply::{Backend, Postgres, Silent, Sqlite, TemporaryDatabase};
use workhub_migrations::{
    scratch, Database, DatabaseUrl, Dialect, MigrateError, Migration, Migrator, Status, Target,
};
use workhub_schema::Schema;

use crate::context::Context;
use crate::failure::Failure;

/// What an unadopted database holds, against what the migrations build.
#[derive(Debug)]
pub struct Unadopted<'m> {
    /// The database's own tables (workhub's and diesel's history tables aside).
    pub tables: Vec<String>,
    /// The revisions whose schema is exactly the database's.
    pub matching: Matching<'m>,
    /// The database's tables that the migrations create too: running them would fail on these.
    pub clashing: Vec<String>,
}

/// The tables of a database that records no migration as applied, with the revisions it matches;
/// `None` when something is recorded or the database has no tables of its own.
pub fn assess<'m>(
    ctx: &'m Context,
    db: &mut Database,
    status: &Status<'_>,
) -> Result<Option<Unadopted<'m>>, Failure> {
    if status.applied().next().is_some() || !status.unknown.is_empty() {
        return Ok(None);
    }
    let (live, dialect) = crate::drift::read_live(ctx, db)?;
    if live.tables.is_empty() {
        return Ok(None);
    }
    let (matching, head) = matching(ctx, &live, dialect)?;
    let tables: Vec<String> = live.tables.iter().map(|t| t.name.clone()).collect();
    let clashing = tables
        .iter()
        .filter(|name| head.table(name).is_some())
        .cloned()
        .collect();
    Ok(Some(Unadopted {
        tables,
        matching,
        clashing,
    }))
}

impl Unadopted<'_> {
    /// What the database is, in one sentence.
    pub fn describe(&self, url: &DatabaseUrl) -> String {
        format!(
            "{url} has tables ({}) but records no migration as applied: it was not built by these \
             migrations, or its history was lost",
            self.tables.join(", ")
        )
    }

    /// The way out: stamp the revision the database matches, or bring it in line with one.
    pub fn hint(&self, program: &str) -> String {
        if self.matching.found.is_empty() {
            format!(
                "{}: bring the schema in line with a revision (`{program} db stamp head` lists the \
                 differences from head), then `{program} db stamp` it, so that `{program} db \
                 upgrade` runs only what comes after",
                self.matching.hint(program)
            )
        } else {
            self.matching.hint(program)
        }
    }

    /// `note: ...` and the hint, as read-only commands print it below their report.
    pub fn note(&self, ctx: &Context) -> String {
        format!(
            "note: {}\n  hint: {}",
            self.describe(&ctx.url),
            self.hint(ctx.app.program)
        )
    }
}

/// The note for a database that may be unadopted, when it is one; read-only commands print it and
/// carry on, so a failure to read the schema only leaves the note out.
pub fn note_if_unadopted(ctx: &Context, status: &Status<'_>) -> Option<String> {
    if status.applied().next().is_some() || !status.unknown.is_empty() {
        return None;
    }
    let mut db = ctx.open().ok()?;
    match assess(ctx, &mut db, status) {
        Ok(found) => found.map(|unadopted| unadopted.note(ctx)),
        Err(err) => Some(format!(
            "note: could not tell whether {} holds tables these migrations did not build: {err}",
            ctx.url
        )),
    }
}

/// The revisions whose schema is exactly a database's, oldest first; consecutive when more than one
/// (the later ones change only data).
#[derive(Debug)]
pub struct Matching<'m> {
    pub found: Vec<&'m Migration>,
    /// The newest migration: stamping it leaves nothing to upgrade.
    head: Option<&'m Migration>,
}

impl Matching<'_> {
    fn then_upgrade(&self, stamped: &Migration, program: &str) -> String {
        if self
            .head
            .is_some_and(|head| head.version() == stamped.version())
        {
            String::new()
        } else {
            format!(", then `{program} db upgrade` runs the rest")
        }
    }

    /// Which revision to stamp, or that none fits.
    pub fn hint(&self, program: &str) -> String {
        match self.found.as_slice() {
            [] => "no revision's schema matches the database".to_string(),
            [only] => format!(
                "the database's schema is what the migrations up to {} build: `{program} db stamp \
                 {}` records them as applied without running SQL{}",
                only.folder(),
                only.version(),
                self.then_upgrade(only, program)
            ),
            [first, rest @ ..] => {
                let last = rest[rest.len() - 1];
                let later = match rest {
                    [one] => format!("{} changes", one.folder()),
                    _ => format!("{} through {} change", rest[0].folder(), last.folder()),
                };
                format!(
                    "the database's schema is what the migrations up to {} build, and {later} no \
                     schema: `{program} db stamp {}` records them as applied without running SQL, \
                     then `{program} db upgrade` runs the rest (stamp {} instead if that data is \
                     already there)",
                    first.folder(),
                    first.version(),
                    last.version()
                )
            }
        }
    }
}

/// The revisions whose schema is `live`'s, and the schema the migrations build at head.
pub fn matching<'m>(
    ctx: &'m Context,
    live: &Schema,
    dialect: Dialect,
) -> Result<(Matching<'m>, Schema), Failure> {
    let mut found = Vec::new();
    let head = replay_each(&ctx.url, &ctx.migrations, &mut |migration, built| {
        if scratch::differences(live, built, dialect).is_empty() {
            found.push(migration);
        }
    })
    .map_err(|err| ctx.error(err))?;
    let matching = Matching {
        found,
        head: ctx.migrations.last(),
    };
    Ok((matching, head))
}

/// Replays `migrations` one at a time into a scratch database of `url`'s dialect (in-memory SQLite,
/// or a temporary database on the PostgreSQL or MySQL server), showing `visit` the schema after each; returns
/// the schema they build at head.
fn replay_each<'m>(
    url: &DatabaseUrl,
    migrations: &'m [Migration],
    visit: &mut dyn FnMut(&'m Migration, &Schema),
) -> Result<Schema, MigrateError> {
    match url.dialect() {
        Dialect::Sqlite => {
            let mut db = Sqlite::open(std::path::Path::new(":memory:"))?;
            replay_into(&mut db, migrations, scratch::read, visit)
        }
        Dialect::Postgres => {
            let temporary = TemporaryDatabase::create(url, "scratch")?;
            let mut db = Postgres::open(temporary.url())?;
            // Never replay into anything but the scratch database, whatever the URL's parameters say.
            let reached = db.current_database()?;
            if reached != temporary.name() {
                return Err(MigrateError::ScratchElsewhere {
                    reached,
                    created: temporary.name().to_string(),
                });
            }
            // The connection closes before the temporary database is dropped.
            replay_into(&mut db, migrations, scratch::read_postgres, visit)
        }
        #[cfg(feature = "mysql")]
        Dialect::Mysql => {
            let temporary = TemporaryMysqlDatabase::create(url, "scratch")?;
            let mut db = scratch::open_mysql_scratch(&temporary)?;
            // The connection closes before the temporary database is dropped.
            replay_into(&mut db, migrations, scratch::read_mysql, visit)
        }
        #[cfg(not(feature = "mysql"))]
        Dialect::Mysql => Err(MigrateError::NotBuiltFor {
            url: url.to_string(),
            backend: "MySQL",
            feature: "mysql",
        }),
    }
}

fn replay_into<'m, B: Backend>(
    db: &mut B,
    migrations: &'m [Migration],
    read: fn(&mut B) -> Result<Schema, MigrateError>,
    visit: &mut dyn FnMut(&'m Migration, &Schema),
) -> Result<Schema, MigrateError> {
    let mut migrator = Migrator::new(migrations);
    migrator.allow_out_of_order = true;
    migrator.allow_diverged = true;
    let mut built = read(db)?;
    for migration in migrations {
        let target = Target::Revision(migration.version().to_string());
        migrator.upgrade(db, &target, &mut Silent)?;
        built = read(db)?;
        visit(migration, &built);
    }
    Ok(built)
}
