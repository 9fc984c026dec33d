import { describe, expect, it } from 'vitest';
import { compareProcesses } from './status.js';
import type { ProcessRole } from './status.js';

const p = (role: string, id: string): { role: ProcessRole; id: string } => ({ role: role as ProcessRole, id });

describe('compareProcesses', () => {
  it('sorts by role, then by id with numbers in order, whatever the ids look like', () => {
    const shuffled = [
      p('redis', 'redis'), p('app', 'app-10'), p('postgres', 'pg-1'), p('worker:mailer', 'mailer-2'), p('app', 'app-2'),
      p('balancer', 'balancer'), p('worker:images', 'images-1'), p('supervisor', 'supervisor'), p('postgres', 'pg-0'),
      p('worker:mailer', 'mailer-10'), p('cache', 'memcached'),
    ];
    expect(shuffled.sort(compareProcesses).map((x) => `${x.role}/${x.id}`)).toEqual([
      'supervisor/supervisor', 'balancer/balancer', 'app/app-2', 'app/app-10',
      'worker:images/images-1', 'worker:mailer/mailer-2', 'worker:mailer/mailer-10',
      'postgres/pg-0', 'postgres/pg-1', 'redis/redis', 'cache/memcached',
    ]);
  });
});
