import { once } from 'node:events'
import { connect, type Socket } from 'node:net'
import t from 'tap'
import type { Test } from 'tap'
import { answerWithin } from '../../src/limits/deadline'
import { RedisTimeoutError } from '../../src/limits/store-errors'
import { startRedis } from '../helpers/redis'

// The timeout of a limit check on a real socket to a real redis-server: PING is sent,
// then the event loop is blocked past the timeout, as a burst blocks it. Redis answers
// meanwhile, so the reply is in the socket buffer when the timer fires: it must be read,
// not called a timeout.

async function redisSocket (t: Test): Promise<Socket> {
  const redis = await startRedis(t)
  const socket = connect(redis.port, '127.0.0.1')
  await once(socket, 'connect')
  t.teardown(() => { socket.destroy() })
  return socket
}

function ping (socket: Socket): Promise<string> {
  const reply = new Promise<string>((resolve) => socket.once('data', (chunk: Buffer) => resolve(chunk.toString().trim())))
  socket.write('PING\r\n')
  return reply
}

function blockLoop (ms: number): void {
  const until = Date.now() + ms
  while (Date.now() < until) { /* a stalled event loop, on purpose */ }
}

t.test('a reply that arrived while the loop was blocked past the timeout is taken', async (t) => {
  const reply = ping(await redisSocket(t))
  const answered = answerWithin(reply, 50)
  blockLoop(200)
  t.equal(await answered, '+PONG', 'the reply that was waiting in the socket, not a timeout')
})

t.test('a plain timer race calls the same reply a timeout (why deadline.ts exists)', async (t) => {
  const reply = ping(await redisSocket(t))
  const naive = Promise.race([reply, new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 50))])
  blockLoop(200)
  t.equal(await naive, 'timeout', 'a plain timer fires before the socket is read')
})

t.test('no reply at all: RedisTimeoutError after about the timeout', async (t) => {
  const started = Date.now()
  await t.rejects(answerWithin(new Promise(() => {}), 100), RedisTimeoutError)
  const ms = Date.now() - started
  t.ok(ms >= 95 && ms < 2000, `rejected after ${ms} ms`)
})

t.test('a rejection passes through; a late reply after the timeout is ignored', async (t) => {
  await t.rejects(answerWithin(Promise.reject(new Error('closed')), 100), /closed/)
  let settle: (value: string) => void = () => {}
  const late = new Promise<string>((resolve) => { settle = resolve })
  await t.rejects(answerWithin(late, 20), RedisTimeoutError)
  settle('too late')
})
