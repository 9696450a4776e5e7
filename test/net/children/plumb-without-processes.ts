// Child of test/net/endpoint.test.ts, started inside a host namespace: the whole endpoint path
// (create, adopt, replace a stale pair, find the underlay and an interface's address, delete) with process spawning
// disabled, so any `ip`/`nsenter` run would fail the step. argv: <sandbox1> <sandbox2> <underlay ip>.
// Prints one JSON line.
import {
  findUnderlay,
  interfaceAddress,
  plumbEndpoint,
  unplumbEndpoint,
  unplumbEndpoints,
  type PlumbSpec,
} from '../../../src/net/index.ts'

const refuse = () => {
  throw new Error('the endpoint path started a process')
}
Object.assign(Bun, { spawn: refuse, spawnSync: refuse })

const [c1, c2, underlayIp] = process.argv.slice(2)
const spec = (sandbox: string): PlumbSpec => ({
  sandbox,
  ifname: 'eth0',
  hostIfname: 'wfc000000001',
  mac: '02:42:0a:00:03:02',
  ip: '10.0.3.2',
  prefixLen: 24,
  mtu: 1450,
})
const created = await plumbEndpoint(spec(c1!))
const adopted = await plumbEndpoint(spec(c1!))
const moved = await plumbEndpoint(spec(c2!)) // the "container restarted" case: the old pair is replaced
const underlay = await findUnderlay(underlayIp!)
const byName = [interfaceAddress(underlay.ifname), interfaceAddress('wfnone0')]
const deleted = await unplumbEndpoint('wfc000000001')
const again = await unplumbEndpoint('wfc000000001')
await unplumbEndpoints(['wfc000000001', 'wfc000000002'])
console.log(
  JSON.stringify({
    created: created.adopted,
    adopted: adopted.adopted,
    sameIfindex: adopted.hostIfindex === created.hostIfindex,
    moved: moved.adopted,
    underlay: underlay.ifname,
    byName,
    deleted,
    again,
  }),
)
