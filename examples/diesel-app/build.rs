//! Embeds `migrations/` into the binary: a bad folder fails the build naming it, and any change to a
//! migration rebuilds the binary.

fn main() {
    workhub_migrations::embed::migrations("migrations");
}
