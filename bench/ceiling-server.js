// @ts-check
/**
 * The HTTP ceiling: the same JSON-RPC route as the service (baseline-rpc.js) answering a
 * fixed user-shaped result, with no database: what Fastify, JSON and the loopback cost on
 * this machine, i.e. the most any side could do here. The only thing not constant is the
 * user id (or login) copied from the params, so the load client's checks pass unchanged.
 *
 * Env: PORT (0 = any), HOST, and the service's settings it copies (baseline-settings.js).
 * Started by the benchmark (targets.js).
 */
import { buildBaselineApp, serveBaseline } from './baseline-rpc.js'
import { fromBaselineEnv } from './baseline-settings.js'

const STAMP = '2026-01-01T12:00:00.000Z'
const USER = { id: 1, login: 'ada', firstName: 'Bench', lastName: 'User', createdAt: STAMP, updatedAt: STAMP }
const PAGE = {
  items: Array.from({ length: 20 }, (_, index) => ({ ...USER, id: index + 1, login: `user-${index + 1}` })),
  nextCursor: '20',
}

/** @param {unknown} params @param {string} name @param {number} position */
const param = (params, name, position) => Array.isArray(params)
  ? params[position]
  : /** @type {Record<string, unknown> | undefined} */ (params)?.[name]

const app = buildBaselineApp({
  ...fromBaselineEnv(process.env),
  methods: {
    'user.create': (params) => ({ ...USER, login: param(params, 'login', 0) }),
    'user.get': (params) => ({ ...USER, id: param(params, 'id', 0) }),
    'user.list': () => PAGE,
    get_user: (params) => ({ user_id: param(params, 'user_id', 0), login: USER.login, first_name: USER.firstName, last_name: USER.lastName }),
  },
})

await serveBaseline(app)
