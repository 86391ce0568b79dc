package topic

import "errors"

// The sentinel kinds a broker maps to reason codes. Every error this package
// returns wraps exactly one of them, so errors.Is selects the reason code:
//
//	ErrInvalidName   -> 0x90 Topic Name Invalid   (PUBLISH, will topic)
//	ErrInvalidFilter -> 0x8F Topic Filter Invalid (SUBSCRIBE, UNSUBSCRIBE)
//	ErrInvalidShare  -> 0x8F Topic Filter Invalid as well; it wraps
//	                    ErrInvalidFilter, so a broker that only checks
//	                    ErrInvalidFilter still answers correctly.
//
// For MQTT 3.1.1, which has no reason codes, every one of them means the
// server closes the network connection.
var (
	ErrInvalidName   = errors.New("topic: invalid topic name")
	ErrInvalidFilter = errors.New("topic: invalid topic filter")
	ErrInvalidShare  = &kindError{msg: "topic: invalid shared subscription", parent: ErrInvalidFilter}
)

// kindError lets ErrInvalidShare be its own sentinel while still matching
// ErrInvalidFilter, without a message that repeats the parent's.
type kindError struct {
	msg    string
	parent error
}

func (e *kindError) Error() string { return e.msg }
func (e *kindError) Unwrap() error { return e.parent }

// RuleError says which normative statement a topic name, filter or share name
// broke. Rule is the statement id without brackets, e.g. "MQTT-4.7.1-2"; the
// 4.7 and 4.8 ids are the same in MQTT 3.1.1 and 5.0, and UTF-8 rules carry the
// 5.0 id (MQTT-1.5.4-1, which is MQTT-1.5.3-1 in 3.1.1). Reason is fit for a v5
// Reason String. The values are preallocated, so a rejected PUBLISH costs no
// allocation.
type RuleError struct {
	Kind   error // ErrInvalidName, ErrInvalidFilter or ErrInvalidShare
	Rule   string
	Reason string
}

func (e *RuleError) Error() string {
	return e.Kind.Error() + ": " + e.Reason + " [" + e.Rule + "]"
}

func (e *RuleError) Unwrap() error { return e.Kind }

var (
	errNameEmpty    = &RuleError{ErrInvalidName, "MQTT-4.7.3-1", "topic name is empty"}
	errNameNUL      = &RuleError{ErrInvalidName, "MQTT-4.7.3-2", "topic name contains U+0000"}
	errNameTooLong  = &RuleError{ErrInvalidName, "MQTT-4.7.3-3", "topic name is longer than 65535 bytes"}
	errNameUTF8     = &RuleError{ErrInvalidName, "MQTT-1.5.4-1", "topic name is not well-formed UTF-8"}
	errNameWildcard = &RuleError{ErrInvalidName, "MQTT-4.7.1-1", "topic name contains a wildcard character ('+' or '#')"}

	errFilterEmpty   = &RuleError{ErrInvalidFilter, "MQTT-4.7.3-1", "topic filter is empty"}
	errFilterNUL     = &RuleError{ErrInvalidFilter, "MQTT-4.7.3-2", "topic filter contains U+0000"}
	errFilterTooLong = &RuleError{ErrInvalidFilter, "MQTT-4.7.3-3", "topic filter is longer than 65535 bytes"}
	errFilterUTF8    = &RuleError{ErrInvalidFilter, "MQTT-1.5.4-1", "topic filter is not well-formed UTF-8"}
	errFilterHash    = &RuleError{ErrInvalidFilter, "MQTT-4.7.1-2", "'#' must be the last character of the filter and alone in its level"}
	errFilterPlus    = &RuleError{ErrInvalidFilter, "MQTT-4.7.1-3", "'+' must occupy an entire level of the filter"}

	errShareNameEmpty = &RuleError{ErrInvalidShare, "MQTT-4.8.2-1", "share name is empty"}
	errShareNameChars = &RuleError{ErrInvalidShare, "MQTT-4.8.2-2", "share name contains '/', '+' or '#'"}
	errShareNoFilter  = &RuleError{ErrInvalidShare, "MQTT-4.8.2-2", "share name must be followed by '/' and a topic filter"}
)
