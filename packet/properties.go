package packet

import "strings"

// UserProperty is one User Property: a name and value pair. The same name
// may appear more than once, and order is kept.
type UserProperty struct {
	Key, Value string
}

// Properties holds the MQTT 5 properties of one packet or of a will. The
// zero value of a field means the property is absent, except for the
// fields paired with a Has flag, where the zero value is meaningful on the
// wire. An empty string or byte slice counts as absent.
//
// Each packet type may carry only some properties (PropertyID.Info tells
// which); encoding a packet that sets one it may not carry fails.
type Properties struct {
	PayloadFormat    byte // 0 unspecified bytes, 1 UTF-8 (PUBLISH, will)
	MessageExpiry    uint32
	HasMessageExpiry bool
	ContentType      string
	ResponseTopic    string
	CorrelationData  []byte
	// SubscriptionIdentifiers holds every Subscription Identifier: many on
	// a PUBLISH to a client, at most one on SUBSCRIBE.
	SubscriptionIdentifiers []uint32

	SessionExpiry           uint32
	HasSessionExpiry        bool
	AssignedClientID        string
	ServerKeepAlive         uint16
	HasServerKeepAlive      bool
	AuthMethod              string
	AuthData                []byte
	RequestProblemInfo      byte // absent means 1
	HasRequestProblemInfo   bool
	WillDelay               uint32
	RequestResponseInfo     byte
	ResponseInfo            string
	ServerReference         string
	ReasonString            string
	ReceiveMaximum          uint16 // absent means 65,535; 0 is not allowed
	TopicAliasMaximum       uint16
	TopicAlias              uint16
	MaximumQoS              byte // absent means 2
	HasMaximumQoS           bool
	RetainAvailable         byte // absent means 1
	HasRetainAvailable      bool
	User                    []UserProperty
	MaximumPacketSize       uint32 // absent means no limit; 0 is not allowed
	WildcardSubAvailable    byte   // absent means 1
	HasWildcardSubAvailable bool
	SubIDAvailable          byte // absent means 1
	HasSubIDAvailable       bool
	SharedSubAvailable      byte // absent means 1
	HasSharedSubAvailable   bool
}

// reset empties p but keeps the capacity of its slices, so decoding into a
// reused value does not allocate.
func (p *Properties) reset() {
	*p = Properties{User: p.User[:0], SubscriptionIdentifiers: p.SubscriptionIdentifiers[:0]}
}

// Empty reports whether no property is set.
func (p *Properties) Empty() bool {
	return p.count() == 0
}

func (p *Properties) count() int {
	n := len(p.User) + len(p.SubscriptionIdentifiers)
	for _, set := range [...]bool{
		p.PayloadFormat != 0, p.HasMessageExpiry, p.ContentType != "", p.ResponseTopic != "",
		len(p.CorrelationData) > 0, p.HasSessionExpiry, p.AssignedClientID != "", p.HasServerKeepAlive,
		p.AuthMethod != "", len(p.AuthData) > 0, p.HasRequestProblemInfo, p.WillDelay != 0,
		p.RequestResponseInfo != 0, p.ResponseInfo != "", p.ServerReference != "", p.ReasonString != "",
		p.ReceiveMaximum != 0, p.TopicAliasMaximum != 0, p.TopicAlias != 0, p.HasMaximumQoS,
		p.HasRetainAvailable, p.MaximumPacketSize != 0, p.HasWildcardSubAvailable, p.HasSubIDAvailable,
		p.HasSharedSubAvailable,
	} {
		if set {
			n++
		}
	}
	return n
}

// propertyWriter sizes or appends properties. Sizing and appending walk the
// same code so the two can never disagree.
type propertyWriter struct {
	dst    []byte
	size   int
	sizing bool
	owner  propertyOwner
	err    error
}

func (w *propertyWriter) id(id PropertyID) bool {
	if properties[id].owners&w.owner == 0 {
		if w.err == nil {
			w.err = malformed("%s may not carry the %s property", ownerName(w.owner), id)
		}
		return false
	}
	return true
}

func (w *propertyWriter) byte(id PropertyID, v byte) {
	if !w.id(id) {
		return
	}
	if w.sizing {
		w.size += 2
		return
	}
	w.dst = append(w.dst, byte(id), v)
}

