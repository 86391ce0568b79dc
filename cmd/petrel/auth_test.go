package main

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/xdg-go/scram"

	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
)

// login connects as user with password and returns the CONNACK code.
func login(t *testing.T, addr, id, user, password string) (*brokertest.Conn, packet.ReasonCode) {
	t.Helper()
	return brokertest.Connect(t, addr, &packet.Connect{Version: packet.V5, ClientID: id, CleanStart: true, KeepAlive: 60,
		Username: user, HasUsername: user != "", Password: []byte(password), HasPassword: password != ""})
}

// subscribeCode subscribes c to filter and returns the SUBACK's code.
func subscribeCode(t *testing.T, c *brokertest.Conn, filter string) packet.ReasonCode {
	t.Helper()
	c.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter}}})
	ack, ok := c.Next(deadline).(*packet.Suback)
	if !ok {
		t.Fatalf("no SUBACK for %s", filter)
	}
	return ack.ReasonCodes[0]
}

// TestPasswordFileACLAndReload runs the binary with a password file made
// by petrel passwd and an ACL file, on a listener that admits no
// anonymous clients, then changes both files and sends SIGHUP: connected
// clients stay, and the new rules apply to the next login and operation.
func TestPasswordFileACLAndReload(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	for _, u := range [][]string{{"-c", passwd, "alice", "wonderland"}, {passwd, "bob", "builder"}} {
		if r := petrel(t, "", append([]string{"passwd", "-b"}, u...)...); r.status != 0 {
			t.Fatalf("petrel passwd: %s", r.stderr)
		}
	}
	acl := filepath.Join(dir, "acl")
	write := func(path, body string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(acl, "user alice\ntopic readwrite alice/#\nuser bob\ntopic read shared/#\n")
	conf := filepath.Join(dir, "petrel.yaml")
	write(conf, "password_file: "+passwd+"\nacl_file: "+acl+"\nauth_failure_delay: 0\n"+
		"listeners:\n  - name: secure\n    address: 127.0.0.1:0\n    allow_anonymous: false\n")
	p := start(t, "-c", conf, "--no-persist")
	addr := p.listening(t, 1)["secure"]

	alice, code := login(t, addr, "a", "alice", "wonderland")
	if code != packet.Success {
		t.Fatalf("alice: CONNACK %s", code)
	}
	for _, tc := range []struct {
		user, password string
		want           packet.ReasonCode
	}{
		{"alice", "looking-glass", packet.BadUserNameOrPassword},
		{"carol", "wonderland", packet.BadUserNameOrPassword},
		{"", "", packet.NotAuthorized},
	} {
		if _, code := login(t, addr, "x", tc.user, tc.password); code != tc.want {
			t.Errorf("%q/%q: CONNACK %s, want %s", tc.user, tc.password, code, tc.want)
		}
	}
	if code := subscribeCode(t, alice, "alice/inbox"); code != packet.GrantedQoS0 {
		t.Fatalf("alice/inbox: SUBACK %s", code)
	}
	if code := subscribeCode(t, alice, "shared/news"); code != packet.NotAuthorized {
		t.Fatalf("shared/news before the reload: SUBACK %s, want not authorized", code)
	}

	// bob loses his password, alice gains shared/#.
	if r := petrel(t, "", "passwd", "-D", passwd, "bob"); r.status != 0 {
		t.Fatalf("petrel passwd -D: %s", r.stderr)
	}
	write(acl, "user alice\ntopic readwrite alice/#\ntopic read shared/#\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	p.awaitLog(t, "reload", func(rec map[string]any) bool { return rec["msg"] == "authentication and access rules reloaded" })
	if code := subscribeCode(t, alice, "shared/news"); code != packet.GrantedQoS0 {
		t.Fatalf("shared/news after the reload: SUBACK %s, want granted: alice stayed connected under the new rules", code)
	}
	if _, code := login(t, addr, "b", "bob", "builder"); code != packet.BadUserNameOrPassword {
		t.Fatalf("bob after his removal: CONNACK %s", code)
	}

	// A broken ACL file keeps the rules in force.
	write(acl, "topic sideways x\n")
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.awaitLog(t, "failed reload", func(rec map[string]any) bool { return rec["level"] == "ERROR" })
	if code := subscribeCode(t, alice, "alice/more"); code != packet.GrantedQoS0 {
		t.Fatalf("after a failed reload: SUBACK %s, want the old rules", code)
	}
}

// TestSCRAMLogin logs in with SCRAM-SHA-256 and SCRAM-SHA-512 through
// MQTT 5 AUTH packets, with xdg-go/scram as the client, against the keys
// petrel passwd stored.
func TestSCRAMLogin(t *testing.T) {
	dir := t.TempDir()
	passwd := filepath.Join(dir, "passwd")
	if r := petrel(t, "", "passwd", "-b", "-c", passwd, "alice", "wonderland"); r.status != 0 {
		t.Fatalf("petrel passwd: %s", r.stderr)
	}
	conf := filepath.Join(dir, "petrel.yaml")
	if err := os.WriteFile(conf, []byte("password_file: "+passwd+"\nauth_failure_delay: 0\n"+
		"listeners:\n  - name: scram\n    address: 127.0.0.1:0\n    allow_anonymous: false\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := start(t, "-c", conf, "--no-persist")
	addr := p.listening(t, 1)["scram"]

	for _, m := range []struct {
		name string
		hash scram.HashGeneratorFcn
	}{{"SCRAM-SHA-256", scram.SHA256}, {"SCRAM-SHA-512", scram.SHA512}} {
		for _, password := range []string{"wonderland", "guess"} {
			t.Run(m.name+"/"+password, func(t *testing.T) {
				cl, err := m.hash.NewClient("alice", password, "")
				if err != nil {
					t.Fatal(err)
				}
				conv := cl.NewConversation()
				first, err := conv.Step("")
				if err != nil {
					t.Fatal(err)
				}
				c := brokertest.Dial(t, addr, packet.V5)
				cp := &packet.Connect{Version: packet.V5, ClientID: "scram", CleanStart: true}
				cp.Props.AuthMethod, cp.Props.AuthData = m.name, []byte(first)
				c.Send(cp)
				challenge, ok := c.Next(deadline).(*packet.Auth)
				if !ok || challenge.ReasonCode != packet.ContinueAuthentication {
					t.Fatalf("got %+v, want AUTH continue authentication", challenge)
				}
				final, err := conv.Step(string(challenge.Props.AuthData))
				if err != nil {
					t.Fatal(err)
				}
				a := &packet.Auth{ReasonCode: packet.ContinueAuthentication}
				a.Props.AuthMethod, a.Props.AuthData = m.name, []byte(final)
				c.Send(a)
				ack, ok := c.Next(deadline).(*packet.Connack)
				if !ok {
					t.Fatal("no CONNACK")
				}
				if password != "wonderland" {
					if ack.ReasonCode != packet.NotAuthorized && ack.ReasonCode != packet.BadUserNameOrPassword {
						t.Fatalf("wrong password: CONNACK %s", ack.ReasonCode)
					}
					return
				}
				if ack.ReasonCode != packet.Success {
					t.Fatalf("CONNACK %s", ack.ReasonCode)
				}
				// The client checks the server's signature: the server
				// knew the keys too.
				if _, err := conv.Step(string(ack.Props.AuthData)); err != nil || !conv.Valid() {
					t.Fatalf("server-final %q does not verify: %v", ack.Props.AuthData, err)
				}
			})
		}
	}
}
