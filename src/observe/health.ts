import type { FastifyInstance } from 'fastify'

/** One readiness condition, e.g. `redis` or `shutdown`; `ok` must be cheap. */
export interface ReadinessCheck {
  readonly name: string
  ok (): boolean
}

/**
 * `/health/live` answers 200 whenever the event loop turns: it never looks at Redis or
 * the app, since restarting the sidecar fixes neither. `/health/ready` answers 200
 * only while every readiness check holds, else 503 naming the ones that fail.
 */
export function registerHealthRoutes (admin: FastifyInstance, checks: () => readonly ReadinessCheck[]): void {
  admin.get('/health/live', async () => ({ status: 'pass' }))
  admin.get('/health/ready', async (_request, reply) => {
    const failing = checks().filter((check) => !check.ok()).map((check) => check.name)
    if (failing.length === 0) return { status: 'pass' }
    return reply.code(503).send({ status: 'fail', failing })
  })
}
