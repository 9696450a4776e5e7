// Test program for src/bpf: counts packets and bytes per CPU and returns wt_verdict
// (TC_ACT_OK unless user space sets .rodata before load).
// wt_counts is read by test/bpf/libbpf.test.ts; wt_scratch is a plain hash map the program
// never touches, used to exercise typed-map operations from user space.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

struct counters {
	__u64 packets;
	__u64 bytes;
};

/* Per-CPU packet/byte totals at key 0; written by count_pkts, read by user space. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct counters);
} wt_counts SEC(".maps");

/* u32 -> u64 scratch hash for map API tests; only user space writes it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u64);
} wt_scratch SEC(".maps");

/* Load-time configuration in .rodata: the verdict for every packet. */
const volatile __u32 wt_verdict = TC_ACT_OK;

SEC("tc")
int count_pkts(struct __sk_buff *skb)
{
	__u32 key = 0;
	struct counters *c = bpf_map_lookup_elem(&wt_counts, &key);

	if (c) {
		c->packets++;
		c->bytes += skb->len;
	}
	return wt_verdict;
}

char LICENSE[] SEC("license") = "GPL";
