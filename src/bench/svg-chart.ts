/**
 * Line charts as SVG text, drawn when the report is written: the HTML page needs no
 * script and no library at view time, and opens from a file or a mail attachment.
 */

export interface ChartSeries {
  name: string;
  /** y value per x (x = index, in seconds); null leaves a gap. */
  values: ReadonlyArray<number | null>;
}

export interface LineChartOptions {
  title: string;
  yUnit: string;
  series: readonly ChartSeries[];
  /** @defaultValue 720 */
  width?: number;
  /** @defaultValue 240 */
  height?: number;
}

/** Colours that stay apart for the first series and for colour-blind readers (Okabe–Ito). */
export const CHART_COLOURS = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#F0E442', '#000000'];

const PAD = { left: 56, right: 16, top: 28, bottom: 36 };

export function lineChart(options: LineChartOptions): string {
  const width = options.width ?? 720;
  const height = options.height ?? 240;
  const plotW = width - PAD.left - PAD.right;
  const plotH = height - PAD.top - PAD.bottom;
  const points = Math.max(1, ...options.series.map((s) => s.values.length));
  const maxY = niceMax(Math.max(0, ...options.series.flatMap((s) => s.values.filter((v): v is number => v !== null && Number.isFinite(v)))));
  const x = (i: number): number => PAD.left + (points <= 1 ? plotW / 2 : (i * plotW) / (points - 1));
  const y = (v: number): number => PAD.top + plotH - (maxY === 0 ? 0 : (v / maxY) * plotH);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" width="${width}" height="${height}" role="img" aria-label="${esc(options.title)}">`,
    `<text x="${PAD.left}" y="18" class="title">${esc(options.title)}</text>`,
  ];
  for (let k = 0; k <= 4; k++) {
    const v = (maxY * k) / 4;
    const yy = y(v).toFixed(1);
    parts.push(`<line x1="${PAD.left}" x2="${width - PAD.right}" y1="${yy}" y2="${yy}" class="grid"/>`,
      `<text x="${PAD.left - 6}" y="${yy}" class="tick" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`);
  }
  const step = Math.max(1, Math.ceil(points / 10));
  for (let i = 0; i < points; i += step) {
    parts.push(`<text x="${x(i).toFixed(1)}" y="${height - PAD.bottom + 16}" class="tick" text-anchor="middle">${i}s</text>`);
  }
  parts.push(`<text x="12" y="${PAD.top + plotH / 2}" class="unit" transform="rotate(-90 12 ${PAD.top + plotH / 2})" text-anchor="middle">${esc(options.yUnit)}</text>`);
  options.series.forEach((series, n) => {
    const colour = CHART_COLOURS[n % CHART_COLOURS.length]!;
    let d = '';
    let pen = false;
    series.values.forEach((v, i) => {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        return;
      }
      d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    });
    parts.push(`<path d="${d}" fill="none" stroke="${colour}" stroke-width="2" data-series="${esc(series.name)}"/>`);
    if (series.values.length === 1 && series.values[0] !== null) parts.push(`<circle cx="${x(0)}" cy="${y(series.values[0]!)}" r="3" fill="${colour}"/>`);
    const lx = PAD.left + 8 + n * 130;
    parts.push(`<rect x="${lx}" y="${height - 14}" width="10" height="10" fill="${colour}"/>`, `<text x="${lx + 14}" y="${height - 5}" class="legend">${esc(series.name)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('');
}

/** A round number at or above `v` for the top of an axis (1, 2, 2.5 or 5 times a power of ten). */
export function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function fmt(v: number): string {
  return v >= 100 ? String(Math.round(v)) : String(Math.round(v * 10) / 10);
}

export function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
