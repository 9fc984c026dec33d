import { colourOf, columnOf } from './model.js';
import type { ProcessView, ServerView } from './model.js';

const SVG = 'http://www.w3.org/2000/svg';
const NODE_W = 215;
const NODE_H = 58;
const COL_GAP = 56;
const ROW_GAP = 16;
const PAD = 12;

export interface NodeInfo {
  process: ProcessView;
  server: ServerView | undefined;
  rate: number | undefined;
  lag: string | undefined;
  /** Chaos faults in force on it (`partition`, `slow 200 ms`). */
  faults: string[];
}

function el<K extends keyof SVGElementTagNameMap>(name: K, attrs: Record<string, string | number>, text?: string): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * Draws the deployment left to right: supervisor and DNS, balancers, instances and
 * workers, engines; edges where traffic flows. Each node is a `<g data-id data-state>`
 * with a colour class, so tests and styles read it without knowing the layout.
 */
export function drawTopology(nodes: NodeInfo[], selected: string | undefined, onSelect: (id: string) => void): SVGSVGElement {
  const columns: NodeInfo[][] = [[], [], [], []];
  for (const n of nodes) columns[columnOf(n.process.role)]!.push(n);
  const rows = Math.max(1, ...columns.map((c) => c.length));
  const width = PAD * 2 + 4 * NODE_W + 3 * COL_GAP;
  const height = PAD * 2 + rows * NODE_H + (rows - 1) * ROW_GAP;
  // Scales down to the panel's width (never up): the whole deployment stays in view.
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': 'deployment topology' });
  svg.style.maxWidth = `${width}px`;
  const position = new Map<string, { x: number; y: number }>();
  columns.forEach((column, c) => {
    const offset = (height - (column.length * NODE_H + Math.max(0, column.length - 1) * ROW_GAP)) / 2;
    column.forEach((n, r) => position.set(n.process.id, { x: PAD + c * (NODE_W + COL_GAP), y: offset + r * (NODE_H + ROW_GAP) }));
  });
  const edges = el('g', { class: 'edges' });
  const link = (from: NodeInfo[], to: NodeInfo[]): void => {
    for (const a of from) {
      for (const b of to) {
        const p = position.get(a.process.id)!;
        const q = position.get(b.process.id)!;
        const x1 = p.x + NODE_W;
        const y1 = p.y + NODE_H / 2;
        const x2 = q.x;
        const y2 = q.y + NODE_H / 2;
        edges.append(el('path', { d: `M${x1},${y1} C${x1 + COL_GAP / 2},${y1} ${x2 - COL_GAP / 2},${y2} ${x2},${y2}`, class: `edge ${colourOf(b.process.state, b.server?.state)}` }));
      }
    }
  };
  link(columns[0]!.filter((n) => n.process.role === 'dns'), columns[1]!);
  link(columns[1]!, columns[2]!.filter((n) => n.process.role !== 'worker' && !n.process.role.startsWith('worker')));
  link(columns[2]!, columns[3]!);
  svg.append(edges);
  for (const n of nodes) {
    const { x, y } = position.get(n.process.id)!;
    const colour = colourOf(n.process.state, n.server?.state);
    const state = n.server !== undefined && n.server.state !== 'up' ? `${n.process.state} · ${n.server.state}` : n.process.state;
    const g = el('g', {
      class: `node ${colour}${selected === n.process.id ? ' selected' : ''}`, 'data-id': n.process.id, 'data-role': n.process.role,
      'data-state': state, 'data-colour': colour, 'data-fault': n.faults.join(' '), transform: `translate(${x},${y})`, tabindex: 0,
    });
    g.append(el('title', {}, `${n.process.role} ${n.process.id}${n.process.pid === null ? '' : ` pid ${n.process.pid}`}${n.process.detail === undefined ? '' : `\n${n.process.detail}`}`));
    g.append(el('rect', { width: NODE_W, height: NODE_H, rx: 8 }));
    g.append(el('circle', { cx: 14, cy: 16, r: 6, class: 'dot' }));
    g.append(el('text', { x: 26, y: 20, class: 'name' }, n.process.id));
    g.append(el('text', { x: NODE_W - 8, y: 20, class: 'state', 'text-anchor': 'end' }, state));
    if (n.faults.length > 0) g.append(el('text', { x: NODE_W - 8, y: 53, class: 'fault', 'text-anchor': 'end' }, `⚡ ${n.faults.join(', ')}`));
    g.append(el('text', { x: 10, y: 40, class: 'metric' }, metricLine(n)));
    g.append(el('text', { x: 10, y: 53, class: 'metric dim' }, n.process.address ?? (n.process.pid === null ? '' : `pid ${n.process.pid}`)));
    g.addEventListener('click', () => onSelect(n.process.id));
    g.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' || e.key === ' ') onSelect(n.process.id);
    });
    svg.append(g);
  }
  return svg;
}

function metricLine(n: NodeInfo): string {
  const parts: string[] = [];
  if (n.server !== undefined) {
    parts.push(`${n.rate === undefined ? '–' : n.rate.toFixed(1)} req/s`, `${n.server.inFlight} in flight`);
  }
  if (n.lag !== undefined) parts.push(n.lag);
  if ((n.process.restarts ?? 0) > 0) parts.push(`${n.process.restarts} restart${n.process.restarts === 1 ? '' : 's'}`);
  if (parts.length === 0 && n.process.detail !== undefined) parts.push(n.process.detail.length > 30 ? `${n.process.detail.slice(0, 29)}…` : n.process.detail);
  return parts.join(' · ');
}
