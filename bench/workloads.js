// @ts-check
/**
 * The benchmark's workloads, as data: a name, how to make the next request body, and how to
 * tell a right answer from a wrong one. The load client imports this module in its own
 * process, so a generator and its checker must be plain functions of their arguments.
 *
 * A new workload is one more entry in `workloads`; a protocol other than JSON over POST /rpc
 * (XML-RPC, say) sets its own `path` and `contentType` and parses the answer in `check`.
 */

/**
 * What a generator is given once per load-client process.
 * @typedef {object} WorkloadContext
 * @property {number[]} ids          seeded user ids to read
 * @property {string} loginPrefix    unique to this run, so created logins never collide
 */

/**
 * One request to send, and what its answer must say.
 * @typedef {object} Call
 * @property {string} body
 * @property {unknown} expected      handed back to `check` with the answer
 */

/**
 * @typedef {object} Workload
 * @property {string} name
 * @property {string} description
 * @property {string} path
 * @property {string} contentType
 * @property {number} callsPerRequest   a batch of 100 is 100 calls
 * @property {(context: WorkloadContext) => () => Call} generator
 * @property {(text: string, expected: any) => string | null} check   null when the answer is right, else why not
 * @property {string[]} [servedBy]   the targets that speak it; unset: all of them
 * @property {Record<string, string>} [serviceEnv]   settings the service needs to serve it
 */

const JSON_RPC = { path: '/rpc', contentType: 'application/json' }

/** Every user answer carries these, as the service's `User` does (README, API). */
const USER_FIELDS = ['id', 'login', 'firstName', 'lastName', 'createdAt', 'updatedAt']

/** @param {any} user @returns {string | null} */
function userShapeProblem (user) {
  if (typeof user !== 'object' || user === null) return 'result is not a user object'
  for (const field of USER_FIELDS) {
    if (!(field in user)) return `user has no ${field}`
  }
  if (!Number.isInteger(user.id) || typeof user.login !== 'string') return 'user id or login has the wrong type'
  if (typeof user.createdAt !== 'string' || typeof user.updatedAt !== 'string') return 'user timestamps are not strings'
  return null
}

/**
 * Parses one JSON-RPC answer and returns its result, or the reason it is not a success
 * answer to request `id`.
 * @param {any} answer @param {number} id
 * @returns {{ result: any } | { problem: string }}
 */
function resultOf (answer, id) {
  if (typeof answer !== 'object' || answer === null || Array.isArray(answer)) return { problem: 'answer is not a JSON-RPC response object' }
  if (answer.error !== undefined) return { problem: `JSON-RPC error ${answer.error?.code}: ${answer.error?.message}` }
  if (answer.jsonrpc !== '2.0') return { problem: 'answer lacks jsonrpc "2.0"' }
  if (answer.id !== id) return { problem: `answer id ${answer.id} for request ${id}` }
  if (!('result' in answer)) return { problem: 'answer has no result' }
  return { result: answer.result }
}

/** @param {string} text @returns {{ value: any } | { problem: string }} */
function parse (text) {
  try {
    return { value: JSON.parse(text) }
  } catch {
    return { problem: `answer is not JSON: ${text.slice(0, 80)}` }
  }
}

/** @param {number[]} ids */
const randomId = (ids) => /** @type {number} */ (ids[Math.floor(Math.random() * ids.length)])

/** @param {number} rpcId @param {number} userId */
const getBody = (rpcId, userId) => `{"jsonrpc":"2.0","method":"user.get","params":{"id":${userId}},"id":${rpcId}}`

/** @param {number} rpcId @param {string} login */
/** @param {number} rpcId @param {string} login @param {string} [idempotencyKey] */
const createBody = (rpcId, login, idempotencyKey) =>
  `{"jsonrpc":"2.0","method":"user.create","params":{"login":"${login}","firstName":"Bench","lastName":"User"${idempotencyKey ? `,"idempotencyKey":"${idempotencyKey}"` : ''}},"id":${rpcId}}`

/**
 * user.create with a unique login per call; with `keyed`, the login doubles as a new
 * idempotency key.
 * @param {boolean} keyed
 * @returns {Workload['generator']}
 */
const createGenerator = (keyed) => ({ loginPrefix }) => {
  let sent = 0
  return () => {
    const rpcId = ++sent
    const login = `${loginPrefix}-${keyed ? 'k' : ''}${rpcId}`
    return { body: createBody(rpcId, login, keyed ? login : undefined), expected: { rpcId, login } }
  }
}

