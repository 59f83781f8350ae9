import type { FastifyInstance } from 'fastify'
import { durationMs } from '../config'
import { TollgateError } from '../errors'
import { classifyStoreError, type Ban, type Controls, type Override, type Runtime } from '../limits'
import { recordChange, type AuditDeps } from './audit'
import { banBody, overrideBody } from './bodies'
import { actorOf } from './guard'
import { banTarget, knownClient } from './targets'

export interface ControlsRouteDeps extends AuditDeps {
  readonly currentRuntime: () => Runtime
  /** The text hash of the config in force, for the audit entries. */
  readonly configHash: () => string
}

/** A body is a few hundred bytes; this leaves room for a long reason and 16 windows. */
export const ADMIN_BODY_LIMIT = 16 * 1024

/** A store that cannot answer is a 503 that says nothing changed; anything else is a bug (500). */
export async function stored<T> (work: Promise<T>): Promise<T> {
  try {
    return await work
  } catch (error) {
    if (classifyStoreError(error) !== undefined) throw new TollgateError('admin_store_unavailable')
    throw error
  }
}

/** `/v1/bans/*`: the target is the rest of the path, decoded once (a CIDR's `/` may come raw or as `%2F`). */
interface BanRoute { Params: { '*': string } }

/** Overrides, bans and the audit trail, on the admin listener (its guard runs first). */
export function registerControlsRoutes (admin: FastifyInstance, deps: ControlsRouteDeps): void {
  registerOverrideRoutes(admin, deps)
  registerBanRoutes(admin, deps)
  admin.get<{ Querystring: { limit?: string } }>('/v1/audit', async (request) => {
    const asked = request.query.limit
    const limit = asked === undefined ? 100 : Number(asked)
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > 1000) {
      throw new TollgateError('bad_request', {}, 'limit must be an integer from 1 to 1000')
    }
    return { entries: await stored(deps.currentRuntime().controls.audit(limit)) }
  })
}

/** A change leaves the config as it was: its hash is both the old and the new one. */
function unchangedHash (deps: ControlsRouteDeps): { old: string, new: string } {
  return { old: deps.configHash(), new: deps.configHash() }
}

function registerOverrideRoutes (admin: FastifyInstance, deps: ControlsRouteDeps): void {
  const controls = (): Controls => deps.currentRuntime().controls
  admin.get('/v1/overrides', async () => ({ overrides: (await stored(controls().list())).overrides }))

  admin.put<{ Params: { client: string } }>('/v1/overrides/:client', { bodyLimit: ADMIN_BODY_LIMIT }, async (request) => {
    const { config } = deps.currentRuntime()
    const client = knownClient(config, request.params.client)
    const body = overrideBody(request.body, Date.now())
    if (body.plan !== undefined && config.plans[body.plan] === undefined) {
      throw new TollgateError('bad_request', { plan: body.plan }, `body.plan: "${body.plan}" is not a plan of the config (${Object.keys(config.plans).join(', ')})`)
    }
    const override: Override = { client, ...body, by: actorOf(request), at: new Date().toISOString() }
    await stored(controls().putOverride(override))
    await recordChange(deps, controls(), { kind: 'override', action: 'put', who: override.by, target: client, what: override, config_hash: unchangedHash(deps) })
    return { override }
  })

  admin.delete<{ Params: { client: string } }>('/v1/overrides/:client', async (request) => {
    const client = request.params.client
    if (!await stored(controls().removeOverride(client))) {
      throw new TollgateError('not_found', { client }, `No override is set for "${client}".`)
    }
    await recordChange(deps, controls(), { kind: 'override', action: 'delete', who: actorOf(request), target: client, config_hash: unchangedHash(deps) })
    return { removed: client }
  })
}

function registerBanRoutes (admin: FastifyInstance, deps: ControlsRouteDeps): void {
  const controls = (): Controls => deps.currentRuntime().controls
  admin.get('/v1/bans', async () => ({ bans: (await stored(controls().list())).bans }))

  admin.put<BanRoute>('/v1/bans/*', { bodyLimit: ADMIN_BODY_LIMIT }, async (request) => {
    const { target, kind } = banTarget(deps.currentRuntime().config, request.params['*'])
    const body = banBody(request.body)
    const now = Date.now()
    const ban: Ban = {
      target,
      kind,
      expires: new Date(now + durationMs(body.for)).toISOString(),
      ...(body.reason === undefined ? {} : { reason: body.reason }),
      by: actorOf(request),
      at: new Date(now).toISOString()
    }
    await stored(controls().putBan(ban))
    await recordChange(deps, controls(), { kind: 'ban', action: 'put', who: ban.by, target, what: ban, config_hash: unchangedHash(deps) })
    return { ban }
  })

  admin.delete<BanRoute>('/v1/bans/*', async (request) => {
    const raw = request.params['*']
    // A ban may outlive its client's key (a reload removed it): lifting it needs no key.
    const target = /^[0-9.]+(\/|$)|:/.test(raw) ? banTarget(deps.currentRuntime().config, raw).target : raw
    if (!await stored(controls().removeBan(target))) {
      throw new TollgateError('not_found', { target }, `No ban is set on "${target}".`)
    }
    await recordChange(deps, controls(), { kind: 'ban', action: 'delete', who: actorOf(request), target, config_hash: unchangedHash(deps) })
    return { removed: target }
  })
}
