package topic

import (
	"errors"
	"strings"
	"testing"
)

// Both versions number the 4.7 statements alike; the UTF-8 rule moved from
// 1.5.3 in 3.1.1 to 1.5.4 in 5.0.
const (
	v311and5 = "v3.1.1 and v5"
	v5only   = "v5"
)

// rule names the normative statement a case exercises, once per version that
// states it, so a failing test reads as the clause it breaks.
func rule(versions, id string) []string {
	switch {
	case versions == v5only:
		return []string{"v5 [" + id + "]"}
	case id == "MQTT-1.5.4-1":
		return []string{"v3.1.1 [MQTT-1.5.3-1]", "v5 [MQTT-1.5.4-1]"}
	default:
		return []string{"v3.1.1 [" + id + "]", "v5 [" + id + "]"}
	}
}

type ruleCase struct {
	input string
	want  *RuleError // nil: valid
}

func runRuleCases(t *testing.T, refs []string, validate func(string) error, cases []ruleCase) {
	t.Helper()
	for _, ref := range refs {
		for _, c := range cases {
			name := ref + "/" + printable(c.input)
			t.Run(name, func(t *testing.T) {
				err := validate(c.input)
				if c.want == nil {
					if err != nil {
						t.Fatalf("%q: unexpected error %v", c.input, err)
					}
					return
				}
				if err != c.want {
					t.Fatalf("%q: got %v, want %v", c.input, err, c.want)
				}
				if !errors.Is(err, c.want.Kind) {
					t.Fatalf("%q: %v does not wrap %v", c.input, err, c.want.Kind)
				}
				if !strings.Contains(ref, c.want.Rule) && c.want.Rule != "MQTT-1.5.4-1" {
					t.Fatalf("case filed under %s but error cites %s", ref, c.want.Rule)
				}
			})
		}
	}
}

func printable(s string) string {
	if len(s) > 24 {
		s = s[:24] + "..."
	}
	return strings.NewReplacer("\x00", `\0`, "/", "|").Replace(s)
}

func TestValidateNameWildcards(t *testing.T) {
	runRuleCases(t, rule(v311and5, "MQTT-4.7.1-1"), ValidateName, []ruleCase{
		{"sport/tennis/player1", nil},
		{"sport/+", errNameWildcard},
		{"+", errNameWildcard},
		{"#", errNameWildcard},
		{"sport/#", errNameWildcard},
		{"a+b", errNameWildcard},
		{"a#b", errNameWildcard},
	})
}

func TestFilterMultiLevelWildcard(t *testing.T) {
	runRuleCases(t, rule(v311and5, "MQTT-4.7.1-2"), ValidateFilter, []ruleCase{
		{"#", nil},
		{"sport/#", nil},
		{"sport/tennis/#", nil},
		{"/#", nil},
		{"sport/tennis#", errFilterHash},
		{"sport/tennis/#/ranking", errFilterHash},
		{"#/", errFilterHash},
		{"##", errFilterHash},
		{"sport/#/", errFilterHash},
		{"a#", errFilterHash},
	})
}

func TestFilterSingleLevelWildcard(t *testing.T) {
	runRuleCases(t, rule(v311and5, "MQTT-4.7.1-3"), ValidateFilter, []ruleCase{
		{"+", nil},
		{"+/tennis/#", nil},
		{"sport/+/player1", nil},
		{"/+", nil},
		{"+/+", nil},
		{"+/", nil},
		{"sport+", errFilterPlus},
		{"sport/+tennis", errFilterPlus},
		{"++", errFilterPlus},
		{"+a/b", errFilterPlus},
	})
}

func TestLengthAtLeastOne(t *testing.T) {
	cases := []ruleCase{{"", nil}, {"/", nil}, {"a", nil}}
	nameCases := append([]ruleCase{}, cases...)
	nameCases[0].want = errNameEmpty
	filterCases := append([]ruleCase{}, cases...)
	filterCases[0].want = errFilterEmpty
	runRuleCases(t, rule(v311and5, "MQTT-4.7.3-1"), ValidateName, nameCases)
	runRuleCases(t, rule(v311and5, "MQTT-4.7.3-1"), ValidateFilter, filterCases)
}

func TestNoNullCharacter(t *testing.T) {
	runRuleCases(t, rule(v311and5, "MQTT-4.7.3-2"), ValidateName, []ruleCase{
		{"a\x00b", errNameNUL},
		{"\x00", errNameNUL},
	})
	runRuleCases(t, rule(v311and5, "MQTT-4.7.3-2"), ValidateFilter, []ruleCase{
		{"a/\x00/#", errFilterNUL},
		{"\x00", errFilterNUL},
	})
}

