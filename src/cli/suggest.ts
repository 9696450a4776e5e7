// "Did you mean …?": the closest known word to a mistyped flag or command.

function distance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0]!
    prev[0] = i
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j]!
      prev[j] = Math.min(up + 1, prev[j - 1]! + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1))
      diag = up
    }
  }
  return prev[b.length]!
}

/** The candidate nearest to `word` when it is close enough to be a typo (or a prefix), else undefined. */
export function closest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined
  let bestD = Infinity
  for (const c of candidates) {
    const d = c.startsWith(word) && word.length >= 2 ? 0.5 : distance(word, c)
    if (d < bestD) {
      best = c
      bestD = d
    }
  }
  // a third of the word may be wrong, at least two edits (`--node` for `--name`)
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined
}
