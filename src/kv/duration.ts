// Go duration syntax (`1m30s`, `2000ms`, `1.5h`, `0`) used by Consul for wait, TTL, LockDelay:
// the project's one parser lives in src/util/duration.ts; the kv code imports it from here.
export { parseGoDuration, formatMs } from '../util/duration.ts'
