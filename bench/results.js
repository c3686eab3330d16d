// @ts-check
/**
 * What a run leaves behind, in bench/results/ (git-ignored), named by the run's start time:
 * the raw figures as JSON, the chart as SVG, and each server's own output as a log; and the
 * chart at docs/bench.svg when asked (for docs/benchmarks.md).
 */
import { copyFile, mkdir, open, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const folder = join(root, 'bench', 'results')

/**
 * A log file for one server's stdout and stderr: a server that logs under load (the
 * service warns on every refused call) must not bury the report on our stdout.
 * @param {string} stamp @param {string} name
 * @returns {Promise<{ fd: number, path: string, close: () => Promise<void> }>}
 */
export async function openServerLog (stamp, name) {
  await mkdir(folder, { recursive: true })
  const path = join(folder, `${stamp}-${name}.log`)
  const file = await open(path, 'w')
  return { fd: file.fd, path: relative(root, path), close: () => file.close() }
}

/**
 * @param {object} input
 * @param {string} input.stamp          the run's start, safe for a file name
 * @param {unknown} input.meta
 * @param {unknown} input.config
 * @param {import('./cell.js').Cell[]} input.cells
 * @param {unknown} input.goals
 * @param {unknown} input.figures
 * @param {unknown} [input.replicaReads]
 * @param {string} input.svg
 * @param {boolean} input.writeDocs
 * @returns {Promise<string[]>} the files written, relative to the project
 */
export async function saveResults ({ stamp, meta, config, cells, goals, figures, replicaReads, svg, writeDocs }) {
  await mkdir(folder, { recursive: true })
  // Every latency sample would make the file tens of MiB; the percentiles stay.
  const slim = cells.map((cell) => ({ ...cell, runs: cell.runs.map(({ latenciesMs, ...run }) => run) }))
  const json = join(folder, `${stamp}.json`)
  const chart = join(folder, `${stamp}.svg`)
  await writeFile(json, JSON.stringify({ meta, config, cells: slim, goals, figures, replicaReads }, null, 2) + '\n')
  await writeFile(chart, svg)
  const written = [json, chart]
  if (writeDocs) {
    const docs = join(root, 'docs', 'bench.svg')
    await mkdir(dirname(docs), { recursive: true })
    await copyFile(chart, docs)
    written.push(docs)
  }
  return written.map((file) => relative(root, file))
}
