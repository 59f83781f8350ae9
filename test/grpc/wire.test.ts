import type { MethodDefinition } from '@grpc/proto-loader'
import { Reader, Writer } from 'protobufjs'
import t from 'tap'
import { HEALTH_SERVICE, loadProtos, RLS_SERVICE } from '../../src/grpc/proto'

// Our trimmed .proto files against Envoy's field numbers, read and written by hand with
// protobufjs' Reader and Writer (no .proto involved on that side): a renumbered or
// retyped field fails here, where Envoy would silently read zeros.

const definition = loadProtos()
// proto-loader types entries as a union; these are services, whose members are methods.
const rls = definition[RLS_SERVICE] as unknown as Record<string, MethodDefinition<object, object>>
const health = definition[HEALTH_SERVICE] as unknown as Record<string, MethodDefinition<object, object>>
const should = rls.ShouldRateLimit
const check = health.Check
if (should === undefined || check === undefined) throw new Error('the services lack their methods')

type Field = [number, number | string | Buffer | Field[]]

/** Every field of a message as [number, value]; nested messages decoded when `nested` names the field. */
function fields (bytes: Uint8Array, nested: Record<number, Record<number, unknown> | true> = {}): Field[] {
  const reader = Reader.create(bytes)
  const out: Field[] = []
  while (reader.pos < reader.len) {
    const tag = reader.uint32()
    const number = tag >>> 3
    const wire = tag & 7
    if (wire === 0) out.push([number, reader.uint32()])
    else if (wire === 2) {
      const raw = reader.bytes()
      const inner = nested[number]
      out.push([number, inner === undefined ? Buffer.from(raw).toString('utf8') : fields(raw, inner === true ? {} : inner as Record<number, Record<number, unknown> | true>)])
    } else throw new Error(`unexpected wire type ${wire} for field ${number}`)
  }
  return out
}

t.test('RateLimitRequest: domain 1, descriptors 2 (entries 1 {key 1, value 2}, limit 2 {requests_per_unit 1, unit 2}), hits_addend 3', async (t) => {
  const bytes = should.requestSerialize({
    domain: 'edge',
    descriptors: [{ entries: [{ key: 'api_key', value: 'k1' }, { key: 'path', value: '/x' }], limit: { requests_per_unit: 7, unit: 'MINUTE' } }],
    hits_addend: 3
  })
  t.same(fields(bytes, { 2: { 1: true, 2: true } }), [
    [1, 'edge'],
    [2, [[1, [[1, 'api_key'], [2, 'k1']]], [1, [[1, 'path'], [2, '/x']]], [2, [[1, 7], [2, 2]]]]],
    [3, 3]
  ])
})

t.test('a request written by hand with Envoy\'s numbers decodes with our proto', async (t) => {
  const entry = Writer.create().uint32((1 << 3) | 2).string('remote_address').uint32((2 << 3) | 2).string('10.0.0.1').finish()
  const limit = Writer.create().uint32((1 << 3) | 0).uint32(9).uint32((2 << 3) | 0).uint32(4).finish()
  const descriptor = Writer.create().uint32((1 << 3) | 2).bytes(entry).uint32((2 << 3) | 2).bytes(limit).finish()
  const bytes = Writer.create().uint32((1 << 3) | 2).string('edge').uint32((2 << 3) | 2).bytes(descriptor).uint32((3 << 3) | 0).uint32(5).finish()
  t.match(should.requestDeserialize(Buffer.from(bytes)), {
    domain: 'edge',
    descriptors: [{ entries: [{ key: 'remote_address', value: '10.0.0.1' }], limit: { requests_per_unit: 9, unit: 'DAY' } }],
    hits_addend: 5
  })
})

t.test('RateLimitResponse: overall_code 1, statuses 2 {code 1, current_limit 2 {name 3, requests_per_unit 1, unit 2}, limit_remaining 3, duration_until_reset 4 {seconds 1, nanos 2}}, headers 3 and 4 {key 1, value 2}, raw_body 5', async (t) => {
  const bytes = should.responseSerialize({
    overall_code: 'OVER_LIMIT',
    statuses: [{
      code: 'OVER_LIMIT',
      current_limit: { name: 'free-1h', requests_per_unit: 2, unit: 'HOUR' },
      limit_remaining: 4,
      duration_until_reset: { seconds: 1, nanos: 2 }
    }],
    response_headers_to_add: [{ key: 'ratelimit', value: 'r' }],
    request_headers_to_add: [{ key: 'x-a', value: 'b' }],
    raw_body: Buffer.from('{}')
  })
  t.same(fields(bytes, { 2: { 2: true, 4: true }, 3: true, 4: true }), [
    [1, 2],
    [2, [[1, 2], [2, [[1, 2], [2, 3], [3, 'free-1h']]], [3, 4], [4, [[1, 1], [2, 2]]]]],
    [3, [[1, 'ratelimit'], [2, 'r']]],
    [4, [[1, 'x-a'], [2, 'b']]],
    [5, '{}']
  ])
})

t.test('a response written by hand with Envoy\'s numbers decodes with our proto', async (t) => {
  const limit = Writer.create().uint32((3 << 3) | 2).string('p').uint32((1 << 3) | 0).uint32(10).uint32((2 << 3) | 0).uint32(1).finish()
  const duration = Writer.create().uint32((1 << 3) | 0).int64(1).uint32((2 << 3) | 0).int32(2).finish()
  const status = Writer.create().uint32((1 << 3) | 0).uint32(1).uint32((2 << 3) | 2).bytes(limit)
    .uint32((3 << 3) | 0).uint32(6).uint32((4 << 3) | 2).bytes(duration).finish()
  const bytes = Writer.create().uint32((1 << 3) | 0).uint32(1).uint32((2 << 3) | 2).bytes(status).finish()
  t.match(should.responseDeserialize(Buffer.from(bytes)), {
    overall_code: 'OK',
    statuses: [{ code: 'OK', current_limit: { name: 'p', requests_per_unit: 10, unit: 'SECOND' }, limit_remaining: 6, duration_until_reset: { seconds: 1, nanos: 2 } }]
  })
})

t.test('grpc.health.v1: service 1; status 1 (SERVING 1, NOT_SERVING 2)', async (t) => {
  t.same(fields(check.requestSerialize({ service: 'x' })), [[1, 'x']])
  t.same(fields(check.responseSerialize({ status: 'NOT_SERVING' })), [[1, 2]])
  t.same(fields(check.responseSerialize({ status: 'SERVING' })), [[1, 1]])
})
