// Bearer auth of the TCP admin API: scheme in any case, digest compare, a minimum length
// checked before anything listens. In process: app.request and serveApi's own checks.
import { afterAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createApp, serveApi } from '../../src/api/index.ts'
import {
  apiTokenProblem,
  bearerCredentials,
  MIN_TOKEN_LENGTH,
  newApiToken,
  tokenMatcher,
} from '../../src/api/auth.ts'
import { captureLog, fakeAgent } from './api-fake.ts'

const TOKEN = 'a-token-of-24-characters'
const dir = mkdtempSync(join(tmpdir(), 'weft-api-auth-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const app = () => createApp(fakeAgent(), { token: TOKEN, log: captureLog().log })
const get = async (authorization?: string) => {
  const res = await app().request('/v1/networks', {
    headers: authorization === undefined ? {} : { authorization },
  })
  return { status: res.status, body: (await res.json()) as any }
}

describe('Authorization scheme', () => {
  for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
    test(`"${scheme} <token>" is accepted`, async () => {
      expect((await get(`${scheme} ${TOKEN}`)).status).toBe(200)
    })
  }

  test('extra spaces between scheme and token are accepted (RFC 9110 1*SP)', async () => {
    expect((await get(`Bearer   ${TOKEN}`)).status).toBe(200)
  })

  test('another scheme is 401 saying what to send', async () => {
    const r = await get(`Basic ${btoa(`u:${TOKEN}`)}`)
    expect(r).toEqual({
      status: 401,
      body: {
        error: 'unauthorized',
        message: 'the Authorization header must be "Bearer <token>": set WEFT_TOKEN',
      },
    })
  })

  test('no header is 401, a wrong token 403, each { error, message }', async () => {
    expect(await get()).toEqual({
      status: 401,
      body: { error: 'unauthorized', message: 'missing bearer token: set WEFT_TOKEN' },
    })
    for (const wrong of [
      'nope',
      TOKEN.slice(0, -1),
      `${TOKEN}x`,
      TOKEN.toUpperCase(),
      'x'.repeat(10_000),
    ]) {
      expect(await get(`Bearer ${wrong}`)).toEqual({
        status: 403,
        body: { error: 'forbidden', message: 'wrong bearer token: check WEFT_TOKEN' },
      })
    }
  })

  test('bearerCredentials parses only "<scheme> <token>"', () => {
    expect(bearerCredentials('bearer abc')).toBe('abc')
    expect(bearerCredentials('Bearer')).toBeUndefined()
    expect(bearerCredentials('Bearerabc')).toBeUndefined()
    expect(bearerCredentials('Bearer a b')).toBeUndefined()
  })
})

describe('token compare', () => {
  test('tokens of any length compare without throwing (raw timingSafeEqual throws on unequal lengths)', () => {
    const matches = tokenMatcher(TOKEN)
    expect(matches(TOKEN)).toBe(true)
    for (const other of ['', 'a', TOKEN.slice(1), `${TOKEN}${TOKEN}`, 'é'.repeat(24)])
      expect(matches(other)).toBe(false)
  })
})

describe('minimum token length', () => {
  test(`a token under ${MIN_TOKEN_LENGTH} characters is refused with how to make one`, () => {
    expect(apiTokenProblem('short-token')).toBe(
      `the API token is 11 characters; it needs at least ${MIN_TOKEN_LENGTH}: make one with \`openssl rand -hex 32\``,
    )
    expect(apiTokenProblem(undefined)).toMatch(
      /^--api-tcp needs a bearer token: pass --token or set WEFT_TOKEN; make one with `openssl rand -hex 32`$/,
    )
    expect(apiTokenProblem('sixteen chars ok')).toMatch(/whitespace/)
    expect(apiTokenProblem('x'.repeat(MIN_TOKEN_LENGTH))).toBeUndefined()
    expect(apiTokenProblem(newApiToken())).toBeUndefined()
    expect(newApiToken()).toMatch(/^[0-9a-f]{64}$/)
  })

  test('createApp refuses a short token', () => {
    expect(() => createApp(fakeAgent(), { token: 'short', log: captureLog().log })).toThrow(
      /needs at least 16/,
    )
    expect(() => createApp(fakeAgent(), { token: '', log: captureLog().log })).toThrow(
      /needs a bearer token/,
    )
  })

  test('serveApi with --api-tcp and a short token starts nothing: no socket, no listener', async () => {
    const socket = join(dir, 'short.sock')
    await expect(
      serveApi(fakeAgent(), {
        socket: `unix://${socket}`,
        tcp: '127.0.0.1:0',
        token: 'short',
        log: captureLog().log,
      }),
    ).rejects.toThrow(
      /the API token is 5 characters; it needs at least 16: make one with `openssl rand -hex 32`/,
    )
    expect(existsSync(socket)).toBe(false)
  })

  test('serveApi refuses --api tcp://… instead of making a socket named "tcp:"', async () => {
    const cwdSocket = 'tcp:'
    await expect(
      serveApi(fakeAgent(), { socket: 'tcp://127.0.0.1:7777', log: captureLog().log }),
    ).rejects.toThrow(
      /--api "tcp:\/\/127\.0\.0\.1:7777" must be unix:\/\/\/PATH: to serve TCP, use --api-tcp HOST:PORT with --token/,
    )
    expect(existsSync(cwdSocket)).toBe(false)
  })
})
