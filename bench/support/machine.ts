import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';

/** What the numbers were measured on. */
export interface MachineDescription {
  cpuModel: string;
  cores: number;
  memoryGiB: number;
  kernel: string;
  node: string;
  haproxy: string;
  nginx: string;
  wrk: string;
}

function firstLineOf(command: string, args: string[]): string {
  try {
    // nginx -v writes to stderr and wrk -v exits 1, so read both streams and ignore the code.
    const out = execFileSync('sh', ['-c', `${command} ${args.join(' ')} 2>&1 || true`], { encoding: 'utf8' });
    return out.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'unknown';
  } catch {
    return 'not installed';
  }
}

/** Reads the CPU model, cores, kernel and tool versions. */
export function describeMachine(): MachineDescription {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  try {
    const match = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (match?.[1] !== undefined) cpuModel = match[1].trim();
  } catch {
    // not Linux: os.cpus() is what there is
  }
  return {
    cpuModel,
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    kernel: `Linux ${release()}`,
    node: process.version,
    haproxy: firstLineOf('haproxy', ['-v']).replace(/ - https?:\/\/\S+$/, ''),
    nginx: firstLineOf('nginx', ['-v']).replace(/^nginx version:\s*/, ''),
    wrk: firstLineOf('wrk', ['-v']).replace(/\s*\[.*$/, ''),
  };
}

/** One line for the terminal and the docs. */
export function machineLine(m: MachineDescription): string {
  return `${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.kernel}; Node ${m.node}, ${m.haproxy}, ${m.nginx}, ${m.wrk}`;
}