func TestAtMost65535Bytes(t *testing.T) {
	longest := strings.Repeat("a", MaxLength)
	tooLong := longest + "a"
	// A multi-byte character is counted in bytes, not code points.
	tooLongUTF8 := strings.Repeat("é", MaxLength/2+1)
	runRuleCases(t, rule(v311and5, "MQTT-4.7.3-3"), ValidateName, []ruleCase{
		{longest, nil},
		{tooLong, errNameTooLong},
		{tooLongUTF8, errNameTooLong},
	})
	runRuleCases(t, rule(v311and5, "MQTT-4.7.3-3"), ValidateFilter, []ruleCase{
		{longest, nil},
		{tooLong, errFilterTooLong},
		{tooLongUTF8, errFilterTooLong},
	})
}

func TestWellFormedUTF8(t *testing.T) {
	runRuleCases(t, rule(v311and5, "MQTT-1.5.4-1"), ValidateName, []ruleCase{
		{"température/salle", nil},
		{"日本/東京", nil},
		{"bad/\xff", errNameUTF8},
		{"surrogate/\xed\xa0\x80", errNameUTF8},
		{"overlong-nul/\xc0\x80", errNameUTF8},
	})
	runRuleCases(t, rule(v311and5, "MQTT-1.5.4-1"), ValidateFilter, []ruleCase{
		{"température/+", nil},
		{"bad/\xff/#", errFilterUTF8},
	})
}

func TestSharedSubscriptionShareName(t *testing.T) {
	parse := func(s string) error { _, _, _, err := ParseShared(s); return err }
	runRuleCases(t, rule(v5only, "MQTT-4.8.2-1"), parse, []ruleCase{
		{"$share/g/a", nil},
		{"$share//a", errShareNameEmpty},
		{"$share//", errShareNameEmpty},
	})
	runRuleCases(t, rule(v5only, "MQTT-4.8.2-2"), parse, []ruleCase{
		{"$share/g/sport/#", nil},
		{"$share/g/+", nil},
		{"$share/g+/a", errShareNameChars},
		{"$share/#/a", errShareNameChars},
		{"$share/+/a", errShareNameChars},
		{"$share/g", errShareNoFilter},
		{"$share/g/", errShareNoFilter},
	})
}

func TestParseShared(t *testing.T) {
	cases := []struct {
		in                string
		shareName, filter string
		shared            bool
		err               error
	}{
		{"$share/consumers/sport/tennis/+", "consumers", "sport/tennis/+", true, nil},
		{"$share/g/#", "g", "#", true, nil},
		{"$share/g//", "g", "/", true, nil},
		{"sport/tennis", "", "sport/tennis", false, nil},
		{"$share", "", "$share", false, nil},
		{"$SYS/#", "", "$SYS/#", false, nil},
		{"$sharex/g/a", "", "$sharex/g/a", false, nil},
		{"$share/g/a/#/b", "", "", true, errFilterHash},
		{"sport/#/b", "", "sport/#/b", false, errFilterHash},
		{"$share/g\x00/a", "", "", true, errFilterNUL},
		{"$share/\xff/a", "", "", true, errFilterUTF8},
		{"$share/g/" + strings.Repeat("a", MaxLength), "", "", true, errFilterTooLong},
	}
	for _, c := range cases {
		shareName, filter, shared, err := ParseShared(c.in)
		if shareName != c.shareName || filter != c.filter || shared != c.shared || err != c.err {
			t.Errorf("ParseShared(%q) = %q, %q, %v, %v; want %q, %q, %v, %v",
				printable(c.in), shareName, filter, shared, err, c.shareName, c.filter, c.shared, c.err)
		}
	}
}

func TestErrorsMapToReasonCodes(t *testing.T) {
	if !errors.Is(ErrInvalidShare, ErrInvalidFilter) {
		t.Error("ErrInvalidShare must wrap ErrInvalidFilter: both are reason code 0x8F")
	}
	if errors.Is(ErrInvalidName, ErrInvalidFilter) || errors.Is(ErrInvalidFilter, ErrInvalidName) {
		t.Error("names (0x90) and filters (0x8F) must be told apart")
	}
	_, _, _, err := ParseShared("$share//a")
	var re *RuleError
	if !errors.As(err, &re) || re.Rule != "MQTT-4.8.2-1" || !errors.Is(err, ErrInvalidFilter) {
		t.Errorf("ParseShared(\"$share//a\") = %v; want a RuleError for MQTT-4.8.2-1 wrapping ErrInvalidFilter", err)
	}
	want := "topic: invalid topic filter: '#' must be the last character of the filter and alone in its level [MQTT-4.7.1-2]"
	if got := ValidateFilter("a/#/b").Error(); got != want {
		t.Errorf("message = %q; want %q", got, want)
	}
}

func TestValidateNameDoesNotAllocate(t *testing.T) {
	for _, name := range []string{"sport/tennis/player1", "température", "a/+"} {
		if n := testing.AllocsPerRun(100, func() { _ = ValidateName(name) }); n != 0 {
			t.Errorf("ValidateName(%q) allocates %v times; it runs on every PUBLISH", name, n)
		}
	}
}
