package auth

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/xdg-go/scram"

	"github.com/petrelmq/petrel/packet"
	"github.com/petrelmq/petrel/plugin"
)

// scramClients are the independent client implementations, by mechanism.
var scramClients = map[SCRAMMechanism]scram.HashGeneratorFcn{
	SCRAMSHA256: scram.SHA256,
	SCRAMSHA512: scram.SHA512,
}

// conversation is one client's SCRAM messages as the broker carries them.
type conversation struct {
	client      *scram.ClientConversation
	clientFirst string
	clientFinal string
}

func newConversation(t *testing.T, m SCRAMMechanism, user, password, authzID string) *conversation {
	t.Helper()
	c, err := scramClients[m].NewClient(user, password, authzID)
	if err != nil {
		t.Fatal(err)
	}
	conv := &conversation{client: c.NewConversation()}
	conv.clientFirst, err = conv.client.Step("")
	if err != nil {
		t.Fatal(err)
	}
	return conv
}

// login runs a whole exchange as an MQTT 5 client would and returns the
// outcome, checking on success that the client accepts the server's
// signature and the exchange names the proven user.
func login(t *testing.T, s *SCRAM, conv *conversation) string {
	t.Helper()
	c := &plugin.Client{ID: "scram-client", Version: packet.V5}
	ex := s.Start(c)
	serverFirst, done, err := ex.Step(context.Background(), []byte(conv.clientFirst))
	if err != nil {
		return outcome(err)
	}
	if done {
		t.Fatal("the exchange ended after client-first-message")
	}
	conv.clientFinal, err = conv.client.Step(string(serverFirst))
	if err != nil {
		t.Fatalf("the client refused server-first-message %q: %v", serverFirst, err)
	}
	serverFinal, done, err := ex.Step(context.Background(), []byte(conv.clientFinal))
	if err != nil {
		return outcome(err)
	}
	if !done {
		t.Fatal("the exchange goes on after client-final-message")
	}
	if _, err := conv.client.Step(string(serverFinal)); err != nil || !conv.client.Valid() {
		t.Fatalf("the client refused server-final-message %q: %v", serverFinal, err)
	}
	if !c.HasUsername {
		t.Fatal("the exchange succeeded without setting the user name")
	}
	return "accepted as " + c.Username
}

