package auth

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/petrelmq/petrel/plugin"
)

func openTestACL(t testing.TB) *ACL {
	t.Helper()
	a, err := OpenACL(filepath.Join("testdata", "acl.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func anonymous(id string) *plugin.Client { return &plugin.Client{ID: id} }

func named(id, username string) *plugin.Client {
	return &plugin.Client{ID: id, Username: username, HasUsername: true}
}

var actionNames = map[plugin.Action]string{plugin.Publish: "publish", plugin.Subscribe: "subscribe", plugin.Receive: "receive"}

// TestACL runs clients against testdata/acl.conf.
func TestACL(t *testing.T) {
	a := openTestACL(t)
	pub, sub, recv := plugin.Publish, plugin.Subscribe, plugin.Receive
	for _, tc := range []struct {
		client *plugin.Client
		act    plugin.Action
		topic  string
		want   bool
	}{
		// Anonymous clients have the rules before the first user line.
		{anonymous("anon-1"), recv, "public/news", true},
		{anonymous("anon-1"), sub, "public/#", true},
		{anonymous("anon-1"), sub, "public/+/weather", true},
		{anonymous("anon-1"), sub, "$share/group/public/#", true},
		{anonymous("anon-1"), sub, "#", false},
		{anonymous("anon-1"), sub, "+/news", false},
		{anonymous("anon-1"), pub, "public/news", false},
		{anonymous("anon-1"), pub, "public/anonymous/hello", true},
		{anonymous("anon-1"), pub, "public/anonymous/hello/world", false},
		{anonymous("anon-1"), recv, "alice/news", false},
		// ... and the patterns, with their client identifier.
		{anonymous("anon-1"), pub, "devices/anon-1/temp", true},
		{anonymous("anon-1"), pub, "devices/anon-2/temp", false},
		{anonymous("anon-1"), pub, "devices/anon-1/firmware", false},
		{anonymous("anon-1"), pub, "devices/anon-1/a/b/c/d/e/f", true},
		{anonymous("anon-1"), pub, "devices/anon-1/a/b/c/d/e/f/g", false}, // 9 levels, global max 8
		{anonymous("anon-1"), recv, "users//inbox", false},

		// alice's rules: read and write her tree but for the secret part.
		{named("alice-phone", "alice"), pub, "alice/status", true},
		{named("alice-phone", "alice"), recv, "alice/status", true},
		{named("alice-phone", "alice"), pub, "alice/secret/plans", false},
		{named("alice-phone", "alice"), recv, "alice/secret/plans", false},
		{named("alice-phone", "alice"), recv, "alice/secret", false},
		{named("alice-phone", "alice"), sub, "alice/#", true}, // overlaps the denied part, withheld on receive
		{named("alice-phone", "alice"), sub, "alice/+/plans", true},
		{named("alice-phone", "alice"), sub, "alice/secret/#", false},
		{named("alice-phone", "alice"), sub, "alice/secret/+", false},
		{named("alice-phone", "alice"), sub, "$share/g/alice/secret/x", false},
		{named("alice-phone", "alice"), sub, "public/#", false}, // anonymous rules are not hers
		{named("alice-phone", "alice"), recv, "$SYS/broker/uptime", true},
		{named("alice-phone", "alice"), sub, "$SYS/broker/uptime", true},
		{named("alice-phone", "alice"), sub, "$SYS/#", false},
		{named("alice-phone", "alice"), pub, "alice/1/2/3/4/5/6/7", true},
		{named("alice-phone", "alice"), pub, "alice/1/2/3/4/5/6/7/8", false},
		// Patterns with her user name.
		{named("alice-phone", "alice"), recv, "users/alice/inbox", true},
		{named("alice-phone", "alice"), sub, "users/alice/inbox", true},
		{named("alice-phone", "alice"), pub, "users/alice/inbox", false},
		{named("alice-phone", "alice"), recv, "users/bob/inbox", false},
		{named("alice-phone", "alice"), sub, "users/+/inbox", false},
		{named("alice-phone", "alice"), sub, "users/#", false},

		// bob reads everything but '$' topics, without wildcards, at most 3 levels deep.
		{named("bob-1", "bob"), recv, "anything/at/all", true},
		{named("bob-1", "bob"), recv, "$SYS/broker/uptime", false},
		{named("bob-1", "bob"), sub, "a/b/c", true},
		{named("bob-1", "bob"), sub, "a/b/c/d", false},
		{named("bob-1", "bob"), sub, "a/#", false},
		{named("bob-1", "bob"), sub, "a/+/c", false},
		{named("bob-1", "bob"), sub, "$share/g/a/b", true},
		{named("bob-1", "bob"), sub, "$share/g/a/+", false},
		{named("bob-1", "bob"), pub, "a/b", false},

		// A user without a section has the patterns only.
		{named("carol-1", "carol"), recv, "public/news", false},
		{named("carol-1", "carol"), pub, "devices/carol-1/temp", true},
		{named("carol-1", "carol"), recv, "users/carol/inbox", true},
		{named("carol-1", "carol"), recv, "carol/notes/todo", true},

		// A client section adds to the user's, and its max_topic_levels
		// replaces the global one, or the user's when smaller.
		{named("sensor-1", "alice"), pub, "sensors/1/temp", true},
		{named("sensor-1", "alice"), pub, "sensors/2/temp", false},
		{named("sensor-1", "alice"), pub, "alice/status", true},
		{named("sensor-1", "alice"), pub, "devices/sensor-1/temp", true},
		{named("sensor-1", "alice"), pub, "alice/1/2/3/4/5/6/7/8", true},
		{named("sensor-1", "alice"), pub, "alice/secret/x", false},
		{anonymous("sensor-1"), pub, "sensors/1/temp", true},
		{named("sensor-1", "bob"), pub, "sensors/1/a", true},
		{named("sensor-1", "bob"), pub, "sensors/1/a/b", false},

		// Names that would widen a pattern match nothing.
		{named("a/b", "dave"), pub, "devices/a/b/temp", false},
		{named("+", "dave"), sub, "devices/+/#", false},
		{named("+", "dave"), sub, "devices/+/temp", false},
		{named("#", "dave"), sub, "devices/#", false},
		{named("dave-1", "+"), sub, "users/+/inbox", false},
		{named("dave-1", "+"), recv, "users/x/inbox", false},
		{named("dave-1", "a/b"), recv, "users/a/b/inbox", false},
		{named("dave-1", "$SYS"), recv, "$SYS/notes/x", false},
		{named("dave-1", "$SYS"), sub, "$SYS/notes/#", false},
		{named("dave-1", ""), recv, "users//inbox", false},
	} {
		name := fmt.Sprintf("%s/%s/%s/%s", tc.client.ID, tc.client.Username, actionNames[tc.act], tc.topic)
		if got := a.Authorize(tc.client, tc.act, tc.topic); got != tc.want {
			t.Errorf("%s: got %v, want %v", name, got, tc.want)
		}
	}
}

// TestACLCoverage checks how a rule's filter judges subscriptions, with
// one rule per case.
func TestACLCoverage(t *testing.T) {
	for _, tc := range []struct {
		rule string
		subs map[string]bool
	}{
		{"a/#", map[string]bool{"a/#": true, "a": true, "a/b": true, "a/+": true, "a/+/c/#": true, "#": false, "+/b": false, "b/#": false}},
		{"a/+", map[string]bool{"a/b": true, "a/+": true, "a/#": false, "a": false, "a/b/c": false, "a/+/c": false}},
		{"a/b", map[string]bool{"a/b": true, "a/+": false, "a/#": false, "a/b/c": false, "a": false}},
		{"+/b", map[string]bool{"x/b": true, "+/b": true, "$SYS/b": false, "#": false}},
		{"#", map[string]bool{"#": true, "+/x": true, "a/b/c": true, "$SYS/#": false, "$SYS/x": false}},
		{"$SYS/#", map[string]bool{"$SYS/#": true, "$SYS/broker/+": true, "#": false}},
		{"a//b", map[string]bool{"a//b": true, "a/+/b": false, "a/b": false}},
	} {
		path := writeFile(t, "acl", "topic read "+tc.rule)
		a, err := OpenACL(path)
		if err != nil {
			t.Fatal(err)
		}
		for sub, want := range tc.subs {
			if got := a.Authorize(anonymous("c"), plugin.Subscribe, sub); got != want {
				t.Errorf("rule %q, subscription %q: got %v, want %v", tc.rule, sub, got, want)
			}
		}
	}
}

func TestACLDefaultAccessAndComments(t *testing.T) {
	a, err := OpenACL(writeFile(t, "acl",
		"  # indented comment",
		"topic both/#   # readwrite, as Mosquitto defaults",
		"user x#y        # a '#' inside a field is not a comment",
		"topic read #",
	))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		client *plugin.Client
		act    plugin.Action
		topic  string
		want   bool
	}{
		{anonymous("c"), plugin.Publish, "both/x", true},
		{anonymous("c"), plugin.Receive, "both/x", true},
		{named("c", "x#y"), plugin.Receive, "any/topic", true},
		{named("c", "x"), plugin.Receive, "any/topic", false},
	} {
		if got := a.Authorize(tc.client, tc.act, tc.topic); got != tc.want {
			t.Errorf("%s %s %s: got %v, want %v", tc.client.Username, actionNames[tc.act], tc.topic, got, tc.want)
		}
	}
}

func TestACLErrors(t *testing.T) {
	for _, tc := range []struct {
		line, want string
	}{
		{"topic read", `topic: want topic [read|write|readwrite|deny] FILTER`},
		{"topic readonly a/b", `topic: unknown access "readonly": want read, write, readwrite or deny`},
		{"topic read a/b extra", `topic: unexpected "extra" (a comment after the fields begins with '#')`},
		{"topic read a/#/b", `topic: "a/#/b": '#' must be the last level`},
		{"topic read a/b+", `topic: "a/b+": '+' and '#' must be a whole level`},
		{"topic read devices/%c", `topic: "devices/%c": %c is substituted only in pattern lines`},
		{"pattern read dev-%c/x", `pattern: "dev-%c/x": %c and %u must be a whole level`},
		{"topic read a/\xff", `topic: "a/\xff": a topic filter must be UTF-8 without NUL`},
		{"user", `user: want user NAME`},
		{"user alice smith", `user: unexpected "smith"`},
		{"client", `client: want client NAME`},
		{"max_topic_levels 0", `max_topic_levels: "0" is not a positive number`},
		{"max_topic_levels", `max_topic_levels: want max_topic_levels N`},
		{"deny_wildcard_subscriptions yes", `deny_wildcard_subscriptions: unexpected "yes"`},
		{"topc read a", `unknown keyword "topc": want topic, pattern, user, client, max_topic_levels or deny_wildcard_subscriptions`},
	} {
		path := writeFile(t, "acl", "topic read ok/#", tc.line)
		_, err := OpenACL(path)
		if want := path + ":2: " + tc.want; err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("line %q: got %v, want %s", tc.line, err, want)
		}
	}
}

func TestACLReload(t *testing.T) {
	path := writeFile(t, "acl", "topic read a/#")
	a, err := OpenACL(path)
	if err != nil {
		t.Fatal(err)
	}
	c := anonymous("c")
	writeTo(t, path, "topic read b/#", "topic read b/#/c")
	if err := a.Reload(); err == nil || !strings.HasPrefix(err.Error(), path+":2: ") {
		t.Fatalf("reload of a broken file: %v, want an error at %s:2", err, path)
	}
	if !a.Authorize(c, plugin.Receive, "a/x") || a.Authorize(c, plugin.Receive, "b/x") {
		t.Error("a failed reload changed the rules in force")
	}
	writeTo(t, path, "topic read b/#")
	if err := a.Reload(); err != nil {
		t.Fatal(err)
	}
	if a.Authorize(c, plugin.Receive, "a/x") || !a.Authorize(c, plugin.Receive, "b/x") {
		t.Error("after reload the old rules are still in force")
	}
	os.Remove(path)
	if err := a.Reload(); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("reload of a missing file: %v, want an error naming it", err)
	}
}

