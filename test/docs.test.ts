import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, normalize } from 'node:path'
import { describe, expect, it } from 'vitest'
import { methods } from '../src/app.js'
import { configVariables } from '../src/config.js'
import { ErrorCode } from '../src/rpc/errors.js'
import { projectRoot } from '../src/paths.js'
import { anchorsOf, inlineCode, linksOf, markdownPages, readPage } from './support/markdown.js'

/**
 * The docs against the code and against themselves: the README and .env.example list every
 * setting, method and error code; on every page (the README, docs/, CONTRIBUTING.md, the
 * packages' and tools' READMEs) each relative link and #anchor resolves, each npm script it
 * tells a reader to run exists, and each file it names is there.
 */

const read = (file: string) => readFileSync(join(projectRoot, file), 'utf8')
const pages = markdownPages()

describe('documentation stays whole', () => {
  it('when a variable is in the config schema, then .env.example and the README table both list it', () => {
    const example = read('.env.example')
    const readme = read('README.md')
    for (const name of configVariables) {
      expect(example, `.env.example lacks ${name}`).toMatch(new RegExp(`^${name}=`, 'm'))
      expect(readme, `README lacks ${name}`).toMatch(new RegExp(`^\\| \`${name}\` \\|`, 'm'))
    }
  })

  it('when a method exists, then the README\'s table lists it and docs/api.md describes it', () => {
    const readme = read('README.md')
    const api = read('docs/api.md')
    for (const name of Object.keys(methods)) {
      expect(readme, `README's method table lacks ${name}`).toMatch(new RegExp(`^\\| \`${name.replaceAll('.', '\\.')}\` \\|`, 'm'))
      expect(api, `docs/api.md lacks ${name}`).toContain(`### \`${name}\``)
    }
  })

  it('when an error code exists, then the README\'s table lists it', () => {
    const readme = read('README.md')
    for (const code of Object.values(ErrorCode)) expect(readme, `README lacks ${code}`).toMatch(new RegExp(`^\\| ${code} \\|`, 'm'))
  })

  it('when CI runs the README\'s commands, then the README gives both, exactly', () => {
    const readme = read('README.md')
    expect(readme).toContain('npm ci && npm start')
    expect(readme).toContain('npm ci && npm test')
  })
})

describe('every page\'s links, anchors, commands and files resolve', () => {
  it('finds the pages: the README, every page in docs/, CONTRIBUTING.md and the packages\' READMEs', () => {
    expect(pages).toEqual(expect.arrayContaining(['README.md', 'CONTRIBUTING.md', 'docs/api.md', 'packages/client/README.md']))
    expect(pages.filter((page) => page.startsWith('docs/')).length).toBeGreaterThanOrEqual(8)
  })

  it.each(pages)('when %s links to a page or an #anchor, then it is there', (page) => {
    const broken: string[] = []
    for (const { target, line } of linksOf(readPage(page))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue // https:, mailto:: not ours to check
      const [path = '', anchor] = target.split('#')
      const file = path === '' ? page : normalize(join(dirname(page), decodeURIComponent(path)))
      if (!existsSync(join(projectRoot, file))) {
        broken.push(`${page}:${line} ${target}: no ${file}`)
      } else if (anchor !== undefined && !(file.endsWith('.md') && anchorsOf(readPage(file)).has(anchor))) {
        broken.push(`${page}:${line} ${target}: no heading #${anchor} in ${file}`)
      }
    }
    expect(broken).toEqual([])
  })

  const scripts = Object.keys((JSON.parse(read('package.json')) as { scripts: Record<string, string> }).scripts)
  it.each(pages)('when %s says to run an npm script, then package.json has it', (page) => {
    const text = readPage(page)
    const named = [...text.matchAll(/\bnpm (?:run(?:-script)?\s+(?:(?:-s|--silent)\s+)?([\w:.-]+)|(start|test)\b)/g)].map((match) => match[1] ?? match[2] ?? '')
    expect(named.filter((name) => !scripts.includes(name)), `${page} names scripts package.json lacks`).toEqual([])
    const testFiles = [...text.matchAll(/\bnpx vitest run (\S+\.test\.ts)/g)].map((match) => match[1] ?? '')
    expect(testFiles.filter((file) => !existsSync(join(projectRoot, file))), `${page} runs test files that do not exist`).toEqual([])
  })

  // A path in inline code whose first folder is the project's: it must exist, unless git ignores it
  // (bench/results/, src/generated/ and .data/ appear only once something has run). CONTRIBUTING.md
  // is left out: its walk-through names the files a reader is about to create.
  const ignored = read('.gitignore').split('\n').map((line) => line.trim()).filter((line) => line.endsWith('/'))
  it.each(pages.filter((page) => page !== 'CONTRIBUTING.md'))('when %s names a file or folder of the project, then it exists', (page) => {
    const missing = inlineCode(readPage(page))
      .filter((code) => /^\.?[\w-]+\/[\w./-]*$/.test(code))
      .filter((path) => existsSync(join(projectRoot, path.split('/')[0] ?? '')))
      .filter((path) => !ignored.some((folder) => `${path}/`.startsWith(folder)))
      .filter((path) => !existsSync(join(projectRoot, path)))
    expect(missing, `${page} names paths that do not exist`).toEqual([])
  })
})
