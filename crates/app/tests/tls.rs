//! TLS to PostgreSQL through the OpenSSL the build chose, and which OpenSSL that is.
//!
//! The connection tests use the server at `WORKHUB_TEST_TLS_URL` (default
//! `postgres://postgres@127.0.0.1:5433/postgres`, what `scripts/tls-postgres.sh start` runs): one that
//! accepts TLS connections only, so a command that connects there at all connected over TLS. Each
//! works in a database it creates and drops. With no such server they print a visible skip notice
//! (and fail under CI=true).
//!
//! The link test reads the build's own record of its OpenSSL (`workhub_migrate_cli::trust::OPENSSL`,
//! written by that crate's build.rs from openssl-sys's metadata) and asserts the binary matches it: the default, bundled OpenSSL is
//! inside the binary and the system's libssl is not linked; a build with `OPENSSL_NO_VENDOR=1` links the
//! system's libssl.

mod common;

use std::path::Path;

use common::{workhub_command, Run};
use diesel::sql_types::{Bool, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use workhub_migrations::apply::TemporaryDatabase;
use workhub_migrations::DatabaseUrl;

const SERVER_VARIABLE: &str = "WORKHUB_TEST_TLS_URL";
const ROOTCERT_VARIABLE: &str = "WORKHUB_TEST_TLS_ROOTCERT";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// `url` with `parameters` added to its query string.
fn with(url: &str, parameters: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{parameters}")
}

/// The TLS-only server's URL (without `sslmode`), or `None` after a visible skip notice when none
/// answers over TLS. Under `CI=true` a missing server fails the test instead.
fn tls_server(test: &str) -> Option<String> {
    let url = std::env::var(SERVER_VARIABLE)
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5433/postgres".into());
    match PgConnection::establish(&with(&url, "sslmode=require")) {
        Ok(_) => {
            assert!(
                PgConnection::establish(&with(&url, "sslmode=disable")).is_err(),
                "{test}: the server at {url} ({SERVER_VARIABLE}) accepts connections without TLS; \
                 these tests need one that refuses them, as scripts/tls-postgres.sh runs"
            );
            Some(url)
        }
        Err(err) => {
            let err = err.to_string();
            assert!(
                !in_ci(),
                "{test}: no PostgreSQL server answers over TLS at {url} ({}), and CI=true requires \
                 one (.ci/run starts it with scripts/tls-postgres.sh)",
                err.trim()
            );
            workhub_migrations::testing::skipped(&format!(
                "SKIPPED {test}: no PostgreSQL server answers over TLS at {url} ({}); run \
                 `eval \"$(bash scripts/tls-postgres.sh start)\"` or set {SERVER_VARIABLE}",
                err.trim()
            ));
            None
        }
    }
}

/// A database on the TLS server, created over TLS, and its URL without `sslmode`.
fn database(test: &str) -> Option<(TemporaryDatabase, String)> {
    let server = tls_server(test)?;
    let database = TemporaryDatabase::create(
        &DatabaseUrl::Postgres(with(&server, "sslmode=require")),
        "tls",
    )
    .expect("create a test database over TLS");
    let url = match database.url() {
        DatabaseUrl::Postgres(raw) => without_sslmode(raw),
        _ => unreachable!(),
    };
    Some((database, url))
}

/// `url` without its `sslmode` parameter.
fn without_sslmode(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_string();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.starts_with("sslmode="))
        .collect();
    if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

/// `workhub ARGS` on `url`, with OpenSSL's trust-store variables only as `env` sets them.
fn workhub(dir: &Path, url: &str, env: &[(&str, &str)], args: &[&str]) -> Run {
    let mut command = workhub_command(dir);
    command
        .env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env("DATABASE_URL", url)
        .envs(env.iter().copied())
        .args(args);
    common::output(&mut command)
}

#[test]
fn the_binary_migrates_over_tls_and_the_server_refuses_it_without() {
    let Some((_database, url)) =
        database("the_binary_migrates_over_tls_and_the_server_refuses_it_without")
    else {
        return;
    };
    // The server is what the test needs: TLS on this connection, and nothing but TLS accepted.
    #[derive(QueryableByName)]
    struct Ssl {
        #[diesel(sql_type = Bool)]
        ssl: bool,
        #[diesel(sql_type = Text)]
        version: String,
    }
    let mut conn = PgConnection::establish(&with(&url, "sslmode=require")).expect("connect");
    let ssl: Ssl = diesel::sql_query(
        "SELECT ssl, COALESCE(version, '') AS version FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .get_result(&mut conn)
    .expect("read pg_stat_ssl");
    assert!(ssl.ssl && ssl.version.starts_with("TLS"), "{}", ssl.version);
    drop(conn);

    let dir = tempfile::tempdir().unwrap();
    let require = with(&url, "sslmode=require");
    workhub(dir.path(), &require, &[], &["db", "upgrade"]).expect_code(0);
    let current = workhub(dir.path(), &require, &[], &["db", "current"]);
    current.expect_code(0);
    assert!(current.stdout.contains(", head)"), "{}", current.stdout);

    // Without TLS the same server refuses the binary, and says why.
    let refused = workhub(
        dir.path(),
        &with(&url, "sslmode=disable"),
        &[],
        &["db", "current"],
    );
    refused.expect_failure(3, &["cannot open database", "no encryption"]);
}

#[test]
fn verify_full_checks_the_server_certificate() {
    let test = "verify_full_checks_the_server_certificate";
    let Some((_database, url)) = database(test) else {
        return;
    };
    let Some(rootcert) = std::env::var_os(ROOTCERT_VARIABLE) else {
        assert!(
            !in_ci(),
            "{test}: {ROOTCERT_VARIABLE} is not set, and CI=true requires it"
        );
        workhub_migrations::testing::skipped(&format!(
            "SKIPPED {test}: {ROOTCERT_VARIABLE} does not name the certificate authority of the \
             server at {SERVER_VARIABLE}"
        ));
        return;
    };
    let rootcert = rootcert.to_string_lossy().into_owned();
    let dir = tempfile::tempdir().unwrap();
    workhub(
        dir.path(),
        &with(&url, "sslmode=require"),
        &[],
        &["db", "upgrade"],
    )
    .expect_code(0);

    // The server's certificate verified against its certificate authority, host name included.
    let verified = with(&url, &format!("sslmode=verify-full&sslrootcert={rootcert}"));
    let current = workhub(dir.path(), &verified, &[], &["db", "current"]);
    current.expect_code(0);
    assert!(current.stdout.contains(", head)"), "{}", current.stdout);

    // `sslrootcert=system` reads the trust store OpenSSL's variables name: the authority there is
    // trusted, an empty store trusts nothing.
    let system = with(&url, "sslmode=verify-full&sslrootcert=system");
    workhub(
        dir.path(),
        &system,
        &[("SSL_CERT_FILE", &rootcert)],
        &["db", "current"],
    )
    .expect_code(0);
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "").unwrap();
    let untrusted = workhub(
        dir.path(),
        &system,
        &[("SSL_CERT_FILE", &empty.to_string_lossy())],
        &["db", "current"],
    );
    untrusted.expect_failure(3, &["cannot open database", "certificate verify failed"]);
    // Nor does the machine's own store know this test authority, wherever the binary looks for it.
    let unknown = workhub(dir.path(), &system, &[], &["db", "current"]);
    unknown.expect_failure(3, &["cannot open database", "certificate verify failed"]);
}

/// OpenSSL's version number (`0x30600030`) as the text its library carries (`OpenSSL 3.6.3`).
fn version_text(number: &str) -> String {
    let number = u64::from_str_radix(number, 16).expect("a hexadecimal OpenSSL version number");
    format!(
        "OpenSSL {}.{}.{}",
        number >> 28,
        (number >> 20) & 0xff,
        (number >> 4) & 0xffff
    )
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let mut rest = haystack;
    while let Some(at) = rest.iter().position(|&b| b == needle[0]) {
        if rest[at..].starts_with(needle) {
            return true;
        }
        rest = &rest[at + 1..];
    }
    false
}

#[test]
fn the_binary_links_the_openssl_the_build_chose() {
    let test = "the_binary_links_the_openssl_the_build_chose";
    let binary = env!("CARGO_BIN_EXE_workhub");
    let kind = workhub_migrate_cli::trust::OPENSSL;
    if !cfg!(target_os = "linux") {
        workhub_migrations::testing::skipped(&format!(
            "SKIPPED {test}: reads the binary's dynamic libraries with ldd, on Linux only"
        ));
        return;
    }
    let Some(ldd) = common::tool(test, "ldd") else {
        return;
    };
    let output = std::process::Command::new(ldd)
        .arg(binary)
        .output()
        .expect("run ldd");
    assert!(output.status.success(), "ldd {binary} failed: {output:?}");
    let libraries = String::from_utf8_lossy(&output.stdout);
    let links_libssl = libraries
        .lines()
        .any(|line| line.contains("libssl.so") || line.contains("libcrypto.so"));
    match kind {
        // The default: OpenSSL built from vendored sources, linked statically.
        "bundled" => {
            assert!(
                !links_libssl,
                "{binary} is built with the bundled OpenSSL, yet links the system's:\n{libraries}"
            );
            let version = version_text(workhub_migrate_cli::trust::OPENSSL_VERSION);
            let bytes = std::fs::read(binary).expect("read the binary");
            assert!(
                contains(&bytes, version.as_bytes()),
                "{binary} does not carry the bundled {version}"
            );
        }
        // `OPENSSL_NO_VENDOR=1`: the system's library, linked dynamically unless OPENSSL_STATIC says
        // otherwise.
        "system" => {
            let static_link = option_env!("OPENSSL_STATIC").is_some_and(|v| v != "0");
            assert!(
                links_libssl || static_link,
                "{binary} is built with the system's OpenSSL (OPENSSL_NO_VENDOR), yet ldd lists no \
                 libssl:\n{libraries}"
            );
        }
        other => panic!("build.rs recorded an unknown OpenSSL kind {other:?}"),
    }
}
