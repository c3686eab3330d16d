// @ts-check
/**
 * The rows the read workloads ask for: `count` users inserted in one statement, straight
 * into the table (no side is measured while seeding), then ANALYZE so every side starts
 * from the same planner statistics.
 */
import { withClient } from './database.js'

/**
 * @param {string} url @param {number} count
 * @returns {Promise<number[]>} the seeded ids
 */
export async function seedUsers (url, count) {
  return await withClient(url, async (client) => {
    const { rows } = await client.query(
      `INSERT INTO users (login, first_name, last_name, updated_at)
       SELECT 'seed-' || n, 'Seed', 'User ' || n, now() FROM generate_series(1, $1::int) AS n
       RETURNING id`,
      [count]
    )
    await client.query('ANALYZE users')
    return rows.map((row) => row.id)
  })
}
