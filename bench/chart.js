// @ts-check
/**
 * The chart for docs/benchmarks.md: calls/s against concurrency, one small panel per workload, a
 * line per side. Hand-written SVG (a few dozen elements), so the benchmark needs no charting
 * library. Concurrency levels are spaced evenly (1, 32, 128 would crowd on a linear axis).
 * Calls/s are on a log scale: the ceiling is often 10-100 times the others, which would
 * flatten them on a linear one, and on a log scale a ratio (service/floor) is a distance
 * that reads the same in every panel. A hollow marker is a side whose figures are not a
 * valid result (errors, or nothing answered in the window).
 */

const PANEL = { width: 300, height: 210, left: 52, right: 14, top: 30, bottom: 40 }
const COLUMNS = 3
const TITLE_HEIGHT = 56
const COLORS = ['#1f6fb4', '#2a9d3a', '#8a8a8a', '#d9822b', '#8e44ad', '#c0392b']

/** @param {string} text */
const escape = (text) => text.replace(/[<>&"]/g, (char) => `&#${char.charCodeAt(0)};`)

const axisLabel = (/** @type {number} */ value) =>
  value >= 1e6 ? `${value / 1e6}M` : value >= 1000 ? `${value / 1000}k` : String(value)

/**
 * Whole decades around the values, and the gridlines inside them (1, 2, 5 × 10^k; only the
 * decades when there are many).
 * @param {number[]} values
 */
function logAxis (values) {
  const positive = values.filter((value) => value > 0)
  const low = positive.length > 0 ? 10 ** Math.floor(Math.log10(Math.min(...positive))) : 1
  const high = Math.max(10 * low, 10 ** Math.ceil(Math.log10(Math.max(...positive, low))))
  const steps = Math.log10(high / low) > 3 ? [1] : [1, 2, 5]
  const lines = []
  for (let decade = low; decade <= high; decade *= 10) {
    for (const step of steps) if (decade * step <= high) lines.push(decade * step)
  }
  return { low, high, lines }
}

/**
 * @param {object} input
 * @param {string} input.title
 * @param {string} input.subtitle
 * @param {string[]} input.targets          line order and legend
 * @param {string[]} input.workloads        panel order
 * @param {import('./cell.js').Cell[]} input.cells
 * @returns {string}
 */
export function renderChart ({ title, subtitle, targets, workloads, cells }) {
  const levels = [...new Set(cells.map((cell) => cell.concurrency))].sort((a, b) => a - b)
  const rows = Math.ceil(workloads.length / COLUMNS)
  const width = PANEL.width * Math.min(COLUMNS, workloads.length)
  const height = TITLE_HEIGHT + PANEL.height * rows
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    `<text x="12" y="20" font-size="14" font-weight="bold">${escape(title)}</text>`,
    `<text x="12" y="37" fill="#555">${escape(subtitle)}</text>`,
    ...targets.map((target, index) => {
      const x = 12 + index * 90
      const color = COLORS[index % COLORS.length]
      return `<line x1="${x}" y1="48" x2="${x + 18}" y2="48" stroke="${color}" stroke-width="2.5"/><text x="${x + 22}" y="52">${escape(target)}</text>`
    }),
    ...workloads.map((workload, index) => panel(workload, index, levels, targets, cells)),
    '</svg>',
  ]
  return parts.join('\n') + '\n'
}

/**
 * @param {string} workload @param {number} index @param {number[]} levels
 * @param {string[]} targets @param {import('./cell.js').Cell[]} cells
 */
function panel (workload, index, levels, targets, cells) {
  const originX = (index % COLUMNS) * PANEL.width
  const originY = TITLE_HEIGHT + Math.floor(index / COLUMNS) * PANEL.height
  const plotWidth = PANEL.width - PANEL.left - PANEL.right
  const plotHeight = PANEL.height - PANEL.top - PANEL.bottom
  const mine = cells.filter((cell) => cell.workload === workload)
  const axis = logAxis(mine.flatMap((cell) => cell.sides.map((side) => side.callsPerSecond)))
  const x = (/** @type {number} */ level) => PANEL.left + (levels.length === 1 ? plotWidth / 2 : plotWidth * levels.indexOf(level) / (levels.length - 1))
  // Nothing measured (0 calls/s) sits on the bottom line rather than at minus infinity.
  const y = (/** @type {number} */ value) =>
    PANEL.top + plotHeight * (1 - Math.log10(Math.max(value, axis.low) / axis.low) / Math.log10(axis.high / axis.low))

  const grid = axis.lines.map((value) => {
    const decade = Number.isInteger(Math.log10(value))
    return `<line x1="${PANEL.left}" y1="${y(value).toFixed(1)}" x2="${PANEL.left + plotWidth}" y2="${y(value).toFixed(1)}" stroke="${decade ? '#d0d0d0' : '#eeeeee'}"/>` +
      `<text x="${PANEL.left - 5}" y="${(y(value) + 4).toFixed(1)}" text-anchor="end" fill="${decade ? '#444' : '#999'}">${axisLabel(value)}</text>`
  })
  const ticks = levels.map((level) =>
    `<text x="${x(level)}" y="${PANEL.top + plotHeight + 15}" text-anchor="middle" fill="#555">${level}</text>`)
  const lines = targets.flatMap((target, targetIndex) => {
    const color = COLORS[targetIndex % COLORS.length]
    const points = levels.flatMap((level) => {
      const side = mine.find((cell) => cell.concurrency === level)?.sides.find((one) => one.target === target)
      return side ? [{ px: x(level), py: y(side.callsPerSecond), failed: side.problems.length > 0 }] : []
    })
    if (points.length === 0) return []
    return [
      `<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.map(({ px, py }) => `${px.toFixed(1)},${py.toFixed(1)}`).join(' ')}"/>`,
      ...points.map(({ px, py, failed }) =>
        `<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="3" fill="${failed ? '#fff' : color}" stroke="${color}" stroke-width="1.5"/>`),
    ]
  })
  return [
    `<g transform="translate(${originX},${originY})">`,
    `<text x="${PANEL.left}" y="18" font-size="12" font-weight="bold">${escape(workload)}</text>`,
    `<text x="${PANEL.width - PANEL.right}" y="18" text-anchor="end" fill="#555">calls/s (log)</text>`,
    ...grid,
    ...ticks,
    `<text x="${PANEL.left + plotWidth / 2}" y="${PANEL.top + plotHeight + 30}" text-anchor="middle" fill="#555">clients</text>`,
    ...lines,
    '</g>',
  ].join('\n')
}
