package lint

import (
	"bufio"
	"bytes"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/petrelmq/petrel"

// rule says what one package (or a tree of them, with a trailing "/...")
// may import. Only is the complete list of this module's packages it may
// import directly; an empty Only with StdlibOnly set means nothing outside
// the standard library at all, transitively. Deny lists import-path
// prefixes of other modules it must never depend on, even indirectly.
// ImportedBy, when set, lists the only packages that may import it.
type rule struct {
	Pkg        string
	StdlibOnly bool
	Only       []string
	Deny       []string
	ImportedBy []string
}

// rules is DESIGN.md's dependency direction. A package with no rule may
// import anything but what another rule's Deny forbids it.
var rules = []rule{
	{Pkg: "packet", StdlibOnly: true},
	{Pkg: "internal/topic", StdlibOnly: true},
	{Pkg: "internal/metrics", StdlibOnly: true},
	{Pkg: "internal/session", Only: []string{"packet", "internal/topic"}},
	{Pkg: "internal/listener", Only: []string{}},
	{Pkg: "plugin", Only: []string{"packet"}},
	{Pkg: "broker/...", Only: []string{"broker/...", "packet", "plugin", "internal/topic", "internal/session",
		"internal/listener", "internal/metrics"},
		Deny: []string{"github.com/prometheus/", "github.com/nats-io/", "github.com/cockroachdb/pebble"}},
	// Pebble brings its own Prometheus dependencies, which is one reason
	// the broker never imports a store adapter.
	{Pkg: "store/...", Only: []string{"broker", "packet", "internal/session"},
		Deny: []string{"github.com/nats-io/"}},
	// Authenticators and authorizers implement plugin's interfaces; the
	// broker consumes those and never these, nor they the broker.
	{Pkg: "auth/...", Only: []string{"plugin", "packet", "auth/..."},
		Deny: []string{"github.com/cockroachdb/pebble", "github.com/prometheus/", "github.com/nats-io/"}},
	{Pkg: "internal/packettest", Only: []string{"packet"}},
	// Tests of every package issue certificates with it, so it must not
	// drag anything into them.
	{Pkg: "internal/testcert", StdlibOnly: true},
	{Pkg: "client/...", Only: []string{"client/...", "packet"}},
	// The load generator must load any MQTT server, so it speaks MQTT
	// through the codec or the client, never through the broker.
	{Pkg: "internal/loadgen", Only: []string{"packet", "client"}},
	// The Prometheus exposition is the one package that imports the
	// Prometheus client, and only the binary wires it in.
	{Pkg: "internal/metrics/prom", Only: []string{"broker", "internal/metrics"}, ImportedBy: []string{"cmd/petrel"}},
	// Tests read the exposition through it; nothing else does.
	{Pkg: "internal/metrics/promtest", Only: []string{}, ImportedBy: []string{"cmd/petrel", "internal/metrics/prom"}},
	// The admin API drives the broker through its public methods, and
	// leaves /metrics to the exposition.
	{Pkg: "internal/admin", Only: []string{"broker", "packet", "plugin"},
		Deny: []string{"github.com/prometheus/"}, ImportedBy: []string{"cmd/petrel"}},
}

// pkgInfo is what go list tells about one of our packages.
type pkgInfo struct {
	path    string // relative to the module, "" for the root
	imports []string
	deps    []string
}

func rel(p string) (string, bool) {
	if p == module {
		return "", true
	}
	r, ok := strings.CutPrefix(p, module+"/")
	return r, ok
}

func matches(pattern, pkg string) bool {
	if tree, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == tree || strings.HasPrefix(pkg, tree+"/")
	}
	return pattern == pkg
}

func isStdlib(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".")
}

// violations checks every package against the rules.
func violations(pkgs []pkgInfo) []string {
	var out []string
	for _, p := range pkgs {
		for _, r := range rules {
			if !matches(r.Pkg, p.path) {
				continue
			}
			if r.StdlibOnly {
				for _, d := range p.deps {
					if !isStdlib(d) {
						out = append(out, fmt.Sprintf("%s may import only the standard library, but depends on %s", p.path, d))
					}
				}
			}
			if r.Only != nil {
				for _, imp := range p.imports {
					ours, ok := rel(imp)
					if !ok {
						continue
					}
					if !slices.ContainsFunc(r.Only, func(pat string) bool { return matches(pat, ours) }) {
						out = append(out, fmt.Sprintf("%s must not import %s (allowed: %s)", p.path, ours, strings.Join(r.Only, ", ")))
					}
				}
			}
			for _, d := range p.deps {
				for _, deny := range r.Deny {
					if strings.HasPrefix(d, deny) {
						out = append(out, fmt.Sprintf("%s must not depend on %s", p.path, d))
					}
				}
			}
		}
		for _, imp := range p.imports {
			ours, ok := rel(imp)
			if !ok {
				continue
			}
			for _, r := range rules {
				if r.ImportedBy != nil && matches(r.Pkg, ours) && !slices.Contains(r.ImportedBy, p.path) {
					out = append(out, fmt.Sprintf("%s must not import %s (only %s may)", p.path, ours, strings.Join(r.ImportedBy, ", ")))
				}
			}
		}
	}
	return out
}

func listPackages(t *testing.T) []pkgInfo {
	t.Helper()
	cmd := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}|{{join .Deps " "}}`, module+"/...")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkgInfo
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		parts := strings.Split(sc.Text(), "|")
		path, _ := rel(parts[0])
		pkgs = append(pkgs, pkgInfo{path: path, imports: strings.Fields(parts[1]), deps: strings.Fields(parts[2])})
	}
	return pkgs
}

// TestImportRules fails when a package imports what DESIGN.md says it must
// not, so the architecture cannot erode one convenient import at a time.
func TestImportRules(t *testing.T) {
	pkgs := listPackages(t)
	if !slices.ContainsFunc(pkgs, func(p pkgInfo) bool { return p.path == "packet" }) {
		t.Fatalf("go list did not report the packet package; got %d packages", len(pkgs))
	}
	for _, v := range violations(pkgs) {
		t.Error(v)
	}
}

// TestRulesCatchViolations shows the checker fails on the imports the
// rules forbid, so a green TestImportRules means something.
func TestRulesCatchViolations(t *testing.T) {
	bad := []pkgInfo{
		{path: "packet", deps: []string{"fmt", module + "/internal/topic", "github.com/x/y"}},
		{path: "internal/session", imports: []string{"fmt", module + "/broker"}},
		{path: "broker", imports: []string{module + "/store/pebblestore"}, deps: []string{"github.com/cockroachdb/pebble/v2"}},
		{path: "auth", imports: []string{module + "/broker", module + "/plugin"}},
		{path: "internal/config", imports: []string{module + "/internal/metrics/prom"}},
	}
	got := violations(bad)
	want := []string{
		"packet may import only the standard library, but depends on " + module + "/internal/topic",
		"packet may import only the standard library, but depends on github.com/x/y",
		"internal/session must not import broker",
		"broker must not import store/pebblestore",
		"broker must not depend on github.com/cockroachdb/pebble/v2",
		"auth must not import broker",
		"internal/config must not import internal/metrics/prom",
	}
	for _, w := range want {
		if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
			t.Errorf("violation not reported: %s\ngot: %q", w, got)
		}
	}
	good := []pkgInfo{
		{path: "packet", deps: []string{"fmt", "unicode/utf8"}},
		{path: "internal/session", imports: []string{module + "/packet", module + "/internal/topic"}},
	}
	if v := violations(good); len(v) != 0 {
		t.Errorf("allowed imports reported as violations: %q", v)
	}
}
