// GET /v1/doctor through the Hono app (no root): the query is strict, the report is passed
// through with causes in our own words, an agent without a doctor answers 501, and a name that
// does not exist is the doctor's 404.
import { describe, expect, test } from 'bun:test'
import { createApp } from '../../src/api/index.ts'
import type { DoctorQuery, DoctorReport } from '../../src/doctor/index.ts'
import { NotFoundError } from '../../src/errors/index.ts'
import { createLogger } from '../../src/log.ts'
import { fakeAgent } from '../unit/api-fake.ts'

const log = createLogger({ level: 'silent' })

function withDoctor(run: (q: DoctorQuery) => Promise<DoctorReport>) {
  const agent = fakeAgent()
  agent.doctor = run
  return createApp(agent, { log })
}

const report: DoctorReport = {
  ok: false,
  node: 'h1',
  path: 'every network on this host',
  checked: ['store'],
  problems: [
    {
      hop: 'this host (h1)',
      check: 'store',
      cause:
        'the store has not answered: Unable to connect. Is the computer able to access the url?',
    },
  ],
}

describe('GET /v1/doctor', () => {
  test('passes the query to the doctor and answers 200 with its report, in our words', async () => {
    let asked: DoctorQuery | undefined
    const app = withDoctor(async (q) => ((asked = q), report))
    const r = await app.request('/v1/doctor?network=blue&target=sb1&to=10.0.0.3')
    expect(r.status).toBe(200)
    expect(asked).toEqual({ network: 'blue', target: 'sb1', to: '10.0.0.3' })
    const body = (await r.json()) as DoctorReport
    expect(body.ok).toBe(false)
    expect(body.problems[0]!.cause).not.toContain('computer')
  })

  test('an unknown or empty query parameter is 400 and the doctor is not asked', async () => {
    let asked = 0
    const app = withDoctor(async () => (asked++, report))
    expect((await app.request('/v1/doctor?bogus=1')).status).toBe(400)
    expect((await app.request('/v1/doctor?network=')).status).toBe(400)
    expect(asked).toBe(0)
  })

  test("the doctor's NotFoundError is a 404 with its message", async () => {
    const app = withDoctor(async () => {
      throw new NotFoundError('network "nope" not found: see weft network ls', 'network_not_found')
    })
    const r = await app.request('/v1/doctor?network=nope')
    expect(r.status).toBe(404)
    expect(await r.json()).toEqual({
      error: 'network_not_found',
      message: 'network "nope" not found: see weft network ls',
    })
  })

  test('an agent without a doctor answers 501', async () => {
    const r = await createApp(fakeAgent(), { log }).request('/v1/doctor')
    expect(r.status).toBe(501)
    expect(((await r.json()) as { error: string }).error).toBe('not_implemented')
  })
})
