# workhub's developer workflow. `just --list` explains every recipe.
# Recipes call the binaries through cargo, so they are rebuilt (with every migration embedded) before
# they run; they use no shell-specific syntax and work the same on Windows. Generating, checking and
# rebasing migrations run workhub-dev, which is built from the tables and the migration engine alone:
# a model change that breaks the service's code still generates its migration. The other recipes run
# the workhub binary that operators run. Every recipe passes what follows its name on to the command
# (`just upgrade head --transaction all`, `just stamp head --force`).

set windows-shell := ["powershell.exe", "-NoLogo", "-Command"]
set dotenv-load := false

workhub := "cargo run --quiet -p workhub --"
dev := "cargo run --quiet -p workhub-dev --"

# List the recipes.
default:
    @just --list

# Run the service on the configured database (SQLite workhub.db by default).
run *args:
    {{workhub}} serve {{args}}

# Put `workhub` and `workhub-dev` on PATH (in ~/.cargo/bin), so the commands the hints name exist.
install:
    cargo install --locked --path crates/app
    cargo install --locked --path crates/dev

# Run every test of the workspace.
test *args:
    cargo test --workspace {{args}}

# Write a migration from the model changes (asks for a name when none is given; a name of several
# words is one name: `just migrate-create "make estimate not null"`).
migrate-create *args:
    {{dev}} db create {{args}}

# Write an empty migration template to fill in by hand.
migrate-empty name *args:
    {{dev}} db create {{name}} --empty {{args}}

# Apply migrations up to a revision (head, a version, a prefix, +N).
upgrade rev="head" *args:
    {{workhub}} db upgrade {{rev}} {{args}}

# Revert migrations down to a revision (-N, a version, base).
downgrade rev="-1" *args:
    {{workhub}} db downgrade {{rev}} {{args}}

# Show the database's current revision.
current *args:
    {{workhub}} db current --verbose {{args}}

# List every migration, applied or not.
history *args:
    {{workhub}} db history --verbose {{args}}

# Record a revision as applied without running SQL (adopting an existing database).
stamp rev *args:
    {{workhub}} db stamp {{rev}} {{args}}

# Fail when anything is pending, modified, unknown, not captured by a migration, or drifted.
check *args:
    {{dev}} db check {{args}}

# Report what migrations do that can lose data or stall a busy database (errors fail).
lint *args:
    {{dev}} db lint {{args}}

# Print the SQL that brings the database to the models, or to a revision (`just diff head`); runs none.
diff *args:
    {{workhub}} db diff {{args}}

# After merging branches that each added migrations: re-create the merged-in branch's on top of ours
# (`just migrate-rebase --onto FOLDER` names ours when migrations/lineage.head does not).
migrate-rebase *args:
    {{dev}} db rebase {{args}}

# Development only: delete the SQLite database and rebuild it from the migrations.
reset *args:
    {{workhub}} db reset {{args}}

# Measure the migration engine against its baselines (see README, Performance).
bench *args:
    bash scripts/bench.sh {{args}}
