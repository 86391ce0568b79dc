package config

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestOpsDefaults(t *testing.T) {
	c := mustLoad(t, "", nil, Flags{})
	if !c.Ops.Enabled || c.Ops.Address != "127.0.0.1:18083" || c.Ops.AdminAddress != "" || !c.DefaultOpsAddress() {
		t.Errorf("default ops: %+v", c.Ops)
	}
	if c := mustLoad(t, "", nil, Flags{NoOps: true}); c.Ops.Enabled {
		t.Error("--no-ops left the operations listener on")
	}
	if c := mustLoad(t, "ops_address: 127.0.0.1:9100\n", nil, Flags{}); c.DefaultOpsAddress() {
		t.Error("an ops_address that was set counts as the default")
	}
}

func TestOpsErrors(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		env        []string
		want       string
	}{
		{name: "API beyond loopback without credentials", file: "ops_address: 0.0.0.0:18083\n",
			want: "petrel.yaml:1: ops_address: 0.0.0.0:18083 is reachable from other machines, so the admin API there needs credentials: set api_keys_file or api_users, or serve the API on a loopback admin_address"},
		{name: "separate API beyond loopback", env: []string{"PETREL_ADMIN_ADDRESS=[::]:9000"},
			want: "PETREL_ADMIN_ADDRESS: [::]:9000 is reachable from other machines, so the admin API there needs credentials: set api_keys_file or api_users, or serve the API on a loopback admin_address"},
		{name: "api_users without a password file", file: "api_users: admin\n",
			want: "petrel.yaml:1: api_users: api_users are users of the password file, and there is none: set password_file"},
		{name: "the same address twice", file: "admin_address: 127.0.0.1:18083\n",
			want: "petrel.yaml:1: admin_address: 127.0.0.1:18083 is the operations listener's address already; leave admin_address out to serve the API there"},
		{name: "no port", file: "ops_address: localhost\n",
			want: `petrel.yaml:1: ops_address: want host:port, such as 127.0.0.1:18083, got "localhost"`},
		{name: "no users", env: []string{"PETREL_API_USERS=,"},
			want: "PETREL_API_USERS: want user names of the password file, separated by commas"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.file, tc.env, Flags{})
			if err == nil || err.Error() != tc.want {
				t.Errorf("Load error:\n got %v\nwant %s", err, tc.want)
			}
		})
	}
	for _, ok := range []string{
		"ops_address: 0.0.0.0:18083\napi_keys_file: keys\n",
		"ops_address: 0.0.0.0:18083\nadmin_address: 127.0.0.1:18084\n",
		"ops_address: 0.0.0.0:18083\nops_enabled: false\n",
		"password_file: passwd\napi_users: a, b\nops_address: 0.0.0.0:18083\n",
		"ops_address: 127.0.0.1:0\nadmin_address: 127.0.0.1:0\n",
	} {
		if _, err := load(t, ok, nil, Flags{}); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	c := mustLoad(t, "password_file: passwd\napi_users: a, b\n", nil, Flags{})
	if !slices.Equal(c.Ops.APIUsers, []string{"a", "b"}) {
		t.Errorf("api_users gave %q", c.Ops.APIUsers)
	}
}

// TestChanges tells what a reload may apply live from what needs a
// restart.
func TestChanges(t *testing.T) {
	const before = "log_level: info\nmax_connections: 10\ndata_dir: a\nacl_file: acl\nlisteners:\n  - name: one\n    address: 127.0.0.1:1883\n"
	old := mustLoad(t, before, nil, Flags{})
	for _, tc := range []struct {
		name, file    string
		env           []string
		live, restart string
	}{
		{name: "nothing", file: before},
		{name: "the same, moved about", file: "\n" + strings.Replace(before, "log_level: info\n", "", 1) + "log_level: info\n"},
		{name: "log level and a limit", file: strings.NewReplacer("info", "debug", "10", "20").Replace(before), live: "log_level max_connections"},
		{name: "a limit from the environment", file: before, env: []string{"PETREL_MAX_TOPIC_LEVELS=4"}, live: "max_topic_levels"},
		{name: "a limit back to its default", file: strings.Replace(before, "max_connections: 10\n", "", 1), live: "max_connections"},
		{name: "data_dir", file: strings.Replace(before, "data_dir: a", "data_dir: b", 1), restart: "data_dir"},
		{name: "the ACL file's name", file: strings.Replace(before, "acl_file: acl", "acl_file: other", 1), restart: "acl_file"},
		{name: "a listener's address", file: strings.Replace(before, "1883", "1884", 1), restart: "listener one"},
		{name: "a new listener", file: before + "  - name: two\n    address: 127.0.0.1:1884\n", restart: "listener two (new)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := old.Changes(mustLoad(t, tc.file, tc.env, Flags{}))
			if got := strings.Join(ch.Live, " "); got != tc.live {
				t.Errorf("live %q, want %q", got, tc.live)
			}
			if got := strings.Join(ch.Restart, " "); got != tc.restart {
				t.Errorf("restart %q, want %q", got, tc.restart)
			}
		})
	}
}

func TestLimits(t *testing.T) {
	c := mustLoad(t, "max_topic_levels: 4\nflap_ban: 1h\nmax_publish_rate: 2.5\nauth_failure_delay: 0\n", nil, Flags{})
	l := c.Limits()
	if l.MaxTopicLevels != 4 || l.FlapBan != time.Hour || l.MaxPublishRate != 2.5 || l.AuthFailureDelay >= 0 {
		t.Errorf("limits %+v", l)
	}
}
