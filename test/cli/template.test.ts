// The Go-template subset behind --format (src/cli/template), in-process: what Go's
// text/template prints for the same template and data (expected outputs are Go's), and the
// errors for templates that are wrong. The data is a network in Docker's inspect shape.
import { describe, expect, test } from 'bun:test'
import { compileTemplate, goStruct, TemplateError } from '../../src/cli/template/index.ts'
import { tabwrite, parseListFormat } from '../../src/cli/_listing.ts'
import { UsageError } from '../../src/cli/_errors.ts'

const net = () =>
  goStruct({
    Name: 'blue',
    Id: 'f00dcafe',
    EnableIPv6: false,
    IPAM: goStruct({
      Driver: 'default',
      Config: [goStruct({ Subnet: '10.0.7.0/24', Gateway: '10.0.7.254' })],
    }),
    Containers: {
      ep2: goStruct({ Name: 'c2', IPv4Address: '10.0.7.2/24', MacAddress: '02:42:0a:00:07:02' }),
      ep1: goStruct({ Name: 'c1', IPv4Address: '10.0.7.1/24', MacAddress: '02:42:0a:00:07:01' }),
    },
    Options: { 'com.docker.network.driver.overlay.vxlanid_list': '4242' },
    Labels: { team: 'red', 'a.b': 'x' },
    Count: 3,
  })

const render = (src: string, data: unknown = net()) => compileTemplate(src).render(data)

const fails = (fn: () => unknown): string => {
  try {
    fn()
  } catch (e) {
    if (e instanceof TemplateError) return e.message
    throw e
  }
  throw new Error('expected a TemplateError')
}

describe('fields, printing, json', () => {
  test.each([
    ['{{.Name}}', 'blue'],
    ['{{ .IPAM.Driver }}', 'default'],
    ['{{.EnableIPv6}} {{.Count}}', 'false 3'],
    // Go's %v: a slice of structs, a map with sorted keys
    ['{{.IPAM.Config}}', '[{10.0.7.0/24 10.0.7.254}]'],
    ['{{.Labels}}', 'map[a.b:x team:red]'],
    // a missing map key is Go's "<no value>"
    ['{{.Labels.nope}}', '<no value>'],
    ['{{.Labels.team}}', 'red'],
    // encoding/json: map keys sorted, no trailing newline
    ['{{json .Labels}}', '{"a.b":"x","team":"red"}'],
    ['{{json .IPAM.Config}}', '[{"Subnet":"10.0.7.0/24","Gateway":"10.0.7.254"}]'],
    ['{{json .Name}}', '"blue"'],
    ['[{{println .Name}}]', '[blue\n]'],
    ['{{print "a" 1 2 "b"}}', 'a1 2b'],
    [
      '{{printf "%s has %d" .Name .Count}}|{{printf "%-6s|" .Name}}|{{printf "%q" .Name}}',
      'blue has 3|blue  ||"blue"',
    ],
    ['{{/* a comment */}}x', 'x'],
    // "{{- " and " -}}" trim the whitespace beside them
    ['a  {{- .Name -}}  b', 'ablueb'],
  ])('%p', (src, want) => {
    expect(render(src)).toBe(want)
  })

  test('the JSON of the whole value keeps the struct fields in order', () => {
    expect(JSON.parse(render('{{json .}}'))).toEqual(JSON.parse(JSON.stringify(net())))
  })
})

