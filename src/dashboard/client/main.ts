import { cacheRatios, faultLabel, formatBytes, formatMs, jobRates, queueKey, requestRates } from './model.js';
import type { JobRates, LatencyView, StatusView } from './model.js';
import { drawTopology } from './topology-svg.js';
import type { NodeInfo } from './topology-svg.js';

/** Besides the stats stream (a frame a second), the status is read again soon after every event and action. */
const EVENT_REFRESH_DELAY_MS = 50;
const EVENTS_KEPT = 300;

interface EventView {
  id: number;
  at: number;
  source: string;
  kind: string;
  [field: string]: unknown;
}

/** The last frame of the stats stream: rates are measured between stream frames only (a second apart). */
let lastStreamed: StatusView | undefined;
let current: StatusView | undefined;
let rates = new Map<string, number>();
let jobs = new Map<string, JobRates>();
let cacheHits = new Map<string, { ratio: number | undefined; recent: boolean }>();
let selected: string | undefined;
let refreshTimer: ReturnType<typeof setTimeout> | undefined;

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;

async function refresh(): Promise<void> {
  const res = await fetch('/dashboard/api/status', { cache: 'no-store' });
  if (res.status === 401) {
    location.reload();
    return;
  }
  current = await res.json() as StatusView;
  render();
}

function onFrame(view: StatusView): void {
  const fresh = requestRates(lastStreamed, view);
  cacheHits = cacheRatios(lastStreamed, view);
  jobs = jobRates(lastStreamed, view);
  lastStreamed = view;
  current = view;
  if (fresh.size > 0 || view.balancer === null) rates = fresh;
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
  const pools = Object.values(balancer?.pools ?? {});
  const poolLatency: LatencyView | undefined = pools.length === 1 ? pools[0]!.latency : undefined;
  const lags = new Map((status.db?.nodes ?? []).map((n) => [n.name, n.role === 'primary' ? 'primary' : `lag ${n.lagBytes ?? '?'} B / ${n.lagMs ?? '?'} ms`]));
  const faults = new Map<string, string[]>();
  for (const f of current.faults ?? []) faults.set(f.target, [...faults.get(f.target) ?? [], faultLabel(f)]);
  const nodes: NodeInfo[] = status.processes.map((p) => ({ process: p, server: servers.get(p.id), rate: rates.get(p.id), lag: lags.get(p.id), faults: faults.get(p.id) ?? [] }));
  $('topology').replaceChildren(drawTopology(nodes, selected, select));
  const total = [...rates.values()].reduce((a, b) => a + b, 0);
  $('summary').textContent = `${status.state} · build ${status.buildId ?? '–'} · ${status.profile ?? 'no engines'} · ${total.toFixed(1)} req/s · p50 ${formatMs(poolLatency, 'p50Ms')} · p99 ${formatMs(poolLatency, 'p99Ms')}${status.operation === null ? '' : ` · ${status.operation} in progress`}`;
  renderNodes(servers);
  renderDb();
  renderQueues();
  renderFaults();
  renderLoad();
  renderControls();
}

/** One row per process: what the balancer measures of it, and what /proc says it costs. */
function renderNodes(servers: Map<string, NonNullable<StatusView['balancer']>['pools'][string]['servers'][number]>): void {
  if (current === undefined) return;
  const table = document.createElement('table');
  table.append(row('th', ['role', 'id', 'state', 'req/s', 'in flight', 'p50', 'p99', 'CPU', 'memory', 'cache hits']));
  for (const p of current.status.processes) {
    const server = servers.get(p.id);
    const usage = current.usage?.[p.id];
    const rate = rates.get(p.id);
    const tr = row('td', [
      p.role, p.id, server === undefined ? p.state : `${p.state} / ${server.state}`,
      server === undefined ? '' : rate === undefined ? '–' : rate.toFixed(1),
      server === undefined ? '' : String(server.inFlight),
      server === undefined ? '' : formatMs(server.latency, 'p50Ms'),
      server === undefined ? '' : formatMs(server.latency, 'p99Ms'),
      usage === undefined ? '' : usage.cpuPercent === null ? '…' : `${usage.cpuPercent.toFixed(1)} %`,
      usage === undefined ? '' : formatBytes(usage.rssBytes),
      cacheCell(cacheHits.get(p.id)),
    ]);
    tr.dataset.id = p.id;
    ['role', 'id', 'state', 'rate', 'in-flight', 'p50', 'p99', 'cpu', 'mem', 'cache'].forEach((name, i) => tr.children[i]!.classList.add(name));
    table.append(tr);
  }
  $('nodes').replaceChildren(table);
}

