//! The migrations compiled into this binary by `build.rs`.

include!(concat!(env!("OUT_DIR"), "/embedded_migrations.rs"));
