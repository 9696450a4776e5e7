// The plumbing thread's errors cross the thread boundary as plain data: each comes back as the
// class and code it was thrown with (the API maps them to statuses: 400, 404, 409, 500).
import { describe, expect, test } from 'bun:test'
import { ConflictError, NotFoundError, ValidationError, WeftError } from '../../src/errors/index.ts'
import { NetlinkError } from '../../src/net/netlink.ts'
import { carryError, uncarryError } from '../../src/net/plumb-thread.ts'

const roundTrip = (e: unknown) => uncarryError(structuredClone(carryError(e)))

describe('plumbing thread errors', () => {
  test('keep their class, code and message', () => {
    for (const e of [
      new ValidationError('prefix length 40 is out of range (1..32)'),
      new NotFoundError('sandbox x not found', 'sandbox_not_found'),
      new ConflictError('interface eth0 already exists in sandbox', 'ifname_taken'),
      new WeftError('link_vanished', 'wfa vanished right after it was created'),
    ]) {
      const back = roundTrip(e) as WeftError
      expect(back).toBeInstanceOf(e.constructor as typeof WeftError)
      expect(back.name).toBe(e.name)
      expect(back.code).toBe(e.code)
      expect(back.message).toBe(e.message)
    }
  })

  test('a netlink failure keeps its errno (callers test EEXIST, ENODEV)', () => {
    const e = new NetlinkError('create veth wfa (peer eth0)', 17, 'File exists')
    const back = roundTrip(e) as NetlinkError
    expect(back).toBeInstanceOf(NetlinkError)
    expect(back.errno).toBe(17)
    expect(back.message).toBe(e.message)
    expect(back.code).toBe('netlink_failed')
  })

  test('anything else keeps its name and message', () => {
    const back = roundTrip(new TypeError('bad'))
    expect(back.name).toBe('TypeError')
    expect(back.message).toBe('bad')
    expect(uncarryError(carryError('plain')).message).toBe('plain')
  })
})
