import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The project root (where package.json, prisma/ and prisma.config.ts live), from src/ or dist/. */
export const projectRoot = join(dirname(fileURLToPath(import.meta.url)), '..')
