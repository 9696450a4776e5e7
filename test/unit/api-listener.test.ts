// The admin API's listener over a real unix socket (no root, no network): answers the HTTP
// parser gives before any handler runs (oversized or too many headers, a malformed request,
// a body past the limit) are { error, message } JSON too; the socket is 0600 and goes on stop.
import { afterAll, beforeAll, describe, expect, test } from 'bun:test'
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { serveApi, type ApiListeners } from '../../src/api/index.ts'
import { captureLog, fakeAgent } from './api-fake.ts'

const dir = mkdtempSync(join(tmpdir(), 'weft-api-listener-'))
const socket = join(dir, 'api.sock')
let served: ApiListeners

beforeAll(async () => {
  served = await serveApi(fakeAgent(), { socket: `unix://${socket}`, log: captureLog().log })
})
afterAll(async () => {
  await served?.stop()
  rmSync(dir, { recursive: true, force: true })
})

/** Send raw bytes, read until the server closes or the answer is complete. */
function raw(bytes: string): Promise<{ status: number; headers: string; body: string }> {
  return new Promise((resolve, reject) => {
    let out = Buffer.alloc(0)
    let rest = Buffer.from(bytes, 'latin1')
    // a socket write may take only part of a large request: the rest goes on drain
    const send = (s: { write(b: Uint8Array): number }) => void (rest = rest.subarray(s.write(rest)))
    const done = () => {
      const text = out.toString('latin1')
      const end = text.indexOf('\r\n\r\n')
      resolve({
        status: Number(text.slice(9, 12)),
        headers: text.slice(0, end),
        body: text.slice(end + 4),
      })
    }
    Bun.connect({
      unix: socket,
      socket: {
        open: send,
        drain: send,
        data: (_s, d) => void (out = Buffer.concat([out, d])),
        close: done,
        end: done,
        error: (_s, e) => reject(e),
      },
    }).catch(reject)
  })
}

const expectJsonError = (
  r: { status: number; headers: string; body: string },
  status: number,
  error: string,
  message: RegExp,
) => {
  expect(r.status).toBe(status)
  expect(r.headers).toMatch(/\r\ncontent-type: application\/json/i)
  const body = JSON.parse(r.body)
  expect(Object.keys(body).sort()).toEqual(['error', 'message'])
  expect(body.error).toBe(error)
  expect(body.message).toMatch(message)
}

describe('admin API listener', () => {
  test('the socket is 0600 and answers', async () => {
    expect(statSync(socket).mode & 0o777).toBe(0o600)
    const res = await fetch('http://weft/v1/networks', { unix: socket } as RequestInit)
    expect(res.status).toBe(200)
    expect(await res.json()).toEqual([])
  })

  test('a header over the limit: 431 JSON', async () => {
    const r = await raw(
      `GET /v1/networks HTTP/1.1\r\nHost: weft\r\nX-Big: ${'a'.repeat(64 * 1024)}\r\nConnection: close\r\n\r\n`,
    )
    expectJsonError(
      r,
      431,
      'headers_too_large',
      /request headers are too large: at most \d+ bytes and about 190 fields/,
    )
  })

  test('too many header fields: 431 JSON', async () => {
    const fields = Array.from({ length: 300 }, (_, i) => `X-F${i}: v\r\n`).join('')
    const r = await raw(
      `GET /v1/networks HTTP/1.1\r\nHost: weft\r\n${fields}Connection: close\r\n\r\n`,
    )
    expectJsonError(r, 431, 'headers_too_large', /send fewer or shorter headers/)
  })

  test('a request that is not HTTP: 400 JSON', async () => {
    expectJsonError(await raw('GARBAGE\r\n\r\n'), 400, 'bad_request', /not valid HTTP\/1\.1 \(HPE_/)
  })

  test('a chunked body past 1 MiB: 413 JSON, without reading it all', async () => {
    const chunk = 'x'.repeat(256 * 1024)
    const chunks = Array.from(
      { length: 6 },
      () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`,
    ).join('')
    const r = await raw(
      `POST /v1/networks HTTP/1.1\r\nHost: weft\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${chunks}0\r\n\r\n`,
    )
    expectJsonError(r, 413, 'body_too_large', /request body over 1048576 bytes/)
  })

  test('a request target that is no path (OPTIONS *): 400 JSON; absolute-form is served', async () => {
    expectJsonError(
      await raw('OPTIONS * HTTP/1.1\r\nHost: weft\r\nConnection: close\r\n\r\n'),
      400,
      'bad_request',
      /not valid HTTP\/1\.1|is not a path/,
    )
    const abs = await raw(
      'GET http://weft/v1/networks HTTP/1.1\r\nHost: weft\r\nConnection: close\r\n\r\n',
    )
    expect(abs.status).toBe(200)
  })

  test('HEAD answers the GET status with no body', async () => {
    const r = await raw('HEAD /v1/networks HTTP/1.1\r\nHost: weft\r\nConnection: close\r\n\r\n')
    expect(r.status).toBe(200)
    expect(r.body).toBe('')
  })

  test('stop closes the listener and removes the socket', async () => {
    const other = join(dir, 'other.sock')
    const s = await serveApi(fakeAgent(), { socket: other, log: captureLog().log })
    expect(existsSync(other)).toBe(true)
    await s.stop()
    expect(existsSync(other)).toBe(false)
  })
})
