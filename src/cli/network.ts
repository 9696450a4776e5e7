// `weft network …`: the docker network verbs.
import { defineCommand } from 'citty'
import type { CliContext } from './_context.ts'
import { networkConnectCommand } from './network-connect.ts'
import { networkCreateCommand } from './network-create.ts'
import { networkDisconnectCommand } from './network-disconnect.ts'
import { networkInspectCommand } from './network-inspect.ts'
import { networkLsCommand } from './network-ls.ts'
import { networkRmCommand } from './network-rm.ts'

export const networkCommand = (ctx: CliContext) =>
  defineCommand({
    meta: { name: 'network', description: 'Manage overlay networks' },
    subCommands: {
      create: networkCreateCommand(ctx),
      ls: networkLsCommand(ctx),
      inspect: networkInspectCommand(ctx),
      rm: networkRmCommand(ctx),
      connect: networkConnectCommand(ctx),
      disconnect: networkDisconnectCommand(ctx),
    },
  })
