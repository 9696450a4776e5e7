// The weft command table: every command's name, flags, arguments and help, and a loader for
// its code. Only this table, the parser and the help are evaluated at start; a command's
// module (and what it needs: the agent, libSQL, libbpf, pino) is imported when it runs.
import { AGENT_DEFAULTS } from '../agent/config.ts'
import { DEFAULT_HOST } from './client.ts'
import type { CommandGroup, FlagSpec, LeafCommand } from './spec.ts'

const FORMAT_LIST: FlagSpec = {
  type: 'string',
  description:
    "Format output: table, json (one object per line), a Go template ('{{.Name}}'), or 'table' and a template ('table {{.ID}}\\t{{.Name}}')",
  default: 'table',
}

const filterFlag = (keys: string): FlagSpec => ({
  type: 'string',
  short: 'f',
  multiple: true,
  valueName: 'filter',
  description: `Filter output based on conditions provided (${keys}; repeatable)`,
})

const networkCreate: LeafCommand = {
  kind: 'command',
  name: 'create',
  summary: 'Create an overlay network (prints its id)',
  args: 'NETWORK',
  positionals: { min: 1, max: 1 },
  flags: {
    driver: {
      type: 'string',
      short: 'd',
      description: 'Driver to manage the network (only "overlay")',
      default: 'overlay',
    },
    subnet: {
      type: 'string',
      description: 'Subnet in CIDR format',
      defaultNote: 'next free 10.0.N.0/24',
    },
    gateway: {
      type: 'string',
      description: 'IPv4 gateway of the subnet',
      defaultNote: 'its first address',
    },
    'ip-range': { type: 'string', description: 'Allocate container addresses from this sub-range' },
    attachable: {
      type: 'boolean',
      description:
        "Enable manual endpoint attachment (accepted for Docker's sake: weft networks always are)",
    },
    vni: {
      type: 'string',
      description: 'VXLAN network identifier, 1..16777215',
      defaultNote: 'next free from 256',
    },
    mtu: { type: 'string', description: 'Overlay MTU', defaultNote: 'underlay MTU - 50' },
    internal: {
      type: 'boolean',
      description: 'Restrict external access to the network (no default route, no NAT)',
    },
    label: { type: 'string', multiple: true, description: 'Set metadata KEY=VALUE (repeatable)' },
    opt: {
      type: 'string',
      short: 'o',
      multiple: true,
      valueName: 'map',
      description: 'Set driver option KEY=VALUE (repeatable)',
    },
  },
  load: () => import('./network-create.ts'),
}

const networkLs: LeafCommand = {
  kind: 'command',
  name: 'ls',
  aliases: ['list'],
  summary: 'List networks',
  positionals: { min: 0, max: 0 },
  flags: {
    quiet: { type: 'boolean', short: 'q', description: 'Only display network IDs' },
    filter: filterFlag('name=, id=, driver=, label=KEY[=VALUE], scope=, type=custom'),
    format: FORMAT_LIST,
    'no-trunc': { type: 'boolean', description: 'Do not truncate the output' },
  },
  notes:
    'Filters: the same key given twice matches either value, different keys must all match (labels: all).\nname= is a regular expression found in the name, id= a prefix of the id.\nTemplate fields: .ID .Name .Driver .Scope .IPv6 .Internal .Labels (.Label "KEY") .CreatedAt .Subnet .VNI',
  load: () => import('./network-ls.ts'),
}

const networkPrune: LeafCommand = {
  kind: 'command',
  name: 'prune',
  summary: 'Remove all networks without endpoints',
  positionals: { min: 0, max: 0 },
  flags: {
    force: { type: 'boolean', short: 'f', description: 'Do not prompt for confirmation' },
    filter: { ...filterFlag('label=KEY[=VALUE]'), short: undefined },
  },
  load: () => import('./network-prune.ts'),
}

const networkInspect: LeafCommand = {
  kind: 'command',
  name: 'inspect',
  summary: 'Display detailed information on one or more networks (JSON)',
  args: 'NETWORK [NETWORK...]',
  positionals: { min: 1, max: Infinity },
  flags: {
    format: {
      type: 'string',
      short: 'f',
      description:
        "Format output using a Go template, e.g. '{{range .Containers}}{{.IPv4Address}} {{end}}' or '{{(index .IPAM.Config 0).Subnet}}'",
    },
  },
  load: () => import('./network-inspect.ts'),
}

