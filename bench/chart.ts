// A small grouped-bar-chart renderer that writes SVG text directly: one panel per figure,
// each with its own y scale, groups along x and one bar per series in each group. It is all
// the benchmark report needs (it replaced vega + vega-lite, 76 packages for one chart).

export interface BarSeries {
  name: string
  color: string
}

export interface BarPanel {
  title: string
  /** One value per (group, series) present; a missing pair leaves a gap. */
  values: { group: string; series: string; value: number }[]
}

export interface BarChartSpec {
  title: string
  subtitle?: string
  /** Groups along x, in order (the same in every panel). */
  groups: string[]
  series: BarSeries[]
  panels: BarPanel[]
  panelWidth?: number
  panelHeight?: number
}

const FONT = 'font-family="sans-serif"'

export const escapeXml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')

/** A round tick step (1, 2 or 5 × 10^k) that splits 0..max into about `count` parts. */
export function niceStep(max: number, count = 5): number {
  if (!(max > 0)) return 1
  const raw = max / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  const f = raw / mag
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag
}

const tickLabel = (v: number) =>
  Math.abs(v) >= 1000 ? `${+(v / 1000).toFixed(1)}k` : String(+v.toFixed(3))

function panelSvg(
  p: BarPanel,
  spec: BarChartSpec,
  x0: number,
  y0: number,
  w: number,
  h: number,
): string[] {
  const out: string[] = []
  const max = Math.max(0, ...p.values.map((v) => v.value))
  const step = niceStep(max)
  const top = Math.max(step, Math.ceil(max / step) * step)
  const y = (v: number) => y0 + h - (v / top) * h
  out.push(
    `<text x="${x0 + w / 2}" y="${y0 - 10}" text-anchor="middle" font-size="12" font-weight="bold" ${FONT}>${escapeXml(p.title)}</text>`,
  )
  for (let t = 0; t <= top + step / 1e6; t += step) {
    out.push(
      `<line x1="${x0}" x2="${x0 + w}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" stroke="#e0e0e0"/>`,
    )
    out.push(
      `<text x="${x0 - 4}" y="${(y(t) + 3).toFixed(1)}" text-anchor="end" font-size="10" fill="#555" ${FONT}>${tickLabel(t)}</text>`,
    )
  }
  out.push(`<line x1="${x0}" x2="${x0}" y1="${y0}" y2="${y0 + h}" stroke="#888"/>`)
  out.push(`<line x1="${x0}" x2="${x0 + w}" y1="${y0 + h}" y2="${y0 + h}" stroke="#888"/>`)
  const gw = w / spec.groups.length
  const bw = (gw * 0.8) / spec.series.length
  spec.groups.forEach((g, gi) => {
    const gx = x0 + gi * gw
    out.push(
      `<text x="${(gx + gw / 2).toFixed(1)}" y="${y0 + h + 14}" text-anchor="middle" font-size="10" ${FONT}>${escapeXml(g)}</text>`,
    )
    spec.series.forEach((s, si) => {
      const v = p.values.find((d) => d.group === g && d.series === s.name)?.value
      if (v === undefined || !Number.isFinite(v)) return
      const bx = gx + gw * 0.1 + si * bw
      const by = y(Math.max(0, v))
      out.push(
        `<rect x="${bx.toFixed(1)}" y="${by.toFixed(1)}" width="${(bw - 1).toFixed(1)}" height="${(y0 + h - by).toFixed(1)}" fill="${s.color}">` +
          `<title>${escapeXml(`${p.title} · ${g} · ${s.name}: ${+v.toFixed(3)}`)}</title></rect>`,
      )
    })
  })
  return out
}

/** The whole chart as one standalone SVG document. */
export function barChartSvg(spec: BarChartSpec): string {
  const pw = spec.panelWidth ?? 200
  const ph = spec.panelHeight ?? 220
  const left = 50
  const gap = 60
  const top = spec.subtitle ? 70 : 55
  const width = left + spec.panels.length * (pw + gap) + 60
  const height = top + ph + 50
  const body: string[] = []
  body.push(`<rect width="${width}" height="${height}" fill="white"/>`)
  body.push(
    `<text x="${left}" y="20" font-size="14" font-weight="bold" ${FONT}>${escapeXml(spec.title)}</text>`,
  )
  if (spec.subtitle)
    body.push(
      `<text x="${left}" y="36" font-size="11" fill="#555" ${FONT}>${escapeXml(spec.subtitle)}</text>`,
    )
  spec.panels.forEach((p, i) => body.push(...panelSvg(p, spec, left + i * (pw + gap), top, pw, ph)))
  // legend, right of the last panel
  const lx = left + spec.panels.length * (pw + gap) - gap + 12
  spec.series.forEach((s, i) => {
    body.push(`<rect x="${lx}" y="${top + i * 16}" width="10" height="10" fill="${s.color}"/>`)
    body.push(
      `<text x="${lx + 14}" y="${top + i * 16 + 9}" font-size="10" ${FONT}>${escapeXml(s.name)}</text>`,
    )
  })
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">\n${body.join('\n')}\n</svg>\n`
}