// TestACLAuthorizeAllocatesNothing checks the hot path, including
// patterns and shared subscriptions, makes no allocation.
func TestACLAuthorizeAllocatesNothing(t *testing.T) {
	a := openTestACL(t)
	alice := named("sensor-1", "alice")
	for _, tc := range []struct {
		act   plugin.Action
		topic string
	}{
		{plugin.Receive, "alice/status"},
		{plugin.Receive, "users/alice/inbox"},
		{plugin.Receive, "unmatched/topic/name"},
		{plugin.Publish, "devices/sensor-1/temp"},
		{plugin.Subscribe, "$share/group/alice/+/plans"},
	} {
		if n := testing.AllocsPerRun(100, func() { a.Authorize(alice, tc.act, tc.topic) }); n != 0 {
			t.Errorf("%s %s: %v allocations", actionNames[tc.act], tc.topic, n)
		}
	}
}

// BenchmarkACLReceive measures the check made for every message
// delivered, for a user with a few rules and the patterns.
func BenchmarkACLReceive(b *testing.B) {
	a := openTestACL(b)
	for _, bc := range []struct {
		name   string
		client *plugin.Client
		topic  string
	}{
		{"user rule", named("alice-phone", "alice"), "alice/home/livingroom/temp"},
		{"pattern", named("alice-phone", "alice"), "users/alice/inbox"},
		{"refused", named("alice-phone", "alice"), "alice/secret/plans"},
		{"no rule", named("carol-1", "carol"), "some/other/topic/entirely"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				a.Authorize(bc.client, plugin.Receive, bc.topic)
			}
		})
	}
}

func ExampleACL() {
	dir, err := os.MkdirTemp("", "petrel-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "acl")
	os.WriteFile(path, []byte("user alice\ntopic readwrite alice/#\ntopic deny alice/secret/#\n"), 0o600)

	acl, err := OpenACL(path)
	if err != nil {
		fmt.Println(err)
		return
	}
	alice := &plugin.Client{ID: "phone", Username: "alice", HasUsername: true}
	fmt.Println(acl.Authorize(alice, plugin.Subscribe, "alice/#"))
	fmt.Println(acl.Authorize(alice, plugin.Receive, "alice/news"))
	fmt.Println(acl.Authorize(alice, plugin.Receive, "alice/secret/plans"))
	// Output:
	// true
	// true
	// false
}
