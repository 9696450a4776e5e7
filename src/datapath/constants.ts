// Constants of the datapaths written once (the wire-format ones live in src/net/constants.ts).

/** bpffs directory holding each node's pins: PIN_ROOT/<node>/ (maps, links). */
export const PIN_ROOT = '/sys/fs/bpf/weft'
