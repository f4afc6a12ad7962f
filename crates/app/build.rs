//! Embeds every migration under the workspace's `migrations/` into the `workhub` binary (see
//! `workhub_migrations::embed`): a malformed folder fails the build naming it, and adding, removing or
//! editing a migration rebuilds the binary. `WORKHUB_EMBED_MIGRATIONS_DIR` embeds another directory
//! (the benchmark's generated migrations).

fn main() {
    workhub_migrations::embed::Embed::new("../../migrations")
        .dir_from_env("WORKHUB_EMBED_MIGRATIONS_DIR")
        .divergence_hint("run `just migrate-rebase` (workhub db rebase)")
        .build_script();
}
