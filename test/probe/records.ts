// Cluster records for the prober's root-free tests (pure data: ids, networks, endpoints, nodes).
export const id = (c: string) => c.repeat(64)
export const net = (c: string, vni: number, mtu = 1450) => ({
  id: id(c),
  name: `n${c}`,
  driver: 'overlay',
  scope: 'global',
  vni,
  subnet: `10.0.${vni % 250}.0/24`,
  gateway: `10.0.${vni % 250}.1`,
  mtu,
  labels: {},
  options: {},
  created: 'x',
})
export const ep = (c: string, netC: string, ip: string, node: string) => ({
  id: id(c),
  networkId: id(netC),
  name: `e${c}`,
  ip,
  mac: '02:42:0a:00:01:02',
  external: false,
  created: 'x',
  node,
  sandbox: `sb${c}`,
  ifname: 'eth0',
})
export const nodeRec = (name: string, advertise: string) => ({
  name,
  advertise,
  datapath: 'bpf',
  version: '0',
  started: 'x',
})
