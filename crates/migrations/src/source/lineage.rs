//! A migration's lineage: what it was written against. `db create` records it in `lineage.toml` in
//! the migration's folder (diesel reads only `up.sql`, `down.sql` and `metadata.toml` there, so
//! diesel_cli never sees it), and rewrites the one-line head file `migrations/lineage.head` with the
//! newest folder, so two branches that each add a migration conflict in git when they are merged.
//!
//! Migrations without the file (older ones, adopted diesel projects) have no lineage and are never
//! checked against it.

use std::borrow::Cow;
use std::fmt;
use std::path::Path;

use super::{Migration, SourceError};

/// The file in a migration folder that holds its lineage.
pub const LINEAGE_FILE: &str = "lineage.toml";

/// The schema digest recorded when the history does not replay on SQLite (SQL for PostgreSQL
/// alone): the parent is still known, the schema is not, and no check compares it.
pub const UNKNOWN_SCHEMA: &str = "unknown";

/// The file beside the folders naming the newest migration.
pub const HEAD_FILE: &str = "lineage.head";

/// What one migration was written against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lineage {
    /// The folder it follows; `None` for the first migration.
    parent: Option<Cow<'static, str>>,
    /// A digest of the schema the migrations up to the parent build.
    schema: Cow<'static, str>,
    hand_written: bool,
    /// The tables it touches, comma-separated (a plain string so a binary can embed it as a constant).
    tables: Cow<'static, str>,
    /// A generated migration's SQL files as written (see `draft::files_digest`): files that
    /// no longer match were edited by hand, and a rebase keeps them. Not embedded in binaries.
    sql: Option<Cow<'static, str>>,
}

impl Lineage {
    pub fn new(
        parent: Option<String>,
        schema: String,
        hand_written: bool,
        tables: Vec<String>,
    ) -> Self {
        Self {
            parent: parent.map(Cow::Owned),
            schema: Cow::Owned(schema),
            hand_written,
            tables: Cow::Owned(tables.join(",")),
            sql: None,
        }
    }

    /// The same lineage, recording the digest of the SQL files as written.
    pub fn with_sql(mut self, digest: String) -> Self {
        self.sql = Some(Cow::Owned(digest));
        self
    }

    /// The digest of the SQL files as `db create` wrote them, when recorded.
    pub fn sql(&self) -> Option<&str> {
        self.sql.as_deref()
    }

    /// A lineage compiled into a binary by its build script; `tables` is comma-separated.
    #[doc(hidden)]
    pub const fn embedded(
        parent: Option<&'static str>,
        schema: &'static str,
        hand_written: bool,
        tables: &'static str,
    ) -> Self {
        Self {
            parent: match parent {
                Some(parent) => Some(Cow::Borrowed(parent)),
                None => None,
            },
            schema: Cow::Borrowed(schema),
            hand_written,
            tables: Cow::Borrowed(tables),
            sql: None,
        }
    }

    /// The folder this migration follows, `None` when it was the first.
    pub fn parent(&self) -> Option<&str> {
        self.parent.as_deref()
    }

    /// The digest of the schema it assumes (see `draft::digest`).
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// Written by hand (`db create --empty`) rather than generated from the models.
    pub fn is_hand_written(&self) -> bool {
        self.hand_written
    }

    /// The tables it touches.
    pub fn tables(&self) -> Vec<&str> {
        self.tables.split(',').filter(|t| !t.is_empty()).collect()
    }

    /// The tables as the build script embeds them.
    #[doc(hidden)]
    pub fn tables_joined(&self) -> &str {
        &self.tables
    }

