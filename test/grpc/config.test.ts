import t from 'tap'
import { parseConfig } from '../../src/config'
import { runCli } from '../helpers/run-cli'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

// The `rls` section and `listen.grpc` as check-config and every reload see them.

const BASE = `
plans:
  anonymous: [ { max: 10, per: 1m } ]
  pro: [ { max: 100, per: 1s } ]
keys:
  - { name: acme, key: acme-key, plan: pro }
`

function errors (text: string): string[] {
  const result = parseConfig(text, {}, 'config.yml')
  return result.ok ? [] : result.errors
}

t.test('a full rls section is accepted, with its defaults', async (t) => {
  const result = parseConfig(`${BASE}
listen: { grpc: 0.0.0.0:8081 }
rls:
  domains:
    edge:
      - match: [ { key: api_key } ]
      - match: [ { key: remote_address } ]
        plan: anonymous
        name: by_ip
      - match: [ { key: header_match, value: search }, { key: api_key } ]
        plan: pro
        replaces: [ by_ip ]
      - match: [ { key: generic_key, value: health } ]
        unlimited: true
`, {}, 'config.yml')
  if (!result.ok) throw new Error(result.errors.join('\n'))
  t.equal(result.config.listen.grpc, '0.0.0.0:8081')
  t.equal(result.config.rls?.allow_overrides, false)
  t.match(result.config.rls?.domains.edge?.[0], { unlimited: false, shadow: false, headers: 'draft' })
  t.equal(parseConfig(BASE, {}, 'config.yml').ok, true, 'both are optional')
})

t.test('what a rule cannot be: each error names its path', async (t) => {
  t.strictSame(errors(`${BASE}
rls:
  domains:
    edge:
      - match: [ { key: remote_address } ]
        plan: gold
      - match: [ { key: tenant } ]
      - match: [ { key: api_key, value: acme-key } ]
      - match: [ { key: api_key }, { key: api_key } ]
      - match: [ { key: generic_key, value: x } ]
        plan: pro
        unlimited: true
      - match: [ { key: remote_address } ]
        plan: pro
        replaces: [ nobody ]
      - match: []
        plan: pro
`), [
    'rls.domains.edge[6].match: [] must NOT have fewer than 1 items',
    'rls.domains.edge[0].plan: "gold" is not a plan in plans (anonymous, pro)',
    'rls.domains.edge[1]: needs a plan (or an api_key entry, whose client\'s plan applies, or unlimited: true)',
    'rls.domains.edge[2].match: an api_key entry takes no value (a key must not sit in the file; list it under keys)',
    'rls.domains.edge[3].match: at most one api_key entry',
    'rls.domains.edge[4]: unlimited and plan exclude each other',
    'rls.domains.edge[5].replaces[0]: "nobody" is not the name of a rule in this domain',
    'rls.domains.edge[5].match: the same as rls.domains.edge[0].match, which always applies first'
  ])
  t.match(errors(`${BASE}\nrls: { domains: { edge: [ { match: [ { key: a } ], plan: pro, extra: 1 } ] } }`), ['rls.domains.edge[0].extra: is not a known key'])
  t.match(errors(`${BASE}\nrls: { domains: { "bad domain": [ { match: [ { key: a } ], plan: pro } ] } }`), [/^rls\.domains\.bad domain: is not a valid name/])
})

t.test('listen.grpc: HOST:PORT, a real port, not another listener\'s', async (t) => {
  t.strictSame(errors(`${BASE}\nlisten: { grpc: "8081" }`), ['listen.grpc: "8081" must be HOST:PORT, e.g. 0.0.0.0:8081'])
  t.strictSame(errors(`${BASE}\nlisten: { grpc: 0.0.0.0:70000 }`), ['listen.grpc: "0.0.0.0:70000" has a port above 65535'])
  t.strictSame(errors(`${BASE}\nlisten: { grpc: 127.0.0.1:9464 }`), ['listen.grpc: "127.0.0.1:9464" uses the port of listen.admin'])
  t.strictSame(errors(`${BASE}\nlisten: { proxy: 127.0.0.1:8080, grpc: 127.0.0.2:8080 }`), [], 'other addresses may share a port')
})

t.test('check-config prints the rls summary, or exits 1 naming the unknown plan', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'tollgate-rls-'))
  const good = join(dir, 'good.yml')
  const bad = join(dir, 'bad.yml')
  await writeFile(good, `${BASE}\nlisten: { grpc: 127.0.0.1:8081 }\nrls: { domains: { edge: [ { match: [ { key: api_key } ] }, { match: [ { key: remote_address } ], plan: anonymous } ] } }\n`)
  await writeFile(bad, `${BASE}\nrls: { domains: { edge: [ { match: [ { key: remote_address } ], plan: gold } ] } }\n`)
  const [ok, ko] = await Promise.all([runCli(['check-config', good]), runCli(['check-config', bad])])
  t.equal(ok.code, 0, ok.stderr)
  t.match(ok.stdout, /grpc: {5}127\.0\.0\.1:8081\n {4}edge: \[api_key\] → the key's plan; \[remote_address\] → anonymous/)
  t.equal(ko.code, 1)
  t.match(ko.stderr, /rls\.domains\.edge\[0\]\.plan: "gold" is not a plan in plans/)
})
