//! The autogenerate benchmark's workload: a model of TABLES (default 500) tables x 20 columns, each
//! table with an index and a foreign key, whose one migration already exists; one column is then
//! changed, and the time to get the schema the migration builds, compare it with the model and
//! render both dialects is measured twice: replaying the migration into a scratch database and
//! reading it back (a history `db create` has not seen), and reading the schema a replay of this
//! history kept (a second `db create` on an unchanged history, in a new process). `scripts/bench.sh`
//! runs it; it prints the median of each series' runs in milliseconds, one line each.
//! `WORKHUB_BENCH_SQL=FILE` also writes the migration's SQLite script there, and
//! `WORKHUB_BENCH_CHANGE_SQL=FILE` the script of the one new migration.
//!
//! `cargo run --release -p workhub-migrations --example autogenerate_bench -- [TABLES] [RUNS]`

use std::path::Path;
use std::time::{Duration, Instant};

use workhub_migrations::apply::{Silent, Sqlite};
use workhub_migrations::schema_cache;
use workhub_migrations::scratch::{self, generate};
use workhub_migrations::{Dialect, Migration, Migrator, Scripts, Target};
use workhub_schema::render::Generator;
use workhub_schema::{Action, Column, ColumnType, ForeignKey, Index, Schema, Table};

/// The names the generated SQL gives its generator.
const GENERATOR: Generator<'static> = Generator {
    name: "bench",
    create: "bench create",
    upgrade: "bench upgrade",
};

/// The model with `changed` columns changed (0, 1 or 2).
fn model(tables: usize, changed: usize) -> Schema {
    Schema::new(
        (0..tables)
            .map(|t| {
                let name = format!("table_{t:03}");
                let mut table = Table::new(&name);
                table.primary_key = vec!["id".into()];
                table
                    .columns
                    .push(Column::new("id", ColumnType::BigInt, false));
                table
                    .columns
                    .push(Column::new("parent_id", ColumnType::BigInt, true));
                for c in 2..20 {
                    let ty = match c % 4 {
                        0 => ColumnType::Integer,
                        1 => ColumnType::Varchar(100),
                        2 => ColumnType::Bool,
                        _ => ColumnType::Text,
                    };
                    table
                        .columns
                        .push(Column::new(&format!("column_{c:02}"), ty, c % 3 == 0));
                }
                if changed >= 1 && t == tables / 2 {
                    table.columns[5].ty = ColumnType::Varchar(200);
                }
                if changed >= 2 && t == tables / 3 {
                    table.columns[9].ty = ColumnType::Varchar(200);
                }
                table.indexes.push(Index {
                    name: format!("{name}_column_02_idx"),
                    columns: vec!["column_02".into()],
                    unique: false,
                });
                table.foreign_keys.push(ForeignKey {
                    name: format!("{name}_parent_id_fkey"),
                    columns: vec!["parent_id".into()],
                    references: if t == 0 {
                        name.clone()
                    } else {
                        format!("table_{:03}", t - 1)
                    },
                    referenced_columns: vec!["id".into()],
                    on_delete: Action::Cascade,
                    on_update: Action::NoAction,
                });
                table
            })
            .collect(),
    )
}

