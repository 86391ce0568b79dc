package packet

// samplePackets returns one valid packet of every kind the version has, for
// benchmarks and as fuzz seeds.
func samplePackets(v Version) []Packet {
	props := Properties{}
	if v == V5 {
		props = Properties{ReasonString: "because", User: []UserProperty{{"k", "v"}}}
	}
	ps := []Packet{
		&Connect{Version: v, CleanStart: true, KeepAlive: 30, ClientID: "sensor-1",
			HasUsername: true, Username: "user", HasPassword: true, Password: []byte("secret"),
			Will: &Will{Topic: "status/sensor-1", Payload: []byte("gone"), QoS: 1, Retain: true}},
		&Connack{SessionPresent: v != V31, ReasonCode: Success},
		samplePublish(v),
		&Puback{PacketID: 7, Props: props},
		&Pubrec{PacketID: 8},
		&Pubrel{PacketID: 9},
		&Pubcomp{PacketID: 10},
		sampleSubscribe(v),
		&Suback{PacketID: 11, ReasonCodes: []ReasonCode{GrantedQoS1, UnspecifiedError}},
		&Unsubscribe{PacketID: 12, Filters: []string{"a/+", "b/#"}},
		sampleUnsuback(v),
		&Pingreq{},
		&Pingresp{},
		&Disconnect{},
	}
	if v == V5 {
		ps = append(ps,
			&Auth{ReasonCode: ContinueAuthentication, Props: Properties{AuthMethod: "SCRAM-SHA-256", AuthData: []byte("n,,n=user,r=abc")}},
			&Disconnect{ReasonCode: ServerShuttingDown, Props: Properties{ServerReference: "other:1883"}},
		)
	}
	return ps
}

func samplePublish(v Version) *Publish {
	p := &Publish{QoS: AtLeastOnce, Topic: "sensors/building-1/floor-2/room-3/temperature", PacketID: 42,
		Payload: make([]byte, 64)}
	if v == V5 {
		p.Props = Properties{MessageExpiry: 60, HasMessageExpiry: true, ContentType: "application/json",
			User: []UserProperty{{"trace", "a1b2"}}, SubscriptionIdentifiers: []uint32{3}}
	}
	return p
}

func sampleSubscribe(v Version) *Subscribe {
	p := &Subscribe{PacketID: 5, Subscriptions: []Subscription{
		{Filter: "sensors/+/temperature", QoS: AtLeastOnce},
		{Filter: "alerts/#", QoS: ExactlyOnce},
	}}
	if v == V5 {
		p.Props.SubscriptionIdentifiers = []uint32{17}
		p.Subscriptions[0].NoLocal = true
		p.Subscriptions[1].RetainHandling = SendRetainedIfNew
	}
	return p
}

func sampleUnsuback(v Version) *Unsuback {
	p := &Unsuback{PacketID: 12}
	if v == V5 {
		p.ReasonCodes = []ReasonCode{Success, NoSubscriptionExisted}
	}
	return p
}
