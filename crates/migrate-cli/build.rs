//! Records which OpenSSL the bundled libpq links, for the trust-store lookup (`trust`) and the
//! TLS tests.

fn main() {
    record_openssl();
}

/// Records, from openssl-sys's build metadata, which OpenSSL this build links: `WORKHUB_OPENSSL` is
/// `bundled` (built here from vendored sources, the default) or `system` (`OPENSSL_NO_VENDOR=1`);
/// `WORKHUB_OPENSSL_VERSION` is its version number (OpenSSL's hexadecimal form).
fn record_openssl() {
    let bundled = std::env::var("DEP_OPENSSL_VENDORED").is_ok_and(|v| v == "1");
    let kind = if bundled { "bundled" } else { "system" };
    println!("cargo:rustc-env=WORKHUB_OPENSSL={kind}");
    let version = std::env::var("DEP_OPENSSL_VERSION_NUMBER").unwrap_or_default();
    println!("cargo:rustc-env=WORKHUB_OPENSSL_VERSION={version}");
}
