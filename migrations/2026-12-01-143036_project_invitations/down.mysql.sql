-- 2026-12-01-143036_project_invitations (down: reverts up.mysql.sql), for MySQL and MariaDB.

-- DESTRUCTIVE, data can be lost: dropped table project_invitations
DROP TABLE `project_invitations`;
