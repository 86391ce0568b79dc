package topic

import (
	"strings"
	"unicode/utf8"
)

// MaxLength is the longest topic name or filter in bytes: MQTT strings carry a
// two-byte length prefix.
const MaxLength = 65535

// ValidateName reports whether name may be used as the topic name of a
// PUBLISH or will message. The error is a *RuleError wrapping ErrInvalidName.
// Names beginning with '$' are valid here; whether a client may publish to
// them is the broker's policy, not a syntax rule.
func ValidateName(name string) error {
	if len(name) == 0 {
		return errNameEmpty // [MQTT-4.7.3-1]
	}
	if len(name) > MaxLength {
		return errNameTooLong // [MQTT-4.7.3-3]
	}
	ascii := true
	for i := 0; i < len(name); i++ {
		switch c := name[i]; {
		case c == '+' || c == '#':
			return errNameWildcard // [MQTT-4.7.1-1]
		case c == 0:
			return errNameNUL // [MQTT-4.7.3-2]
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	// The byte scan above is the common case; only names with non-ASCII bytes
	// pay for the full UTF-8 check.
	if !ascii && !utf8.ValidString(name) {
		return errNameUTF8 // [MQTT-1.5.4-1]
	}
	return nil
}

// ValidateFilter reports whether filter is a well-formed topic filter. It does
// not treat "$share/" specially: a broker that supports shared subscriptions
// calls ParseShared instead. The error is a *RuleError wrapping
// ErrInvalidFilter.
func ValidateFilter(filter string) error {
	if len(filter) == 0 {
		return errFilterEmpty // [MQTT-4.7.3-1]
	}
	if len(filter) > MaxLength {
		return errFilterTooLong // [MQTT-4.7.3-3]
	}
	ascii := true
	for i := 0; i < len(filter); i++ {
		c := filter[i]
		atLevelStart := i == 0 || filter[i-1] == '/'
		switch {
		case c == '#':
			if !atLevelStart || i != len(filter)-1 {
				return errFilterHash // [MQTT-4.7.1-2]
			}
		case c == '+':
			if !atLevelStart || (i+1 < len(filter) && filter[i+1] != '/') {
				return errFilterPlus // [MQTT-4.7.1-3]
			}
		case c == 0:
			return errFilterNUL // [MQTT-4.7.3-2]
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if !ascii && !utf8.ValidString(filter) {
		return errFilterUTF8 // [MQTT-1.5.4-1]
	}
	return nil
}

// sharePrefix starts every shared subscription's filter. [MQTT-4.8.2-1]
const sharePrefix = "$share/"

// ParseShared validates a SUBSCRIBE or UNSUBSCRIBE topic filter and, when it
// has the MQTT 5.0 form "$share/{ShareName}/{filter}", splits it. For any
// other filter it returns shared false, an empty shareName and filter
// unchanged, after ValidateFilter. MQTT 3.1.1 has no shared subscriptions; a
// broker that offers them to 3.1.1 clients anyway calls this too, and one that
// does not calls ValidateFilter, which treats "$share/..." as an ordinary
// filter.
//
// Errors wrap ErrInvalidShare for a malformed share name or a missing inner
// filter, and ErrInvalidFilter for an inner filter that breaks the 4.7 rules.
func ParseShared(s string) (shareName, filter string, shared bool, err error) {
	rest, ok := strings.CutPrefix(s, sharePrefix)
	if !ok {
		return "", s, false, ValidateFilter(s)
	}
	if len(s) > MaxLength {
		return "", "", true, errFilterTooLong // [MQTT-4.7.3-3]
	}
	shareName, filter, ok = strings.Cut(rest, "/")
	if err := validateShareName(shareName); err != nil {
		return "", "", true, err
	}
	if !ok {
		return "", "", true, errShareNoFilter // [MQTT-4.8.2-2]
	}
	if filter == "" {
		return "", "", true, errShareNoFilter // [MQTT-4.8.2-2]
	}
	if err := ValidateFilter(filter); err != nil {
		return "", "", true, err
	}
	return shareName, filter, true, nil
}
