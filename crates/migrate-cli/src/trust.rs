//! Where the bundled OpenSSL finds the system's trusted certificates.
//!
//! OpenSSL built from vendored sources looks for trusted certificates under its own compiled-in
//! directory, `/usr/local/ssl`, which no operating system fills. libpq's `sslrootcert=system` (verify
//! a managed server's certificate against the system's trusted authorities) would then trust nothing.
//! So at start, a binary carrying the bundled OpenSSL points OpenSSL's own variable `SSL_CERT_FILE` at
//! the system's certificate bundle, unless `SSL_CERT_FILE` or `SSL_CERT_DIR` is already set (the way to
//! choose another store) or that compiled-in directory holds certificates after all. A binary built
//! with the system's OpenSSL (`OPENSSL_NO_VENDOR=1`) already knows its system's store and is left alone.

use std::path::Path;

/// Which OpenSSL this binary links, as the build recorded it (build.rs, from openssl-sys's metadata):
/// `bundled` or `system`.
pub const OPENSSL: &str = env!("WORKHUB_OPENSSL");
/// Its version, in OpenSSL's hexadecimal form.
pub const OPENSSL_VERSION: &str = env!("WORKHUB_OPENSSL_VERSION");

/// The bundled OpenSSL's compiled-in certificate locations (openssl-src's `--openssldir`).
const COMPILED_IN: [&str; 2] = ["/usr/local/ssl/cert.pem", "/usr/local/ssl/certs"];

/// The systems' certificate bundles, in the order they are tried.
const BUNDLES: [&str; 6] = [
    // Debian, Ubuntu, Alpine, Arch, Gentoo
    "/etc/ssl/certs/ca-certificates.crt",
    // Fedora, RHEL, CentOS
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
    // openSUSE
    "/etc/ssl/ca-bundle.pem",
    // macOS, FreeBSD, OpenBSD
    "/etc/ssl/cert.pem",
    // Homebrew
    "/opt/homebrew/etc/ca-certificates/cert.pem",
];

/// The bundle `SSL_CERT_FILE` should name, given which of these paths exist, or `None` when it should
/// stay as it is.
fn bundle_for(
    cert_file_set: bool,
    cert_dir_set: bool,
    exists: impl Fn(&Path) -> bool,
) -> Option<&'static str> {
    if cert_file_set || cert_dir_set || COMPILED_IN.iter().any(|p| exists(Path::new(p))) {
        return None;
    }
    BUNDLES.into_iter().find(|p| exists(Path::new(p)))
}

/// Points the bundled OpenSSL at the system's trusted certificates (see the module's documentation).
/// Runs first in `main`, before any thread exists: it sets a process environment variable. Both
/// binaries (workhub and workhub-dev) call it, through [`main`](crate::main) or their own.
pub fn use_system_store() {
    if OPENSSL != "bundled" {
        return;
    }
    let set = |name| std::env::var_os(name).is_some_and(|v| !v.is_empty());
    if let Some(bundle) = bundle_for(set("SSL_CERT_FILE"), set("SSL_CERT_DIR"), Path::exists) {
        std::env::set_var("SSL_CERT_FILE", bundle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(present: &'static [&'static str]) -> impl Fn(&Path) -> bool {
        move |path| present.iter().any(|p| Path::new(p) == path)
    }

    #[test]
    fn the_first_bundle_present_is_chosen() {
        assert_eq!(
            bundle_for(false, false, only(&["/etc/ssl/certs/ca-certificates.crt"])),
            Some("/etc/ssl/certs/ca-certificates.crt")
        );
        assert_eq!(
            bundle_for(
                false,
                false,
                only(&["/etc/ssl/cert.pem", "/etc/pki/tls/certs/ca-bundle.crt"])
            ),
            Some("/etc/pki/tls/certs/ca-bundle.crt")
        );
        assert_eq!(
            bundle_for(false, false, only(&["/etc/ssl/cert.pem"])),
            Some("/etc/ssl/cert.pem")
        );
    }

    #[test]
    fn a_store_chosen_already_is_kept() {
        let debian = only(&["/etc/ssl/certs/ca-certificates.crt"]);
        assert_eq!(bundle_for(true, false, &debian), None);
        assert_eq!(bundle_for(false, true, &debian), None);
        let filled = only(&["/usr/local/ssl/certs", "/etc/ssl/certs/ca-certificates.crt"]);
        assert_eq!(bundle_for(false, false, filled), None);
    }

    #[test]
    fn without_any_bundle_nothing_is_set() {
        assert_eq!(bundle_for(false, false, only(&[])), None);
    }
}
