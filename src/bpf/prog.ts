// Run a loaded program on a packet without a network (BPF_PROG_TEST_RUN): the basis of
// packet-fixture tests and per-packet cost measurements.

import { Errno, errnoError } from './errors.ts'
import type { ProgramRef } from './object.ts'
import { getSys, type Sys } from '../sys/index.ts'

export interface TestRunOptions {
  /** Run the program this many times (duration is the average). Default 1. */
  repeat?: number
  /** Room for the output packet; default input length + 256 (encap grows packets). */
  maxOutput?: number
  sys?: Sys
}

export interface TestRunResult {
  /** The program's return value (a TC_ACT_* verdict for TC programs). */
  retval: number
  /** The packet after the program ran. */
  output: Uint8Array
  /** Average ns per run, as measured by the kernel. */
  durationNs: number
}

/**
 * Run `program` once (or `repeat` times) on `packet` (a full Ethernet frame for TC programs).
 * @example const { retval, output } = testRun(obj.program('tc_egress'), frame)
 */
export function testRun(
  program: ProgramRef,
  packet: Uint8Array,
  opts: TestRunOptions = {},
): TestRunResult {
  const sys = opts.sys ?? getSys()
  const r = sys.progTestRun(program.fd, {
    data: packet,
    dataOutSize: opts.maxOutput ?? packet.byteLength + 256,
    repeat: opts.repeat ?? 1,
  })
  if (r.rc < 0) {
    const hint = -r.rc === Errno.ENOSPC ? 'the output packet is larger than maxOutput' : undefined
    throw errnoError(sys, r.rc, { op: 'test-run program', subject: program.name, hint })
  }
  return { retval: r.retval, output: r.dataOut, durationNs: r.durationNs }
}
