use std::fmt;
use std::path::PathBuf;

use crate::{Dialect, MigrateError};

/// Which database a command talks to, parsed from `--database-url` / `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum DatabaseUrl {
    /// A SQLite file (`workhub.db`, `sqlite://path`, `sqlite:path`) or `:memory:`.
    Sqlite(PathBuf),
    /// A PostgreSQL connection string (`postgres://` or `postgresql://`), kept whole for libpq.
    Postgres(String),
    /// A MySQL or MariaDB URL (`mysql://user:password@host:port/database`), kept whole for the
    /// client library. Parsed in every build; opened only in one with the `mysql` feature.
    Mysql(String),
}

impl DatabaseUrl {
    pub fn parse(url: &str) -> Result<Self, MigrateError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(MigrateError::BadUrl {
                url: String::new(),
                reason: "it is empty".into(),
            });
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Self::Postgres(url.to_string()));
        }
        if url.starts_with("mysql://") {
            return Ok(Self::Mysql(url.to_string()));
        }
        if url.starts_with("mariadb://") {
            return Err(MigrateError::BadUrl {
                url: redact(url),
                reason: "MariaDB is reached with a mysql:// URL (the same client serves both)"
                    .into(),
            });
        }
        let path = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            .unwrap_or(url);
        if let Some((scheme, _)) = path.split_once("://") {
            return Err(MigrateError::BadUrl {
                url: redact(url),
                reason: format!(
                    "the scheme `{scheme}` is not supported (sqlite, postgres and mysql are)"
                ),
            });
        }
        if path.is_empty() {
            return Err(MigrateError::BadUrl {
                url: url.to_string(),
                reason: "it names no file".into(),
            });
        }
        // A libpq key/value string is not a file name; taking it for one would create a SQLite file
        // named after the connection settings.
        if ["host=", "dbname=", "user=", "password="]
            .iter()
            .any(|key| path.contains(key))
        {
            return Err(MigrateError::BadUrl {
                url: redact(url),
                reason: "it looks like libpq key=value settings; write it as postgres://user@host/dbname".into(),
            });
        }
        Ok(Self::Sqlite(PathBuf::from(path)))
    }

    pub fn dialect(&self) -> Dialect {
        match self {
            Self::Sqlite(_) => Dialect::Sqlite,
            Self::Postgres(_) => Dialect::Postgres,
            Self::Mysql(_) => Dialect::Mysql,
        }
    }

    /// Whether this is SQLite's `:memory:`, which no other process can share.
    pub fn is_memory(&self) -> bool {
        matches!(self, Self::Sqlite(path) if path.as_os_str() == ":memory:")
    }
}

/// The URL with any password replaced, fit for output and logs.
impl fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sqlite(path) => write!(f, "{}", path.display()),
            Self::Postgres(url) | Self::Mysql(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DatabaseUrl({self})")
    }
}

/// Replaces the password of `scheme://user:password@host` and of a `password=` parameter with `***`.
pub fn redact(url: &str) -> String {
    let mut out = url.to_string();
    if let Some(scheme_end) = out.find("://") {
        let rest_start = scheme_end + 3;
        let authority_end = authority_end(&out[rest_start..]) + rest_start;
        if let Some(at) = out[rest_start..authority_end].rfind('@') {
            let userinfo = &out[rest_start..rest_start + at];
            if let Some(colon) = userinfo.find(':') {
                out.replace_range(rest_start + colon + 1..rest_start + at, "***");
            }
        }
    }
    if let Some(start) = out.find("password=") {
        let value = start + "password=".len();
        let end = out[value..]
            .find(['&', ' '])
            .map_or(out.len(), |i| value + i);
        out.replace_range(value..end, "***");
    }
    out
}

