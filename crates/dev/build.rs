//! Embeds the workspace's `migrations/`, as the `workhub` binary does, so `workhub-dev db check`
//! compares the same set with the models and the database.

fn main() {
    workhub_migrations::embed::Embed::new("../../migrations")
        .divergence_hint("run `just migrate-rebase` (workhub db rebase)")
        .build_script();
}
