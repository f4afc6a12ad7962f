-- 2026-12-01-143029_ids_never_reused (down: reverts up.mysql.sql), for MySQL and MariaDB.
-- Nothing changes on MySQL.
DO 0;