const networkRm: LeafCommand = {
  kind: 'command',
  name: 'rm',
  aliases: ['remove'],
  summary: 'Remove one or more networks',
  args: 'NETWORK [NETWORK...]',
  positionals: { min: 1, max: Infinity },
  flags: {},
  load: () => import('./network-rm.ts'),
}

const networkConnect: LeafCommand = {
  kind: 'command',
  name: 'connect',
  summary:
    'Connect a sandbox (netns name, /proc/PID/ns/net or path) on this host, or declare an external endpoint',
  args: 'NETWORK SANDBOX',
  positionals: { min: 2, max: 2 },
  flags: {
    ip: { type: 'string', description: 'IPv4 address', defaultNote: 'next free one' },
    ifname: {
      type: 'string',
      description: 'Interface name inside the sandbox',
      defaultNote: 'lowest free ethN',
    },
    external: {
      type: 'boolean',
      description: 'Declare an endpoint behind a non-weft VTEP (needs --ip, --mac, --vtep)',
    },
    mac: { type: 'string', description: 'MAC address of the external endpoint' },
    vtep: {
      type: 'string',
      description: 'Underlay address of the VTEP the external endpoint sits behind',
    },
    publish: {
      type: 'string',
      short: 'p',
      multiple: true,
      valueName: 'list',
      description:
        "Publish a port on this host's addresses, [HOST_IP:]HOST_PORT:CONTAINER_PORT[/tcp|udp] (repeatable)",
    },
    name: {
      type: 'string',
      description: 'Name the endpoint resolves by inside the network',
      defaultNote: 'the ip-netns name',
    },
    alias: {
      type: 'string',
      multiple: true,
      description: 'Add a name it resolves by inside the network (repeatable)',
    },
  },
  load: () => import('./network-connect.ts'),
}

const networkDisconnect: LeafCommand = {
  kind: 'command',
  name: 'disconnect',
  summary: 'Disconnect a sandbox on this host, or an external endpoint, from a network',
  args: 'NETWORK SANDBOX',
  positionals: { min: 2, max: 2 },
  flags: {},
  load: () => import('./network-disconnect.ts'),
}

const nodeLs: LeafCommand = {
  kind: 'command',
  name: 'ls',
  aliases: ['list'],
  summary: 'List nodes',
  positionals: { min: 0, max: 0 },
  flags: {
    quiet: { type: 'boolean', short: 'q', description: 'Only display node names' },
    format: FORMAT_LIST,
  },
  notes: 'Template fields: .Name .Advertise .Status .Alive .Datapath .Endpoints .Version .Started',
  load: () => import('./node-ls.ts'),
}

const doctor: LeafCommand = {
  kind: 'command',
  name: 'doctor',
  summary:
    'Say what is wrong on the path from a sandbox (or this host) to another endpoint; exit 1 if anything is',
  args: '[SANDBOX|ENDPOINT]',
  positionals: { min: 0, max: 1 },
  flags: {
    network: {
      type: 'string',
      valueName: 'network',
      description: 'Only this network (name or id)',
    },
    to: {
      type: 'string',
      valueName: 'ip|name',
      description: 'The far end: an address or endpoint name in the same network',
    },
    format: {
      type: 'string',
      description: 'Output format: text (one line per problem: HOP: CAUSE) or json',
      default: 'text',
    },
  },
  notes:
    'Reads what the agent holds: the store contact, its registration, reconcile failures, drift not yet put back, ' +
    'endpoint facts, the kernel against the desired state, peers in the store, and recent drops by reason.',
  load: () => import('./doctor.ts'),
}

const endpointLs: LeafCommand = {
  kind: 'command',
  name: 'ls',
  aliases: ['list'],
  summary: 'List the endpoints of every network (as docker ps lists containers)',
  positionals: { min: 0, max: 0 },
  flags: {
    quiet: { type: 'boolean', short: 'q', description: 'Only display endpoint IDs' },
    filter: filterFlag(
      'network=NAME|ID, node=, name=, id=, status=attached|failed|pending|gone|remote|external',
    ),
    format: FORMAT_LIST,
    'no-trunc': { type: 'boolean', description: 'Do not truncate the output' },
  },
  notes:
    'Template fields: .ID .Name .Network .NetworkID .IPAddress .MacAddress .Node .Ports .Status .Error .Sandbox\n.Interface .External .VTEP .CreatedAt',
  load: () => import('./endpoint-ls.ts'),
}

