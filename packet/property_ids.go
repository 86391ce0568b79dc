package packet

import "strconv"

// PropertyID identifies an MQTT 5 property (section 2.2.2.2).
type PropertyID byte

// Every MQTT 5.0 property identifier.
const (
	PropPayloadFormatIndicator          PropertyID = 0x01
	PropMessageExpiryInterval           PropertyID = 0x02
	PropContentType                     PropertyID = 0x03
	PropResponseTopic                   PropertyID = 0x08
	PropCorrelationData                 PropertyID = 0x09
	PropSubscriptionIdentifier          PropertyID = 0x0B
	PropSessionExpiryInterval           PropertyID = 0x11
	PropAssignedClientIdentifier        PropertyID = 0x12
	PropServerKeepAlive                 PropertyID = 0x13
	PropAuthenticationMethod            PropertyID = 0x15
	PropAuthenticationData              PropertyID = 0x16
	PropRequestProblemInformation       PropertyID = 0x17
	PropWillDelayInterval               PropertyID = 0x18
	PropRequestResponseInformation      PropertyID = 0x19
	PropResponseInformation             PropertyID = 0x1A
	PropServerReference                 PropertyID = 0x1C
	PropReasonString                    PropertyID = 0x1F
	PropReceiveMaximum                  PropertyID = 0x21
	PropTopicAliasMaximum               PropertyID = 0x22
	PropTopicAlias                      PropertyID = 0x23
	PropMaximumQoS                      PropertyID = 0x24
	PropRetainAvailable                 PropertyID = 0x25
	PropUserProperty                    PropertyID = 0x26
	PropMaximumPacketSize               PropertyID = 0x27
	PropWildcardSubscriptionAvailable   PropertyID = 0x28
	PropSubscriptionIdentifierAvailable PropertyID = 0x29
	PropSharedSubscriptionAvailable     PropertyID = 0x2A
)

// WireType is the data type a property's value has on the wire (section 1.5).
type WireType byte

// The data types of section 1.5 that properties use.
const (
	WireByte WireType = iota + 1
	WireTwoByteInteger
	WireFourByteInteger
	WireVarint
	WireString
	WireBinary
	WireStringPair
)

// propertyOwner names what may carry a property: a packet type, or the will
// properties of CONNECT, which have their own set.
type propertyOwner uint32

func ownerOf(t Type) propertyOwner { return 1 << t }

// willProperties is the owner bit for a CONNECT's will properties; bit 0 is
// free because packet type 0 is reserved.
const willProperties propertyOwner = 1

// PropertyInfo describes one property: its name, wire type, which packets
// may carry it, and whether it may appear more than once.
type PropertyInfo struct {
	Name     string
	Wire     WireType
	owners   propertyOwner
	Multiple bool
}

// AllowedIn reports whether a packet of type t may carry the property.
func (p PropertyInfo) AllowedIn(t Type) bool { return p.owners&ownerOf(t) != 0 }

// AllowedInWill reports whether the property may be a will property.
func (p PropertyInfo) AllowedInWill() bool { return p.owners&willProperties != 0 }

func owners(ts ...Type) propertyOwner {
	var o propertyOwner
	for _, t := range ts {
		o |= ownerOf(t)
	}
	return o
}

// properties is table 2-4 of the 5.0 specification.
var properties = [0x2B]PropertyInfo{
	PropPayloadFormatIndicator:          {"Payload Format Indicator", WireByte, owners(PUBLISH) | willProperties, false},
	PropMessageExpiryInterval:           {"Message Expiry Interval", WireFourByteInteger, owners(PUBLISH) | willProperties, false},
	PropContentType:                     {"Content Type", WireString, owners(PUBLISH) | willProperties, false},
	PropResponseTopic:                   {"Response Topic", WireString, owners(PUBLISH) | willProperties, false},
	PropCorrelationData:                 {"Correlation Data", WireBinary, owners(PUBLISH) | willProperties, false},
	PropSubscriptionIdentifier:          {"Subscription Identifier", WireVarint, owners(PUBLISH, SUBSCRIBE), true},
	PropSessionExpiryInterval:           {"Session Expiry Interval", WireFourByteInteger, owners(CONNECT, CONNACK, DISCONNECT), false},
	PropAssignedClientIdentifier:        {"Assigned Client Identifier", WireString, owners(CONNACK), false},
	PropServerKeepAlive:                 {"Server Keep Alive", WireTwoByteInteger, owners(CONNACK), false},
	PropAuthenticationMethod:            {"Authentication Method", WireString, owners(CONNECT, CONNACK, AUTH), false},
	PropAuthenticationData:              {"Authentication Data", WireBinary, owners(CONNECT, CONNACK, AUTH), false},
	PropRequestProblemInformation:       {"Request Problem Information", WireByte, owners(CONNECT), false},
	PropWillDelayInterval:               {"Will Delay Interval", WireFourByteInteger, willProperties, false},
	PropRequestResponseInformation:      {"Request Response Information", WireByte, owners(CONNECT), false},
	PropResponseInformation:             {"Response Information", WireString, owners(CONNACK), false},
	PropServerReference:                 {"Server Reference", WireString, owners(CONNACK, DISCONNECT), false},
	PropReasonString:                    {"Reason String", WireString, owners(CONNACK, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK, UNSUBACK, DISCONNECT, AUTH), false},
	PropReceiveMaximum:                  {"Receive Maximum", WireTwoByteInteger, owners(CONNECT, CONNACK), false},
	PropTopicAliasMaximum:               {"Topic Alias Maximum", WireTwoByteInteger, owners(CONNECT, CONNACK), false},
	PropTopicAlias:                      {"Topic Alias", WireTwoByteInteger, owners(PUBLISH), false},
	PropMaximumQoS:                      {"Maximum QoS", WireByte, owners(CONNACK), false},
	PropRetainAvailable:                 {"Retain Available", WireByte, owners(CONNACK), false},
	PropUserProperty:                    {"User Property", WireStringPair, owners(CONNECT, CONNACK, PUBLISH, PUBACK, PUBREC, PUBREL, PUBCOMP, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK, DISCONNECT, AUTH) | willProperties, true},
	PropMaximumPacketSize:               {"Maximum Packet Size", WireFourByteInteger, owners(CONNECT, CONNACK), false},
	PropWildcardSubscriptionAvailable:   {"Wildcard Subscription Available", WireByte, owners(CONNACK), false},
	PropSubscriptionIdentifierAvailable: {"Subscription Identifier Available", WireByte, owners(CONNACK), false},
	PropSharedSubscriptionAvailable:     {"Shared Subscription Available", WireByte, owners(CONNACK), false},
}

// Info describes the property, and reports false for an identifier the
// specification does not define.
func (id PropertyID) Info() (PropertyInfo, bool) {
	if int(id) >= len(properties) || properties[id].Name == "" {
		return PropertyInfo{}, false
	}
	return properties[id], true
}

func (id PropertyID) String() string {
	if p, ok := id.Info(); ok {
		return p.Name
	}
	return "property 0x" + strconv.FormatUint(uint64(id), 16)
}
