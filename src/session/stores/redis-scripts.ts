import { createHash } from 'node:crypto';

/**
 * Lua scripts of the Redis session store. Each runs atomically in Redis, which is how
 * "write only if the session exists" holds against a concurrent destroy.
 *
 * Layout, per session and per user:
 *
 * ```text
 *   <prefix>s:<sessionId>  hash   field name -> JSON text,  plus "\0" -> userId ('' when anonymous)
 *                                 TTL = the session's remaining life
 *   <prefix>u:<userId>     set    ids of that user's sessions; TTL >= the longest of them
 * ```
 *
 * The "\0" field always exists, so a session with no fields of its own is still a key.
 * Scripts build the other key names from prefixes passed as arguments: fine on one
 * Redis (or a primary with replicas), not on Redis Cluster.
 */

/** The hash field holding the session's user id; NUL cannot start a field name users give. */
export const META_FIELD = '\u0000';

export interface RedisScript {
  readonly lua: string;
  readonly sha: string;
  readonly keys: number;
}

function script(keys: number, lua: string): RedisScript {
  return { lua, keys, sha: createHash('sha1').update(lua).digest('hex') };
}

// Keep the user index small: drop ids whose sessions expired, then add the new one and
// make sure the index lives at least as long as the session.
const INDEX_USER = `
local function index_user(userKey, sessPrefix, id, ttl)
  for _, m in ipairs(redis.call('smembers', userKey)) do
    if redis.call('exists', sessPrefix .. m) == 0 then redis.call('srem', userKey, m) end
  end
  redis.call('sadd', userKey, id)
  if redis.call('pttl', userKey) < ttl then redis.call('pexpire', userKey, ttl) end
end
`;

/** KEYS: session, userIndex. ARGV: ttlMs, userId|'', sessionId, sessPrefix, name, value, ... */
export const CREATE = script(2, `${INDEX_USER}
local ttl = tonumber(ARGV[1])
redis.call('del', KEYS[1])
redis.call('hset', KEYS[1], '\\0', ARGV[2])
for i = 5, #ARGV, 2 do redis.call('hset', KEYS[1], ARGV[i], ARGV[i + 1]) end
redis.call('pexpire', KEYS[1], ttl)
if ARGV[2] ~= '' then index_user(KEYS[2], ARGV[4], ARGV[3], ttl) end
return 1
`);

/** KEYS: session. Reply: false, or { pttl, { name, value, ... } }. */
export const GET_ALL = script(1, `
local h = redis.call('hgetall', KEYS[1])
if #h == 0 then return false end
return { redis.call('pttl', KEYS[1]), h }
`);

/** KEYS: session. ARGV: name, value, ... Reply: 1 written, 0 no such session. */
export const SET_FIELDS = script(1, `
if redis.call('exists', KEYS[1]) == 0 then return 0 end
for i = 1, #ARGV, 2 do redis.call('hset', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
`);

/** KEYS: session. ARGV: names. Reply: 1 done, 0 no such session. */
export const DELETE_FIELDS = script(1, `
if redis.call('exists', KEYS[1]) == 0 then return 0 end
for i = 1, #ARGV do redis.call('hdel', KEYS[1], ARGV[i]) end
return 1
`);

/** KEYS: session. ARGV: name, by. Reply: the new value, or nil when no such session. */
export const INCREMENT_FIELD = script(1, `
if redis.call('exists', KEYS[1]) == 0 then return false end
return redis.call('hincrby', KEYS[1], ARGV[1], ARGV[2])
`);

/** KEYS: session. ARGV: ttlMs, userPrefix. Reply: 1 touched, 0 no such session. */
export const TOUCH = script(1, `
local ttl = tonumber(ARGV[1])
if redis.call('pexpire', KEYS[1], ttl) == 0 then return 0 end
local u = redis.call('hget', KEYS[1], '\\0')
if u and u ~= '' then
  local k = ARGV[2] .. u
  if redis.call('pttl', k) < ttl then redis.call('pexpire', k, ttl) end
end
return 1
`);

/** KEYS: session. ARGV: userPrefix, sessionId. */
export const DESTROY = script(1, `
local u = redis.call('hget', KEYS[1], '\\0')
redis.call('del', KEYS[1])
if u and u ~= '' then redis.call('srem', ARGV[1] .. u, ARGV[2]) end
return 1
`);

/** KEYS: userIndex. ARGV: sessPrefix. Reply: how many live sessions were deleted. */
export const DESTROY_ALL_FOR_USER = script(1, `
local n = 0
for _, id in ipairs(redis.call('smembers', KEYS[1])) do
  n = n + redis.call('del', ARGV[1] .. id)
end
redis.call('del', KEYS[1])
return n
`);

/**
 * KEYS: oldSession, newSession.
 * ARGV: ttlMs, oldId, newId, userPrefix, sessPrefix, userMode ('keep'|'set'), userId, name, value, ...
 * Reply: 1 moved, 0 no such session.
 */
export const REGENERATE = script(2, `${INDEX_USER}
if redis.call('exists', KEYS[1]) == 0 then return 0 end
local ttl = tonumber(ARGV[1])
redis.call('rename', KEYS[1], KEYS[2])
local old = redis.call('hget', KEYS[2], '\\0') or ''
local u = old
if ARGV[6] == 'set' then u = ARGV[7] end
if old ~= '' then redis.call('srem', ARGV[4] .. old, ARGV[2]) end
redis.call('hset', KEYS[2], '\\0', u)
for i = 8, #ARGV, 2 do redis.call('hset', KEYS[2], ARGV[i], ARGV[i + 1]) end
redis.call('pexpire', KEYS[2], ttl)
if u ~= '' then index_user(ARGV[4] .. u, ARGV[5], ARGV[3], ttl) end
return 1
`);