func (w *propertyWriter) uint16(id PropertyID, v uint16) {
	if !w.id(id) {
		return
	}
	if w.sizing {
		w.size += 3
		return
	}
	w.dst = appendUint16(append(w.dst, byte(id)), v)
}

func (w *propertyWriter) uint32(id PropertyID, v uint32) {
	if !w.id(id) {
		return
	}
	if w.sizing {
		w.size += 5
		return
	}
	w.dst = appendUint32(append(w.dst, byte(id)), v)
}

func (w *propertyWriter) varint(id PropertyID, v uint32) {
	if !w.id(id) {
		return
	}
	if w.sizing {
		if v == 0 || v > MaxSubscriptionIdentifier {
			w.fail(protocolError("%s %d is outside 1 to %d", id, v, MaxSubscriptionIdentifier))
		}
		w.size += 1 + varintSize(int(v))
		return
	}
	w.dst = appendVarint(append(w.dst, byte(id)), int(v))
}

func (w *propertyWriter) string(id PropertyID, v string) {
	if !w.id(id) {
		return
	}
	if w.sizing {
		w.fail(checkLen(len(v), id.String()))
		w.size += 3 + len(v)
		return
	}
	w.dst = appendString(append(w.dst, byte(id)), v)
}

func (w *propertyWriter) binary(id PropertyID, v []byte) {
	if !w.id(id) {
		return
	}
	if w.sizing {
		w.fail(checkLen(len(v), id.String()))
		w.size += 3 + len(v)
		return
	}
	w.dst = appendBinary(append(w.dst, byte(id)), v)
}

func (w *propertyWriter) pair(u UserProperty) {
	if !w.id(PropUserProperty) {
		return
	}
	if w.sizing {
		w.fail(checkLen(len(u.Key), "User Property name"))
		w.fail(checkLen(len(u.Value), "User Property value"))
		w.size += 5 + len(u.Key) + len(u.Value)
		return
	}
	w.dst = appendString(appendString(append(w.dst, byte(PropUserProperty)), u.Key), u.Value)
}

func (w *propertyWriter) fail(err error) {
	if w.err == nil && err != nil {
		w.err = err
	}
}

func (w *propertyWriter) write(p *Properties) {
	if p.PayloadFormat != 0 {
		w.byte(PropPayloadFormatIndicator, p.PayloadFormat)
	}
	if p.HasMessageExpiry {
		w.uint32(PropMessageExpiryInterval, p.MessageExpiry)
	}
	if p.ContentType != "" {
		w.string(PropContentType, p.ContentType)
	}
	if p.ResponseTopic != "" {
		w.string(PropResponseTopic, p.ResponseTopic)
	}
	if len(p.CorrelationData) > 0 {
		w.binary(PropCorrelationData, p.CorrelationData)
	}
	for _, id := range p.SubscriptionIdentifiers {
		w.varint(PropSubscriptionIdentifier, id)
	}
	if p.HasSessionExpiry {
		w.uint32(PropSessionExpiryInterval, p.SessionExpiry)
	}
	if p.AssignedClientID != "" {
		w.string(PropAssignedClientIdentifier, p.AssignedClientID)
	}
	if p.HasServerKeepAlive {
		w.uint16(PropServerKeepAlive, p.ServerKeepAlive)
	}
	if p.AuthMethod != "" {
		w.string(PropAuthenticationMethod, p.AuthMethod)
	}
	if len(p.AuthData) > 0 {
		w.binary(PropAuthenticationData, p.AuthData)
	}
	if p.HasRequestProblemInfo {
		w.byte(PropRequestProblemInformation, p.RequestProblemInfo)
	}
	if p.WillDelay != 0 {
		w.uint32(PropWillDelayInterval, p.WillDelay)
	}
	if p.RequestResponseInfo != 0 {
		w.byte(PropRequestResponseInformation, p.RequestResponseInfo)
	}
	if p.ResponseInfo != "" {
		w.string(PropResponseInformation, p.ResponseInfo)
	}
	if p.ServerReference != "" {
		w.string(PropServerReference, p.ServerReference)
	}
	if p.ReasonString != "" {
		w.string(PropReasonString, p.ReasonString)
	}
	if p.ReceiveMaximum != 0 {
		w.uint16(PropReceiveMaximum, p.ReceiveMaximum)
	}
	if p.TopicAliasMaximum != 0 {
		w.uint16(PropTopicAliasMaximum, p.TopicAliasMaximum)
	}
	if p.TopicAlias != 0 {
		w.uint16(PropTopicAlias, p.TopicAlias)
	}
	if p.HasMaximumQoS {
		w.byte(PropMaximumQoS, p.MaximumQoS)
	}
	if p.HasRetainAvailable {
		w.byte(PropRetainAvailable, p.RetainAvailable)
	}
	for _, u := range p.User {
		w.pair(u)
	}
	if p.MaximumPacketSize != 0 {
		w.uint32(PropMaximumPacketSize, p.MaximumPacketSize)
	}
	if p.HasWildcardSubAvailable {
		w.byte(PropWildcardSubscriptionAvailable, p.WildcardSubAvailable)
	}
	if p.HasSubIDAvailable {
		w.byte(PropSubscriptionIdentifierAvailable, p.SubIDAvailable)
	}
	if p.HasSharedSubAvailable {
		w.byte(PropSharedSubscriptionAvailable, p.SharedSubAvailable)
	}
}

