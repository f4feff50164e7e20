-- The application role both services connect as: it reads and writes the rows of every table
-- and nothing else (no DDL, no role management, no writes to the migration history). The owner
-- (the cluster's master user, whose secret only the migration step reads) runs this after every
-- successful `migrate`; it is idempotent. The password is set only when the role is created:
-- afterwards Secrets Manager's multi-user rotation owns it (and its `{{role}}_clone` twin, which
-- inherits these grants through membership).
-- {{role}} is a checked plain identifier, {{password}} a quoted literal (sql.js renders both).
DO $app_role$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{{role}}') THEN
    CREATE ROLE {{role}} LOGIN PASSWORD {{password}};
  END IF;
END
$app_role$;
ALTER ROLE {{role}} NOCREATEDB NOCREATEROLE;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO {{role}};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {{role}};
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {{role}};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {{role}};
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {{role}};
DO $app_role$
BEGIN
  IF to_regclass('public.seaql_migrations') IS NOT NULL THEN
    REVOKE INSERT, UPDATE, DELETE ON public.seaql_migrations FROM {{role}};
  END IF;
END
$app_role$;
