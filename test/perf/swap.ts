// Swap the programs of a node's pinned tcx links for those of another BPF object (an A/B
// variant), adopting the node's pinned maps, exactly as a restarted agent does (live restore).
//   bun run test/perf/swap.ts <pinDir> <object.o>
// Prints the new program ids as JSON. Netns-independent: it works on pins only.
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { adoptPinnedLink, linkInfo, openObject } from '../../src/bpf/index.ts'

const [pinDir, objPath] = Bun.argv.slice(2)
if (!pinDir || !objPath) throw new Error('usage: swap.ts <pinDir> <object.o>')
const obj = openObject(new Uint8Array(readFileSync(objPath)), { name: 'vxlan' })
  .pinMaps(pinDir)
  .load()
const out: Record<string, number> = {}
for (const file of readdirSync(join(pinDir, 'links'))) {
  const link = adoptPinnedLink(join(pinDir, 'links', file))
  link.replaceProgram(obj.program(file === 'underlay' ? 'vx_from_ul' : 'vx_from_ep'))
  out[file] = linkInfo(link).progId
  link.close()
}
obj.close()
console.log(JSON.stringify(out))
