//! A build without the `mysql` feature (the default) refuses a `mysql://` URL, saying how to build
//! one that serves it, before it connects to anything.
#![cfg(not(feature = "mysql"))]

mod common;

use common::Fixture;

#[test]
fn a_mysql_url_without_the_feature_says_how_to_build_with_it() {
    let fixture = Fixture::with_steps(1);
    for args in [
        &["db", "upgrade"][..],
        &["db", "current"],
        &["--migrate-only"],
    ] {
        let mut command = fixture.workhub();
        command
            .env("DATABASE_URL", "mysql://app:secret@127.0.0.1:3306/app")
            .args(args);
        let refused = common::output(&mut command);
        refused.expect_failure(
            2,
            &[
                "built without MySQL support",
                "--features mysql",
                "libmariadb-dev",
                "nothing was run",
            ],
        );
        assert!(!refused.stderr.contains("secret"), "{}", refused.stderr);
    }
    assert!(!fixture.db().exists(), "no SQLite file stands in for it");
}