describe('index, range, if, with, variables, pipelines', () => {
  test.each([
    // the tutorial's inspect -f, for a weft network
    ['{{range .Containers}}{{.IPv4Address}} {{end}}', '10.0.7.1/24 10.0.7.2/24 '],
    ['{{(index .IPAM.Config 0).Subnet}}', '10.0.7.0/24'],
    ['{{index .Options "com.docker.network.driver.overlay.vxlanid_list"}}', '4242'],
    ['{{index .Labels "nope"}}', '<no value>'],
    ['{{range $id, $e := .Containers}}{{$id}}={{$e.Name}};{{end}}', 'ep1=c1;ep2=c2;'],
    ['{{range $i, $c := .IPAM.Config}}{{$i}}:{{$c.Gateway}}{{end}}', '0:10.0.7.254'],
    ['{{range .Labels.missing}}x{{else}}none{{end}}', 'none'],
    ['{{range .Options}}{{.}}{{end}}', '4242'],
    ['{{if eq .Name "blue" "red"}}yes{{else}}no{{end}}', 'yes'],
    ['{{if .EnableIPv6}}v6{{else if gt .Count 2}}many{{else}}few{{end}}', 'many'],
    ['{{if and .Name (not .EnableIPv6)}}ok{{end}}', 'ok'],
    ['{{if .Labels.nope}}x{{else}}empty{{end}}', 'empty'],
    ['{{with .IPAM}}{{.Driver}}{{end}}', 'default'],
    ['{{with .Labels.nope}}x{{else}}absent{{end}}', 'absent'],
    ['{{$n := .Name}}{{range .Containers}}{{$n}}/{{.Name}} {{end}}', 'blue/c1 blue/c2 '],
    ['{{.Name | printf "<%s>"}}', '<blue>'],
    ['{{len .Containers}} {{len .Name}}', '2 4'],
    [
      '{{join (split "a,b,c" ",") "+"}} {{upper .Name}} {{title "hi there"}}',
      'a+b+c BLUE Hi There',
    ],
    ['{{truncate .Id 4}}', 'f00d'],
  ])('%p', (src, want) => {
    expect(render(src)).toBe(want)
  })

  test('a method (a function-valued field) is called with the arguments after it', () => {
    const row = goStruct({ Name: 'x' })
    Object.defineProperty(row, 'Label', {
      value: (k: unknown) => `L(${String(k)})`,
      enumerable: false,
    })
    expect(render('{{.Label "team"}}|{{json .}}', row)).toBe('L(team)|{"Name":"x"}')
  })
})

describe('errors', () => {
  test.each([
    ['{{.Name', /unclosed action/],
    ['{{foo .}}', /function "foo" not defined/],
    ['{{if .Name}}x', /\{\{if\}\} has no \{\{end\}\}/],
    ['{{end}}', /unexpected \{\{end\}\}/],
    ['{{range .X}}{{else}}{{else}}{{end}}', /two \{\{else\}\}/],
    ['{{(index .A 0}}', /unclosed left paren/],
    ['{{"abc}}', /unterminated quoted string/],
    ['{{}}', /missing value for command/],
  ])('parse: %p', (src, re) => {
    const msg = fails(() => compileTemplate(src))
    expect(msg).toStartWith('template parsing error: ')
    expect(msg).toMatch(re)
  })

  test.each([
    // a struct has fixed fields: a typo is an error that lists them
    ['{{.Nmae}}', /can't evaluate field Nmae \(the fields are: Name, Id, /],
    ['{{.Name.X}}', /can't evaluate field X in type string/],
    ['{{index .IPAM.Config 5}}', /index out of range: 5/],
    ['{{range .IPAM}}{{end}}', /range can't iterate over a struct/],
    ['{{.Name 1}}', /can't give argument to non-function \.Name/],
    ['{{$x}}', /undefined variable "\$x"/],
    ['{{lt .Name 3}}', /incompatible types for comparison/],
  ])('execute: %p', (src, re) => {
    const msg = fails(() => render(src))
    expect(msg).toStartWith('template: ')
    expect(msg).toMatch(re)
  })
})

describe('--format for listings', () => {
  test('table, json, a template, a table template; literal \\t is a tab', () => {
    expect(parseListFormat(undefined, 'x')).toEqual({ kind: 'table' })
    expect(parseListFormat('table', 'x')).toEqual({ kind: 'table' })
    expect(parseListFormat('json', 'x')).toEqual({ kind: 'json' })
    const t = parseListFormat('table {{.Name}}\\t{{.ID}}', 'x')
    expect(t.kind === 'template' && t.table).toBe(true)
    expect(t.kind === 'template' && t.template.source).toBe('{{.Name}}\t{{.ID}}')
  })

  test('a format that is no template at all, or a bad one, is a usage error', () => {
    for (const f of ['yaml', '{{.Name']) {
      let err: unknown
      try {
        parseListFormat(f, 'network ls')
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(UsageError)
      expect((err as UsageError).command).toBe('network ls')
    }
  })

  test("tabwrite pads tab-ended cells to max(10, width + 3), as Docker's tabwriter", () => {
    expect(tabwrite(['NAME\tNETWORK ID', 'blue\tf00dcafe', 'a-long-name\tx'])).toBe(
      'NAME          NETWORK ID\nblue          f00dcafe\na-long-name   x',
    )
  })
})
