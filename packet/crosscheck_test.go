package packet

import (
	"bytes"
	"fmt"
	"reflect"
	"strings"
	"testing"

	pahov5 "github.com/eclipse/paho.golang/packets"
	pahov3 "github.com/eclipse/paho.mqtt.golang/packets"
	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"
)

// The cross-check runs packets between this codec and two independent ones:
// paho.golang/packets for 5.0 and paho.mqtt.golang/packets for 3.1.1 and
// 3.1. In each direction a packet encoded by one side must decode on the
// other to the same values, compared field by field after converting
// between the libraries' types.
//
// Where a library cannot carry something, the values are restricted for
// that comparison only, by the restrict functions below, each saying why.
// What they leave out is covered by the round-trip tests and the fixtures.

// failer is what the checks need of *testing.T and *rapid.T.
type failer interface {
	Helper()
	Fatalf(format string, args ...any)
}

// crossLib is one independent implementation seen through converters.
type crossLib struct {
	name     string
	versions []Version
	types    []Type
	encode   func(p Packet, v Version) ([]byte, error)
	decode   func(wire []byte, v Version) (Packet, error)
	// restrictWrite trims a packet to what the library writes faithfully;
	// restrictRead to what it reads back faithfully.
	restrictWrite, restrictRead func(p Packet)
	// unreadable reports wire forms the library cannot read although the
	// specification allows them; the check asserts they are exactly those.
	unreadable func(wire []byte, v Version) bool
}

var crossLibs = []crossLib{
	{
		name:          "paho.golang",
		versions:      []Version{V5},
		types:         []Type{CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT, AUTH},
		encode:        pahoV5Encode,
		decode:        pahoV5Decode,
		restrictWrite: restrictPahoV5Write,
		restrictRead:  restrictPahoV5Read,
		unreadable:    pahoV5Unreadable,
	},
	{
		name:          "paho.mqtt.golang",
		versions:      []Version{V31, V311},
		types:         []Type{CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, PINGREQ, PINGRESP, DISCONNECT},
		encode:        pahoV3Encode,
		decode:        pahoV3Decode,
		restrictWrite: func(Packet) {},
		restrictRead:  func(Packet) {},
		unreadable:    func([]byte, Version) bool { return false },
	},
}

// TestCrossCheckGenerated runs generated packets of every kind each
// library supports through both directions.
func TestCrossCheckGenerated(t *testing.T) {
	for _, lib := range crossLibs {
		for _, v := range lib.versions {
			for _, pt := range lib.types {
				t.Run(fmt.Sprintf("%s/%s/%s", lib.name, v, pt), func(t *testing.T) {
					rapid.Check(t, func(t *rapid.T) {
						theirsToOurs(t, lib, v, genPacket(t, pt, v))
						oursToTheirs(t, lib, v, genPacket(t, pt, v))
					})
				})
			}
		}
	}
}

// TestCrossCheckFixed runs hand-picked edge cases through both directions.
func TestCrossCheckFixed(t *testing.T) {
	for _, lib := range crossLibs {
		for _, v := range lib.versions {
			// Each direction gets its own copy, since the checks restrict
			// the packets they are given.
			cases, again := crossCheckCases(v), crossCheckCases(v)
			for i := range cases {
				t.Run(fmt.Sprintf("%s/%s/%d-%s", lib.name, v, i, cases[i].Type()), func(t *testing.T) {
					theirsToOurs(t, lib, v, cases[i])
					oursToTheirs(t, lib, v, again[i])
				})
			}
		}
	}
}

// theirsToOurs has the library encode p and checks that Decode reads the
// same packet back.
func theirsToOurs(t failer, lib crossLib, v Version, p Packet) {
	t.Helper()
	lib.restrictWrite(p)
	wire, err := lib.encode(p, v)
	if err != nil {
		t.Fatalf("%s encode %#v: %v", lib.name, p, err)
	}
	q, n, err := Decode(wire, v)
	if err != nil || n != len(wire) {
		t.Fatalf("decode % x written by %s: took %d of %d bytes, error %v", wire, lib.name, n, len(wire), err)
	}
	if diff := crossDiff(p, q); diff != "" {
		t.Fatalf("%s wrote % x; we read it differently (-written +read):\n%s", lib.name, wire, diff)
	}
}