const stats: LeafCommand = {
  kind: 'command',
  name: 'stats',
  summary: "Per-VNI traffic counters and drops of the agent's host",
  positionals: { min: 0, max: 0 },
  flags: {
    watch: {
      type: 'boolean',
      short: 'w',
      description: 'Refresh until Ctrl-C, with per-second rates',
    },
    interval: {
      type: 'string',
      valueName: 'duration',
      description: 'Refresh interval for --watch (at least 100ms)',
      default: '1s',
    },
    count: {
      type: 'string',
      valueName: 'int',
      description: 'With --watch: stop after this many refreshes',
    },
    format: { type: 'string', description: 'Output format: table or json', default: 'table' },
  },
  load: () => import('./stats.ts'),
}

const demo: LeafCommand = {
  kind: 'command',
  name: 'demo',
  summary:
    'Build two hosts and two containers in namespaces, connect them over an overlay network, ping across',
  positionals: { min: 0, max: 0 },
  flags: {
    datapath: { type: 'string', description: 'bpf or kernel', default: AGENT_DEFAULTS.datapath },
    keep: {
      type: 'boolean',
      description: 'Leave it running and print commands to try (remove with --down)',
    },
    docker: {
      type: 'boolean',
      description:
        'The same with a real dockerd per host: docker network create -d weft, docker run, docker exec ping (needs docker.io and busybox-static)',
    },
    down: {
      type: 'boolean',
      description: 'Remove every demo left running (namespaces, agents, pins, state)',
    },
  },
  load: () => import('./demo.ts'),
}

const SECRET_NOTE =
  'a value given on the command line shows in `ps`: prefer the -file form or the environment'

const agent: LeafCommand = {
  kind: 'command',
  name: 'agent',
  summary: 'Run the weft agent on this host (datapath, store sync, admin API)',
  positionals: { min: 0, max: 0 },
  flags: {
    name: { type: 'string', description: 'Node name', defaultNote: 'hostname' },
    advertise: {
      type: 'string',
      valueName: 'addr',
      required: true,
      description: 'Underlay address or interface of this host (its VTEP)',
    },
    store: {
      type: 'string',
      valueName: 'url',
      description:
        '"embedded" (serve it here, TLS + join token), consul://HOST:PORT[,HOST:PORT...] or etcd[s]://HOST:PORT[,HOST:PORT...]',
      defaultNote: `"${AGENT_DEFAULTS.store}"`,
    },
    'kv-listen': {
      type: 'string',
      valueName: 'host:port',
      description: 'Embedded store listen address',
      defaultNote: `ADVERTISE:${AGENT_DEFAULTS.kvPort}`,
    },
    'join-token': {
      type: 'string',
      valueName: 'token',
      description:
        'Join the store of the agent that printed this token (or WEFT_JOIN_TOKEN); kept in DATA/join-token',
    },
    'join-token-file': {
      type: 'string',
      valueName: 'path',
      description: 'Read the join token from this file (or WEFT_JOIN_TOKEN_FILE)',
    },
    'store-token': {
      type: 'string',
      description:
        "A real Consul's ACL token, or etcd USER:PASSWORD (or WEFT_STORE_TOKEN); not with --store embedded",
    },
    'store-token-file': {
      type: 'string',
      valueName: 'path',
      description: 'Read the Consul ACL token from this file (or WEFT_STORE_TOKEN_FILE)',
    },
    'store-ca': {
      type: 'string',
      valueName: 'path',
      description:
        "PEM CA file a real Consul's https or etcds:// members' certificates are checked against",
    },
    'store-cert': {
      type: 'string',
      valueName: 'path',
      description: 'etcds://: PEM client certificate for etcd (with --store-key)',
    },
    'store-key': {
      type: 'string',
      valueName: 'path',
      description: 'etcds://: PEM private key of --store-cert',
    },
    data: {
      type: 'string',
      valueName: 'dir',
      description: 'State directory',
      defaultNote: `"${AGENT_DEFAULTS.data}"`,
    },
    api: {
      type: 'string',
      valueName: 'unix://path',
      description: 'Admin API unix socket',
      defaultNote: `"${AGENT_DEFAULTS.api}"`,
    },
    'api-tcp': {
      type: 'string',
      valueName: 'host:port',
      description: 'Also serve the admin API on TCP (needs a token)',
    },
    token: { type: 'string', description: 'Bearer token for the TCP admin API (or WEFT_TOKEN)' },
    'token-file': {
      type: 'string',
      valueName: 'path',
      description: 'Read the TCP admin API token from this file (or WEFT_TOKEN_FILE)',
    },
    datapath: {
      type: 'string',
      description: 'bpf (eBPF) or kernel (bridge + vxlan device)',
      defaultNote: `"${AGENT_DEFAULTS.datapath}"`,
    },
    ttl: {
      type: 'string',
      valueName: 'duration',
      description:
        "Node session TTL, 1s..24h: a dead agent's node record goes within ~2x this (its endpoints stay while its datapath answers probes)",
      defaultNote: `"${AGENT_DEFAULTS.ttl}"`,
    },
    'log-level': {
      type: 'string',
      valueName: 'level',
      description: 'debug, info, warn, error (or WEFT_LOG_LEVEL)',
      defaultNote: `"${AGENT_DEFAULTS.logLevel}"`,
    },
    'log-format': {
      type: 'string',
      valueName: 'format',
      description: 'json (for machines) or text (one readable line per entry; or WEFT_LOG_FORMAT)',
      defaultNote: 'text when stderr is a terminal, else json',
    },
    'resolv-conf': {
      type: 'string',
      valueName: 'file',
      description: "The host's resolvers: names outside the overlay are forwarded to them",
      defaultNote: `"${AGENT_DEFAULTS.resolvConf}"`,
    },
    'cluster-store': {
      type: 'string',
      valueName: 'url',
      description: "Docker daemon's name for --store",
    },
    'cluster-advertise': {
      type: 'string',
      valueName: 'addr:port',
      description: "Docker daemon's name for --advertise (the port is not used)",
    },
    docker: {
      type: 'string',
      valueName: 'unix://path',
      description:
        "Serve the Docker network + IPAM plugin 'weft'; Docker's API socket (e.g. unix:///var/run/docker.sock)",
    },
    'docker-plugin-socket': {
      type: 'string',
      valueName: 'path',
      description: 'Where the Docker plugin listens',
      defaultNote: '"/run/docker/plugins/weft.sock"',
    },
    teardown: {
      type: 'boolean',
      description:
        "Remove everything this node's datapath made (links, pins, devices, endpoint veths) and exit",
    },
  },
  notes: `Tokens: ${SECRET_NOTE}.`,
  load: () => import('./agent.ts'),
}