    /// Reads `lineage.toml` as TOML (comments, either quote style): `parent`, `schema`, `kind` and
    /// `tables`, and `sql` if set.
    pub fn parse(folder: &str, text: &str) -> Result<Self, SourceError> {
        let bad = |line: usize, message: String| SourceError::BadLineage {
            folder: folder.to_string(),
            line,
            message,
        };
        let table: toml::Table = text.parse().map_err(|err: toml::de::Error| {
            let line = err
                .span()
                .map_or(1, |span| text[..span.start].matches('\n').count() + 1);
            bad(line, err.message().trim().to_string())
        })?;
        // The line a key is on, for the message (the last line when it is missing).
        let line_of = |key: &str| {
            text.lines()
                .position(|l| {
                    l.trim_start()
                        .strip_prefix(key)
                        .is_some_and(|rest| rest.trim_start().starts_with('='))
                })
                .map_or(text.lines().count().max(1), |i| i + 1)
        };
        if let Some(unknown) = table
            .keys()
            .find(|k| !["parent", "schema", "kind", "tables", "sql"].contains(&k.as_str()))
        {
            return Err(bad(
                line_of(unknown),
                format!("unknown setting `{unknown}`"),
            ));
        }
        let string = |key: &str| -> Result<Option<String>, SourceError> {
            match table.get(key) {
                None => Ok(None),
                Some(toml::Value::String(value)) => Ok(Some(value.clone())),
                Some(other) => Err(bad(
                    line_of(key),
                    format!("`{key}` must be a string, not {}", other.type_str()),
                )),
            }
        };
        let required = |key: &str| -> Result<String, SourceError> {
            string(key)?.ok_or_else(|| bad(line_of(key), format!("`{key}` is missing")))
        };
        let parent = required("parent")?;
        let schema = required("schema")?;
        let hand_written = match required("kind")?.as_str() {
            "generated" => false,
            "hand-written" => true,
            other => {
                return Err(bad(
                    line_of("kind"),
                    format!("kind must be \"generated\" or \"hand-written\", not \"{other}\""),
                ))
            }
        };
        let tables = match table.get("tables") {
            None => return Err(bad(line_of("tables"), "`tables` is missing".into())),
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|item| {
                    item.as_str()
                        .filter(|t| !t.contains(','))
                        .map(str::to_string)
                        .ok_or_else(|| {
                            bad(
                                line_of("tables"),
                                format!(
                                    "`tables` must list table names, found a {}",
                                    item.type_str()
                                ),
                            )
                        })
                })
                .collect::<Result<Vec<_>, _>>()?,
            Some(other) => {
                return Err(bad(
                    line_of("tables"),
                    format!(
                        "`tables` must be a list like [\"tasks\"], not {}",
                        other.type_str()
                    ),
                ))
            }
        };
        let lineage = Self::new(
            (!parent.is_empty()).then_some(parent),
            schema,
            hand_written,
            tables,
        );
        Ok(match string("sql")? {
            Some(sql) => lineage.with_sql(sql),
            None => lineage,
        })
    }

    /// The file's text, as `db create` writes it.
    pub fn to_toml(&self) -> String {
        let tables: Vec<String> = self.tables().iter().map(|t| format!("\"{t}\"")).collect();
        format!(
            "# What this migration was written against, for workhub's branch checks (diesel ignores this file).\n\
             parent = \"{}\"\n\
             schema = \"{}\"\n\
             kind = \"{}\"\n\
             tables = [{}]\n{}",
            self.parent().unwrap_or_default(),
            self.schema,
            if self.hand_written { "hand-written" } else { "generated" },
            tables.join(", "),
            self.sql()
                .map(|sql| format!("sql = \"{sql}\"\n"))
                .unwrap_or_default()
        )
    }
}

/// Reads a folder's `lineage.toml`, when it has one.
pub fn read(folder: &str, text: Option<String>) -> Result<Option<Lineage>, SourceError> {
    text.map(|text| Lineage::parse(folder, &text)).transpose()
}

/// Two lines of history that meet: `migration` was written after `parent`, but other migrations
/// now sort between them, written without knowledge of it (typically merged from another branch).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Divergence {
    /// The migration whose lineage does not follow the one before it.
    pub migration: String,
    /// The folder it was written after (the common parent); `None` for the very first.
    pub parent: Option<String>,
    /// The migrations between the parent and it, oldest first.
    pub others: Vec<String>,
    /// Tables it and the others both touch.
    pub shared_tables: Vec<String>,
    /// The parent it records is not among the migrations before it (renamed, removed, or later).
    pub parent_missing: bool,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parent = self.parent.as_deref().unwrap_or("base");
        if self.parent_missing {
            return write!(
                f,
                "{} was written after {parent}, which is not among the migrations before it",
                self.migration
            );
        }
        write!(
            f,
            "{} and {} were both written after {parent}",
            self.others.join(", "),
            self.migration
        )?;
        if self.shared_tables.is_empty() {
            write!(f, " (no table in common)")
        } else {
            write!(f, "; both touch {}", self.shared_tables.join(", "))
        }
    }
}

/// Every migration whose lineage does not follow the migration before it, oldest first. Migrations
/// without lineage are never reported.
pub fn divergences(migrations: &[Migration]) -> Vec<Divergence> {
    (0..migrations.len())
        .filter_map(|index| divergence_at(migrations, index))
        .collect()
}

