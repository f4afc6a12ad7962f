//! The migrations compiled into this binary by `build.rs`.

workhub_migrations::include_embedded!();
