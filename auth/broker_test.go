package auth_test

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/petrelmq/petrel/auth"
	"github.com/petrelmq/petrel/broker"
	"github.com/petrelmq/petrel/broker/brokertest"
	"github.com/petrelmq/petrel/packet"
)

// wire is a bare MQTT connection, so the test sees the exact reason codes.
type wire struct {
	*brokertest.Conn
	t *testing.T
}

func dialWire(t *testing.T, addr string, p *packet.Connect) (*wire, packet.ReasonCode) {
	t.Helper()
	c, code := brokertest.Connect(t, addr, p)
	return &wire{c, t}, code
}

func (w *wire) subscribe(filter string) packet.ReasonCode {
	w.t.Helper()
	w.Send(&packet.Subscribe{PacketID: 1, Subscriptions: []packet.Subscription{{Filter: filter, QoS: 1}}})
	for {
		switch p := w.Next(brokertest.Wait).(type) {
		case *packet.Suback:
			return p.ReasonCodes[0]
		case *packet.Publish:
			// A retained message of an earlier subscription.
			w.Send(&packet.Puback{PacketID: p.PacketID})
		default:
			w.t.Fatalf("no SUBACK for %s", filter)
		}
	}
}

func (w *wire) publish(topic string, retain bool) packet.ReasonCode {
	w.t.Helper()
	w.Send(&packet.Publish{Topic: topic, QoS: 1, PacketID: 7, Retain: retain, Payload: []byte(topic)})
	for {
		switch p := w.Next(brokertest.Wait).(type) {
		case *packet.Puback:
			return p.ReasonCode
		case *packet.Publish:
			w.Send(&packet.Puback{PacketID: p.PacketID})
		default:
			w.t.Fatalf("no PUBACK for %s", topic)
		}
	}
}

// received drains the messages that arrive, acknowledging them, until
// none has come for a while.
func (w *wire) received() []string {
	w.t.Helper()
	var topics []string
	for {
		p, ok := w.Next(500 * time.Millisecond).(*packet.Publish)
		if !ok {
			return topics
		}
		topics = append(topics, p.Topic)
		if p.QoS > 0 {
			w.Send(&packet.Puback{PacketID: p.PacketID})
		}
	}
}

func user(v packet.Version, id, name string) *packet.Connect {
	p := &packet.Connect{Version: v, ClientID: id, CleanStart: true, KeepAlive: 30}
	if name != "" {
		p.Username, p.HasUsername = name, true
	}
	return p
}