/// The divergence of `migrations[index]`, if its lineage does not follow the one before it.
pub fn divergence_at(migrations: &[Migration], index: usize) -> Option<Divergence> {
    let migration = &migrations[index];
    let lineage = migration.lineage()?;
    let before = index.checked_sub(1).map(|i| migrations[i].folder());
    if lineage.parent() == before {
        return None;
    }
    let start = match lineage.parent() {
        None => Some(0),
        Some(parent) => migrations[..index]
            .iter()
            .position(|m| m.folder() == parent)
            .map(|i| i + 1),
    };
    let Some(start) = start else {
        return Some(Divergence {
            migration: migration.folder().to_string(),
            parent: lineage.parent().map(str::to_string),
            others: Vec::new(),
            shared_tables: Vec::new(),
            parent_missing: true,
        });
    };
    let others = &migrations[start..index];
    let mine = touched(migration, others);
    let theirs: Vec<String> = others
        .iter()
        .flat_map(|other| touched(other, std::slice::from_ref(migration)))
        .collect();
    let mut shared: Vec<String> = mine.into_iter().filter(|t| theirs.contains(t)).collect();
    shared.sort();
    shared.dedup();
    Some(Divergence {
        migration: migration.folder().to_string(),
        parent: lineage.parent().map(str::to_string),
        others: others.iter().map(|m| m.folder().to_string()).collect(),
        shared_tables: shared,
        parent_missing: false,
    })
}

/// The tables `migration` touches: those its lineage records, plus, for SQL written by hand (or
/// with no lineage), any table `peers` touch that its `up.sql` names.
fn touched(migration: &Migration, peers: &[Migration]) -> Vec<String> {
    let mut tables: Vec<String> = migration
        .lineage()
        .map(|l| l.tables().into_iter().map(str::to_string).collect())
        .unwrap_or_default();
    if migration.lineage().is_none_or(Lineage::is_hand_written) {
        let words = identifiers(migration.scripts(super::Dialect::Sqlite).up());
        for peer in peers {
            for table in peer.lineage().map(Lineage::tables).unwrap_or_default() {
                if words.iter().any(|w| w.eq_ignore_ascii_case(table)) {
                    tables.push(table.to_string());
                }
            }
        }
    }
    tables
}

/// The words and quoted identifiers of `sql` (an SQLite script), comments and string literals left out.
fn identifiers(sql: &str) -> Vec<String> {
    super::statements::identifiers(sql, super::Dialect::Sqlite)
        .map(std::borrow::Cow::into_owned)
        .collect()
}

#[cfg(test)]
#[test]
fn identifiers_skip_comments_and_strings_but_keep_quoted_names() {
    let sql = "/* tasks */ UPDATE \"users\" SET note = 'projects' -- teams\n;";
    assert_eq!(identifiers(sql), ["UPDATE", "users", "SET", "note"]);
}

/// What is wrong with the head file, if anything.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HeadProblem {
    /// It still holds git's conflict markers: two branches each added a migration.
    Conflicted { sides: Vec<String> },
    /// It names another folder than the newest migration.
    Stale {
        names: String,
        newest: Option<String>,
    },
}

impl fmt::Display for HeadProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Conflicted { sides } => write!(
                f,
                "migrations/{HEAD_FILE} has merge conflict markers: two branches each added a migration ({})",
                sides.join(" and ")
            ),
            Self::Stale { names, newest } => write!(
                f,
                "migrations/{HEAD_FILE} names {names}, but the newest migration is {}: a migration was added, \
                 removed or renamed without refreshing it",
                newest.as_deref().unwrap_or("(none)")
            ),
        }
    }
}

/// The head file's text as `db create` writes it.
pub fn head_text(newest: &str) -> String {
    format!("{newest}\n")
}

/// Reads the head file of `dir`, `None` when there is none.
pub fn read_head(dir: &Path) -> Result<Option<String>, SourceError> {
    match std::fs::read_to_string(dir.join(HEAD_FILE)) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(SourceError::Unreadable {
            path: dir.join(HEAD_FILE),
            message: err.to_string(),
        }),
    }
}

/// The migration the head file says the history was merged into ("ours"): the one folder it
/// names, or, with git's conflict markers, the side between `<<<<<<<` and `=======` (or `|||||||`).
/// `None` when the text does not say.
pub fn head_ours(text: &str) -> Option<String> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let ours: Vec<&str> = match lines.iter().position(|l| l.starts_with("<<<<<<<")) {
        Some(start) => lines[start + 1..]
            .iter()
            .take_while(|l| !l.starts_with("=======") && !l.starts_with("|||||||"))
            .copied()
            .collect(),
        None => lines,
    };
    match ours.as_slice() {
        [one] => Some(one.to_string()),
        _ => None,
    }
}

