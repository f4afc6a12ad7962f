-- 2026-12-01-143029_ids_never_reused, for MySQL and MariaDB.
-- Nothing changes on MySQL: an AUTO_INCREMENT counter never hands out an id twice (InnoDB keeps it
-- across restarts since MySQL 8.0 and MariaDB 10.2.4).
DO 0;