// TestACLThroughTheBroker runs each kind of ACL rule under a broker with
// real connections and checks the reason code each client sees, in 5.0
// and 3.1.1: SUBACK 0x87 (v5) or 0x80 (3.1.1) for a refused
// subscription, PUBACK 0x87 (v5) for a refused publish, which 3.1.1
// acknowledges as usual and discards (v3.1.1 [MQTT-3.3.5-2]), and read
// rules applied to every message delivered, retained ones included.
func TestACLThroughTheBroker(t *testing.T) {
	path := filepath.Join(t.TempDir(), "acl")
	rules := `# anonymous clients
topic read public/#

user alice
topic readwrite alice/#
topic deny alice/secret/#
topic write public/#
topic read reports/+
max_topic_levels 4

user bob
topic readwrite public/#
deny_wildcard_subscriptions

client sensor-1
topic write sensors/1/#

user admin
topic write #

pattern readwrite devices/%c/#
pattern read inbox/%u
`
	if err := os.WriteFile(path, []byte(rules), 0o600); err != nil {
		t.Fatal(err)
	}
	acl, err := auth.OpenACL(path)
	if err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t, broker.Options{Authorizer: acl, SysInterval: -1})

	for _, v := range []packet.Version{packet.V5, packet.V311} {
		refusedSub, refusedPub := packet.NotAuthorized, packet.NotAuthorized
		if v != packet.V5 {
			refusedSub, refusedPub = packet.UnspecifiedError, packet.Success
		}
		ok := packet.GrantedQoS1
		published := packet.Success
		if v == packet.V5 {
			published = packet.NoMatchingSubscribers
		}
		t.Run(v.String(), func(t *testing.T) {
			alice, _ := dialWire(t, b.Addr, user(v, "alice-"+v.String(), "alice"))
			anon, _ := dialWire(t, b.Addr, user(v, "anon-"+v.String(), ""))
			bob, _ := dialWire(t, b.Addr, user(v, "bob-"+v.String(), "bob"))
			sensor, _ := dialWire(t, b.Addr, user(v, "sensor-1", ""))
			for _, c := range []struct {
				name   string
				w      *wire
				filter string
				want   packet.ReasonCode
			}{
				{"readwrite", alice, "alice/#", ok},
				{"wildcard within a rule", alice, "reports/+", ok},
				{"wildcard wider than the rule", alice, "reports/#", refusedSub},
				{"no rule", alice, "bob/#", refusedSub},
				{"write only", alice, "public/#", refusedSub},
				{"max_topic_levels", alice, "alice/a/b/c/d", refusedSub},
				{"anonymous read", anon, "public/#", ok},
				{"anonymous no rule", anon, "alice/#", refusedSub},
				{"deny_wildcard_subscriptions", bob, "public/#", refusedSub},
				{"exact filter under deny_wildcard_subscriptions", bob, "public/news", ok},
				{"client rule is write only", sensor, "sensors/1/t", refusedSub},
				{"pattern %c", sensor, "devices/sensor-1/#", ok},
				{"pattern %c of another client", sensor, "devices/sensor-2/#", refusedSub},
				{"pattern %u", alice, "inbox/alice", ok},
				{"shared subscription", bob, "$share/g/public/news", ok},
			} {
				if got := c.w.subscribe(c.filter); got != c.want {
					t.Errorf("%s: SUBACK for %s is %s, want %s", c.name, c.filter, got, c.want)
				}
			}
			for _, c := range []struct {
				name  string
				w     *wire
				topic string
				want  packet.ReasonCode
			}{
				{"readwrite", alice, "alice/notes", packet.Success},
				{"deny", alice, "alice/secret/key", refusedPub},
				{"read only", anon, "public/x", refusedPub},
				{"client rule", sensor, "sensors/1/t", published},
				{"pattern %c", sensor, "devices/sensor-1/state", packet.Success},
				{"max_topic_levels", alice, "alice/a/b/c/d", refusedPub},
			} {
				if got := c.w.publish(c.topic, false); got != c.want {
					t.Errorf("%s: PUBACK for %s is %s, want %s", c.name, c.topic, got, c.want)
				}
			}
			alice.received()
			anon.received()

			// Read rules hold for every delivery: alice's alice/# covers
			// alice/secret/#, which a deny rule withholds from her, live
			// and retained.
			admin, _ := dialWire(t, b.Addr, user(v, "admin-"+v.String(), "admin"))
			admin.publish("alice/secret/key", false)
			admin.publish("alice/mail", false)
			if got := alice.received(); len(got) != 1 || got[0] != "alice/mail" {
				t.Errorf("alice got %v, want alice/mail only", got)
			}
			bob.publish("public/news", false)
			if got := anon.received(); len(got) != 1 || got[0] != "public/news" {
				t.Errorf("anonymous subscriber got %v, want public/news", got)
			}
			admin.publish("alice/secret/kept", true)
			admin.publish("alice/kept", true)
			late, _ := dialWire(t, b.Addr, user(v, "alice-late-"+v.String(), "alice"))
			late.subscribe("alice/#")
			if got := late.received(); len(got) != 1 || got[0] != "alice/kept" {
				t.Errorf("retained messages for alice/#: %v, want alice/kept only", got)
			}
		})
	}
}
