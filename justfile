# workhub's developer workflow. `just --list` explains every recipe.
# Recipes call the binaries through cargo, so they are rebuilt (with every migration embedded) before
# they run; they use no shell-specific syntax and work the same on Windows. Generating, checking and
# rebasing migrations run workhub-dev, which is built from the tables and the migration engine alone:
# a model change that breaks the service's code still generates its migration. The other recipes run
# the workhub binary that operators run.

set windows-shell := ["powershell.exe", "-NoLogo", "-Command"]
set dotenv-load := false

workhub := "cargo run --quiet -p workhub --"
dev := "cargo run --quiet -p workhub-dev --"

# List the recipes.
default:
    @just --list

# Run the service on the configured database (SQLite workhub.db by default).
run:
    {{workhub}} serve

# Run every test of the workspace.
test:
    cargo test --workspace

# Write a migration from the model changes (asks for a name when none is given).
migrate-create *name:
    {{dev}} db create {{name}}

# Write an empty migration template to fill in by hand.
migrate-empty name:
    {{dev}} db create {{name}} --empty

# Apply migrations up to a revision (head, a version, a prefix, +N).
upgrade rev="head":
    {{workhub}} db upgrade {{rev}}

# Revert migrations down to a revision (-N, a version, base).
downgrade rev="-1":
    {{workhub}} db downgrade {{rev}}

# Show the database's current revision.
current:
    {{workhub}} db current --verbose

# List every migration, applied or not.
history:
    {{workhub}} db history --verbose

# Record a revision as applied without running SQL (adopting an existing database).
stamp rev:
    {{workhub}} db stamp {{rev}}

# Fail when anything is pending, modified, unknown, not captured by a migration, or drifted.
check:
    {{dev}} db check

# Print the SQL that brings the database to the models, or to a revision (`just diff head`); runs none.
diff *args:
    {{workhub}} db diff {{args}}

# After merging branches that each added migrations: re-create the merged-in branch's on top of ours
# (`just migrate-rebase --onto FOLDER` names ours when migrations/lineage.head does not).
migrate-rebase *args:
    {{dev}} db rebase {{args}}

# Development only: delete the SQLite database and rebuild it from the migrations.
reset:
    {{workhub}} db reset

# Measure the migration engine against its baselines (see README, Performance).
bench:
    bash scripts/bench.sh
