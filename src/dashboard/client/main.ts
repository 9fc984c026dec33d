import { requestRates } from './model.js';
import type { StatusView } from './model.js';
import { drawTopology } from './topology-svg.js';
import type { NodeInfo } from './topology-svg.js';

/** The status is read again this often (for req/s) and soon after every event. */
const STATUS_POLL_MS = 1000;
const EVENT_REFRESH_DELAY_MS = 50;
const EVENTS_KEPT = 300;

interface EventView {
  id: number;
  at: number;
  source: string;
  kind: string;
  [field: string]: unknown;
}

let previous: StatusView | undefined;
let current: StatusView | undefined;
let rates = new Map<string, number>();
let selected: string | undefined;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

async function refresh(): Promise<void> {
  const res = await fetch('/dashboard/api/status', { cache: 'no-store' });
  if (res.status === 401) {
    location.reload();
    return;
  }
  const view = await res.json() as StatusView;
  previous = current;
  current = view;
  const fresh = requestRates(previous, current);
  if (fresh.size > 0 || current.balancer === null) rates = fresh;
  render();
}

function scheduleRefresh(): void {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(() => void refresh().catch(() => undefined), EVENT_REFRESH_DELAY_MS);
}

function render(): void {
  if (current === undefined) return;
  const { status, balancer } = current;
  const servers = new Map(Object.values(balancer?.pools ?? {}).flatMap((p) => p.servers.map((s) => [s.id, s] as const)));
  const lags = new Map((status.db?.nodes ?? []).map((n) => [n.name, n.role === 'primary' ? 'primary' : `lag ${n.lagBytes ?? '?'} B / ${n.lagMs ?? '?'} ms`]));
  const nodes: NodeInfo[] = status.processes.map((p) => ({ process: p, server: servers.get(p.id), rate: rates.get(p.id), lag: lags.get(p.id) }));
  $('topology').replaceChildren(drawTopology(nodes, selected, select));
  const total = [...rates.values()].reduce((a, b) => a + b, 0);
  $('summary').textContent = `${status.state} · build ${status.buildId ?? '–'} · ${status.profile ?? 'no engines'} · ${total.toFixed(1)} req/s${status.operation === null ? '' : ` · ${status.operation} in progress`} · p50/p99: not measured by the balancer`;
  renderDb();
  renderControls();
}

function renderDb(): void {
  const db = current?.status.db;
  const box = $('db');
  if (db == null) {
    box.replaceChildren();
    return;
  }
  const table = document.createElement('table');
  table.append(row('th', ['node', 'role', 'healthy', 'lag B', 'lag ms']));
  for (const n of db.nodes) table.append(row('td', [n.name, n.role, n.healthy ? 'yes' : 'no', String(n.lagBytes ?? '–'), String(n.lagMs ?? '–')]));
  const title = document.createElement('h3');
  title.textContent = `Replication (primary ${db.primary ?? '–'})`;
  box.replaceChildren(title, table);
}

function row(cell: 'td' | 'th', values: string[]): HTMLTableRowElement {
  const tr = document.createElement('tr');
  for (const v of values) {
    const c = document.createElement(cell);
    c.textContent = v;
    tr.append(c);
  }
  return tr;
}

function renderControls(): void {
  const process = current?.status.processes.find((p) => p.id === selected);
  $('selected').textContent = process === undefined ? 'Select a node to kill, restart or drain it.' : `${process.role} ${process.id} (${process.state}${process.pid === null ? '' : `, pid ${process.pid}`})`;
  const actable = process !== undefined && process.role !== 'supervisor';
  $<HTMLButtonElement>('kill').disabled = !actable;
  $<HTMLButtonElement>('restart').disabled = !actable;
  $<HTMLButtonElement>('drain').disabled = process?.role !== 'app';
  const roles = new Set(['app', ...(current?.status.processes ?? []).map((p) => p.role).filter((r) => r === 'static' || r.startsWith('worker'))]);
  const select = $<HTMLSelectElement>('scale-role');
  if (select.options.length !== roles.size) {
    select.replaceChildren(...[...roles].map((r) => Object.assign(document.createElement('option'), { value: r, textContent: r })));
  }
}

function select(id: string): void {
  selected = selected === id ? undefined : id;
  render();
}

async function act(path: string, body: unknown, label: string): Promise<void> {
  const out = $('action-result');
  out.textContent = `${label}…`;
  const res = await fetch(`/dashboard/api/${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const answer = await res.json() as { result?: unknown; error?: { code: string; message: string } };
  out.textContent = answer.error === undefined ? `${label}: done` : `${label}: ${answer.error.code}: ${answer.error.message}`;
  out.className = answer.error === undefined ? 'ok' : 'error';
  scheduleRefresh();
}

function describe(e: EventView): string {
  if (e.kind === 'notice') return String(e.message);
  const skip = new Set(['id', 'at', 'source', 'kind']);
  return Object.entries(e).filter(([k, v]) => !skip.has(k) && v !== null && v !== '').map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : String(v)}`).join(' ');
}

function addEvent(e: EventView): void {
  const list = $('events');
  const li = document.createElement('li');
  const level = e.kind === 'notice' ? String(e.level) : /exited|failed|gap/.test(e.kind) ? 'warn' : 'info';
  li.className = `event ${level}`;
  li.dataset.kind = e.kind;
  const time = document.createElement('time');
  time.textContent = new Date(e.at).toLocaleTimeString();
  const source = document.createElement('b');
  source.textContent = e.source;
  const kind = document.createElement('span');
  kind.className = 'kind';
  kind.textContent = e.kind;
  li.append(time, ' ', source, ' ', kind, ' ', describe(e));
  list.prepend(li);
  while (list.children.length > EVENTS_KEPT) list.lastElementChild?.remove();
}

function connectEvents(): void {
  // EventSource resumes by Last-Event-ID on its own after a dropped connection.
  const source = new EventSource('/dashboard/api/events');
  const live = $('live');
  source.onopen = () => {
    live.textContent = 'live';
    live.className = 'live on';
  };
  source.onerror = () => {
    live.textContent = 'reconnecting…';
    live.className = 'live off';
  };
  source.onmessage = (message) => {
    addEvent(JSON.parse(message.data as string) as EventView);
    scheduleRefresh();
  };
}

function main(): void {
  $('kill').addEventListener('click', () => selected !== undefined && void act(`processes/${encodeURIComponent(selected)}/kill`, {}, `kill ${selected}`));
  $('restart').addEventListener('click', () => selected !== undefined && void act(`processes/${encodeURIComponent(selected)}/restart`, {}, `restart ${selected}`));
  $('drain').addEventListener('click', () => selected !== undefined && void act(`processes/${encodeURIComponent(selected)}/drain`, {}, `drain ${selected}`));
  $('scale').addEventListener('click', () => {
    const role = $<HTMLSelectElement>('scale-role').value;
    const count = Number($<HTMLInputElement>('scale-count').value);
    void act('scale', { role, count }, `scale ${role}=${count}`);
  });
  $('deploy').addEventListener('click', () => void act('deploy', {}, 'deploy'));
  connectEvents();
  void refresh().catch(() => undefined);
  setInterval(() => void refresh().catch(() => undefined), STATUS_POLL_MS);
}

main();
