import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { stringify } from 'yaml'
import { get } from './http'
import { freePort } from './ports'
import { killAndWait, reapOnExit } from './reap'

/** A sample of an instant vector: labels and `[unix seconds, "value"]`. */
export interface VectorSample { metric: Record<string, string>, value: [number, string] }
/** A series of a range query: labels and `[unix seconds, "value"][]`. */
export interface MatrixSeries { metric: Record<string, string>, values: Array<[number, string]> }

export type QueryData =
  | { resultType: 'vector', result: VectorSample[] }
  | { resultType: 'matrix', result: MatrixSeries[] }
  | { resultType: 'scalar' | 'string', result: [number, string] }

/** Prometheus' HTTP API envelope: `data` on success, `errorType` and `error` otherwise. */
export interface ApiResponse<T> {
  status: 'success' | 'error'
  data?: T
  errorType?: string
  error?: string
  warnings?: string[]
}

export interface RuleState {
  name: string
  type: 'alerting' | 'recording'
  query: string
  health: 'ok' | 'err' | 'unknown'
  lastError?: string
  lastEvaluation: string
  state?: string
}

export interface Prometheus {
  readonly port: number
  /** `http://127.0.0.1:PORT` */
  readonly url: string
  /** The config file the server runs with (in a temp dir that teardown removes). */
  readonly configPath: string
  /** GET an API path (`/api/v1/...`) with query parameters; a 4xx with an API body is returned, not thrown. */
  api<T>(path: string, params?: Array<[string, string]>): Promise<ApiResponse<T>>
  /** `/api/v1/query` at `time` (unix seconds; default: now). */
  query(expr: string, time?: number): Promise<ApiResponse<QueryData>>
  /** `/api/v1/query_range` from `start` to `end` (unix seconds) every `stepSeconds`. */
  queryRange(expr: string, start: number, end: number, stepSeconds: number): Promise<ApiResponse<QueryData>>
  /** Every rule of every group of `/api/v1/rules`. */
  rules(): Promise<RuleState[]>
  /**
   * Polls an instant query until it returns at least one sample; rejects after
   * `timeoutMs` with the last answer and the server's log tail.
   */
  waitForData(expr: string, timeoutMs: number): Promise<VectorSample[]>
  /** The tail of the server's log (it logs to stderr). */
  log(): string
}

const READY_TIMEOUT_MS = 10_000
const POLL_INTERVAL_MS = 100
const PORT_ATTEMPTS = 3
const LOG_TAIL_CHARS = 4000

const MISSING = 'prometheus is not installed or not on PATH: the kit\'s end-to-end test runs a real one ' +
  '(Debian/Ubuntu: apt-get install prometheus; .ci/run installs it)'

/**
 * Runs a real Prometheus on a free 127.0.0.1 port with the config `config(port)` returns
 * (the port is passed so the config can scrape the server itself), with its TSDB in a
 * temp dir, and resolves once `/-/ready` answers 200. Teardown SIGKILLs it and removes
 * the temp dir.
 */
export async function startPrometheus (t: Test, config: (port: number) => unknown): Promise<Prometheus> {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-prometheus-'))
  const configPath = join(dir, 'prometheus.yml')
  let child: ChildProcess | undefined
  t.teardown(async () => {
    if (child !== undefined) await killAndWait(child)
    await rm(dir, { recursive: true, force: true })
  })

  let port = 0
  let output = { text: '' }
  for (let attempt = 1; ; attempt++) {
    port = await freePort()
    await writeFile(configPath, stringify(config(port)))
    output = { text: '' }
    try {
      child = await spawnPrometheus(configPath, join(dir, `data-${attempt}`), port, output)
      break
    } catch (err) {
      if (!(err instanceof PortTakenError) || attempt === PORT_ATTEMPTS) throw err
    }
  }

  const url = `http://127.0.0.1:${port}`
  const api = async <T>(path: string, params: Array<[string, string]> = []): Promise<ApiResponse<T>> => {
    const res = await get(`${url}${path}?${new URLSearchParams(params).toString()}`)
    try {
      return JSON.parse(res.body) as ApiResponse<T>
    } catch {
      throw new Error(`GET ${path} answered ${res.status} with a body that is not JSON: ${res.body.slice(0, 500)}`)
    }
  }
  const query = async (expr: string, time?: number): Promise<ApiResponse<QueryData>> =>
    await api<QueryData>('/api/v1/query', [['query', expr], ...(time === undefined ? [] : [['time', String(time)] as [string, string]])])

  return {
    port,
    url,
    configPath,
    api,
    query,
    async queryRange (expr, start, end, stepSeconds) {
      return await api<QueryData>('/api/v1/query_range', [
        ['query', expr], ['start', String(start)], ['end', String(end)], ['step', `${stepSeconds}s`]
      ])
    },
    async rules () {
      const res = await api<{ groups: Array<{ rules: RuleState[] }> }>('/api/v1/rules')
      if (res.status !== 'success' || res.data === undefined) throw new Error(`/api/v1/rules failed: ${JSON.stringify(res)}`)
      return res.data.groups.flatMap((group) => group.rules)
    },
    async waitForData (expr, timeoutMs) {
      const deadline = Date.now() + timeoutMs
      let last: ApiResponse<QueryData> | undefined
      for (;;) {
        last = await query(expr)
        if (last.status === 'success' && last.data?.resultType === 'vector' && last.data.result.length > 0) return last.data.result
        if (last.status === 'error') throw new Error(`${expr}: ${last.errorType ?? ''}: ${last.error ?? ''}`)
        if (Date.now() > deadline) {
          throw new Error(`${expr} returned no data within ${timeoutMs} ms (last answer: ${JSON.stringify(last)})\n--- prometheus log (tail) ---\n${output.text}`)
        }
        await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS))
      }
    },
    log: () => output.text
  }
}

class PortTakenError extends Error {}

async function spawnPrometheus (configPath: string, dataDir: string, port: number, output: { text: string }): Promise<ChildProcess> {
  const child = spawn('prometheus', [
    `--config.file=${configPath}`,
    `--storage.tsdb.path=${dataDir}`,
    `--web.listen-address=127.0.0.1:${port}`
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  reapOnExit(child)
  const collect = (chunk: Buffer): void => {
    output.text = (output.text + chunk.toString()).slice(-LOG_TAIL_CHARS)
  }
  child.stdout?.on('data', collect)
  child.stderr?.on('data', collect)

  let failure: Error | undefined
  child.once('error', (err: NodeJS.ErrnoException) => {
    failure = err.code === 'ENOENT' ? new Error(MISSING) : err
  })
  child.once('exit', (code, signal) => {
    failure ??= /address already in use/i.test(output.text)
      ? new PortTakenError(`port ${port} was taken before prometheus could bind it`)
      : new Error(`prometheus exited (code ${String(code)}, signal ${String(signal)}) before it was ready:\n${output.text}`)
  })

  const deadline = Date.now() + READY_TIMEOUT_MS
  while (failure === undefined) {
    if (await isReady(port)) return child
    if (Date.now() > deadline) {
      await killAndWait(child)
      throw new Error(`prometheus on port ${port} was not ready within ${READY_TIMEOUT_MS} ms:\n${output.text}`)
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_INTERVAL_MS))
  }
  throw failure
}

async function isReady (port: number): Promise<boolean> {
  try {
    return (await get(`http://127.0.0.1:${port}/-/ready`, {}, { headersTimeout: 1000, bodyTimeout: 1000 })).status === 200
  } catch {
    return false
  }
}
