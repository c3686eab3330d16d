import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { methods } from '../src/app.js'
import { configVariables } from '../src/config.js'
import { ErrorCode } from '../src/rpc/errors.js'
import { projectRoot } from '../src/paths.js'

/** The README and .env.example against the code: every setting, method and error code documented. */

const read = (file: string) => readFileSync(join(projectRoot, file), 'utf8')

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
})