// oursToTheirs encodes p and checks that the library reads the same
// packet back.
func oursToTheirs(t failer, lib crossLib, v Version, p Packet) {
	t.Helper()
	lib.restrictRead(p)
	wire, err := p.Encode(nil, v)
	if err != nil {
		t.Fatalf("encode %#v: %v", p, err)
	}
	if lib.unreadable(wire, v) {
		return
	}
	q, err := lib.decode(wire, v)
	if err != nil {
		t.Fatalf("%s cannot decode % x: %v", lib.name, wire, err)
	}
	if diff := crossDiff(p, q); diff != "" {
		t.Fatalf("we wrote % x; %s read it differently (-written +read):\n%s", wire, lib.name, diff)
	}
}

// crossDiff is cmp.Diff with empty and nil slices taken as equal, tried
// only when reflect.DeepEqual fails: cmp's filters are slow, most of all
// under the race detector, and most packets compare equal outright.
func crossDiff(p, q Packet) string {
	if reflect.DeepEqual(p, q) {
		return ""
	}
	return cmp.Diff(p, q, equateEmpty)
}

// crossCheckCases are edge cases the generators reach rarely or never.
func crossCheckCases(v Version) []Packet {
	cases := []Packet{
		&Connect{Version: v, CleanStart: true, ClientID: ""},
		&Connect{Version: v, KeepAlive: 65535, ClientID: "c", HasUsername: true, Username: "", HasPassword: true, Password: []byte{},
			Will: &Will{Topic: "w", Payload: []byte{}, QoS: ExactlyOnce, Retain: true}},
		&Publish{Topic: "t", Payload: []byte{}},
		&Publish{QoS: ExactlyOnce, Dup: true, Retain: true, Topic: "€/𝄞", PacketID: 65535, Payload: bytes.Repeat([]byte{0xff}, 300)},
		// A remaining length of three bytes.
		&Publish{QoS: AtLeastOnce, PacketID: 2, Topic: "big", Payload: bytes.Repeat([]byte("p"), 20_000)},
		&Puback{PacketID: 1},
		&Pubrel{PacketID: 65535},
		&Subscribe{PacketID: 1, Subscriptions: []Subscription{{Filter: "#", QoS: ExactlyOnce}, {Filter: "+/+"}}},
		&Suback{PacketID: 1, ReasonCodes: []ReasonCode{GrantedQoS0, UnspecifiedError, GrantedQoS2}},
		&Unsubscribe{PacketID: 1, Filters: []string{"a", "b", "c"}},
		&Disconnect{},
	}
	if v != V5 {
		return append(cases,
			&Connack{SessionPresent: v == V311, ReasonCode: Success},
			&Connack{ReasonCode: BadUserNameOrPassword},
			&Unsuback{PacketID: 2},
		)
	}
	return append(cases,
		&Connect{Version: v, ClientID: "c", HasPassword: true, Password: []byte("p"),
			Props: Properties{SessionExpiry: 0, HasSessionExpiry: true, ReceiveMaximum: 1, MaximumPacketSize: MaxPacketSize,
				TopicAliasMaximum: 65535, RequestProblemInfo: 0, HasRequestProblemInfo: true, RequestResponseInfo: 1,
				AuthMethod: "m", AuthData: []byte{0}, User: []UserProperty{{"", ""}, {"k", "v"}}},
			Will: &Will{Topic: "w", Props: Properties{WillDelay: 1, User: []UserProperty{{"a", "b"}}}}},
		&Connack{ReasonCode: Success, Props: Properties{HasMaximumQoS: true, MaximumQoS: 0, HasRetainAvailable: true,
			HasWildcardSubAvailable: true, HasSubIDAvailable: true, HasSharedSubAvailable: true, ServerKeepAlive: 0, HasServerKeepAlive: true}},
		&Connack{ReasonCode: ServerMoved, Props: Properties{ServerReference: "elsewhere", ReasonString: "moved"}},
		&Publish{Topic: "", Props: Properties{TopicAlias: 65535}, Payload: []byte("x")},
		// A property length of two bytes.
		&Publish{Topic: "t", Props: Properties{User: []UserProperty{{"k", strings.Repeat("v", 200)}}}},
		&Publish{QoS: AtLeastOnce, PacketID: 9, Topic: "t", Props: Properties{SubscriptionIdentifiers: []uint32{MaxSubscriptionIdentifier},
			MessageExpiry: 0, HasMessageExpiry: true}},
		&Pubrec{PacketID: 3, ReasonCode: NoMatchingSubscribers},
		&Pubcomp{PacketID: 4, ReasonCode: PacketIdentifierNotFound, Props: Properties{ReasonString: "gone"}},
		&Subscribe{PacketID: 5, Props: Properties{SubscriptionIdentifiers: []uint32{1}},
			Subscriptions: []Subscription{{Filter: "$share/g/t", QoS: AtLeastOnce, RetainAsPublished: true, RetainHandling: DoNotSendRetained}}},
		&Unsuback{PacketID: 6, ReasonCodes: []ReasonCode{Success, NoSubscriptionExisted}},
		&Disconnect{ReasonCode: DisconnectWithWillMessage},
		&Disconnect{ReasonCode: NormalDisconnection, Props: Properties{HasSessionExpiry: true}},
		&Auth{},
		&Auth{ReasonCode: ReAuthenticate, Props: Properties{AuthMethod: "SCRAM-SHA-256"}},
	)
}

