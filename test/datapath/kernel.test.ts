// The shared Datapath contract, run against the kernel (bridge + vxlan) datapath.
import { runDatapathContract } from './contract.ts'

runDatapathContract('kernel')
