// Text lines from a byte stream (a child's stdout, stdin), decoded as UTF-8 as they arrive.

/** Yields each complete line (without its newline), then a last unterminated one if any. */
export async function* lines(stream: AsyncIterable<Uint8Array>): AsyncGenerator<string> {
  const decoder = new TextDecoder()
  let buf = ''
  for await (const chunk of stream) {
    buf += decoder.decode(chunk, { stream: true })
    let nl: number
    while ((nl = buf.indexOf('\n')) >= 0) {
      yield buf.slice(0, nl)
      buf = buf.slice(nl + 1)
    }
  }
  buf += decoder.decode()
  if (buf) yield buf
}
