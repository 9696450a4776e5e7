// `weft demo`: public surface.
export { runDemo, InterruptedError, type DemoOptions } from './run.ts'
export { demoDown } from './down.ts'
export { DEMO_ROOT, listStates, leftovers, teardown, type DemoState } from './state.ts'