/// Compares the head file's text with the migrations: it must name the newest one.
pub fn head_problem(text: &str, migrations: &[Migration]) -> Option<HeadProblem> {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    if lines.iter().any(|l| l.starts_with("<<<<<<<")) {
        let sides = lines
            .iter()
            .filter(|l| {
                !l.starts_with("<<<<<<<")
                    && !l.starts_with("=======")
                    && !l.starts_with(">>>>>>>")
                    && !l.starts_with("|||||||")
            })
            .map(|l| l.to_string())
            .collect();
        return Some(HeadProblem::Conflicted { sides });
    }
    let names = lines.first().copied().unwrap_or_default();
    let newest = migrations.last().map(Migration::folder);
    (Some(names) != newest).then(|| HeadProblem::Stale {
        names: names.to_string(),
        newest: newest.map(str::to_string),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_what_it_does_not_know() {
        let lineage = Lineage::new(
            Some("2024-01-01-000000_initial".into()),
            "ab12".into(),
            false,
            vec!["tasks".into(), "users".into()],
        );
        assert_eq!(Lineage::parse("f", &lineage.to_toml()).unwrap(), lineage);
        let with_sql = lineage.clone().with_sql("sha256:00ff".into());
        let parsed = Lineage::parse("f", &with_sql.to_toml()).unwrap();
        assert_eq!(parsed.sql(), Some("sha256:00ff"));
        assert_eq!(head_ours("a\n").as_deref(), Some("a"));
        assert_eq!(
            head_ours("<<<<<<< HEAD\na\n||||||| base\no\n=======\nb\n>>>>>>> topic\n").as_deref(),
            Some("a")
        );
        assert_eq!(
            head_ours("<<<<<<< HEAD\na\n=======\nb\n>>>>>>> topic\n").as_deref(),
            Some("a")
        );
        assert_eq!(head_ours(""), None);
        // Hand-edited TOML: comments after values, single quotes.
        let edited = "parent = 'p' # the one before\nschema = \"s\"\nkind = 'generated'\ntables = ['tasks'] # touched\n";
        let parsed = Lineage::parse("f", edited).unwrap();
        assert_eq!(
            (parsed.parent(), parsed.schema(), parsed.tables()),
            (Some("p"), "s", vec!["tasks"])
        );
        let first = Lineage::new(None, "00".into(), true, Vec::new());
        let parsed = Lineage::parse("f", &first.to_toml()).unwrap();
        assert_eq!(parsed, first);
        assert_eq!(parsed.parent(), None);
        assert!(parsed.tables().is_empty());
        for (text, line, needle) in [
            (
                "parent = \"a\"\nschema = \"b\"\nkind = \"generated\"\n",
                3,
                "`tables` is missing",
            ),
            ("colour = \"x\"", 1, "unknown setting `colour`"),
            (
                "parent = \"a\"\nschema = \"b\"\ntables = []\nkind = \"typed\"",
                4,
                "hand-written",
            ),
            ("parent = a", 1, "string"),
            ("parent = \"a\"\nparent = \"b\"", 2, "duplicate"),
            ("parent = \"a\"\nschema = 3", 2, "must be a string"),
        ] {
            let err = Lineage::parse("f", text).unwrap_err();
            assert!(
                matches!(&err, SourceError::BadLineage { line: l, message, .. } if *l == line && message.contains(needle)),
                "{text}: {err:?}"
            );
        }
    }

    #[test]
    fn the_head_file_names_the_newest_migration() {
        let migrations = vec![Migration::new(
            "2024-01-01-000000_a".into(),
            "20240101000000".into(),
            "a".into(),
            true,
            super::super::Scripts::new("SELECT 1;".into(), None),
            None,
        )];
        assert_eq!(
            head_problem(&head_text("2024-01-01-000000_a"), &migrations),
            None
        );
        assert!(matches!(
            head_problem("2023-01-01-000000_z\n", &migrations),
            Some(HeadProblem::Stale { .. })
        ));
        let conflicted =
            "<<<<<<< HEAD\n2024-01-02-000000_x\n=======\n2024-01-03-000000_y\n>>>>>>> b\n";
        assert_eq!(
            head_problem(conflicted, &migrations),
            Some(HeadProblem::Conflicted {
                sides: vec!["2024-01-02-000000_x".into(), "2024-01-03-000000_y".into()]
            })
        );
    }
}
