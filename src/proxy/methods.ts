import { METHODS } from 'node:http'
import type { FastifyInstance } from 'fastify'

/**
 * Fastify routes only the common methods (its own 404 for PURGE, PROPFIND, LINK...) and
 * refuses QUERY without a content-type itself; what the app accepts is the app's call.
 * So: every method Node parses but CONNECT (a tunnel, not a request), and QUERY as a
 * method whose body Fastify leaves alone. Called before any route is added.
 */
export function acceptEveryMethod (fastify: FastifyInstance): void {
  const known = new Set(fastify.supportedMethods)
  for (const method of METHODS) {
    if (method !== 'CONNECT' && !known.has(method)) fastify.addHttpMethod(method, { hasBody: true })
  }
  fastify.addHttpMethod('QUERY', { hasBody: false, overrideExisting: true })
}
