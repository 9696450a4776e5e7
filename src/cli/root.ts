// The weft command tree. Each subcommand lives in its own file and is built from the
// context (where the agent is, where output goes); run.ts runs it and only src/main.ts exits.
import { defineCommand } from 'citty'
import { VERSION } from '../embedded/index.ts'
import type { CliContext } from './_context.ts'
import { agentCommand } from './agent.ts'
import { demoCommand } from './demo.ts'
import { networkCommand } from './network.ts'
import { nodeCommand } from './node.ts'
import { statsCommand } from './stats.ts'
import { versionCommand } from './version.ts'

export function createRootCommand(ctx: CliContext) {
  return defineCommand({
    meta: {
      name: 'weft',
      version: VERSION,
      description: 'Docker-style multi-host overlay networks: eBPF VXLAN datapath, Consul-compatible control plane',
    },
    args: {
      host: {
        type: 'string',
        alias: 'H',
        description: 'Agent to talk to: unix:///PATH or tcp://HOST:PORT (or WEFT_HOST; token from WEFT_TOKEN)',
        valueHint: 'unix:///run/weft/weft.sock',
      },
    },
    subCommands: {
      network: networkCommand(ctx),
      node: nodeCommand(ctx),
      stats: statsCommand(ctx),
      demo: demoCommand(ctx),
      agent: agentCommand,
      version: versionCommand,
    },
  })
}

