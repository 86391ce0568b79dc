package packet

import (
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"pgregory.net/rapid"
)

var versions = []Version{V31, V311, V5}

// genString draws a well-formed UTF-8 string without U+0000.
func genString(min, max int) *rapid.Generator[string] {
	r := rapid.Rune().Filter(func(r rune) bool { return r != 0 && utf8.ValidRune(r) })
	return rapid.StringOfN(r, min, max, -1)
}

func genTopic() *rapid.Generator[string] {
	return genString(1, 12).Filter(func(s string) bool {
		for i := 0; i < len(s); i++ {
			if s[i] == '+' || s[i] == '#' {
				return false
			}
		}
		return true
	})
}

func genBytes(min, max int) *rapid.Generator[[]byte] {
	return rapid.SliceOfN(rapid.Byte(), min, max)
}

// genProperties draws properties that an owner may carry, each present or
// absent, with values the codec keeps distinct from "absent".
func genProperties(t *rapid.T, owner propertyOwner) Properties {
	var p Properties
	may := func(id PropertyID) bool {
		return properties[id].owners&owner != 0 && rapid.Bool().Draw(t, "has "+id.String())
	}
	u32 := func(label string) uint32 { return rapid.Uint32().Draw(t, label) }
	u16nz := func(label string) uint16 { return rapid.Uint16Min(1).Draw(t, label) }
	bit := func(label string) byte { return byte(rapid.IntRange(0, 1).Draw(t, label)) }
	if may(PropPayloadFormatIndicator) {
		p.PayloadFormat = 1
	}
	if may(PropMessageExpiryInterval) {
		p.MessageExpiry, p.HasMessageExpiry = u32("expiry"), true
	}
	if may(PropContentType) {
		p.ContentType = genString(1, 10).Draw(t, "content type")
	}
	if may(PropResponseTopic) {
		p.ResponseTopic = genTopic().Draw(t, "response topic")
	}
	if may(PropCorrelationData) {
		p.CorrelationData = genBytes(1, 10).Draw(t, "correlation")
	}
	if may(PropSubscriptionIdentifier) {
		n := 1
		if owner == ownerOf(PUBLISH) {
			n = rapid.IntRange(1, 3).Draw(t, "sub ids")
		}
		for range n {
			p.SubscriptionIdentifiers = append(p.SubscriptionIdentifiers,
				rapid.Uint32Range(1, MaxSubscriptionIdentifier).Draw(t, "sub id"))
		}
	}
	if may(PropSessionExpiryInterval) {
		p.SessionExpiry, p.HasSessionExpiry = u32("session expiry"), true
	}
	if may(PropAssignedClientIdentifier) {
		p.AssignedClientID = genString(1, 10).Draw(t, "assigned id")
	}
	if may(PropServerKeepAlive) {
		p.ServerKeepAlive, p.HasServerKeepAlive = rapid.Uint16().Draw(t, "server keep alive"), true
	}
	if may(PropAuthenticationMethod) {
		p.AuthMethod = genString(1, 10).Draw(t, "auth method")
	}
	if may(PropAuthenticationData) {
		p.AuthData = genBytes(1, 10).Draw(t, "auth data")
	}
	if may(PropRequestProblemInformation) {
		p.RequestProblemInfo, p.HasRequestProblemInfo = bit("rpi"), true
	}
	if may(PropWillDelayInterval) {
		p.WillDelay = rapid.Uint32Min(1).Draw(t, "will delay")
	}
	if may(PropRequestResponseInformation) {
		p.RequestResponseInfo = 1
	}
	if may(PropResponseInformation) {
		p.ResponseInfo = genString(1, 10).Draw(t, "response info")
	}
	if may(PropServerReference) {
		p.ServerReference = genString(1, 10).Draw(t, "server reference")
	}
	if may(PropReasonString) {
		p.ReasonString = genString(1, 10).Draw(t, "reason string")
	}
	if may(PropReceiveMaximum) {
		p.ReceiveMaximum = u16nz("receive maximum")
	}
	if may(PropTopicAliasMaximum) {
		p.TopicAliasMaximum = u16nz("topic alias maximum")
	}
	if may(PropTopicAlias) {
		p.TopicAlias = u16nz("topic alias")
	}
	if may(PropMaximumQoS) {
		p.MaximumQoS, p.HasMaximumQoS = bit("maximum qos"), true
	}
	if may(PropRetainAvailable) {
		p.RetainAvailable, p.HasRetainAvailable = bit("retain available"), true
	}
	if may(PropUserProperty) {
		for range rapid.IntRange(1, 3).Draw(t, "user properties") {
			p.User = append(p.User, UserProperty{genString(0, 8).Draw(t, "key"), genString(0, 8).Draw(t, "value")})
		}
	}
	if may(PropMaximumPacketSize) {
		p.MaximumPacketSize = rapid.Uint32Min(1).Draw(t, "maximum packet size")
	}
	if may(PropWildcardSubscriptionAvailable) {
		p.WildcardSubAvailable, p.HasWildcardSubAvailable = bit("wildcard"), true
	}
	if may(PropSubscriptionIdentifierAvailable) {
		p.SubIDAvailable, p.HasSubIDAvailable = bit("subid"), true
	}
	if may(PropSharedSubscriptionAvailable) {
		p.SharedSubAvailable, p.HasSharedSubAvailable = bit("shared"), true
	}
	return p
}

