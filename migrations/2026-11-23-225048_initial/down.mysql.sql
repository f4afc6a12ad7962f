-- 2026-11-23-225048_initial (down: reverts up.mysql.sql), for MySQL and MariaDB.

-- DESTRUCTIVE, data can be lost: dropped table tasks
DROP TABLE `tasks`;
-- DESTRUCTIVE, data can be lost: dropped table project_members
DROP TABLE `project_members`;
-- DESTRUCTIVE, data can be lost: dropped table sessions
DROP TABLE `sessions`;
-- DESTRUCTIVE, data can be lost: dropped table projects
DROP TABLE `projects`;
-- DESTRUCTIVE, data can be lost: dropped table users
DROP TABLE `users`;
