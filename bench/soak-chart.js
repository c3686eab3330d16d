// @ts-check
/**
 * The soak's chart for docs/reliability.md: one small panel per figure against the minute, so a
 * leak (a line that climbs) or a stall (a line that drops) shows at a glance. Hand-written
 * SVG, as bench/chart.js is; linear axes from zero, so flat reads as flat.
 */

const PANEL = { width: 300, height: 190, left: 48, right: 14, top: 30, bottom: 36 }
const COLUMNS = 3
const TITLE_HEIGHT = 48
const COLORS = ['#1f6fb4', '#d9822b']

/** @param {string} text */
const escape = (text) => text.replace(/[<>&"]/g, (char) => `&#${char.charCodeAt(0)};`)

/**
 * @typedef {object} Series
 * @property {string} label
 * @property {(minute: import('./soak.js').Minute) => number} value
 */

/** @type {Array<{ title: string, series: Series[] }>} */
const PANELS = [
  { title: 'calls/s', series: [{ label: 'calls/s', value: (minute) => minute.callsPerSecond }] },
  { title: 'latency, ms', series: [{ label: 'p50', value: (minute) => minute.p50Ms }, { label: 'p99', value: (minute) => minute.p99Ms }] },
  { title: 'resident memory, MiB', series: [{ label: 'RSS', value: (minute) => minute.rssMiB }] },
  { title: 'event-loop delay, ms', series: [{ label: 'p99', value: (minute) => minute.loopP99Ms }, { label: 'max', value: (minute) => minute.loopMaxMs }] },
  { title: 'DB connections', series: [{ label: 'sessions', value: (minute) => minute.dbConnections }, { label: 'pool', value: (minute) => minute.poolConnections }] },
  { title: 'errors', series: [{ label: 'errors', value: (minute) => Object.values(minute.errors).reduce((sum, n) => sum + n, 0) }] },
]

/** A round top for a linear axis from zero: 1, 2 or 5 × 10^k, above the largest value. */
function axisTop (/** @type {number} */ largest) {
  if (!(largest > 0)) return 1
  const decade = 10 ** Math.floor(Math.log10(largest))
  return ([1, 2, 5, 10].map((step) => step * decade).find((top) => top >= largest * 1.1) ?? 10 * decade)
}

/**
 * @param {{ title: string, subtitle: string, minutes: import('./soak.js').Minute[] }} input
 * @returns {string}
 */
export function renderSoakChart ({ title, subtitle, minutes }) {
  const rows = Math.ceil(PANELS.length / COLUMNS)
  const width = PANEL.width * COLUMNS
  const height = TITLE_HEIGHT + PANEL.height * rows
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="12" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<text x="12" y="37" fill="#555">${escape(subtitle)}</text>`,
    ...PANELS.map((panel, index) => renderPanel(panel, index, minutes)),
    '</svg>',
  ].join('\n') + '\n'
}

/**
 * @param {{ title: string, series: Series[] }} panel @param {number} index
 * @param {import('./soak.js').Minute[]} minutes
 */
function renderPanel (panel, index, minutes) {
  const originX = (index % COLUMNS) * PANEL.width
  const originY = TITLE_HEIGHT + Math.floor(index / COLUMNS) * PANEL.height
  const plotWidth = PANEL.width - PANEL.left - PANEL.right
  const plotHeight = PANEL.height - PANEL.top - PANEL.bottom
  const values = panel.series.flatMap((series) => minutes.map(series.value)).filter(Number.isFinite)
  const top = axisTop(Math.max(0, ...values))
  const last = Math.max(1, minutes.length)
  const x = (/** @type {number} */ minute) => PANEL.left + (last === 1 ? plotWidth / 2 : plotWidth * (minute - 1) / (last - 1))
  const y = (/** @type {number} */ value) => PANEL.top + plotHeight * (1 - value / top)
  const grid = [0, 0.5, 1].map((fraction) => {
    const value = top * fraction
    return `<line x1="${PANEL.left}" y1="${y(value).toFixed(1)}" x2="${PANEL.left + plotWidth}" y2="${y(value).toFixed(1)}" stroke="${fraction === 0 ? '#bbb' : '#e4e4e4'}"/>` +
      `<text x="${PANEL.left - 5}" y="${(y(value) + 4).toFixed(1)}" text-anchor="end" fill="#555">${Number(value.toPrecision(3))}</text>`
  })
  const ticks = minutes.filter((minute) => minute.minute === 1 || minute.minute % 5 === 0 || minute.minute === last)
    .map((minute) => `<text x="${x(minute.minute).toFixed(1)}" y="${PANEL.top + plotHeight + 14}" text-anchor="middle" fill="#555">${minute.minute}</text>`)
  const lines = panel.series.flatMap((series, seriesIndex) => {
    const color = COLORS[seriesIndex % COLORS.length]
    const points = minutes.filter((minute) => Number.isFinite(series.value(minute)))
      .map((minute) => `${x(minute.minute).toFixed(1)},${y(series.value(minute)).toFixed(1)}`)
    if (points.length === 0) return []
    return [
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>`,
      panel.series.length > 1 ? `<text x="${PANEL.width - PANEL.right - 40 * (panel.series.length - 1 - seriesIndex)}" y="18" text-anchor="end" fill="${color}">${escape(series.label)}</text>` : '',
    ]
  })
  return [
    `<g transform="translate(${originX},${originY})">`,
    `<text x="${PANEL.left}" y="18" font-size="12" font-weight="bold">${escape(panel.title)}</text>`,
    ...grid,
    ...ticks,
    `<text x="${PANEL.left + plotWidth / 2}" y="${PANEL.top + plotHeight + 28}" text-anchor="middle" fill="#555">minute</text>`,
    ...lines,
    '</g>',
  ].join('\n')
}
