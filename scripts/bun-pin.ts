// Bun is weft's runtime: `bun build --compile` embeds the Bun that runs compile.ts into
// dist/weft. package.json pins it exactly (devDependencies.bun); building with any other
// Bun would ship a runtime nobody tested.

/** The pinned version, or an error saying what is wrong with the pin. */
export function pinnedBunVersion(pkg: { devDependencies?: Record<string, string> }): string {
  const pin = pkg.devDependencies?.bun
  if (!pin || !/^\d+\.\d+\.\d+$/.test(pin)) {
    throw new Error(
      `package.json must pin Bun exactly, as devDependencies.bun = "X.Y.Z" (found ${JSON.stringify(pin ?? null)}): ` +
        'it is the runtime embedded in dist/weft',
    )
  }
  return pin
}

/** Throws unless `running` is the Bun version package.json pins. */
export function assertPinnedBun(
  pkg: { devDependencies?: Record<string, string> },
  running: string,
): void {
  const pin = pinnedBunVersion(pkg)
  if (running !== pin) {
    throw new Error(
      `this is Bun ${running}, but package.json pins Bun ${pin} (the runtime embedded in dist/weft): ` +
        'build with the pinned one, node_modules/.bin/bun run compile.ts (npm ci installs it)',
    )
  }
}
