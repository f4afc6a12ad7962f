-- 2026-12-01-143036_project_invitations, for MySQL and MariaDB (written by hand from
-- up.postgres.sql). Microsecond timestamps and exact text, as in the initial migration.

CREATE TABLE `project_invitations` (
    `id` BIGINT NOT NULL AUTO_INCREMENT,
    `project_id` BIGINT NOT NULL,
    `email` VARCHAR(320) NOT NULL,
    `invited_by` BIGINT NOT NULL,
    `declined_at` DATETIME(6) NULL,
    `created_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
    PRIMARY KEY (`id`),
    CONSTRAINT `project_invitations_project_id_email_key` UNIQUE (`project_id`, `email`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin;
CREATE INDEX `project_invitations_email_idx` ON `project_invitations` (`email`);
CREATE INDEX `project_invitations_invited_by_idx` ON `project_invitations` (`invited_by`);
ALTER TABLE `project_invitations` ADD CONSTRAINT `project_invitations_project_id_fkey` FOREIGN KEY (`project_id`) REFERENCES `projects` (`id`) ON DELETE CASCADE;
ALTER TABLE `project_invitations` ADD CONSTRAINT `project_invitations_invited_by_fkey` FOREIGN KEY (`invited_by`) REFERENCES `users` (`id`) ON DELETE CASCADE;