/**
 * Checks one user.get or user.create answer: the user asked for (by id), or the login sent.
 * @param {any} answer @param {{ rpcId: number, userId?: number, login?: string }} expected
 */
function checkUserAnswer (answer, expected) {
  const outcome = resultOf(answer, expected.rpcId)
  if ('problem' in outcome) return outcome.problem
  const shape = userShapeProblem(outcome.result)
  if (shape) return shape
  if (expected.userId !== undefined && outcome.result.id !== expected.userId) return `asked for user ${expected.userId}, got ${outcome.result.id}`
  if (expected.login !== undefined && outcome.result.login !== expected.login) return `created ${expected.login}, got ${outcome.result.login}`
  return null
}

/** @param {string} text @param {{ rpcId: number, userId?: number, login?: string }} expected */
function checkSingleUser (text, expected) {
  const parsed = parse(text)
  return 'problem' in parsed ? parsed.problem : checkUserAnswer(parsed.value, expected)
}

/**
 * A batch of `size` user.get calls with JSON-RPC ids 0…size-1. Answers may come in any order
 * (JSON-RPC 2.0, section 6), so members are matched by id.
 * @param {number} size @returns {Workload}
 */
function batchOfGets (size) {
  return {
    name: `batch${size}`,
    description: `a batch of ${size} user.get`,
    ...JSON_RPC,
    callsPerRequest: size,
    generator: ({ ids }) => () => {
      /** @type {number[]} */
      const asked = []
      const members = []
      for (let member = 0; member < size; member++) {
        const userId = randomId(ids)
        asked.push(userId)
        members.push(getBody(member, userId))
      }
      return { body: `[${members.join(',')}]`, expected: asked }
    },
    check: (text, asked) => {
      const parsed = parse(text)
      if ('problem' in parsed) return parsed.problem
      const answers = parsed.value
      if (!Array.isArray(answers)) return 'batch answer is not an array'
      if (answers.length !== asked.length) return `batch of ${asked.length} answered with ${answers.length}`
      const seen = new Set()
      for (const answer of answers) {
        const rpcId = answer?.id
        if (!Number.isInteger(rpcId) || rpcId < 0 || rpcId >= asked.length || seen.has(rpcId)) return `batch answer with a stray id ${rpcId}`
        seen.add(rpcId)
        const problem = checkUserAnswer(answer, { rpcId, userId: asked[rpcId] })
        if (problem) return `batch member ${rpcId}: ${problem}`
      }
      return null
    },
  }
}

