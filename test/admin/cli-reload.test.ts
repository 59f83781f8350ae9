import t from 'tap'
import { startTollgate } from '../helpers/child'
import { post } from '../helpers/http'

// POST /-/reload on the real CLI, over a real socket: the token comes from the
// environment through `${TOLLGATE_ADMIN_TOKEN}`, as a Kubernetes Secret would give it.

const TOKEN = 'cli-6e1d0b9a4f27c583aa'
const PLANS = 'plans: { free: [ { max: 5, per: 1s } ] }'

t.test('with admin.token: 401 without it, 200 with it; the token is in no output', async (t) => {
  const tollgate = await startTollgate(t, {
    configYaml: `listen: { proxy: 127.0.0.1:0, admin: 127.0.0.1:0 }\n${PLANS}\nadmin: { token: "\${TOLLGATE_ADMIN_TOKEN}" }\n`,
    env: { TOLLGATE_ADMIN_TOKEN: TOKEN }
  })
  const url = `${tollgate.adminUrl}/-/reload`
  const without = await post(url, null)
  t.equal(without.status, 401)
  t.equal(without.headers['www-authenticate'], 'Bearer realm="tollgate admin"')
  t.equal((without.json() as { error: string }).error, 'admin_token_required')
  const wrong = await post(url, null, { authorization: 'Bearer not-the-token-at-all' })
  t.equal(wrong.status, 401)
  const right = await post(url, null, { authorization: `Bearer ${TOKEN}` })
  t.equal(right.status, 200)
  t.equal((right.json() as { result: string }).result, 'unchanged')
  await tollgate.waitForLog((line) => line.msg === 'admin request refused')
  t.notOk(tollgate.stdout().includes(TOKEN) || tollgate.stderr().includes(TOKEN), 'the token reached no log line')
})

t.test('no token on a non-loopback admin address: 403 that says why', async (t) => {
  const tollgate = await startTollgate(t, { configYaml: `listen: { proxy: 127.0.0.1:0, admin: 0.0.0.0:0 }\n${PLANS}\n` })
  const port = new URL(tollgate.adminUrl).port
  const res = await post(`http://127.0.0.1:${port}/-/reload`, null)
  t.equal(res.status, 403, 'a loopback peer does not open it: the bind decides')
  t.match((res.json() as { reason: string }).reason, /set admin\.token, or bind listen\.admin to 127\.0\.0\.1/)
})
