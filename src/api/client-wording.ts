// The HTTP client's own wording (Bun's fetch, undici, Node's TLS) never reaches an API answer:
// "Unable to connect. Is the computer able to access the url?" speaks of a computer and a url
// the operator never typed. Each known failure is said in our words; the code stays as a hint.

/** Our words for a connection failure, by the code fetch puts on its error. */
const BY_CODE: Record<string, string> = {
  ECONNREFUSED: 'connection refused (nothing listens on that address and port)',
  ConnectionRefused: 'connection refused (nothing listens on that address and port)',
  ECONNRESET: 'the connection closed before an answer came',
  ConnectionClosed: 'the connection closed before an answer came',
  EPIPE: 'the connection closed before an answer came',
  ENOENT: 'no such socket',
  ENETUNREACH: 'no route to that network',
  EHOSTUNREACH: 'no route to that host',
  ETIMEDOUT: 'no answer in time',
  ENOTFOUND: 'the host name does not resolve',
  EAI_AGAIN: 'the host name does not resolve (DNS did not answer)',
  FailedToOpenSocket: 'cannot open a connection',
  ERR_INVALID_URL: 'the address is not a valid URL',
  DEPTH_ZERO_SELF_SIGNED_CERT:
    "TLS: the server's certificate is not signed by a trusted CA (for the embedded store: the cluster CA)",
  SELF_SIGNED_CERT_IN_CHAIN:
    "TLS: the server's certificate is not signed by a trusted CA (for the embedded store: the cluster CA)",
  UNABLE_TO_VERIFY_LEAF_SIGNATURE:
    "TLS: the server's certificate is not signed by a trusted CA (for the embedded store: the cluster CA)",
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    "TLS: the server's certificate is not signed by a trusted CA (for the embedded store: the cluster CA)",
  CERT_HAS_EXPIRED: "TLS: the server's certificate has expired",
  ERR_TLS_CERT_ALTNAME_INVALID: "TLS: the server's certificate does not name the address dialled",
}

/** Phrases of the clients themselves, for text whose error object is gone. Order matters. */
const PHRASES: [RegExp, string][] = [
  [/ERR_TLS_CERT_ALTNAME_INVALID fetching "[^"]*"\.?/g, BY_CODE.ERR_TLS_CERT_ALTNAME_INVALID!],
  [/ ?For more information, pass `verbose: true` in the second argument to fetch\(\)\.?/g, ''],
  [
    /(?:\b[A-Z][A-Za-z_]+: )?Unable to connect\. Is the computer able to access the url\?/g,
    'cannot connect (nothing answers on that address and port)',
  ],
  [/(?:\b[A-Z][A-Za-z_]+: )?The socket connection was closed unexpectedly\./g, BY_CODE.ECONNRESET!],
  [/(?:\b[A-Z][A-Za-z_]+: )?Was there a typo in the url or port\?/g, BY_CODE.FailedToOpenSocket!],
  [/The operation timed out\./g, 'no answer in time'],
  [/The operation was aborted\./g, 'the request was cancelled'],
  [/fetch\(\) URL is invalid/g, BY_CODE.ERR_INVALID_URL!],
  [/\bconnect ECONNREFUSED (\S+)/g, 'connection refused by $1'],
  [/\bgetaddrinfo ENOTFOUND (\S+)/g, 'the host name $1 does not resolve'],
  [/\bother side closed\b/g, BY_CODE.ECONNRESET!],
  [/\bfetch failed\b/g, 'the request failed'],
  [/\bself[- ]signed certificate(?: in certificate chain)?/g, BY_CODE.DEPTH_ZERO_SELF_SIGNED_CERT!],
]

/** The first error in a cause chain that carries a string code, as fetch's errors do. */
function coded(e: unknown): { code: string; message: string } | undefined {
  for (
    let cur = e, depth = 0;
    cur && typeof cur === 'object' && depth < 8;
    cur = (cur as { cause?: unknown }).cause, depth++
  ) {
    const { code, message } = cur as { code?: unknown; message?: unknown }
    if (typeof code === 'string' && typeof message === 'string' && code in BY_CODE)
      return { code, message }
  }
  return undefined
}

/**
 * `text` with every known client phrase put in our words. `cause` is the error the text came
 * from (or whose message it embeds): its code picks the words for its exact message.
 */
export function ownWords(text: string, cause?: unknown): string {
  let out = text
  const c = coded(cause)
  if (c && c.message && out.includes(c.message)) out = out.split(c.message).join(BY_CODE[c.code]!)
  for (const [re, words] of PHRASES) out = out.replace(re, words)
  return out
}