// paho.golang (5.0).

// restrictPahoV5Read trims what paho.golang cannot hold: its Properties has
// a single SubscriptionIdentifier, so of several on a PUBLISH it keeps the
// last (5.0 section 3.3.2.3.8 allows many).
func restrictPahoV5Read(p Packet) {
	if pub, ok := p.(*Publish); ok && len(pub.Props.SubscriptionIdentifiers) > 1 {
		pub.Props.SubscriptionIdentifiers = pub.Props.SubscriptionIdentifiers[:1]
	}
}

// restrictPahoV5Write also trims the will properties: Connect.Buffers packs
// them with Pack(CONNECT), which writes only CONNECT properties, so a will's
// Payload Format Indicator, Message Expiry Interval, Content Type, Response
// Topic and Correlation Data are silently dropped. Will Delay Interval and
// User Properties survive.
func restrictPahoV5Write(p Packet) {
	restrictPahoV5Read(p)
	if c, ok := p.(*Connect); ok && c.Will != nil {
		c.Will.Props = Properties{WillDelay: c.Will.Props.WillDelay, User: c.Will.Props.User}
	}
}

// pahoV5Unreadable reports the DISCONNECT of remaining length 0, which 5.0
// section 3.14.2.1 allows for a normal disconnection without properties:
// paho.golang's Disconnect.Unpack always reads a reason code, and fails.
// It is the only form we write that paho.golang cannot read.
func pahoV5Unreadable(wire []byte, _ Version) bool {
	return bytes.Equal(wire, []byte{byte(DISCONNECT) << 4, 0})
}

