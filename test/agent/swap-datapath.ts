// Run inside a host netns: become that node's bpf datapath with the given object file, the way
// a newer agent takes over (live restore: the pinned maps are adopted, the programs on the
// underlay link and on every endpoint veth are swapped in place), then let go, leaving the
// object's programs forwarding. Lets a test put a deliberately broken build under a running
// agent without any hook in the product.
// Usage: bun test/agent/swap-datapath.ts NODE ADVERTISE OBJECT.o
import { readFileSync } from 'node:fs'
import { BpfDatapath } from '../../src/datapath/bpf/index.ts'

const [node, advertise, object] = process.argv.slice(2)
if (!node || !advertise || !object)
  throw new Error('usage: swap-datapath.ts NODE ADVERTISE OBJECT.o')
const dp = new BpfDatapath(
  { node, advertise },
  { objectBytes: () => new Uint8Array(readFileSync(object)) },
)
await dp.start()
await dp.close()
console.log(`swapped ${node} to ${object}`)
