// The shared Datapath contract, run against the TC eBPF datapath.
import { runDatapathContract } from './contract.ts'

runDatapathContract('bpf')
