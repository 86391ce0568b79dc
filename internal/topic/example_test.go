package topic_test

import (
	"errors"
	"fmt"
	"slices"

	"github.com/petrelmq/petrel/internal/topic"
)

func ExampleParseShared() {
	for _, f := range []string{"$share/workers/jobs/+", "sport/#", "$share/g+/x", "sport/#/ranking"} {
		shareName, filter, shared, err := topic.ParseShared(f)
		switch {
		case errors.Is(err, topic.ErrInvalidFilter):
			fmt.Printf("%s: reason code 0x8F: %v\n", f, err)
		default:
			fmt.Printf("%s: share %q filter %q shared %v\n", f, shareName, filter, shared)
		}
	}
	// Output:
	// $share/workers/jobs/+: share "workers" filter "jobs/+" shared true
	// sport/#: share "" filter "sport/#" shared false
	// $share/g+/x: reason code 0x8F: topic: invalid shared subscription: share name contains '/', '+' or '#' [MQTT-4.8.2-2]
	// sport/#/ranking: reason code 0x8F: topic: invalid topic filter: '#' must be the last character of the filter and alone in its level [MQTT-4.7.1-2]
}

func ExampleTree() {
	var tree topic.Tree
	tree.Subscribe(topic.Subscription{ClientID: "dashboard", Filter: "sport/+/score", QoS: 1, Identifier: 4})
	tree.Subscribe(topic.Subscription{ClientID: "dashboard", Filter: "sport/#", QoS: 2, Identifier: 9})
	tree.Subscribe(topic.Subscription{ClientID: "archiver", Filter: "sport/tennis/score"})
	tree.Subscribe(topic.Subscription{ClientID: "worker-1", ShareName: "scorers", Filter: "sport/+/score"})
	tree.Subscribe(topic.Subscription{ClientID: "worker-2", ShareName: "scorers", Filter: "sport/+/score"})

	// One Result per publishing goroutine, reused for every message.
	var r topic.Result
	tree.Match("sport/tennis/score", &r)
	for _, g := range r.Groups {
		fmt.Printf("group %s on %s: %d members, pick one\n", g.ShareName, g.Filter, len(g.Members))
	}
	for _, d := range r.Deliveries("archiver") {
		slices.Sort(d.Identifiers)
		fmt.Printf("%s at QoS %d with subscription identifiers %v\n", d.ClientID, d.QoS, d.Identifiers)
	}
	// Output:
	// group scorers on sport/+/score: 2 members, pick one
	// archiver at QoS 0 with subscription identifiers []
	// dashboard at QoS 2 with subscription identifiers [4 9]
}

func ExampleRetained() {
	type message struct {
		topic   string
		payload string
	}
	var retained topic.Retained[*message]
	for _, m := range []*message{{"sport/tennis", "live"}, {"sport/golf", "rain"}, {"$SYS/uptime", "42"}} {
		retained.Set(m.topic, m)
	}
	found := retained.Match("+/tennis", nil)
	fmt.Println(len(found), found[0].payload)
	fmt.Println(len(retained.Match("#", nil)), "for # (no $SYS)")
	// Output:
	// 1 live
	// 2 for # (no $SYS)
}
