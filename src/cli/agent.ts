// `weft agent`: run the host agent until SIGINT/SIGTERM. Flags echo Docker's daemon.
import { defineCommand } from 'citty'
import { parseAgentConfig, startAgent } from '../agent/index.ts'
import { createDatapath } from '../datapath/index.ts'

export const agentCommand = defineCommand({
  meta: { name: 'agent', description: 'Run the weft agent on this host (datapath, store sync, admin API)' },
  args: {
    name: { type: 'string', description: 'Node name (default: hostname)' },
    advertise: { type: 'string', description: 'Underlay address or interface of this host (its VTEP)', required: true },
    store: { type: 'string', description: '"embedded" (serve the Consul API here) or consul://HOST:PORT', default: 'embedded' },
    'kv-listen': { type: 'string', description: 'Embedded store listen address (default ADVERTISE:8500)' },
    'store-token': { type: 'string', description: 'Consul ACL token (or WEFT_STORE_TOKEN)' },
    data: { type: 'string', description: 'State directory', default: '/var/lib/weft' },
    api: { type: 'string', description: 'Admin API unix socket', default: 'unix:///run/weft/weft.sock' },
    'api-tcp': { type: 'string', description: 'Also serve the admin API on HOST:PORT (needs --token)' },
    token: { type: 'string', description: 'Bearer token for the TCP admin API (or WEFT_TOKEN)' },
    datapath: { type: 'string', description: 'bpf (eBPF, default) or kernel (bridge + vxlan device)', default: 'bpf' },
    ttl: { type: 'string', description: 'Node session TTL: peers drop a dead node within ~2x this', default: '10s' },
    'log-level': { type: 'string', description: 'debug, info, warn, error', default: 'info' },
    docker: { type: 'string', description: "Serve the Docker network + IPAM plugin 'weft'; Docker's API socket unix:///PATH (e.g. unix:///var/run/docker.sock)" },
    'docker-plugin-socket': { type: 'string', description: 'Plugin socket (default /run/docker/plugins/weft.sock)' },
    teardown: {
      type: 'boolean',
      description: "Remove everything this node's datapath made (links, pins, devices, endpoint veths) and exit",
      default: false,
    },
  },
  async run({ args }) {
    const config = await parseAgentConfig(args)
    if (args.teardown) {
      // the agent normally leaves the datapath programmed when it stops (live restore)
      const dp = await createDatapath(config.datapath, { node: config.name, advertise: config.advertise })
      await dp.teardown()
      console.log(`removed the ${config.datapath} datapath of node ${config.name}`)
      return
    }
    const agent = await startAgent(config)
    await new Promise<void>((resolve) => {
      const onSignal = () => resolve()
      process.once('SIGINT', onSignal)
      process.once('SIGTERM', onSignal)
    })
    await agent.stop()
  },
})
