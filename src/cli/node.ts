// `weft node …`: the hosts of the cluster.
import { defineCommand } from 'citty'
import type { CliContext } from './_context.ts'
import { nodeLsCommand } from './node-ls.ts'

export const nodeCommand = (ctx: CliContext) =>
  defineCommand({
    meta: { name: 'node', description: 'List the hosts of the cluster' },
    subCommands: { ls: nodeLsCommand(ctx) },
  })
