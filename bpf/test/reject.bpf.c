// Deliberately rejected by the verifier (reads the packet without a data_end check), so
// test/bpf/libbpf.test.ts can check that load errors carry the verifier log.
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

SEC("tc")
int reject_unchecked(struct __sk_buff *skb)
{
	__u8 *data = (__u8 *)(long)skb->data;

	return data[12] == 0x08 ? TC_ACT_OK : TC_ACT_SHOT; /* no bounds check: invalid access */
}

char LICENSE[] SEC("license") = "GPL";
