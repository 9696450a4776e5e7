// The HTTP client's phrases, as Bun 1.4 / undici / Node's TLS write them (captured from real
// failures), come out in our words; our own text passes unchanged.
import { describe, expect, test } from 'bun:test'
import { ownWords } from '../../src/api/client-wording.ts'

const err = (code: string, message: string) => Object.assign(new TypeError(message), { code })

describe('ownWords', () => {
  const cases: [string, unknown, string][] = [
    [
      'store at x: ECONNREFUSED: Unable to connect. Is the computer able to access the url?; check --store',
      err(
        'ECONNREFUSED',
        'ECONNREFUSED: Unable to connect. Is the computer able to access the url?',
      ),
      'store at x: connection refused (nothing listens on that address and port); check --store',
    ],
    [
      'x: ECONNRESET: The socket connection was closed unexpectedly. For more information, pass `verbose: true` in the second argument to fetch()',
      err(
        'ECONNRESET',
        'ECONNRESET: The socket connection was closed unexpectedly. For more information, pass `verbose: true` in the second argument to fetch()',
      ),
      'x: the connection closed before an answer came',
    ],
    [
      'x: ENOENT: Was there a typo in the url or port?',
      err('ENOENT', 'ENOENT: Was there a typo in the url or port?'),
      'x: no such socket',
    ],
    [
      'x: ENETUNREACH: Was there a typo in the url or port?',
      err('ENETUNREACH', 'ENETUNREACH: Was there a typo in the url or port?'),
      'x: no route to that network',
    ],
    [
      'x: self signed certificate',
      err('DEPTH_ZERO_SELF_SIGNED_CERT', 'self signed certificate'),
      "x: TLS: the server's certificate is not signed by a trusted CA (for the embedded store: the cluster CA)",
    ],
    [
      'x: ERR_TLS_CERT_ALTNAME_INVALID fetching "https://10.0.0.1:8500/". For more information, pass `verbose: true` in the second argument to fetch()',
      err(
        'ERR_TLS_CERT_ALTNAME_INVALID',
        'ERR_TLS_CERT_ALTNAME_INVALID fetching "https://10.0.0.1:8500/". For more information, pass `verbose: true` in the second argument to fetch()',
      ),
      "x: TLS: the server's certificate does not name the address dialled",
    ],
    // text whose error object is gone: phrases alone
    [
      'GET /v1/kv: ECONNREFUSED: Unable to connect. Is the computer able to access the url?',
      undefined,
      'GET /v1/kv: cannot connect (nothing answers on that address and port)',
    ],
    ['The operation timed out.', undefined, 'no answer in time'],
    ['The operation was aborted.', undefined, 'the request was cancelled'],
    ['fetch() URL is invalid', undefined, 'the address is not a valid URL'],
    [
      'TypeError: fetch failed: connect ECONNREFUSED 10.0.0.1:8500',
      undefined,
      'TypeError: the request failed: connection refused by 10.0.0.1:8500',
    ],
    [
      'getaddrinfo ENOTFOUND store.example',
      undefined,
      'the host name store.example does not resolve',
    ],
    ['other side closed', undefined, 'the connection closed before an answer came'],
  ]
  for (const [text, cause, want] of cases) {
    test(JSON.stringify(text).slice(0, 70), () => expect(ownWords(text, cause)).toBe(want))
  }

  test('the code is found down a cause chain', () => {
    const inner = err(
      'ECONNREFUSED',
      'ECONNREFUSED: Unable to connect. Is the computer able to access the url?',
    )
    const outer = new Error(`cannot reach the store: ${inner.message}`, { cause: inner })
    expect(ownWords(outer.message, outer)).toBe(
      'cannot reach the store: connection refused (nothing listens on that address and port)',
    )
  })

  test('our own text is unchanged', () => {
    const ours = 'network nope not found: see `weft network ls`'
    expect(ownWords(ours, new Error(ours))).toBe(ours)
  })
})