// pahoV5Encode writes p with paho.golang, through each packet's own WriteTo.
// (A ControlPacket made by NewControlPacket(AUTH) carries the flags 0001,
// which v5 [MQTT-2.1.3-1] forbids and Decode refuses; Auth.WriteTo sends
// 0000.)
func pahoV5Encode(p Packet, _ Version) ([]byte, error) {
	var c pahov5.Packet
	switch p := p.(type) {
	case *Connect:
		pc := &pahov5.Connect{ProtocolName: protocolName(p.Version), ProtocolVersion: byte(p.Version), CleanStart: p.CleanStart,
			KeepAlive: p.KeepAlive, ClientID: p.ClientID, UsernameFlag: p.HasUsername, Username: p.Username,
			PasswordFlag: p.HasPassword, Password: p.Password, Properties: toPahoV5Props(&p.Props)}
		if w := p.Will; w != nil {
			pc.WillFlag, pc.WillTopic, pc.WillMessage, pc.WillQOS, pc.WillRetain = true, w.Topic, w.Payload, byte(w.QoS), w.Retain
			pc.WillProperties = toPahoV5Props(&w.Props)
		}
		c = pc
	case *Connack:
		c = &pahov5.Connack{SessionPresent: p.SessionPresent, ReasonCode: byte(p.ReasonCode), Properties: toPahoV5Props(&p.Props)}
	case *Publish:
		c = &pahov5.Publish{Duplicate: p.Dup, QoS: byte(p.QoS), Retain: p.Retain, Topic: p.Topic, PacketID: p.PacketID,
			Properties: toPahoV5Props(&p.Props), Payload: p.Payload}
	case *Puback:
		c = &pahov5.Puback{PacketID: p.PacketID, ReasonCode: byte(p.ReasonCode), Properties: toPahoV5Props(&p.Props)}
	case *Pubrec:
		c = &pahov5.Pubrec{PacketID: p.PacketID, ReasonCode: byte(p.ReasonCode), Properties: toPahoV5Props(&p.Props)}
	case *Pubrel:
		c = &pahov5.Pubrel{PacketID: p.PacketID, ReasonCode: byte(p.ReasonCode), Properties: toPahoV5Props(&p.Props)}
	case *Pubcomp:
		c = &pahov5.Pubcomp{PacketID: p.PacketID, ReasonCode: byte(p.ReasonCode), Properties: toPahoV5Props(&p.Props)}
	case *Subscribe:
		ps := &pahov5.Subscribe{PacketID: p.PacketID, Properties: toPahoV5Props(&p.Props)}
		for _, s := range p.Subscriptions {
			ps.Subscriptions = append(ps.Subscriptions, pahov5.SubOptions{Topic: s.Filter, QoS: byte(s.QoS),
				NoLocal: s.NoLocal, RetainAsPublished: s.RetainAsPublished, RetainHandling: byte(s.RetainHandling)})
		}
		c = ps
	case *Suback:
		c = &pahov5.Suback{PacketID: p.PacketID, Properties: toPahoV5Props(&p.Props), Reasons: codeBytes(p.ReasonCodes)}
	case *Unsubscribe:
		c = &pahov5.Unsubscribe{PacketID: p.PacketID, Properties: toPahoV5Props(&p.Props), Topics: p.Filters}
	case *Unsuback:
		c = &pahov5.Unsuback{PacketID: p.PacketID, Properties: toPahoV5Props(&p.Props), Reasons: codeBytes(p.ReasonCodes)}
	case *Pingreq:
		c = &pahov5.Pingreq{}
	case *Pingresp:
		c = &pahov5.Pingresp{}
	case *Disconnect:
		c = &pahov5.Disconnect{ReasonCode: byte(p.ReasonCode), Properties: toPahoV5Props(&p.Props)}
	case *Auth:
		c = &pahov5.Auth{ReasonCode: byte(p.ReasonCode), Properties: toPahoV5Props(&p.Props)}
	default:
		return nil, fmt.Errorf("no paho.golang form for %T", p)
	}
	var buf bytes.Buffer
	_, err := c.WriteTo(&buf)
	return buf.Bytes(), err
}

