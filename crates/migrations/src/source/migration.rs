use std::borrow::Cow;

use workhub_schema::Dialect;

use super::{checksum, Lineage};

/// One direction pair of SQL: what `up` does and, when it can be reverted, what `down` does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scripts {
    up: Cow<'static, str>,
    down: Option<Cow<'static, str>>,
    checksum: Cow<'static, str>,
}

impl Scripts {
    pub fn new(up: String, down: Option<String>) -> Self {
        Self {
            checksum: Cow::Owned(checksum(&up)),
            up: Cow::Owned(up),
            down: down.map(Cow::Owned),
        }
    }

    /// Scripts compiled into a binary, their checksum computed by the build script.
    #[doc(hidden)]
    pub const fn embedded(
        up: &'static str,
        down: Option<&'static str>,
        checksum: &'static str,
    ) -> Self {
        Self {
            up: Cow::Borrowed(up),
            down: match down {
                Some(down) => Some(Cow::Borrowed(down)),
                None => None,
            },
            checksum: Cow::Borrowed(checksum),
        }
    }

    pub fn up(&self) -> &str {
        &self.up
    }

    pub fn down(&self) -> Option<&str> {
        self.down.as_deref()
    }

    /// The checksum of `up`: what a database records when the migration is applied.
    pub fn checksum(&self) -> &str {
        &self.checksum
    }
}

/// One migration folder, read and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    folder: Cow<'static, str>,
    version: Cow<'static, str>,
    name: Cow<'static, str>,
    run_in_transaction: bool,
    portable: Scripts,
    postgres: Option<Scripts>,
    /// `up.mysql.sql` / `down.mysql.sql`: the only SQL run on MySQL (see [`Migration::scripts`]).
    mysql: Option<Scripts>,
    lineage: Option<Lineage>,
}

impl Migration {
    pub fn new(
        folder: String,
        version: String,
        name: String,
        run_in_transaction: bool,
        portable: Scripts,
        postgres: Option<Scripts>,
    ) -> Self {
        Self {
            folder: Cow::Owned(folder),
            version: Cow::Owned(version),
            name: Cow::Owned(name),
            run_in_transaction,
            portable,
            postgres,
            mysql: None,
            lineage: None,
        }
    }

    /// The same migration with SQL for MySQL (`up.mysql.sql` / `down.mysql.sql`).
    pub fn with_mysql(mut self, mysql: Option<Scripts>) -> Self {
        self.mysql = mysql;
        self
    }

    /// The same migration with the lineage read from its folder.
    pub fn with_lineage(mut self, lineage: Option<Lineage>) -> Self {
        self.lineage = lineage;
        self
    }

    /// A migration compiled into a binary by its build script.
    #[doc(hidden)]
    pub const fn embedded(
        folder: &'static str,
        version: &'static str,
        name: &'static str,
        run_in_transaction: bool,
        portable: Scripts,
        postgres: Option<Scripts>,
    ) -> Self {
        Self::embedded_with_lineage(
            folder,
            version,
            name,
            run_in_transaction,
            portable,
            postgres,
            None,
        )
    }

    /// A migration and its lineage compiled into a binary by its build script.
    #[doc(hidden)]
    pub const fn embedded_with_lineage(
        folder: &'static str,
        version: &'static str,
        name: &'static str,
        run_in_transaction: bool,
        portable: Scripts,
        postgres: Option<Scripts>,
        lineage: Option<Lineage>,
    ) -> Self {
        Self::embedded_with_mysql(
            folder,
            version,
            name,
            run_in_transaction,
            portable,
            postgres,
            None,
            lineage,
        )
    }

    /// A migration, its MySQL SQL and its lineage compiled into a binary by its build script.
    #[doc(hidden)]
    #[allow(clippy::too_many_arguments)]
    pub const fn embedded_with_mysql(
        folder: &'static str,
        version: &'static str,
        name: &'static str,
        run_in_transaction: bool,
        portable: Scripts,
        postgres: Option<Scripts>,
        mysql: Option<Scripts>,
        lineage: Option<Lineage>,
    ) -> Self {
        Self {
            folder: Cow::Borrowed(folder),
            version: Cow::Borrowed(version),
            name: Cow::Borrowed(name),
            run_in_transaction,
            portable,
            postgres,
            mysql,
            lineage,
        }
    }

    /// The folder name, e.g. `2024-05-01-093000_add_tasks`.
    pub fn folder(&self) -> &str {
        &self.folder
    }

    /// diesel's version, e.g. `20240501093000`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The name after the timestamp, e.g. `add_tasks`.
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn run_in_transaction(&self) -> bool {
        self.run_in_transaction
    }

    /// The SQL this migration runs on `dialect`: its PostgreSQL override where it has one, its
    /// MySQL SQL on MySQL, else the portable `up.sql` / `down.sql`. MySQL never runs the portable
    /// SQL (written for SQLite, whose DDL MySQL cannot roll back when it fails there): a migration
    /// without `up.mysql.sql` is refused on MySQL before anything runs ([`Migration::runs_on`]); its
    /// portable scripts stand in here only so that its checksum can be named.
    pub fn scripts(&self, dialect: Dialect) -> &Scripts {
        match (dialect, &self.postgres, &self.mysql) {
            (Dialect::Postgres, Some(postgres), _) => postgres,
            (Dialect::Mysql, _, Some(mysql)) => mysql,
            _ => &self.portable,
        }
    }

    /// Whether this migration has SQL `dialect` runs: always on SQLite and PostgreSQL, on MySQL
    /// only with `up.mysql.sql`.
    pub fn runs_on(&self, dialect: Dialect) -> bool {
        dialect != Dialect::Mysql || self.mysql.is_some()
    }

    /// Whether the folder carries SQL written for MySQL.
    pub fn has_mysql_scripts(&self) -> bool {
        self.mysql.is_some()
    }

    /// What it was written against, when its folder records it (`lineage.toml`).
    pub fn lineage(&self) -> Option<&Lineage> {
        self.lineage.as_ref()
    }

    /// Whether the folder carries SQL written for PostgreSQL alone.
    pub fn has_postgres_override(&self) -> bool {
        self.postgres.is_some()
    }
}
