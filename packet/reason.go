package packet

import (
	"errors"
	"fmt"
	"strconv"
)

// ReasonCode is an MQTT 5 reason code. It is an error value that carries its
// byte, so a failure can travel up as an error and still be answered with the
// right code: errors.Is(err, packet.MalformedPacket), or CodeOf(err).
// Codes below 0x80 report success; IsError tells them apart.
type ReasonCode byte

// Every MQTT 5.0 reason code (section 2.4). Some bytes have several names,
// one per packet that uses them.
const (
	Success                             ReasonCode = 0x00
	NormalDisconnection                 ReasonCode = 0x00
	GrantedQoS0                         ReasonCode = 0x00
	GrantedQoS1                         ReasonCode = 0x01
	GrantedQoS2                         ReasonCode = 0x02
	DisconnectWithWillMessage           ReasonCode = 0x04
	NoMatchingSubscribers               ReasonCode = 0x10
	NoSubscriptionExisted               ReasonCode = 0x11
	ContinueAuthentication              ReasonCode = 0x18
	ReAuthenticate                      ReasonCode = 0x19
	UnspecifiedError                    ReasonCode = 0x80
	MalformedPacket                     ReasonCode = 0x81
	ProtocolError                       ReasonCode = 0x82
	ImplementationSpecificError         ReasonCode = 0x83
	UnsupportedProtocolVersion          ReasonCode = 0x84
	ClientIdentifierNotValid            ReasonCode = 0x85
	BadUserNameOrPassword               ReasonCode = 0x86
	NotAuthorized                       ReasonCode = 0x87
	ServerUnavailable                   ReasonCode = 0x88
	ServerBusy                          ReasonCode = 0x89
	Banned                              ReasonCode = 0x8A
	ServerShuttingDown                  ReasonCode = 0x8B
	BadAuthenticationMethod             ReasonCode = 0x8C
	KeepAliveTimeout                    ReasonCode = 0x8D
	SessionTakenOver                    ReasonCode = 0x8E
	TopicFilterInvalid                  ReasonCode = 0x8F
	TopicNameInvalid                    ReasonCode = 0x90
	PacketIdentifierInUse               ReasonCode = 0x91
	PacketIdentifierNotFound            ReasonCode = 0x92
	ReceiveMaximumExceeded              ReasonCode = 0x93
	TopicAliasInvalid                   ReasonCode = 0x94
	PacketTooLarge                      ReasonCode = 0x95
	MessageRateTooHigh                  ReasonCode = 0x96
	QuotaExceeded                       ReasonCode = 0x97
	AdministrativeAction                ReasonCode = 0x98
	PayloadFormatInvalid                ReasonCode = 0x99
	RetainNotSupported                  ReasonCode = 0x9A
	QoSNotSupported                     ReasonCode = 0x9B
	UseAnotherServer                    ReasonCode = 0x9C
	ServerMoved                         ReasonCode = 0x9D
	SharedSubscriptionsNotSupported     ReasonCode = 0x9E
	ConnectionRateExceeded              ReasonCode = 0x9F
	MaximumConnectTime                  ReasonCode = 0xA0
	SubscriptionIdentifiersNotSupported ReasonCode = 0xA1
	WildcardSubscriptionsNotSupported   ReasonCode = 0xA2
)

var reasonNames = map[ReasonCode]string{
	Success:                             "success",
	GrantedQoS1:                         "granted QoS 1",
	GrantedQoS2:                         "granted QoS 2",
	DisconnectWithWillMessage:           "disconnect with will message",
	NoMatchingSubscribers:               "no matching subscribers",
	NoSubscriptionExisted:               "no subscription existed",
	ContinueAuthentication:              "continue authentication",
	ReAuthenticate:                      "re-authenticate",
	UnspecifiedError:                    "unspecified error",
	MalformedPacket:                     "malformed packet",
	ProtocolError:                       "protocol error",
	ImplementationSpecificError:         "implementation specific error",
	UnsupportedProtocolVersion:          "unsupported protocol version",
	ClientIdentifierNotValid:            "client identifier not valid",
	BadUserNameOrPassword:               "bad user name or password",
	NotAuthorized:                       "not authorized",
	ServerUnavailable:                   "server unavailable",
	ServerBusy:                          "server busy",
	Banned:                              "banned",
	ServerShuttingDown:                  "server shutting down",
	BadAuthenticationMethod:             "bad authentication method",
	KeepAliveTimeout:                    "keep alive timeout",
	SessionTakenOver:                    "session taken over",
	TopicFilterInvalid:                  "topic filter invalid",
	TopicNameInvalid:                    "topic name invalid",
	PacketIdentifierInUse:               "packet identifier in use",
	PacketIdentifierNotFound:            "packet identifier not found",
	ReceiveMaximumExceeded:              "receive maximum exceeded",
	TopicAliasInvalid:                   "topic alias invalid",
	PacketTooLarge:                      "packet too large",
	MessageRateTooHigh:                  "message rate too high",
	QuotaExceeded:                       "quota exceeded",
	AdministrativeAction:                "administrative action",
	PayloadFormatInvalid:                "payload format invalid",
	RetainNotSupported:                  "retain not supported",
	QoSNotSupported:                     "QoS not supported",
	UseAnotherServer:                    "use another server",
	ServerMoved:                         "server moved",
	SharedSubscriptionsNotSupported:     "shared subscriptions not supported",
	ConnectionRateExceeded:              "connection rate exceeded",
	MaximumConnectTime:                  "maximum connect time",
	SubscriptionIdentifiersNotSupported: "subscription identifiers not supported",
	WildcardSubscriptionsNotSupported:   "wildcard subscriptions not supported",
}