func pahoV5Decode(wire []byte, _ Version) (Packet, error) {
	cp, err := pahov5.ReadPacket(bytes.NewReader(wire))
	if err != nil {
		return nil, err
	}
	switch c := cp.Content.(type) {
	case *pahov5.Connect:
		if c.ProtocolName != ProtocolNameMQTT {
			return nil, fmt.Errorf("protocol name %q", c.ProtocolName)
		}
		p := &Connect{Version: Version(c.ProtocolVersion), CleanStart: c.CleanStart, KeepAlive: c.KeepAlive, ClientID: c.ClientID,
			HasUsername: c.UsernameFlag, Username: c.Username, HasPassword: c.PasswordFlag, Password: c.Password,
			Props: fromPahoV5Props(c.Properties)}
		if c.WillFlag {
			p.Will = &Will{Topic: c.WillTopic, Payload: c.WillMessage, QoS: QoS(c.WillQOS), Retain: c.WillRetain,
				Props: fromPahoV5Props(c.WillProperties)}
		}
		return p, nil
	case *pahov5.Connack:
		return &Connack{SessionPresent: c.SessionPresent, ReasonCode: ReasonCode(c.ReasonCode), Props: fromPahoV5Props(c.Properties)}, nil
	case *pahov5.Publish:
		return &Publish{Dup: c.Duplicate, QoS: QoS(c.QoS), Retain: c.Retain, Topic: c.Topic, PacketID: c.PacketID,
			Props: fromPahoV5Props(c.Properties), Payload: c.Payload}, nil
	case *pahov5.Puback:
		return &Puback{PacketID: c.PacketID, ReasonCode: ReasonCode(c.ReasonCode), Props: fromPahoV5Props(c.Properties)}, nil
	case *pahov5.Pubrec:
		return &Pubrec{PacketID: c.PacketID, ReasonCode: ReasonCode(c.ReasonCode), Props: fromPahoV5Props(c.Properties)}, nil
	case *pahov5.Pubrel:
		return &Pubrel{PacketID: c.PacketID, ReasonCode: ReasonCode(c.ReasonCode), Props: fromPahoV5Props(c.Properties)}, nil
	case *pahov5.Pubcomp:
		return &Pubcomp{PacketID: c.PacketID, ReasonCode: ReasonCode(c.ReasonCode), Props: fromPahoV5Props(c.Properties)}, nil
	case *pahov5.Subscribe:
		p := &Subscribe{PacketID: c.PacketID, Props: fromPahoV5Props(c.Properties)}
		for _, s := range c.Subscriptions {
			p.Subscriptions = append(p.Subscriptions, Subscription{Filter: s.Topic, QoS: QoS(s.QoS), NoLocal: s.NoLocal,
				RetainAsPublished: s.RetainAsPublished, RetainHandling: RetainHandling(s.RetainHandling)})
		}
		return p, nil
	case *pahov5.Suback:
		return &Suback{PacketID: c.PacketID, Props: fromPahoV5Props(c.Properties), ReasonCodes: reasonCodes(c.Reasons)}, nil
	case *pahov5.Unsubscribe:
		return &Unsubscribe{PacketID: c.PacketID, Props: fromPahoV5Props(c.Properties), Filters: c.Topics}, nil
	case *pahov5.Unsuback:
		return &Unsuback{PacketID: c.PacketID, Props: fromPahoV5Props(c.Properties), ReasonCodes: reasonCodes(c.Reasons)}, nil
	case *pahov5.Pingreq:
		return &Pingreq{}, nil
	case *pahov5.Pingresp:
		return &Pingresp{}, nil
	case *pahov5.Disconnect:
		return &Disconnect{ReasonCode: ReasonCode(c.ReasonCode), Props: fromPahoV5Props(c.Properties)}, nil
	case *pahov5.Auth:
		return &Auth{ReasonCode: ReasonCode(c.ReasonCode), Props: fromPahoV5Props(c.Properties)}, nil
	}
	return nil, fmt.Errorf("unexpected paho.golang packet %T", cp.Content)
}

// ptr returns &v when present, the pointer form paho.golang gives an
// optional property.
func ptr[T any](v T, present bool) *T {
	if !present {
		return nil
	}
	return &v
}

// deref undoes ptr.
func deref[T any](p *T) (v T, present bool) {
	if p == nil {
		return v, false
	}
	return *p, true
}

func toPahoV5Props(p *Properties) *pahov5.Properties {
	q := &pahov5.Properties{
		PayloadFormat:         ptr(p.PayloadFormat, p.PayloadFormat != 0),
		MessageExpiry:         ptr(p.MessageExpiry, p.HasMessageExpiry),
		ContentType:           p.ContentType,
		ResponseTopic:         p.ResponseTopic,
		CorrelationData:       p.CorrelationData,
		SessionExpiryInterval: ptr(p.SessionExpiry, p.HasSessionExpiry),
		AssignedClientID:      p.AssignedClientID,
		ServerKeepAlive:       ptr(p.ServerKeepAlive, p.HasServerKeepAlive),
		AuthMethod:            p.AuthMethod,
		AuthData:              p.AuthData,
		RequestProblemInfo:    ptr(p.RequestProblemInfo, p.HasRequestProblemInfo),
		WillDelayInterval:     ptr(p.WillDelay, p.WillDelay != 0),
		RequestResponseInfo:   ptr(p.RequestResponseInfo, p.RequestResponseInfo != 0),
		ResponseInfo:          p.ResponseInfo,
		ServerReference:       p.ServerReference,
		ReasonString:          p.ReasonString,
		ReceiveMaximum:        ptr(p.ReceiveMaximum, p.ReceiveMaximum != 0),
		TopicAliasMaximum:     ptr(p.TopicAliasMaximum, p.TopicAliasMaximum != 0),
		TopicAlias:            ptr(p.TopicAlias, p.TopicAlias != 0),
		MaximumQOS:            ptr(p.MaximumQoS, p.HasMaximumQoS),
		RetainAvailable:       ptr(p.RetainAvailable, p.HasRetainAvailable),
		MaximumPacketSize:     ptr(p.MaximumPacketSize, p.MaximumPacketSize != 0),
		WildcardSubAvailable:  ptr(p.WildcardSubAvailable, p.HasWildcardSubAvailable),
		SubIDAvailable:        ptr(p.SubIDAvailable, p.HasSubIDAvailable),
		SharedSubAvailable:    ptr(p.SharedSubAvailable, p.HasSharedSubAvailable),
	}
	for _, u := range p.User {
		q.User = append(q.User, pahov5.User{Key: u.Key, Value: u.Value})
	}
	switch len(p.SubscriptionIdentifiers) {
	case 0:
	case 1:
		q.SubscriptionIdentifier = ptr(int(p.SubscriptionIdentifiers[0]), true)
	default:
		panic("several Subscription Identifiers reached paho.golang: restrictPahoV5Read should have trimmed them")
	}
	return q
}

