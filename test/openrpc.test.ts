import { MethodCallValidator, parseOpenRPCDocument, validateOpenRPCDocument } from '@open-rpc/schema-utils-js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { methods } from '../src/app.js'
import { buildTestApp, call, type TestApp } from './support/clients.js'

/** docs/api.md, Methods: rpc.discover, the OpenRPC document, and the service keeping to it. */

let app: TestApp
let document: Parameters<typeof validateOpenRPCDocument>[0]
beforeAll(async () => {
  app = await buildTestApp()
  document = (await call(app, 'rpc.discover')).body.result
})
afterAll(async () => { await app.close() })

describe('rpc.discover', () => {
  it('when called, then it returns a valid OpenRPC 1.x document', async () => {
    expect(document.openrpc).toMatch(/^1\./)
    expect(validateOpenRPCDocument(document)).toBe(true)
    await expect(parseOpenRPCDocument(document as never)).resolves.toBeTruthy()
  })

  it('when compared with the method table, then every method is described with an example, and rpc.* is not', () => {
    const names = document.methods.map((method) => 'name' in method ? method.name : '')
    expect(names.sort()).toEqual(Object.keys(methods).sort())
    for (const method of document.methods) {
      if (!('examples' in method)) throw new Error('method without examples')
      expect(method.examples?.length).toBeGreaterThan(0)
    }
  })

  it('when every example is checked against its own method schemas, then all of them pass', () => {
    const validator = new MethodCallValidator(document)
    for (const method of document.methods) {
      if (!('name' in method) || !method.examples) continue
      for (const example of method.examples) {
        if (!('params' in example)) continue
        const namedParams = Object.fromEntries(example.params.map((param) => ['name' in param ? param.name : '', 'value' in param ? param.value : undefined]))
        expect(validator.validate(method.name, namedParams), `${method.name} by name`).toEqual([])
        // Tools such as @open-rpc/test-coverage replay examples by position, so an example
        // must fill the leading params without a gap.
        const leading = method.params.slice(0, example.params.length).map((param) => 'name' in param ? param.name : '')
        expect(leading.every((name) => name in namedParams), `${method.name} example has a gap`).toBe(true)
        expect(validator.validate(method.name, leading.map((name) => namedParams[name])), `${method.name} by position`).toEqual([])
        // The same example passes the service's own validation too.
        const definition = methods[method.name as keyof typeof methods]
        expect(definition.params.safeParse(namedParams).success, method.name).toBe(true)
        expect(definition.result.safeParse('result' in example && example.result && 'value' in example.result ? example.result.value : undefined).success, `${method.name} result`).toBe(true)
      }
    }
  })

  it('when a schema rule is in the document, then the service enforces the same rule', async () => {
    const create = document.methods.find((method) => 'name' in method && method.name === 'user.create')
    const login = create && 'params' in create ? create.params[0] : undefined
    expect(login && 'schema' in login ? login.schema : undefined).toMatchObject({ type: 'string', minLength: 1, maxLength: 30 })
    expect((await call(app, 'user.create', { login: 'x'.repeat(31) })).body.error.code).toBe(-32602)

    const validator = new MethodCallValidator(document)
    for (const bad of ['   ', 'a\u0000b', 'tab\there', 'x'.repeat(31)]) {
      expect(validator.validate('user.create', { login: bad }), JSON.stringify(bad)).not.toEqual([])
      expect((await call(app, 'user.create', { login: bad })).body.error.code).toBe(-32602)
    }
    expect(validator.validate('user.create', { login: 'ok login', firstName: null, lastName: 'Ünïcödé' })).toEqual([])
  })
})
