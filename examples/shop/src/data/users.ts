import { withPrimaryReads } from 'scaleout/db';
import type { ShardedDatabase } from 'scaleout/db';

/** A user as the API shows it (never the password hash). */
export interface User {
  id: string;
  username: string;
  name: string;
}

export interface UserWithHash extends User {
  passwordHash: string;
}

type UserRow = {
  id: string;
  username: string;
  name: string;
  password_hash: string;
};

/**
 * Finds a user by name. Users are sharded by id, so a lookup by name asks every shard
 * at once: cheap with two shards and rare (only at login). With many shards a
 * name-to-id index on the catalogue would replace this. A name no replica knows is
 * asked again on the primaries: a replica may not have replayed it yet.
 */
export async function findUserByName(shards: ShardedDatabase, username: string): Promise<UserWithHash | undefined> {
  const sql = 'SELECT id, username, name, password_hash FROM users WHERE username = $1';
  let rows = await shards.queryAll<UserRow>(sql, [username]);
  if (rows.length === 0) rows = await withPrimaryReads(() => shards.queryAll<UserRow>(sql, [username]));
  const row = rows[0];
  return row === undefined ? undefined : { id: row.id, username: row.username, name: row.name, passwordHash: row.password_hash };
}