func fromPahoV5Props(q *pahov5.Properties) Properties {
	var p Properties
	if q == nil {
		return p
	}
	p.PayloadFormat, _ = deref(q.PayloadFormat)
	p.MessageExpiry, p.HasMessageExpiry = deref(q.MessageExpiry)
	p.ContentType = q.ContentType
	p.ResponseTopic = q.ResponseTopic
	p.CorrelationData = q.CorrelationData
	if id, ok := deref(q.SubscriptionIdentifier); ok {
		p.SubscriptionIdentifiers = []uint32{uint32(id)}
	}
	p.SessionExpiry, p.HasSessionExpiry = deref(q.SessionExpiryInterval)
	p.AssignedClientID = q.AssignedClientID
	p.ServerKeepAlive, p.HasServerKeepAlive = deref(q.ServerKeepAlive)
	p.AuthMethod = q.AuthMethod
	p.AuthData = q.AuthData
	p.RequestProblemInfo, p.HasRequestProblemInfo = deref(q.RequestProblemInfo)
	p.WillDelay, _ = deref(q.WillDelayInterval)
	p.RequestResponseInfo, _ = deref(q.RequestResponseInfo)
	p.ResponseInfo = q.ResponseInfo
	p.ServerReference = q.ServerReference
	p.ReasonString = q.ReasonString
	p.ReceiveMaximum, _ = deref(q.ReceiveMaximum)
	p.TopicAliasMaximum, _ = deref(q.TopicAliasMaximum)
	p.TopicAlias, _ = deref(q.TopicAlias)
	p.MaximumQoS, p.HasMaximumQoS = deref(q.MaximumQOS)
	p.RetainAvailable, p.HasRetainAvailable = deref(q.RetainAvailable)
	for _, u := range q.User {
		p.User = append(p.User, UserProperty{Key: u.Key, Value: u.Value})
	}
	p.MaximumPacketSize, _ = deref(q.MaximumPacketSize)
	p.WildcardSubAvailable, p.HasWildcardSubAvailable = deref(q.WildcardSubAvailable)
	p.SubIDAvailable, p.HasSubIDAvailable = deref(q.SubIDAvailable)
	p.SharedSubAvailable, p.HasSharedSubAvailable = deref(q.SharedSubAvailable)
	return p
}

func codeBytes(codes []ReasonCode) []byte {
	b := make([]byte, len(codes))
	for i, c := range codes {
		b[i] = byte(c)
	}
	return b
}

func reasonCodes(b []byte) []ReasonCode {
	codes := make([]ReasonCode, len(b))
	for i, c := range b {
		codes[i] = ReasonCode(c)
	}
	return codes
}

// paho.mqtt.golang (3.1.1, and 3.1 through its CONNECT fields). It carries
// everything 3.1 and 3.1.1 packets hold, so nothing is restricted. Its
// UNSUBSCRIBE reader stops at the first zero-length topic filter, which
// 3.1.1 [MQTT-4.7.3-1] forbids anyway; the generators never draw one.

