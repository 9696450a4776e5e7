// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/* weft's TC datapath: entry points only, logic in lib/. Both programs run at TC ingress,
 * attached by src/datapath/bpf/datapath.ts, and share the maps in maps.h (pinned per node).
 *   vx_from_ep  each endpoint's host veth (a clsact direct-action filter): ARP answers, local
 *               switching, encap.
 *   vx_from_ul  the underlay NIC (a pinned tcx link): VXLAN checks, decap, delivery.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include "abi.h"
#include "maps.h"
#include "lib/stats.h"
#include "lib/egress.h"
#include "lib/ingress.h"
#include "lib/probe.h"

SEC("tc")
int vx_from_ep(struct __sk_buff *skb)
{
	struct vx_verdict v = { .bytes = skb->len };
	int ret = vx_endpoint_egress(skb, &v);

	return vx_finish(ret, &v);
}

SEC("tc")
int vx_from_ul(struct __sk_buff *skb)
{
	struct vx_verdict v = { .bytes = skb->len };
	int ret = vx_probe_answer(skb, &v);	/* peers' liveness probes: answered here */

	if (ret == VX_NOT_PROBE)
		ret = vx_underlay_ingress(skb, &v);

	return vx_finish(ret, &v);
}

/* Never called, never loaded (libbpf loads only SEC() programs and what they call): its
 * signature is what puts the two enums of abi.h into the object's BTF, where the ABI test reads
 * counter ids and drop reasons from. Types used only inside inlined helpers are not in BTF. */
__attribute__((noinline)) int vx_abi_enums_btf(enum vx_counter counter, enum vx_drop_reason reason)
{
	return counter + reason;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
