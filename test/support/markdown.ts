import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import GithubSlugger from 'github-slugger'
import { projectRoot } from '../../src/paths.js'

/**
 * The project's Markdown pages, read the way a reader on GitHub meets them: headings become
 * anchors by GitHub's own slug rule (github-slugger), links and inline code are taken from
 * prose only, so an example inside a fenced block is never mistaken for a link or a command.
 */

/** Every hand-written page, as a path from the project's root. */
export function markdownPages (): string[] {
  const inFolder = (folder: string, keep: (name: string) => boolean) =>
    readdirSync(join(projectRoot, folder), { withFileTypes: true }).filter((entry) => keep(entry.name)).map((entry) => `${folder}/${entry.name}`)
  const readmesBelow = (folder: string) =>
    readdirSync(join(projectRoot, folder), { withFileTypes: true })
      .filter((entry) => entry.isDirectory())
      .map((entry) => `${folder}/${entry.name}/README.md`)
      .filter((page) => existsSync(join(projectRoot, page)))
  return ['README.md', 'CONTRIBUTING.md', ...inFolder('docs', (name) => name.endsWith('.md')), ...readmesBelow('packages'), ...readmesBelow('tools')]
}

export const readPage = (page: string) => readFileSync(join(projectRoot, page), 'utf8')

/** The page without its fenced code blocks (their lines become empty, so line numbers hold). */
export function prose (text: string): string {
  let fenced = false
  return text.split('\n').map((line) => {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced
      return ''
    }
    return fenced ? '' : line
  }).join('\n')
}

/** The anchors GitHub gives the page's headings, duplicates numbered as GitHub numbers them. */
export function anchorsOf (text: string): Set<string> {
  const slugger = new GithubSlugger()
  const anchors = new Set<string>()
  for (const [, heading] of prose(text).matchAll(/^#{1,6}\s+(.+?)\s*#*$/gm)) {
    // GitHub slugs the rendered text: code marks and link targets are not part of it.
    const rendered = (heading ?? '').replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replaceAll('`', '')
    anchors.add(slugger.slug(rendered))
  }
  return anchors
}

/** The text of every inline code span in the page's prose. */
export function inlineCode (text: string): string[] {
  return [...prose(text).matchAll(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g)].map((match) => (match[2] ?? '').trim())
}

/** Every link and image target in the page's prose, with the line it is on. */
export function linksOf (text: string): Array<{ target: string, line: number }> {
  const withoutCode = prose(text).replace(/(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)/g, (span) => span.replace(/[^\n]/g, ' '))
  return withoutCode.split('\n').flatMap((line, index) =>
    [...line.matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)].map((match) => ({ target: match[1] ?? '', line: index + 1 })))
}