// connackV3Codes pairs the 3.1.1 CONNACK return codes (section 3.2.2.3)
// with the 5.0 reason codes of the same meaning, the pairing Connack
// documents.
var connackV3Codes = map[byte]ReasonCode{
	0: Success,
	1: UnsupportedProtocolVersion,
	2: ClientIdentifierNotValid,
	3: ServerUnavailable,
	4: BadUserNameOrPassword,
	5: NotAuthorized,
}

func pahoV3Encode(p Packet, v Version) ([]byte, error) {
	var c pahov3.ControlPacket
	switch p := p.(type) {
	case *Connect:
		pc := pahov3.NewControlPacket(pahov3.Connect).(*pahov3.ConnectPacket)
		pc.ProtocolName, pc.ProtocolVersion, pc.CleanSession, pc.Keepalive = protocolName(p.Version), byte(p.Version), p.CleanStart, p.KeepAlive
		pc.ClientIdentifier = p.ClientID
		pc.UsernameFlag, pc.Username, pc.PasswordFlag, pc.Password = p.HasUsername, p.Username, p.HasPassword, p.Password
		if w := p.Will; w != nil {
			pc.WillFlag, pc.WillTopic, pc.WillMessage, pc.WillQos, pc.WillRetain = true, w.Topic, w.Payload, byte(w.QoS), w.Retain
		}
		c = pc
	case *Connack:
		pc := pahov3.NewControlPacket(pahov3.Connack).(*pahov3.ConnackPacket)
		pc.SessionPresent = p.SessionPresent
		found := false
		for b, rc := range connackV3Codes {
			if rc == p.ReasonCode {
				pc.ReturnCode, found = b, true
			}
		}
		if !found {
			return nil, fmt.Errorf("CONNACK reason code %#x has no 3.1.1 return code", byte(p.ReasonCode))
		}
		c = pc
	case *Publish:
		pc := pahov3.NewControlPacket(pahov3.Publish).(*pahov3.PublishPacket)
		pc.Dup, pc.Qos, pc.Retain = p.Dup, byte(p.QoS), p.Retain
		pc.TopicName, pc.MessageID, pc.Payload = p.Topic, p.PacketID, p.Payload
		c = pc
	case *Puback:
		pc := pahov3.NewControlPacket(pahov3.Puback).(*pahov3.PubackPacket)
		pc.MessageID = p.PacketID
		c = pc
	case *Pubrec:
		pc := pahov3.NewControlPacket(pahov3.Pubrec).(*pahov3.PubrecPacket)
		pc.MessageID = p.PacketID
		c = pc
	case *Pubrel:
		pc := pahov3.NewControlPacket(pahov3.Pubrel).(*pahov3.PubrelPacket)
		pc.MessageID = p.PacketID
		c = pc
	case *Pubcomp:
		pc := pahov3.NewControlPacket(pahov3.Pubcomp).(*pahov3.PubcompPacket)
		pc.MessageID = p.PacketID
		c = pc
	case *Subscribe:
		pc := pahov3.NewControlPacket(pahov3.Subscribe).(*pahov3.SubscribePacket)
		pc.MessageID = p.PacketID
		for _, s := range p.Subscriptions {
			pc.Topics = append(pc.Topics, s.Filter)
			pc.Qoss = append(pc.Qoss, byte(s.QoS))
		}
		c = pc
	case *Suback:
		pc := pahov3.NewControlPacket(pahov3.Suback).(*pahov3.SubackPacket)
		pc.MessageID, pc.ReturnCodes = p.PacketID, codeBytes(p.ReasonCodes)
		c = pc
	case *Unsubscribe:
		pc := pahov3.NewControlPacket(pahov3.Unsubscribe).(*pahov3.UnsubscribePacket)
		pc.MessageID, pc.Topics = p.PacketID, p.Filters
		c = pc
	case *Unsuback:
		pc := pahov3.NewControlPacket(pahov3.Unsuback).(*pahov3.UnsubackPacket)
		pc.MessageID = p.PacketID
		c = pc
	case *Pingreq:
		c = pahov3.NewControlPacket(pahov3.Pingreq)
	case *Pingresp:
		c = pahov3.NewControlPacket(pahov3.Pingresp)
	case *Disconnect:
		c = pahov3.NewControlPacket(pahov3.Disconnect)
	default:
		return nil, fmt.Errorf("no paho.mqtt.golang form for %T in MQTT %s", p, v)
	}
	var buf bytes.Buffer
	err := c.Write(&buf)
	return buf.Bytes(), err
}

