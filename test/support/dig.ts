import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What `dig` printed, read into the parts tests assert on. */
export interface DigResult {
  readonly status: string;
  /** Header flags: qr, aa, tc, rd, ra... */
  readonly flags: readonly string[];
  /** The question as echoed, e.g. `ShOp.test.` */
  readonly question: string;
  /** Answer records: name, ttl, type, data. */
  readonly answers: ReadonlyArray<{ name: string; ttl: number; type: string; data: string }>;
  readonly authority: ReadonlyArray<{ name: string; ttl: number; type: string; data: string }>;
  /** The UDP size the server advertised in its OPT record, or undefined without one. */
  readonly ednsUdpBytes: number | undefined;
  readonly text: string;
}

/**
 * Asks `port` on 127.0.0.1 with Debian's `dig` (dnsutils), a real resolver client:
 * `extra` are dig options such as `+tcp`, `+noedns`, `+ignore`.
 */
export async function dig(port: number, name: string, type: string, extra: readonly string[] = []): Promise<DigResult> {
  const { stdout } = await run('dig', ['@127.0.0.1', '-p', String(port), name, type, '+norec', '+time=2', '+tries=1', ...extra], { timeout: 10_000 });
  const status = /status: (\w+)/.exec(stdout)?.[1] ?? 'NONE';
  const flags = (/;; flags: ([^;]*);/.exec(stdout)?.[1] ?? '').trim().split(/\s+/).filter(Boolean);
  const question = /;; QUESTION SECTION:\n;(\S+)/.exec(stdout)?.[1] ?? '';
  const udp = /udp: (\d+)/.exec(stdout)?.[1];
  return { status, flags, question, answers: section(stdout, 'ANSWER'), authority: section(stdout, 'AUTHORITY'), ednsUdpBytes: udp === undefined ? undefined : Number(udp), text: stdout };
}

function section(text: string, title: string): Array<{ name: string; ttl: number; type: string; data: string }> {
  const start = text.indexOf(`;; ${title} SECTION:\n`);
  if (start < 0) return [];
  const body = text.slice(start).split('\n').slice(1);
  const records = [];
  for (const line of body) {
    if (line.trim() === '' || line.startsWith(';')) break;
    const [name, ttl, , type, ...data] = line.split(/\s+/);
    records.push({ name: name!, ttl: Number(ttl), type: type!, data: data.join(' ') });
  }
  return records;
}
