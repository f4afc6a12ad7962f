//! Embeds every migration under the workspace's `migrations/` into the `workhub` binary (see
//! `workhub_migrations::embed`): a malformed folder fails the build naming it, and adding, removing or
//! editing a migration rebuilds the binary. `WORKHUB_EMBED_MIGRATIONS_DIR` embeds another directory
//! (the benchmark's generated migrations). It also records which OpenSSL the bundled libpq links
//! (see `record_openssl`).

fn main() {
    record_openssl();
    workhub_migrations::embed::Embed::new("../../migrations")
        .dir_from_env("WORKHUB_EMBED_MIGRATIONS_DIR")
        .divergence_hint("run `just migrate-rebase` (workhub db rebase)")
        .build_script();
}

/// Records, from openssl-sys's build metadata, which OpenSSL this build links, for the binary and its
/// tests: `WORKHUB_OPENSSL` is `bundled` (built here from vendored sources, the default) or `system`
/// (`OPENSSL_NO_VENDOR=1`); `WORKHUB_OPENSSL_VERSION` is its version number (OpenSSL's hexadecimal
/// form); `WORKHUB_OPENSSL_ROOT` is where a bundled build is installed (`lib/`, `include/`), empty
/// otherwise.
fn record_openssl() {
    let bundled = std::env::var("DEP_OPENSSL_VENDORED").is_ok_and(|v| v == "1");
    let kind = if bundled { "bundled" } else { "system" };
    println!("cargo:rustc-env=WORKHUB_OPENSSL={kind}");
    let version = std::env::var("DEP_OPENSSL_VERSION_NUMBER").unwrap_or_default();
    println!("cargo:rustc-env=WORKHUB_OPENSSL_VERSION={version}");
    let root = if bundled {
        std::env::var("DEP_OPENSSL_ROOT").unwrap_or_default()
    } else {
        String::new()
    };
    println!("cargo:rustc-env=WORKHUB_OPENSSL_ROOT={root}");
}