/** How `weft store` commands reach a store: the agent's own flags and secrets. */
const STORE_ACCESS: Record<string, FlagSpec> = {
  store: {
    type: 'string',
    valueName: 'url',
    required: true,
    description:
      "etcd[s]://HOST:PORT[,...], consul://HOST:PORT[,...] (a weft host's embedded store or a real Consul), or embedded (a stopped agent's store file, with --data and --name)",
  },
  'join-token': {
    type: 'string',
    valueName: 'token',
    description:
      "A weft host's embedded store: its join token (or WEFT_JOIN_TOKEN; else the one kept in --data)",
  },
  'join-token-file': {
    type: 'string',
    valueName: 'path',
    description: "Read the join token from this file, e.g. the store host's DATA/join-token",
  },
  'store-token': {
    type: 'string',
    description: "A real Consul's ACL token, or etcd USER:PASSWORD (or WEFT_STORE_TOKEN)",
  },
  'store-token-file': {
    type: 'string',
    valueName: 'path',
    description: 'Read --store-token from this file (or WEFT_STORE_TOKEN_FILE)',
  },
  'store-ca': {
    type: 'string',
    valueName: 'path',
    description: "PEM CA file a real Consul's https or etcds:// members are checked against",
  },
  'store-cert': {
    type: 'string',
    valueName: 'path',
    description: 'etcds://: PEM client certificate (with --store-key)',
  },
  'store-key': {
    type: 'string',
    valueName: 'path',
    description: 'etcds://: PEM private key of --store-cert',
  },
  data: {
    type: 'string',
    valueName: 'dir',
    description: "The agent's state directory: its kept join token, or (embedded) its store file",
    defaultNote: `"${AGENT_DEFAULTS.data}"`,
  },
  name: {
    type: 'string',
    description: '--store embedded: the node whose store file (DATA/NODE/kv.db) to open',
  },
}

