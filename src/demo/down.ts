// `weft demo --down`: remove every demo run recorded under /run/weft-demo (left by --keep,
// or by a demo that was killed), exactly what each recorded and nothing else.
import type { CliContext } from '../cli/_context.ts'
import { CliError } from '../cli/_errors.ts'
import { DEMO_ROOT, listStates, teardown } from './state.ts'

export async function demoDown(ctx: CliContext): Promise<void> {
  const states = listStates()
  if (states.length === 0) {
    ctx.out(`no demo is running (nothing recorded under ${DEMO_ROOT})`)
    return
  }
  const problems: string[] = []
  for (const s of states) {
    ctx.out(`removing demo ${s.prefix} (started ${s.created}, datapath ${s.datapath})`)
    const left = await teardown(s, (l) => ctx.out(`  ${l}`))
    if (left.length) problems.push(`${s.prefix}: ${left.join(', ')}`)
    else ctx.out(`  done: nothing of ${s.prefix} is left`)
  }
  if (problems.length) throw new CliError(`could not remove everything: ${problems.join('; ')}`)
}
