-- 2026-11-23-225048_initial, for MySQL and MariaDB (written by hand from up.postgres.sql).
-- MySQL commits each statement as it runs: workhub records how far the migration got, and a run
-- that stops halfway is resumed (`workhub db upgrade --resume`) or repaired (`workhub db repair`).
-- MySQL indexes no TEXT column without a prefix length, so the columns that are keyed or indexed
-- (token_hash, status) are VARCHAR here; a TEXT default is an expression, in parentheses.
-- As on SQLite and PostgreSQL: timestamps keep microseconds (DATETIME(6); a bare DATETIME keeps
-- whole seconds), and text compares exactly (utf8mb4_bin, whatever the database's default: a
-- case- and accent-insensitive collation would make `adá@x.io` the same email as `ada@x.io`).

CREATE TABLE `users` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `email` VARCHAR(320) NOT NULL,
    `display_name` VARCHAR(100) NOT NULL,
    `password_hash` TEXT NOT NULL,
    `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (`id`),
    CONSTRAINT `users_email_key` UNIQUE (`email`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE TABLE `projects` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `owner_id` BIGINT NOT NULL,
    `name` VARCHAR(200) NOT NULL,
    `description` TEXT NOT NULL DEFAULT (''),
    `archived` BOOLEAN NOT NULL DEFAULT FALSE,
    `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (`id`),
    CONSTRAINT `projects_owner_id_fkey` FOREIGN KEY (`owner_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE INDEX `projects_owner_id_idx` ON `projects` (`owner_id`);
CREATE TABLE `sessions` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `user_id` BIGINT NOT NULL,
    `token_hash` VARCHAR(128) NOT NULL,
    `expires_at` DATETIME(6) NOT NULL,
    `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (`id`),
    CONSTRAINT `sessions_token_hash_key` UNIQUE (`token_hash`),
    CONSTRAINT `sessions_user_id_fkey` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE INDEX `sessions_user_id_idx` ON `sessions` (`user_id`);
CREATE TABLE `project_members` (
    `project_id` BIGINT NOT NULL,
    `user_id` BIGINT NOT NULL,
    `role` TEXT NOT NULL DEFAULT ('member'),
    `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (`project_id`, `user_id`),
    CONSTRAINT `project_members_project_id_fkey` FOREIGN KEY (`project_id`) REFERENCES `projects` (`id`) ON DELETE CASCADE,
    CONSTRAINT `project_members_user_id_fkey` FOREIGN KEY (`user_id`) REFERENCES `users` (`id`) ON DELETE CASCADE,
    CONSTRAINT `project_members_role_valid` CHECK (role IN ('owner', 'member'))
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE INDEX `project_members_user_id_idx` ON `project_members` (`user_id`);
CREATE TABLE `tasks` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `project_id` BIGINT NOT NULL,
    `title` VARCHAR(200) NOT NULL,
    `description` TEXT NOT NULL DEFAULT (''),
    `status` VARCHAR(20) NOT NULL DEFAULT 'todo',
    `assignee_id` BIGINT NULL,
    `due_on` DATE NULL,
    `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    `updated_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (`id`),
    CONSTRAINT `tasks_project_id_fkey` FOREIGN KEY (`project_id`) REFERENCES `projects` (`id`) ON DELETE CASCADE,
    CONSTRAINT `tasks_assignee_id_fkey` FOREIGN KEY (`assignee_id`) REFERENCES `users` (`id`) ON DELETE SET NULL,
    CONSTRAINT `tasks_status_valid` CHECK (status IN ('todo', 'doing', 'done'))
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE INDEX `tasks_assignee_id_idx` ON `tasks` (`assignee_id`);
CREATE INDEX `tasks_project_status_idx` ON `tasks` (`project_id`, `status`);
