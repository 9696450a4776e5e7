// Whether a network's two devices are as `upsertNetwork` leaves them, from what rtnetlink
// shows of them (pure). Netlink here gives kind, master, MTU, alias and up, not the vxlan's
// settings (id, local, port, learning, proxy): those count as right only for a device this
// process made or checked with `ip -d` before, same ifindex.
import type { NlLink } from '../../net/index.ts'

export function asLeft(
  seen: { br?: NlLink; vx?: NlLink },
  checkedVxlanIfindex: number | undefined,
  mtu: number,
  alias: string,
): boolean {
  const { br, vx } = seen
  return (
    !!br &&
    !!vx &&
    vx.ifindex === checkedVxlanIfindex &&
    br.kind === 'bridge' &&
    vx.kind === 'vxlan' &&
    vx.master === br.ifindex &&
    br.alias === alias &&
    br.mtu === mtu &&
    vx.mtu === mtu &&
    br.up &&
    vx.up
  )
}
