/**
 * `npx prisma db seed`: a few users to try the API with (README, "Quick start"). Safe to run
 * again: a login that exists is left as it is. It writes through the user repository, in one
 * transaction, like a call to user.create would.
 *
 * The database is the one the Prisma CLI uses (src/db/tool-database.ts): DIRECT_DATABASE_URL,
 * else DATABASE_URL, else the embedded PostgreSQL.
 */
import { openDatabase } from '../src/db/prisma-client.js'
import { toolDatabase } from '../src/db/tool-database.js'
import { userRepository } from '../src/users/user-repository.js'

export const seedUsers = [
  { login: 'ada', firstName: 'Ada', lastName: 'Lovelace' },
  { login: 'grace', firstName: 'Grace', lastName: 'Hopper' },
  { login: 'alan', firstName: 'Alan', lastName: 'Turing' },
  { login: 'edsger', firstName: 'Edsger', lastName: 'Dijkstra' },
  { login: 'barbara', firstName: 'Barbara', lastName: 'Liskov' },
]

const target = await toolDatabase()
const database = openDatabase({ url: target.url, max: 1, connectTimeoutMs: 5000, preparedStatements: false })
try {
  const created = await database.prisma.$transaction(async (tx) => {
    const added: string[] = []
    for (const user of seedUsers) {
      if (await userRepository.findByLogin(tx, user.login)) continue
      await userRepository.create(tx, user)
      added.push(user.login)
    }
    return added
  })
  const kept = seedUsers.length - created.length
  console.log(`seed: created ${created.length} user(s)${created.length ? ` (${created.join(', ')})` : ''}${kept ? `, ${kept} already there` : ''}`)
} finally {
  await database.close()
  await target.release()
}