/** `93 %` over the last second, `(93 %)` since start when nothing was looked up in that second. */
function cacheCell(hits: { ratio: number | undefined; recent: boolean } | undefined): string {
  if (hits === undefined) return '';
  if (hits.ratio === undefined) return '–';
  const text = `${Math.round(hits.ratio * 100)} %`;
  return hits.recent ? text : `(${text})`;
}

/** Depth now and finished jobs per second; `–` where the engine keeps no count of finished jobs. */
function renderQueues(): void {
  const queues = current?.queues ?? [];
  if (queues.length === 0) return;
  const table = document.createElement('table');
  table.append(row('th', ['worker', 'queue', 'waiting', 'completed/s', 'failed/s']));
  const perSecond = (v: number | undefined): string => v === undefined ? '–' : v.toFixed(1);
  for (const q of queues) {
    const r = jobs.get(queueKey(q));
    const tr = row('td', [q.role, q.queue, q.depth === null ? '–' : String(q.depth), perSecond(r?.completed), perSecond(r?.failed)]);
    tr.dataset.queue = q.queue;
    ['role', 'queue', 'depth', 'completed', 'failed'].forEach((name, i) => tr.children[i]!.classList.add(name));
    table.append(tr);
  }
  $('queues').replaceChildren(table);
}

function renderFaults(): void {
  const list = $('faults');
  const faults = current?.faults ?? [];
  list.replaceChildren(...faults.map((f) => {
    const li = document.createElement('li');
    li.dataset.target = f.target;
    li.dataset.fault = f.fault;
    li.textContent = `${faultLabel(f)} on ${f.target} since ${new Date(f.at).toLocaleTimeString()}`;
    return li;
  }));
  if (faults.length === 0) list.replaceChildren(Object.assign(document.createElement('li'), { textContent: 'no faults in force' }));
  $<HTMLButtonElement>('chaos-heal').disabled = faults.length === 0;
}

function renderLoad(): void {
  const load = current?.load;
  if (load === undefined) return;
  $<HTMLButtonElement>('load-start').disabled = load.running;
  const out = $('load-status');
  out.dataset.running = String(load.running);
  if (load.running) {
    const p = load.progress;
    out.textContent = p === null ? `starting ${load.scenario} at ${load.rps} req/s…` : `${load.scenario} at ${load.rps} req/s: ${p.elapsedS.toFixed(0)}/${p.durationS} s, ${p.responses} responses, ${p.currentRps} req/s, ${p.errors} errors`;
  } else if (load.error !== null) {
    out.textContent = `the load failed: ${load.error}`;
  } else if (load.last !== null) {
    const l = load.last;
    out.textContent = `last load: ${l.responses} responses (balancer: ${l.balancerExchanges}), ${l.throughputRps} req/s, p50 ${l.p50Ms} ms, p99 ${l.p99Ms} ms, ${l.errors} errors`;
  } else {
    out.textContent = 'no load run yet';
  }
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
  title.textContent = `Replication (primary ${db.primary ?? '–'})${db.failoverInProgress === true ? ' · failover in progress' : db.failover === true ? ' · automatic failover on, none active' : ''}`;
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
  for (const id of ['chaos-stop', 'chaos-partition', 'chaos-slow']) $<HTMLButtonElement>(id).disabled = !actable;
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

function connectStats(): void {
  // One frame a second while the page is open; EventSource reconnects on its own.
  const source = new EventSource('/dashboard/api/stats');
  source.addEventListener('stats', (message) => onFrame(JSON.parse((message as MessageEvent<string>).data) as StatusView));
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
  $('chaos-stop').addEventListener('click', () => selected !== undefined && void act('chaos', { fault: 'stop', target: selected }, `stop ${selected}`));
  $('chaos-partition').addEventListener('click', () => selected !== undefined && void act('chaos', { fault: 'partition', target: selected }, `partition ${selected}`));
  $('chaos-slow').addEventListener('click', () => {
    const ms = Number($<HTMLInputElement>('chaos-slow-ms').value);
    if (selected !== undefined) void act('chaos', { fault: 'slow', target: selected, ms }, `slow ${selected} by ${ms} ms`);
  });
  $('chaos-heal').addEventListener('click', () => void act('chaos/heal', {}, 'heal all'));
  $('load-start').addEventListener('click', () => {
    const scenario = $<HTMLSelectElement>('load-scenario').value;
    const rps = Number($<HTMLInputElement>('load-rps').value);
    const durationS = Number($<HTMLInputElement>('load-duration').value);
    void act('load', { scenario, rps, durationS }, `load ${scenario}`);
  });
  connectEvents();
  connectStats();
  void refresh().catch(() => undefined);
}

main();