func pahoV3Decode(wire []byte, v Version) (Packet, error) {
	cp, err := pahov3.ReadPacket(bytes.NewReader(wire))
	if err != nil {
		return nil, err
	}
	switch c := cp.(type) {
	case *pahov3.ConnectPacket:
		if c.ProtocolName != protocolName(Version(c.ProtocolVersion)) {
			return nil, fmt.Errorf("protocol name %q with level %d", c.ProtocolName, c.ProtocolVersion)
		}
		p := &Connect{Version: Version(c.ProtocolVersion), CleanStart: c.CleanSession, KeepAlive: c.Keepalive,
			ClientID: c.ClientIdentifier, HasUsername: c.UsernameFlag, Username: c.Username,
			HasPassword: c.PasswordFlag, Password: c.Password}
		if c.WillFlag {
			p.Will = &Will{Topic: c.WillTopic, Payload: c.WillMessage, QoS: QoS(c.WillQos), Retain: c.WillRetain}
		}
		return p, nil
	case *pahov3.ConnackPacket:
		rc, ok := connackV3Codes[c.ReturnCode]
		if !ok {
			return nil, fmt.Errorf("CONNACK return code %d is reserved", c.ReturnCode)
		}
		return &Connack{SessionPresent: c.SessionPresent, ReasonCode: rc}, nil
	case *pahov3.PublishPacket:
		return &Publish{Dup: c.Dup, QoS: QoS(c.Qos), Retain: c.Retain, Topic: c.TopicName, PacketID: c.MessageID, Payload: c.Payload}, nil
	case *pahov3.PubackPacket:
		return &Puback{PacketID: c.MessageID}, nil
	case *pahov3.PubrecPacket:
		return &Pubrec{PacketID: c.MessageID}, nil
	case *pahov3.PubrelPacket:
		return &Pubrel{PacketID: c.MessageID}, nil
	case *pahov3.PubcompPacket:
		return &Pubcomp{PacketID: c.MessageID}, nil
	case *pahov3.SubscribePacket:
		p := &Subscribe{PacketID: c.MessageID}
		for i, f := range c.Topics {
			p.Subscriptions = append(p.Subscriptions, Subscription{Filter: f, QoS: QoS(c.Qoss[i])})
		}
		return p, nil
	case *pahov3.SubackPacket:
		return &Suback{PacketID: c.MessageID, ReasonCodes: reasonCodes(c.ReturnCodes)}, nil
	case *pahov3.UnsubscribePacket:
		return &Unsubscribe{PacketID: c.MessageID, Filters: c.Topics}, nil
	case *pahov3.UnsubackPacket:
		return &Unsuback{PacketID: c.MessageID}, nil
	case *pahov3.PingreqPacket:
		return &Pingreq{}, nil
	case *pahov3.PingrespPacket:
		return &Pingresp{}, nil
	case *pahov3.DisconnectPacket:
		return &Disconnect{}, nil
	}
	return nil, fmt.Errorf("unexpected paho.mqtt.golang packet %T in MQTT %s", cp, v)
}

// TestCrossCheckPropertyPlacement compares which packets may carry each
// property (5.0 table 2-4) with paho.golang's ValidProperties. The
// generators draw properties from our table, so a property it wrongly left
// out would never be drawn; this check does not rely on it. paho.golang
// lists will properties under CONNECT, so they are compared that way.
func TestCrossCheckPropertyPlacement(t *testing.T) {
	for id := range 256 {
		info, known := PropertyID(id).Info()
		if _, theirs := pahov5.ValidProperties[byte(id)]; theirs != known {
			t.Errorf("property %#x: defined here %t, in paho.golang %t", id, known, theirs)
			continue
		}
		for pt := CONNECT; pt <= AUTH; pt++ {
			ours := info.AllowedIn(pt) || pt == CONNECT && info.AllowedInWill()
			if theirs := pahov5.ValidateID(byte(pt), byte(id)); ours != theirs {
				t.Errorf("%s in %s: allowed here %t, in paho.golang %t", PropertyID(id), pt, ours, theirs)
			}
		}
	}
}