fn main() {
    let mut args = std::env::args().skip(1);
    let tables: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(500);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let initial = generate(
        &Schema::default(),
        &model(tables, 0),
        Dialect::Sqlite,
        "initial",
        &GENERATOR,
    )
    .expect("the initial migration");
    // The migration's SQL, for the bench to time the sqlite3 shell replaying the same statements.
    if let Some(path) = std::env::var_os("WORKHUB_BENCH_SQL") {
        std::fs::write(path, &initial.up).expect("writing WORKHUB_BENCH_SQL");
    }
    let migrations = vec![Migration::new(
        "2024-01-01-000000_initial".into(),
        "20240101000000".into(),
        "initial".into(),
        true,
        Scripts::new(initial.up, Some(initial.down)),
        None,
    )];
    let changed = model(tables, 1);
    let kept_in = std::env::temp_dir().join(format!("autogenerate-bench-{}", std::process::id()));
    let mut replayed: Vec<Duration> = Vec::with_capacity(runs);
    let mut kept: Vec<Duration> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let started = Instant::now();
        let current = scratch::replayed(&migrations, &Target::Head).expect("replay");
        autogenerate(&current, &changed);
        replayed.push(started.elapsed());
    }
    // The first call replays and keeps the schema; every run after it starts as a new process
    // would, with nothing in memory, and reads the kept file.
    schema_cache::keep_in(Some(kept_in.clone()));
    scratch::built_by(&migrations, &Target::Head).expect("replay");
    for _ in 0..runs {
        schema_cache::keep_in(Some(kept_in.clone()));
        let started = Instant::now();
        let current = scratch::built_by(&migrations, &Target::Head).expect("kept schema");
        autogenerate(&current, &changed);
        kept.push(started.elapsed());
    }
    // A history grown by one migration (the change above, as `db create` wrote it) since the kept
    // replay, and the models changed once more: the database that replay kept has the new migration
    // applied to a copy of it. Each run starts with nothing kept for the grown history.
    let change = generate(
        &model(tables, 0),
        &changed,
        Dialect::Sqlite,
        "change",
        &GENERATOR,
    )
    .expect("the change");
    if let Some(path) = std::env::var_os("WORKHUB_BENCH_CHANGE_SQL") {
        std::fs::write(path, &change.up).expect("writing WORKHUB_BENCH_CHANGE_SQL");
    }
    let mut grown = migrations.clone();
    grown.push(Migration::new(
        "2024-01-02-000000_change".into(),
        "20240102000000".into(),
        "change".into(),
        true,
        Scripts::new(change.up, Some(change.down)),
        None,
    ));
    let changed_again = model(tables, 2);
    let grown_fingerprint = schema_cache::fingerprint(&grown, &Target::Head, Dialect::Sqlite);
    let mut after_new: Vec<Duration> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let _ = std::fs::remove_file(kept_in.join(format!("{grown_fingerprint}.json")));
        let _ = std::fs::remove_file(kept_in.join(format!("{grown_fingerprint}.db")));
        schema_cache::keep_in(Some(kept_in.clone()));
        let started = Instant::now();
        let current = scratch::built_by(&grown, &Target::Head).expect("grown history");
        autogenerate(&current, &changed_again);
        after_new.push(started.elapsed());
    }
    let _ = std::fs::remove_dir_all(&kept_in);
    // Where the time goes, for profiling: WORKHUB_BENCH_BREAKDOWN=1.
    if std::env::var_os("WORKHUB_BENCH_BREAKDOWN").is_some() {
        let t = Instant::now();
        let mut db = Sqlite::open(Path::new(":memory:")).expect("scratch database");
        Migrator::new(&migrations)
            .upgrade(&mut db, &Target::Head, &mut Silent)
            .expect("replay");
        let replay = t.elapsed();
        let t = Instant::now();
        let current = scratch::read(&mut db).expect("introspection");
        let introspect = t.elapsed();
        let t = Instant::now();
        let _ = generate(&current, &changed, Dialect::Sqlite, "change", &GENERATOR);
        let sqlite = t.elapsed();
        let t = Instant::now();
        let _ = generate(&current, &changed, Dialect::Postgres, "change", &GENERATOR);
        eprintln!(
            "replay {replay:?}, introspect {introspect:?}, diff and render: SQLite {sqlite:?}, PostgreSQL {:?}",
            t.elapsed()
        );
    }
    for (series, mut times) in [
        ("replayed", replayed),
        ("kept schema", kept),
        ("one new migration", after_new),
    ] {
        times.sort();
        println!(
            "autogenerate {tables} tables x 20 columns, one column changed, {series}: median {:.1} ms over {runs} runs (min {:.1} ms)",
            times[times.len() / 2].as_secs_f64() * 1000.0,
            times[0].as_secs_f64() * 1000.0
        );
    }
}

/// What `db create` does with the schema the migrations build: the SQL of both dialects.
fn autogenerate(current: &Schema, models: &Schema) {
    let sqlite =
        generate(current, models, Dialect::Sqlite, "change", &GENERATOR).expect("one change");
    let postgres =
        generate(current, models, Dialect::Postgres, "change", &GENERATOR).expect("one change");
    assert_eq!(sqlite.changes.len(), 1, "{:?}", sqlite.changes);
    assert_eq!(postgres.changes.len(), 1);
}