/** @type {Workload[]} */
const all = [
  {
    name: 'user.create',
    description: 'user.create with a unique login',
    ...JSON_RPC,
    callsPerRequest: 1,
    generator: createGenerator(false),
    check: checkSingleUser,
  },
  {
    // The price of an idempotency key: beside user.create, the key's row is inserted first and
    // its answer stored after (docs/retries.md). Not in the default run.
    name: 'user.create.keyed',
    description: 'user.create with a unique login and a new idempotencyKey',
    ...JSON_RPC,
    callsPerRequest: 1,
    generator: createGenerator(true),
    check: checkSingleUser,
    servedBy: ['service'],
  },
  {
    name: 'user.get',
    description: 'user.get of a random seeded user',
    ...JSON_RPC,
    callsPerRequest: 1,
    generator: ({ ids }) => {
      let sent = 0
      return () => {
        const rpcId = ++sent
        const userId = randomId(ids)
        return { body: getBody(rpcId, userId), expected: { rpcId, userId } }
      }
    },
    check: checkSingleUser,
  },
  {
    name: 'user.update',
    description: 'user.update of a random seeded user (a new firstName)',
    ...JSON_RPC,
    callsPerRequest: 1,
    generator: ({ ids }) => {
      let sent = 0
      return () => {
        const rpcId = ++sent
        const userId = randomId(ids)
        const firstName = `Upd ${rpcId}`
        return {
          body: `{"jsonrpc":"2.0","method":"user.update","params":{"id":${userId},"firstName":"${firstName}"},"id":${rpcId}}`,
          expected: { rpcId, userId, firstName },
        }
      }
    },
    check: (text, expected) => {
      const problem = checkSingleUser(text, expected)
      if (problem) return problem
      const { result } = JSON.parse(text)
      return result.firstName === expected.firstName ? null : `set firstName ${expected.firstName}, got ${result.firstName}`
    },
  },
  {
    name: 'user.list',
    description: 'user.list, first page of 20',
    ...JSON_RPC,
    callsPerRequest: 1,
    generator: () => {
      let sent = 0
      return () => {
        const rpcId = ++sent
        return { body: `{"jsonrpc":"2.0","method":"user.list","params":{"limit":20},"id":${rpcId}}`, expected: rpcId }
      }
    },
    check: (text, rpcId) => {
      const parsed = parse(text)
      if ('problem' in parsed) return parsed.problem
      const outcome = resultOf(parsed.value, rpcId)
      if ('problem' in outcome) return outcome.problem
      const { items, nextCursor } = outcome.result ?? {}
      if (!Array.isArray(items)) return 'list result has no items array'
      if (items.length > 20) return `list of limit 20 returned ${items.length} items`
      if (nextCursor !== null && typeof nextCursor !== 'string') return 'nextCursor is neither a string nor null'
      let previous = 0
      for (const item of items) {
        const shape = userShapeProblem(item)
        if (shape) return shape
        if (item.id <= previous) return 'list ids are not ascending'
        previous = item.id
      }
      return null
    },
  },
  {
    name: 'mixed',
    description: '80% user.get, 20% user.create',
    ...JSON_RPC,
    callsPerRequest: 1,
    generator: ({ ids, loginPrefix }) => {
      let sent = 0
      return () => {
        const rpcId = ++sent
        if (Math.random() < 0.8) {
          const userId = randomId(ids)
          return { body: getBody(rpcId, userId), expected: { rpcId, userId } }
        }
        const login = `${loginPrefix}-${rpcId}`
        return { body: createBody(rpcId, login), expected: { rpcId, login } }
      }
    },
    check: checkSingleUser,
  },
  batchOfGets(10),
  batchOfGets(100),
  {
    // The original service's method, positional params and its own result shape. Not in the
    // default run; there for comparisons with a legacy transport.
    name: 'get_user',
    description: 'get_user [user_id], the original method',
    ...JSON_RPC,
    callsPerRequest: 1,
    generator: ({ ids }) => {
      let sent = 0
      return () => {
        const rpcId = ++sent
        const userId = randomId(ids)
        return { body: `{"jsonrpc":"2.0","method":"get_user","params":[${userId}],"id":${rpcId}}`, expected: { rpcId, userId } }
      }
    },
    check: (text, expected) => {
      const parsed = parse(text)
      if ('problem' in parsed) return parsed.problem
      const outcome = resultOf(parsed.value, expected.rpcId)
      if ('problem' in outcome) return outcome.problem
      if (outcome.result?.user_id !== expected.userId) return `asked for user ${expected.userId}, got ${outcome.result?.user_id}`
      return null
    },
  },
]

/** The user_id member of an XML-RPC struct answer, or null when there is none. */
const XML_USER_ID = /<member><name>user_id<\/name><value><int>(\d+)<\/int><\/value><\/member>/

all.push({
  // The same call through the XML-RPC bridge (src/xmlrpc/), to put a number on its price
  // beside get_user over JSON-RPC. Only the service speaks it; the baselines are JSON-RPC.
  name: 'get_user.xmlrpc',
  description: 'get_user [user_id] over the XML-RPC bridge',
  path: '/xmlrpc',
  contentType: 'text/xml',
  callsPerRequest: 1,
  servedBy: ['service'],
  serviceEnv: { XMLRPC_PATH: '/xmlrpc' },
  generator: ({ ids }) => () => {
    const userId = randomId(ids)
    return {
      body: `<?xml version="1.0"?><methodCall><methodName>get_user</methodName><params><param><value><int>${userId}</int></value></param></params></methodCall>`,
      expected: userId,
    }
  },
  check: (text, userId) => {
    if (!text.includes('<methodResponse>')) return `answer is not an XML-RPC response: ${text.slice(0, 80)}`
    if (text.includes('<fault>')) return `XML-RPC fault: ${text.slice(0, 200)}`
    const found = XML_USER_ID.exec(text)?.[1]
    return Number(found) === userId ? null : `asked for user ${userId}, got ${found}`
  },
})

export const workloads = new Map(all.map((workload) => [workload.name, workload]))

/** What `npm run bench` runs when BENCH_WORKLOADS is unset. */
export const defaultWorkloads = ['user.create', 'user.get', 'user.list', 'mixed', 'batch10', 'batch100']
