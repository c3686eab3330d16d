/**
 * Opaque keyset cursors: the last id of a page, versioned and base64url-encoded so clients
 * treat it as a token, not a number to do arithmetic on.
 */
const PREFIX = 'v1:'

export function encodeCursor (afterId: number): string {
  return Buffer.from(PREFIX + afterId, 'utf8').toString('base64url')
}

/** The id a cursor stands for, or null when the text is not a cursor we issued. */
export function decodeCursor (cursor: string): number | null {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(cursor)) return null
  const text = Buffer.from(cursor, 'base64url').toString('utf8')
  if (!text.startsWith(PREFIX)) return null
  const digits = text.slice(PREFIX.length)
  if (!/^(0|[1-9]\d{0,9})$/.test(digits)) return null
  const id = Number(digits)
  return id <= 2_147_483_647 ? id : null
}
