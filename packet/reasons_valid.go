package packet

// reasonSet is the set of reason codes one packet type may carry
// (table 2-6 of the 5.0 specification).
type reasonSet [8]uint32

func (s *reasonSet) has(c ReasonCode) bool { return s[c>>5]&(1<<(c&31)) != 0 }

func reasons(codes ...ReasonCode) *reasonSet {
	var s reasonSet
	for _, c := range codes {
		s[c>>5] |= 1 << (c & 31)
	}
	return &s
}

var validReasons = [16]*reasonSet{
	CONNACK: reasons(Success, UnspecifiedError, MalformedPacket, ProtocolError, ImplementationSpecificError,
		UnsupportedProtocolVersion, ClientIdentifierNotValid, BadUserNameOrPassword, NotAuthorized,
		ServerUnavailable, ServerBusy, Banned, BadAuthenticationMethod, TopicNameInvalid, PacketTooLarge,
		QuotaExceeded, PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer,
		ServerMoved, ConnectionRateExceeded),
	PUBACK: reasons(Success, NoMatchingSubscribers, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicNameInvalid, PacketIdentifierInUse, QuotaExceeded, PayloadFormatInvalid),
	PUBREC: reasons(Success, NoMatchingSubscribers, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicNameInvalid, PacketIdentifierInUse, QuotaExceeded, PayloadFormatInvalid),
	PUBREL:  reasons(Success, PacketIdentifierNotFound),
	PUBCOMP: reasons(Success, PacketIdentifierNotFound),
	SUBACK: reasons(GrantedQoS0, GrantedQoS1, GrantedQoS2, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse, QuotaExceeded,
		SharedSubscriptionsNotSupported, SubscriptionIdentifiersNotSupported, WildcardSubscriptionsNotSupported),
	UNSUBACK: reasons(Success, NoSubscriptionExisted, UnspecifiedError, ImplementationSpecificError,
		NotAuthorized, TopicFilterInvalid, PacketIdentifierInUse),
	// Table 2-6 lists Bad authentication method for DISCONNECT (a failed
	// re-authentication) although the table in section 3.14.2.1 leaves it
	// out; a receiver accepts what either table allows.
	DISCONNECT: reasons(NormalDisconnection, DisconnectWithWillMessage, UnspecifiedError, MalformedPacket,
		ProtocolError, ImplementationSpecificError, NotAuthorized, ServerBusy, ServerShuttingDown,
		BadAuthenticationMethod, KeepAliveTimeout, SessionTakenOver, TopicFilterInvalid, TopicNameInvalid, ReceiveMaximumExceeded,
		TopicAliasInvalid, PacketTooLarge, MessageRateTooHigh, QuotaExceeded, AdministrativeAction,
		PayloadFormatInvalid, RetainNotSupported, QoSNotSupported, UseAnotherServer, ServerMoved,
		SharedSubscriptionsNotSupported, ConnectionRateExceeded, MaximumConnectTime,
		SubscriptionIdentifiersNotSupported, WildcardSubscriptionsNotSupported),
	AUTH: reasons(Success, ContinueAuthentication, ReAuthenticate),
}

// ValidFor reports whether a packet of type t may carry the reason code.
func (c ReasonCode) ValidFor(t Type) bool {
	s := validReasons[t&0x0f]
	return s != nil && s.has(c)
}

func checkReason(t Type, c ReasonCode) error {
	if !c.ValidFor(t) {
		return protocolError("%s may not carry reason code %#x (%s)", t, byte(c), c)
	}
	return nil
}