func scramFile(t *testing.T) *PasswordFile {
	t.Helper()
	f, err := OpenPasswordFile(writeFile(t, "passwd",
		passwordLine(t, "alice", "correct horse"),
		passwordLine(t, "b,o=b", "pässwörd"),
	))
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSCRAMWithXDGClient(t *testing.T) {
	f := scramFile(t)
	for _, m := range scramMechanisms {
		s, err := NewSCRAM(m, f)
		if err != nil {
			t.Fatal(err)
		}
		if s.Method() != string(m) {
			t.Errorf("Method() = %q, want %q", s.Method(), m)
		}
		for _, tc := range []struct {
			name, user, password, authz, want string
		}{
			{"right password", "alice", "correct horse", "", "accepted as alice"},
			{"escaped name and non-ASCII password", "b,o=b", "pässwörd", "", "accepted as b,o=b"},
			{"authorization identity of itself", "alice", "correct horse", "alice", "accepted as alice"},
			{"wrong password", "alice", "correct horse!", "", badPassword},
			{"unknown user", "mallory", "correct horse", "", badPassword},
			{"another authorization identity", "alice", "correct horse", "b,o=b", notAuth},
		} {
			t.Run(string(m)+"/"+tc.name, func(t *testing.T) {
				if got := login(t, s, newConversation(t, m, tc.user, tc.password, tc.authz)); got != tc.want {
					t.Errorf("got %s, want %s", got, tc.want)
				}
			})
		}
	}
}

// TestSCRAMReplay replays a client-final-message that succeeded, after a
// new client-first-message, as an eavesdropper would.
func TestSCRAMReplay(t *testing.T) {
	s, err := NewSCRAM(SCRAMSHA256, scramFile(t))
	if err != nil {
		t.Fatal(err)
	}
	conv := newConversation(t, SCRAMSHA256, "alice", "correct horse", "")
	if got := login(t, s, conv); got != "accepted as alice" {
		t.Fatalf("first login: %s", got)
	}
	ex := s.Start(&plugin.Client{ID: "eavesdropper"})
	if _, _, err := ex.Step(context.Background(), []byte(conv.clientFirst)); err != nil {
		t.Fatal(err)
	}
	_, _, err = ex.Step(context.Background(), []byte(conv.clientFinal))
	if got := outcome(err); got != notAuth || !strings.Contains(err.Error(), "nonce") {
		t.Errorf("replayed client-final-message: %s (%v), want not authorized for its nonce", got, err)
	}
}

// TestSCRAMTamperedMessages changes one part of a genuine client's
// messages at a time.
func TestSCRAMTamperedMessages(t *testing.T) {
	s, err := NewSCRAM(SCRAMSHA256, scramFile(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name         string
		first, final func(string) string
		want, saying string
	}{
		{name: "client supports channel binding, thinks the server does not",
			first: func(m string) string { return "y" + m[1:] },
			// c= still encodes "n,,", so the binding no longer matches.
			want: notAuth, saying: "GS2 header"},
		{name: "channel binding requested",
			first: func(m string) string { return "p=tls-unique" + m[1:] },
			want:  notAuth, saying: "channel binding (p=tls-unique) is not supported"},
		{name: "unknown GS2 flag",
			first: func(m string) string { return "x" + m[1:] },
			want:  notAuth, saying: "GS2 channel binding flag"},
		{name: "mandatory extension",
			first: func(m string) string { return strings.Replace(m, ",,n=", ",,m=ext,n=", 1) },
			want:  notAuth, saying: "mandatory extension"},
		{name: "nonce that does not begin with the client's",
			final: func(m string) string { return strings.Replace(m, ",r=", ",r=X", 1) },
			want:  notAuth, saying: "nonce"},
		{name: "nonce shortened",
			final: func(m string) string {
				i := strings.Index(m, ",p=")
				j := strings.LastIndex(m[:i], ",r=")
				return m[:j] + m[j:i-1] + m[i:]
			},
			want: notAuth, saying: "nonce"},
		{name: "binding of another header",
			final: func(m string) string {
				return strings.Replace(m, "c="+base64.StdEncoding.EncodeToString([]byte("n,,")), "c="+base64.StdEncoding.EncodeToString([]byte("y,,")), 1)
			},
			want: notAuth, saying: "GS2 header"},
		{name: "proof flipped",
			final: func(m string) string {
				i := strings.LastIndex(m, ",p=") + 3
				proof, _ := base64.StdEncoding.DecodeString(m[i:])
				proof[0] ^= 1
				return m[:i] + base64.StdEncoding.EncodeToString(proof)
			},
			want: badPassword, saying: "wrong password"},
		{name: "no proof",
			final: func(m string) string { return m[:strings.LastIndex(m, ",p=")] },
			want:  notAuth, saying: "no proof"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conv := newConversation(t, SCRAMSHA256, "alice", "correct horse", "")
			first := conv.clientFirst
			if tc.first != nil {
				first = tc.first(first)
			}
			ex := s.Start(&plugin.Client{ID: "c"})
			serverFirst, _, err := ex.Step(context.Background(), []byte(first))
			if err == nil {
				final, cerr := conv.client.Step(string(serverFirst))
				if cerr != nil {
					t.Fatal(cerr)
				}
				if tc.final != nil {
					final = tc.final(final)
				}
				_, _, err = ex.Step(context.Background(), []byte(final))
			}
			if got := outcome(err); got != tc.want || !strings.Contains(err.Error(), tc.saying) {
				t.Errorf("got %s (%v), want %s saying %q", got, err, tc.want, tc.saying)
			}
		})
	}
}

func TestSCRAMExchangeMisuse(t *testing.T) {
	s, err := NewSCRAM(SCRAMSHA512, scramFile(t))
	if err != nil {
		t.Fatal(err)
	}
	ex := s.Start(&plugin.Client{ID: "c"})
	_, _, err = ex.Step(context.Background(), nil)
	if got := outcome(err); got != notAuth {
		t.Errorf("CONNECT without Authentication Data: %s (%v), want not authorized", got, err)
	}
	if _, _, err := ex.Step(context.Background(), []byte("n,,n=alice,r=abc")); outcome(err) != notAuth {
		t.Errorf("a step after a failed one: %v, want not authorized", err)
	}

	conv := newConversation(t, SCRAMSHA512, "alice", "correct horse", "")
	c := &plugin.Client{ID: "c"}
	ex = s.Start(c)
	first, _, _ := ex.Step(context.Background(), []byte(conv.clientFirst))
	final, _ := conv.client.Step(string(first))
	if _, done, err := ex.Step(context.Background(), []byte(final)); !done || err != nil {
		t.Fatalf("login: done %v, %v", done, err)
	}
	if _, _, err := ex.Step(context.Background(), []byte(final)); outcome(err) != notAuth {
		t.Errorf("client-final-message again in the same exchange: %v, want not authorized", err)
	}
}

// mapSource is a SCRAMCredentialSource other than a password file.
type mapSource map[string]SCRAMCredentials

func (m mapSource) SCRAMCredentials(_ SCRAMMechanism, user string) (SCRAMCredentials, bool) {
	c, ok := m[user]
	return c, ok
}

func TestSCRAMOtherCredentialSource(t *testing.T) {
	cred, err := NewSCRAMCredentials(SCRAMSHA256, []byte("s3cret"), []byte("0123456789abcdef"), 4096)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSCRAM(SCRAMSHA256, mapSource{"dave": cred})
	if err != nil {
		t.Fatal(err)
	}
	if got := login(t, s, newConversation(t, SCRAMSHA256, "dave", "s3cret", "")); got != "accepted as dave" {
		t.Errorf("got %s, want accepted as dave", got)
	}
	if got := login(t, s, newConversation(t, SCRAMSHA256, "dave", "secret", "")); got != badPassword {
		t.Errorf("wrong password: got %s, want %s", got, badPassword)
	}
}

// TestSCRAMFollowsReload checks SCRAM sees the keys of a reloaded
// password file.
func TestSCRAMFollowsReload(t *testing.T) {
	path := writeFile(t, "passwd", passwordLine(t, "alice", "old"))
	f, err := OpenPasswordFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSCRAM(SCRAMSHA256, f)
	if err != nil {
		t.Fatal(err)
	}
	writeTo(t, path, passwordLine(t, "alice", "new"))
	if err := f.Reload(); err != nil {
		t.Fatal(err)
	}
	for pw, want := range map[string]string{"old": badPassword, "new": "accepted as alice"} {
		if got := login(t, s, newConversation(t, SCRAMSHA256, "alice", pw, "")); got != want {
			t.Errorf("password %q after reload: %s, want %s", pw, got, want)
		}
	}
}

// TestSCRAMMosquittoLine checks a user whose line mosquitto_passwd wrote,
// without SCRAM keys, cannot log in with SCRAM, and is told so as if the
// password were wrong.
func TestSCRAMMosquittoLine(t *testing.T) {
	f, err := OpenPasswordFile(writeFile(t, "passwd",
		"alice:$7$101$Q6bUV5C/jjy7WDwK$BvHjkHvN1IvBFXMgy2mplcWLDBK41ezf7SM7HzHpADJXB17DuXjVDe+spX/zaLw7ZVmp+Sm9e1XZs578m4AFEg=="))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Authenticate(context.Background(), user("alice"), password("secret")); err != nil {
		t.Fatalf("the plain password of the line: %v", err)
	}
	s, err := NewSCRAM(SCRAMSHA256, f)
	if err != nil {
		t.Fatal(err)
	}
	if got := login(t, s, newConversation(t, SCRAMSHA256, "alice", "secret", "")); got != badPassword {
		t.Errorf("SCRAM for a user without SCRAM keys: %s, want %s", got, badPassword)
	}
}

func TestNewSCRAMRefuses(t *testing.T) {
	if _, err := NewSCRAM("SCRAM-SHA-1", mapSource{}); err == nil || !strings.Contains(err.Error(), "unknown SCRAM mechanism") {
		t.Errorf("SCRAM-SHA-1: %v, want unknown mechanism", err)
	}
	if _, err := NewSCRAM(SCRAMSHA256, nil); err == nil {
		t.Error("no credential source: no error")
	}
}