// String is the code's name as the specification words it, in lower case.
func (c ReasonCode) String() string {
	if n, ok := reasonNames[c]; ok {
		return n
	}
	return "reason code 0x" + strconv.FormatUint(uint64(c), 16)
}

// Error makes a reason code usable as an error value.
func (c ReasonCode) Error() string { return c.String() }

// IsError reports whether the code reports a failure (0x80 and above).
func (c ReasonCode) IsError() bool { return c >= 0x80 }

// Known reports whether c is a reason code the specification defines.
func (c ReasonCode) Known() bool {
	_, ok := reasonNames[c]
	return ok
}

// Error is a packet that breaks a rule of the specification. Code is the
// reason code the receiver answers with; Reason says which rule, naming its
// normative statement where there is one.
type Error struct {
	Code   ReasonCode
	Reason string
}

func (e *Error) Error() string { return e.Code.String() + ": " + e.Reason }

// Unwrap exposes the reason code to errors.Is and errors.As.
func (e *Error) Unwrap() error { return e.Code }

// CodeOf returns the reason code an error carries. An error that carries
// none (an I/O error, say) yields UnspecifiedError; nil yields Success.
func CodeOf(err error) ReasonCode {
	if err == nil {
		return Success
	}
	var c ReasonCode
	if errors.As(err, &c) {
		return c
	}
	return UnspecifiedError
}

func errorf(code ReasonCode, format string, args ...any) error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

func malformed(format string, args ...any) error {
	return errorf(MalformedPacket, format, args...)
}

func protocolError(format string, args ...any) error {
	return errorf(ProtocolError, format, args...)
}

// MQTT 3.1 and 3.1.1 CONNACK return codes. Connack carries a ReasonCode in
// every version; these are its wire values before 5.0.
const (
	connackV3Accepted                 = 0x00
	connackV3BadProtocolVersion       = 0x01
	connackV3IdentifierRejected       = 0x02
	connackV3ServerUnavailable        = 0x03
	connackV3BadUserNameOrPasswd      = 0x04
	connackV3NotAuthorized            = 0x05
	subackV3Failure              byte = 0x80
)

// connackCodeV3 maps a 5.0 reason code to the nearest 3.1.1 return code.
func connackCodeV3(c ReasonCode) byte {
	switch c {
	case Success:
		return connackV3Accepted
	case UnsupportedProtocolVersion:
		return connackV3BadProtocolVersion
	case ClientIdentifierNotValid:
		return connackV3IdentifierRejected
	case BadUserNameOrPassword, BadAuthenticationMethod:
		return connackV3BadUserNameOrPasswd
	case NotAuthorized, Banned:
		return connackV3NotAuthorized
	}
	return connackV3ServerUnavailable
}

// connackCodeFromV3 maps a 3.1.1 return code to its 5.0 reason code.
func connackCodeFromV3(b byte) (ReasonCode, error) {
	switch b {
	case connackV3Accepted:
		return Success, nil
	case connackV3BadProtocolVersion:
		return UnsupportedProtocolVersion, nil
	case connackV3IdentifierRejected:
		return ClientIdentifierNotValid, nil
	case connackV3ServerUnavailable:
		return ServerUnavailable, nil
	case connackV3BadUserNameOrPasswd:
		return BadUserNameOrPassword, nil
	case connackV3NotAuthorized:
		return NotAuthorized, nil
	}
	return 0, malformed("CONNACK return code %d is reserved", b)
}