// encodedSize is the size of the properties on the wire, without the
// property length that precedes them.
func (p *Properties) encodedSize(owner propertyOwner) (int, error) {
	w := propertyWriter{sizing: true, owner: owner}
	w.write(p)
	return w.size, w.err
}

// appendTo appends the property length and the properties; n is the
// size encodedSize returned.
func (p *Properties) appendTo(dst []byte, owner propertyOwner, n int) []byte {
	dst = appendVarint(dst, n)
	w := propertyWriter{dst: dst, owner: owner}
	w.write(p)
	return w.dst
}

func ownerName(o propertyOwner) string {
	if o == willProperties {
		return "the will"
	}
	for t := CONNECT; t <= AUTH; t++ {
		if o == ownerOf(t) {
			return t.String()
		}
	}
	return "this packet"
}

// decode reads a property length and the properties after it into p, which
// it resets first.
func (p *Properties) decode(c *cursor, owner propertyOwner) error {
	p.reset()
	n, err := c.varint("property length")
	if err != nil {
		return err
	}
	if n > c.remaining() {
		return malformed("property length %d exceeds the %d bytes left", n, c.remaining())
	}
	pc := cursor{b: c.b[:c.i+n], i: c.i}
	c.i += n
	var seen uint64
	for pc.remaining() > 0 {
		b, _ := pc.byte("property identifier")
		id := PropertyID(b)
		info, ok := id.Info()
		if !ok {
			return malformed("unknown property identifier %#x", b)
		}
		if info.owners&owner == 0 {
			return malformed("%s may not carry the %s property", ownerName(owner), id)
		}
		if seen&(1<<id) != 0 && !info.Multiple {
			return protocolError("%s property included more than once", id)
		}
		seen |= 1 << id
		if err := p.decodeOne(&pc, id, owner); err != nil {
			return err
		}
	}
	return nil
}

func zeroOrOne(id PropertyID, v byte) error {
	if v > 1 {
		return protocolError("%s is %d; only 0 and 1 are allowed", id, v)
	}
	return nil
}

