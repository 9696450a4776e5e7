// Sandboxes as the agent follows them: the namespace a sandbox reference names, and the
// watcher that reports endpoints whose sandbox is gone.
export { SandboxWatcher } from './watch.ts'
export type { SandboxGone, SandboxRef, SandboxWatcherOptions } from './watch.ts'
export { netnsIdentity, netnsKey, sameNetns } from './identity.ts'
export type { NetnsIdentity } from './identity.ts'