func propsFor(t *rapid.T, v Version, owner propertyOwner) Properties {
	if v != V5 {
		return Properties{}
	}
	return genProperties(t, owner)
}

func genReason(t *rapid.T, pt Type) ReasonCode {
	var codes []ReasonCode
	for c := 0; c < 256; c++ {
		if ReasonCode(c).ValidFor(pt) {
			codes = append(codes, ReasonCode(c))
		}
	}
	return rapid.SampledFrom(codes).Draw(t, "reason code")
}

func genPid(t *rapid.T) uint16 { return rapid.Uint16Min(1).Draw(t, "packet id") }

// genPacket draws a valid packet of type pt for version v.
func genPacket(t *rapid.T, pt Type, v Version) Packet {
	switch pt {
	case CONNECT:
		p := &Connect{Version: v, CleanStart: rapid.Bool().Draw(t, "clean"), KeepAlive: rapid.Uint16().Draw(t, "keep alive"),
			ClientID: genString(0, 23).Draw(t, "client id"), Props: propsFor(t, v, ownerOf(CONNECT))}
		if rapid.Bool().Draw(t, "will") {
			p.Will = &Will{Topic: genTopic().Draw(t, "will topic"), Payload: genBytes(0, 16).Draw(t, "will payload"),
				QoS: QoS(rapid.IntRange(0, 2).Draw(t, "will qos")), Retain: rapid.Bool().Draw(t, "will retain"),
				Props: propsFor(t, v, willProperties)}
		}
		if p.HasUsername = rapid.Bool().Draw(t, "has user"); p.HasUsername {
			p.Username = genString(0, 10).Draw(t, "user")
		}
		if p.HasPassword = (p.HasUsername || v == V5) && rapid.Bool().Draw(t, "has password"); p.HasPassword {
			p.Password = genBytes(0, 10).Draw(t, "password")
		}
		return p
	case CONNACK:
		p := &Connack{ReasonCode: Success, Props: propsFor(t, v, ownerOf(CONNACK))}
		if v == V5 {
			p.ReasonCode = genReason(t, CONNACK)
		} else {
			p.ReasonCode = rapid.SampledFrom([]ReasonCode{Success, UnsupportedProtocolVersion, ClientIdentifierNotValid,
				ServerUnavailable, BadUserNameOrPassword, NotAuthorized}).Draw(t, "return code")
		}
		p.SessionPresent = v != V31 && !p.ReasonCode.IsError() && rapid.Bool().Draw(t, "session present")
		return p
	case PUBLISH:
		p := &Publish{QoS: QoS(rapid.IntRange(0, 2).Draw(t, "qos")), Retain: rapid.Bool().Draw(t, "retain"),
			Topic: genTopic().Draw(t, "topic"), Props: propsFor(t, v, ownerOf(PUBLISH)), Payload: genBytes(0, 64).Draw(t, "payload")}
		if p.QoS > 0 {
			p.PacketID = genPid(t)
			p.Dup = rapid.Bool().Draw(t, "dup")
		}
		if p.Props.TopicAlias != 0 && rapid.Bool().Draw(t, "alias only") {
			p.Topic = ""
		}
		return p
	case PUBACK, PUBREC, PUBREL, PUBCOMP:
		a := Puback{PacketID: genPid(t)}
		if v == V5 {
			a.ReasonCode = genReason(t, pt)
			a.Props = genProperties(t, ownerOf(pt))
		}
		switch pt {
		case PUBREC:
			p := Pubrec(a)
			return &p
		case PUBREL:
			p := Pubrel(a)
			return &p
		case PUBCOMP:
			p := Pubcomp(a)
			return &p
		}
		return &a
	case SUBSCRIBE:
		p := &Subscribe{PacketID: genPid(t), Props: propsFor(t, v, ownerOf(SUBSCRIBE))}
		for range rapid.IntRange(1, 4).Draw(t, "filters") {
			s := Subscription{Filter: genString(1, 12).Draw(t, "filter"), QoS: QoS(rapid.IntRange(0, 2).Draw(t, "qos"))}
			if v == V5 {
				s.NoLocal = rapid.Bool().Draw(t, "no local") && s.Filter[0] != '$'
				s.RetainAsPublished = rapid.Bool().Draw(t, "rap")
				s.RetainHandling = RetainHandling(rapid.IntRange(0, 2).Draw(t, "rh"))
			}
			p.Subscriptions = append(p.Subscriptions, s)
		}
		return p
	case SUBACK:
		p := &Suback{PacketID: genPid(t), Props: propsFor(t, v, ownerOf(SUBACK))}
		for range rapid.IntRange(1, 4).Draw(t, "codes") {
			c := genReason(t, SUBACK)
			if v != V5 && c.IsError() {
				c = UnspecifiedError
			}
			p.ReasonCodes = append(p.ReasonCodes, c)
		}
		return p
	case UNSUBSCRIBE:
		p := &Unsubscribe{PacketID: genPid(t), Props: propsFor(t, v, ownerOf(UNSUBSCRIBE))}
		for range rapid.IntRange(1, 4).Draw(t, "filters") {
			p.Filters = append(p.Filters, genString(1, 12).Draw(t, "filter"))
		}
		return p
	case UNSUBACK:
		p := &Unsuback{PacketID: genPid(t), Props: propsFor(t, v, ownerOf(UNSUBACK))}
		if v == V5 {
			for range rapid.IntRange(1, 4).Draw(t, "codes") {
				p.ReasonCodes = append(p.ReasonCodes, genReason(t, UNSUBACK))
			}
		}
		return p
	case PINGREQ:
		return &Pingreq{}
	case PINGRESP:
		return &Pingresp{}
	case DISCONNECT:
		p := &Disconnect{}
		if v == V5 {
			p.ReasonCode = genReason(t, DISCONNECT)
			p.Props = genProperties(t, ownerOf(DISCONNECT))
		}
		return p
	case AUTH:
		return &Auth{ReasonCode: genReason(t, AUTH), Props: genProperties(t, ownerOf(AUTH))}
	}
	t.Fatalf("no generator for %s", pt)
	return nil
}

var equateEmpty = cmpopts.EquateEmpty()

// TestRoundTrip checks that decode(encode(p)) == p for every packet kind of
// every version, and that Decode consumes exactly the encoded bytes.
func TestRoundTrip(t *testing.T) {
	for _, v := range versions {
		for pt := CONNECT; pt <= AUTH; pt++ {
			if pt == AUTH && v != V5 {
				continue
			}
			t.Run(v.String()+"/"+pt.String(), func(t *testing.T) {
				rapid.Check(t, func(t *rapid.T) {
					p := genPacket(t, pt, v)
					wire, err := p.Encode(nil, v)
					if err != nil {
						t.Fatalf("encode %#v: %v", p, err)
					}
					q, n, err := Decode(wire, v)
					if err != nil {
						t.Fatalf("decode % x: %v", wire, err)
					}
					if n != len(wire) {
						t.Fatalf("decode took %d of %d bytes", n, len(wire))
					}
					if diff := cmp.Diff(p, q, equateEmpty); diff != "" {
						t.Fatalf("round trip changed the packet (-sent +decoded):\n%s", diff)
					}
				})
			})
		}
	}
}