func (p *Properties) decodeOne(c *cursor, id PropertyID, owner propertyOwner) error {
	name := id.String()
	var err error
	switch id {
	case PropPayloadFormatIndicator:
		if p.PayloadFormat, err = c.byte(name); err == nil {
			err = zeroOrOne(id, p.PayloadFormat)
		}
	case PropMessageExpiryInterval:
		p.MessageExpiry, err = c.uint32(name)
		p.HasMessageExpiry = true
	case PropContentType:
		p.ContentType, err = c.string(name)
	case PropResponseTopic:
		// A response is published to it, so it is a Topic Name.
		if p.ResponseTopic, err = c.string(name); err == nil && strings.ContainsAny(p.ResponseTopic, "+#") {
			err = errorf(TopicNameInvalid, "Response Topic %q contains a wildcard (v5 [MQTT-3.3.2-14])", p.ResponseTopic)
		}
	case PropCorrelationData:
		p.CorrelationData, err = c.binary(name)
	case PropSubscriptionIdentifier:
		var v int
		if v, err = c.varint(name); err == nil {
			if v == 0 {
				return protocolError("Subscription Identifier 0")
			}
			if owner == ownerOf(SUBSCRIBE) && len(p.SubscriptionIdentifiers) == 1 {
				return protocolError("SUBSCRIBE carries more than one Subscription Identifier")
			}
			p.SubscriptionIdentifiers = append(p.SubscriptionIdentifiers, uint32(v))
		}
	case PropSessionExpiryInterval:
		p.SessionExpiry, err = c.uint32(name)
		p.HasSessionExpiry = true
	case PropAssignedClientIdentifier:
		p.AssignedClientID, err = c.string(name)
	case PropServerKeepAlive:
		p.ServerKeepAlive, err = c.uint16(name)
		p.HasServerKeepAlive = true
	case PropAuthenticationMethod:
		p.AuthMethod, err = c.string(name)
	case PropAuthenticationData:
		p.AuthData, err = c.binary(name)
	case PropRequestProblemInformation:
		if p.RequestProblemInfo, err = c.byte(name); err == nil {
			err = zeroOrOne(id, p.RequestProblemInfo)
		}
		p.HasRequestProblemInfo = true
	case PropWillDelayInterval:
		p.WillDelay, err = c.uint32(name)
	case PropRequestResponseInformation:
		if p.RequestResponseInfo, err = c.byte(name); err == nil {
			err = zeroOrOne(id, p.RequestResponseInfo)
		}
	case PropResponseInformation:
		p.ResponseInfo, err = c.string(name)
	case PropServerReference:
		p.ServerReference, err = c.string(name)
	case PropReasonString:
		p.ReasonString, err = c.string(name)
	case PropReceiveMaximum:
		if p.ReceiveMaximum, err = c.uint16(name); err == nil && p.ReceiveMaximum == 0 {
			err = protocolError("Receive Maximum 0")
		}
	case PropTopicAliasMaximum:
		p.TopicAliasMaximum, err = c.uint16(name)
	case PropTopicAlias:
		if p.TopicAlias, err = c.uint16(name); err == nil && p.TopicAlias == 0 {
			// v5 [MQTT-3.3.2-8]
			err = errorf(TopicAliasInvalid, "Topic Alias 0 (v5 [MQTT-3.3.2-8])")
		}
	case PropMaximumQoS:
		if p.MaximumQoS, err = c.byte(name); err == nil {
			err = zeroOrOne(id, p.MaximumQoS)
		}
		p.HasMaximumQoS = true
	case PropRetainAvailable:
		if p.RetainAvailable, err = c.byte(name); err == nil {
			err = zeroOrOne(id, p.RetainAvailable)
		}
		p.HasRetainAvailable = true
	case PropUserProperty:
		var u UserProperty
		if u.Key, err = c.string("User Property name"); err == nil {
			if u.Value, err = c.string("User Property value"); err == nil {
				p.User = append(p.User, u)
			}
		}
	case PropMaximumPacketSize:
		if p.MaximumPacketSize, err = c.uint32(name); err == nil && p.MaximumPacketSize == 0 {
			err = protocolError("Maximum Packet Size 0")
		}
	case PropWildcardSubscriptionAvailable:
		if p.WildcardSubAvailable, err = c.byte(name); err == nil {
			err = zeroOrOne(id, p.WildcardSubAvailable)
		}
		p.HasWildcardSubAvailable = true
	case PropSubscriptionIdentifierAvailable:
		if p.SubIDAvailable, err = c.byte(name); err == nil {
			err = zeroOrOne(id, p.SubIDAvailable)
		}
		p.HasSubIDAvailable = true
	case PropSharedSubscriptionAvailable:
		if p.SharedSubAvailable, err = c.byte(name); err == nil {
			err = zeroOrOne(id, p.SharedSubAvailable)
		}
		p.HasSharedSubAvailable = true
	}
	return err
}