const MOVE_NOTE =
  'Moving a running cluster to another store (containers keep running):\n' +
  '  weft store export --store consul://10.0.0.1:8500 --data /var/lib/weft -o weft.json\n' +
  '  weft store import --store etcd://10.0.0.5:2379,10.0.0.6:2379,10.0.0.7:2379 weft.json\n' +
  "  then restart each agent with the new --store, the embedded store's host first.\n" +
  'Make no network or endpoint changes from the export until the last agent runs on the new\n' +
  'store: a change the export has not is missing there (its agent then removes the endpoint).\n' +
  'Node records are not copied as permanent keys: they are imported on a grace lease\n' +
  '(--node-grace) that the restarted agent replaces with its own.'

const storeExport: LeafCommand = {
  kind: 'command',
  name: 'export',
  summary: 'Write every key of the cluster store (weft/v1/) as a versioned JSON document',
  positionals: { min: 0, max: 0 },
  flags: {
    ...STORE_ACCESS,
    output: {
      type: 'string',
      short: 'o',
      valueName: 'file',
      description: 'Write the document to this file ("-": stdout)',
      default: '-',
    },
  },
  notes: `${MOVE_NOTE}\nTokens: ${SECRET_NOTE}.`,
  load: () => import('./store-export.ts'),
}

const storeImport: LeafCommand = {
  kind: 'command',
  name: 'import',
  summary:
    'Write a `weft store export` document into a cluster store (refused if it holds weft keys)',
  args: '[FILE|-]',
  positionals: { min: 0, max: 1 },
  flags: {
    ...STORE_ACCESS,
    force: {
      type: 'boolean',
      description:
        "Replace the store's cluster records with the document's (extra keys are deleted)",
    },
    'node-grace': {
      type: 'string',
      valueName: 'duration',
      description:
        'How long imported node records stay alive until their agents re-register (1s..1h)',
      default: '60s',
    },
  },
  notes: `Reads the document from FILE, or stdin when FILE is "-" or absent.\n${MOVE_NOTE}\nTokens: ${SECRET_NOTE}.`,
  load: () => import('./store-import.ts'),
}

const version: LeafCommand = {
  kind: 'command',
  name: 'version',
  summary: 'Show the version, git commit and embedded BPF object hashes',
  positionals: { min: 0, max: 0 },
  flags: {
    format: { type: 'string', description: 'Output format: text or json', default: 'text' },
  },
  load: () => import('./version.ts'),
}

const completion: LeafCommand = {
  kind: 'command',
  name: 'completion',
  summary: 'Print a shell completion script (bash or zsh)',
  args: 'SHELL',
  positionals: { min: 1, max: 1 },
  flags: {},
  notes:
    'Load it with:\n  source <(weft completion bash)     # bash\n  source <(weft completion zsh)      # zsh',
  load: () => import('./completion.ts'),
}

export const GLOBAL_FLAGS: Record<string, FlagSpec> = {
  host: {
    type: 'string',
    short: 'H',
    valueName: 'url',
    description:
      'Agent to talk to: unix:///PATH or tcp://HOST:PORT (or WEFT_HOST; token from WEFT_TOKEN or WEFT_TOKEN_FILE)',
    defaultNote: `"${DEFAULT_HOST}"`,
  },
  version: { type: 'boolean', short: 'v', description: 'Print version information and quit' },
}

export const ROOT_SUMMARY =
  'Docker-style multi-host overlay networks: eBPF VXLAN datapath, Consul-compatible control plane'

export const ROOT: CommandGroup = {
  kind: 'group',
  name: 'weft',
  summary: ROOT_SUMMARY,
  commands: [
    {
      kind: 'group',
      name: 'network',
      summary: 'Manage overlay networks',
      commands: [
        networkConnect,
        networkCreate,
        networkDisconnect,
        networkInspect,
        networkLs,
        networkPrune,
        networkRm,
      ],
    },
    { kind: 'group', name: 'node', summary: 'List the hosts of the cluster', commands: [nodeLs] },
    {
      kind: 'group',
      name: 'endpoint',
      summary: 'List the endpoints of every network',
      commands: [endpointLs],
    },
    {
      kind: 'group',
      name: 'store',
      summary: 'Move the cluster state between stores (export, import)',
      commands: [storeExport, storeImport],
    },
    agent,
    completion,
    demo,
    doctor,
    stats,
    version,
  ],
}
