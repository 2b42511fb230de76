import type { Sql } from "postgres";

/**
 * Privileges of the role the server's queries run as. Applied after every migration run (idempotent), so a
 * table added by a later migration is covered without a hand-written grant. The role owns nothing and has
 * no BYPASSRLS, so row-level security applies to every query it makes.
 */
export async function applyGrants(sql: Sql, appRole: string): Promise<void> {
  const role = sql(appRole);
  // A DO body cannot take bind parameters, so the name is checked here and inlined.
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(appRole)) throw new Error("DATABASE_APP_ROLE must be a SQL identifier");
  await sql.unsafe(`
    do $$
    begin
      if not exists (select 1 from pg_roles where rolname = '${appRole}') then
        create role ${appRole} nologin nosuperuser nobypassrls noinherit;
      end if;
    exception when duplicate_object or unique_violation then null; -- created concurrently
    end
    $$`);
  // The connecting (owner) user must be able to SET ROLE to it; superusers can anyway.
  const [me] = await sql<{ super: boolean; member: boolean }[]>`
    select rolsuper as super, pg_has_role(current_user, ${appRole}, 'member') as member
    from pg_roles where rolname = current_user`;
  if (me && !me.super && !me.member) await sql`grant ${role} to current_user`;
  await sql`grant usage on schema public to ${role}`;
  await sql`grant select, insert, update, delete on all tables in schema public to ${role}`;
  await sql`grant usage, select on all sequences in schema public to ${role}`;
  await sql`grant execute on all functions in schema public to ${role}`;
  // Append-only tables: the database itself refuses changes, even from the application's own role.
  const appendOnly = await sql<{ table_name: string }[]>`
    select table_name from information_schema.tables
    where table_schema = 'public' and table_name in ('audit_log', 'audit_tree_nodes')`;
  for (const { table_name } of appendOnly) {
    await sql`revoke update, delete, truncate on ${sql(table_name)} from ${role}`;
  }
}
