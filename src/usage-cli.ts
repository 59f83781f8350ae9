/**
 * `tollgate usage CLIENT`: asks a running tollgate's admin port (`GET /v1/usage/CLIENT`)
 * and prints one line per window with a bar. The token comes from the environment,
 * never from argv, which `ps` and the shell history show.
 */

import { NAME_PATTERN } from './config'
import { messageOf } from './errors'

export interface UsageIo {
  /** The admin port's base URL, e.g. `http://127.0.0.1:9464`. */
  readonly adminUrl: string
  readonly token: string | undefined
  readonly out: (text: string) => void
  readonly err: (text: string) => void
}

interface WindowRow { policy: string, max: number, used: number, remaining: number, reset: number }
interface UsageAnswer { client: string, plan: string, override?: { plan?: string, expires?: string }, windows: WindowRow[] }

const BAR_WIDTH = 20

function bar (used: number, max: number): string {
  const filled = max === 0 ? 0 : Math.min(BAR_WIDTH, Math.round((used / max) * BAR_WIDTH))
  return `[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`
}

/** `90` → `1m30s`: a reset is read at a glance. */
function seconds (total: number): string {
  if (total < 60) return `${total}s`
  const minutes = Math.floor(total / 60)
  if (minutes < 60) return `${minutes}m${total % 60 === 0 ? '' : `${total % 60}s`}`
  const hours = Math.floor(minutes / 60)
  return `${hours}h${minutes % 60 === 0 ? '' : `${minutes % 60}m`}`
}

export function renderUsage (answer: UsageAnswer): string {
  const head = `${answer.client}  plan ${answer.plan}` +
    (answer.override === undefined ? '' : `  override${answer.override.plan === undefined ? '' : ` → ${answer.override.plan}`}${answer.override.expires === undefined ? '' : ` until ${answer.override.expires}`}`)
  const width = Math.max(6, ...answer.windows.map((w) => w.policy.length))
  const rows = answer.windows.map((w) => {
    const share = w.max === 0 ? 0 : Math.round((w.used / w.max) * 100)
    return `${w.policy.padEnd(width)}  ${bar(w.used, w.max)} ${String(share).padStart(3)}%  ${w.used}/${w.max} used, ${w.remaining} left, full again in ${seconds(w.reset)}`
  })
  return [head, ...rows].join('\n') + '\n'
}

/** Exit 0 with the table; 1 when tollgate refuses or cannot be reached; 2 for a bad name. */
export async function usage (client: string, io: UsageIo): Promise<number> {
  if (!new RegExp(NAME_PATTERN).test(client)) {
    io.err(`tollgate usage: "${client}" is not a client name (a key's name in config.yml)\n`)
    return 2
  }
  const url = `${io.adminUrl.replace(/\/+$/, '')}/v1/usage/${client}`
  let res: Response
  try {
    res = await fetch(url, { headers: io.token === undefined ? {} : { authorization: `Bearer ${io.token}` } })
  } catch (error) {
    io.err(`tollgate usage: cannot reach ${url}: ${messageOf(error)}\n`)
    return 1
  }
  const text = await res.text()
  let body: unknown
  try {
    body = JSON.parse(text)
  } catch {
    io.err(`tollgate usage: ${url} answered ${res.status} with no JSON\n`)
    return 1
  }
  if (!res.ok) {
    const message = typeof body === 'object' && body !== null && 'message' in body ? String(body.message) : text
    io.err(`tollgate usage: ${res.status} ${message}${res.status === 401 ? ' (set TOLLGATE_ADMIN_TOKEN)' : ''}\n`)
    return 1
  }
  // The admin port's own answer (src/admin/usage.ts), read as that shape.
  io.out(renderUsage(body as UsageAnswer))
  return 0
}
