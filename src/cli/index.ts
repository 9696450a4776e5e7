// The weft command tree. Each subcommand lives in its own file; only src/main.ts exits.
import { defineCommand } from 'citty'
import { VERSION } from '../embedded/index.ts'
import { agentCommand } from './agent.ts'
import { versionCommand } from './version.ts'

export const rootCommand = defineCommand({
  meta: {
    name: 'weft',
    version: VERSION,
    description: 'Docker-style multi-host overlay networks: eBPF VXLAN datapath, Consul-compatible control plane',
  },
  subCommands: {
    agent: agentCommand,
    version: versionCommand,
  },
})