/// Removes every occurrence of `url`'s password from `text` (a driver's error message may echo it).
pub fn scrub(text: &str, url: &DatabaseUrl) -> String {
    let (DatabaseUrl::Postgres(raw) | DatabaseUrl::Mysql(raw)) = url else {
        return text.to_string();
    };
    let redacted = redact(raw);
    let mut out = text.replace(raw.as_str(), &redacted);
    if let Some(password) = password_of(raw) {
        if !password.is_empty() {
            out = out.replace(&password, "***");
        }
    }
    out
}

/// Where `user:password@host:port` ends in what follows `scheme://`: at the first `/`, as libpq reads
/// it (a password may hold `?`), or, with no path, at a `?` after the last `@`.
fn authority_end(rest: &str) -> usize {
    rest.find('/').unwrap_or_else(|| {
        let after_at = rest.rfind('@').map_or(0, |at| at + 1);
        rest[after_at..]
            .find('?')
            .map_or(rest.len(), |q| after_at + q)
    })
}

fn password_of(url: &str) -> Option<String> {
    let rest = &url[url.find("://")? + 3..];
    let authority = &rest[..authority_end(rest)];
    let userinfo = &authority[..authority.rfind('@')?];
    Some(userinfo.split_once(':')?.1.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sqlite_forms_and_postgres() {
        assert_eq!(
            DatabaseUrl::parse("workhub.db").unwrap(),
            DatabaseUrl::Sqlite("workhub.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite://data/w.db").unwrap(),
            DatabaseUrl::Sqlite("data/w.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("sqlite:w.db").unwrap(),
            DatabaseUrl::Sqlite("w.db".into())
        );
        assert_eq!(
            DatabaseUrl::parse("postgresql://h/db").unwrap().dialect(),
            Dialect::Postgres
        );
        assert_eq!(
            DatabaseUrl::parse("mysql://root@h/db").unwrap().dialect(),
            Dialect::Mysql
        );
        assert_eq!(
            DatabaseUrl::parse("mysql://app:pw@h:3306/db")
                .unwrap()
                .to_string(),
            "mysql://app:***@h:3306/db"
        );
        let mariadb = DatabaseUrl::parse("mariadb://app:pw@h/db").unwrap_err();
        assert!(mariadb.to_string().contains("mysql://"), "{mariadb}");
        assert!(!mariadb.to_string().contains("pw"), "{mariadb}");
        assert!(matches!(
            DatabaseUrl::parse("oracle://root@h/db"),
            Err(MigrateError::BadUrl { .. })
        ));
        assert!(matches!(
            DatabaseUrl::parse("  "),
            Err(MigrateError::BadUrl { .. })
        ));
    }

    #[test]
    fn passwords_never_show() {
        let url =
            DatabaseUrl::parse("postgres://app:s3cr%40t@db.example:5432/prod?sslmode=require")
                .unwrap();
        let shown = url.to_string();
        assert_eq!(
            shown,
            "postgres://app:***@db.example:5432/prod?sslmode=require"
        );
        assert_eq!(
            redact("postgres://h/db?user=a&password=hunter2&x=1"),
            "postgres://h/db?user=a&password=***&x=1"
        );
        assert_eq!(redact("postgres://app@h/db"), "postgres://app@h/db");
        assert_eq!(
            redact("postgres://app:pa?ss@db/prod"),
            "postgres://app:***@db/prod"
        );
        assert_eq!(
            redact("postgres://app:pw@h?sslmode=require"),
            "postgres://app:***@h?sslmode=require"
        );
        let odd = DatabaseUrl::parse("postgres://app:pa?ss@db/prod").unwrap();
        assert!(!scrub("auth failed for pa?ss", &odd).contains("pa?ss"));
        let settings = DatabaseUrl::parse("host=db password=secret dbname=x")
            .unwrap_err()
            .to_string();
        assert!(
            settings.contains("key=value") && !settings.contains("secret"),
            "{settings}"
        );
        let message = "could not connect with password s3cr%40t";
        assert!(!scrub(message, &url).contains("s3cr"));
    }
}
