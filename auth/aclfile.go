package auth

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// OpenACL reads the ACL file at path. The file is a list of lines, each a
// keyword and its fields separated by blanks, optionally followed by a
// comment that begins with '#'; lines that are empty or begin with '#'
// are comments too:
//
//	# anonymous rules come first, before any user or client line
//	topic read public/#
//	max_topic_levels 8             # global, before any user or client line
//	user alice                     # the rules below are alice's
//	topic readwrite alice/#
//	topic deny alice/secret/#
//	deny_wildcard_subscriptions    # alice may not subscribe with + or #
//	client sensor-1                # the rules below are this client id's
//	topic write sensors/1/#
//	pattern readwrite devices/%c/# # patterns apply to every client
//	pattern read users/%u/inbox
//
// topic ACCESS FILTER adds a rule to the current section: the anonymous
// clients' before the first user or client line, else the last named
// user's or client's. ACCESS is read, write, readwrite or deny, and may be
// left out to mean readwrite, as in Mosquitto. pattern ACCESS FILTER adds
// a rule for every client, wherever it stands, in which a level that is
// %c or %u stands for the client's identifier or user name; a name that
// holds '+', '#' or '/' (or is empty, or begins with '$' at the first
// level) makes such a rule match nothing. user NAME and client ID start
// a section; a name may have several sections, which add up.
//
// max_topic_levels N refuses to publish to a topic name or subscribe to a
// filter of more than N levels; deny_wildcard_subscriptions refuses
// subscriptions that contain '+' or '#'. Before the first user or client
// line they apply to every client; after one they apply to that section,
// where max_topic_levels replaces the global value (the smaller of the
// user's and the client's applies when both set one) and
// deny_wildcard_subscriptions adds to the global setting.
//
// Unlike Mosquitto, filters, user names and client identifiers cannot
// contain blanks, and a '#' field after a line's fields starts a comment.
// An error names the file and line.
func OpenACL(path string) (*ACL, error) {
	a := &ACL{path: path}
	if err := a.Reload(); err != nil {
		return nil, err
	}
	return a, nil
}

// Reload reads the file again and, if it is valid, puts its rules in
// force at once; if it is not, the error says where, and the rules read
// before stay in force.
func (a *ACL) Reload() error {
	data, err := os.ReadFile(a.path)
	if err != nil {
		return fmt.Errorf("ACL file: %w", err)
	}
	r, err := parseACL(a.path, data)
	if err != nil {
		return err
	}
	a.rules.Store(r)
	return nil
}

// Path is the file's path, as given to OpenACL.
func (a *ACL) Path() string { return a.path }

func parseACL(path string, data []byte) (*aclRules, error) {
	r := &aclRules{users: map[string]*aclSection{}, clients: map[string]*aclSection{}}
	cur, global := &r.anonymous, true
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		fields := strings.Fields(sc.Text())
		if len(fields) == 0 || strings.HasPrefix(fields[0], "#") {
			continue
		}
		fail := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s: %s", path, n, fields[0], fmt.Sprintf(format, args...))
		}
		// The keyword says how many fields follow; a comment may come after.
		want := 2
		switch fields[0] {
		case "deny_wildcard_subscriptions":
			want = 1
		case "topic", "pattern":
			if len(fields) > 1 && aclAccess(fields[1]) {
				want = 3
			} else if len(fields) > 2 && !strings.HasPrefix(fields[2], "#") {
				return nil, fail("unknown access %q: want read, write, readwrite or deny", fields[1])
			}
		case "user", "client", "max_topic_levels":
		default:
			return nil, fmt.Errorf("%s:%d: unknown keyword %q: want topic, pattern, user, client, max_topic_levels or deny_wildcard_subscriptions", path, n, fields[0])
		}
		if len(fields) > want && !strings.HasPrefix(fields[want], "#") {
			return nil, fail("unexpected %q (a comment after the fields begins with '#')", fields[want])
		}
		fields = fields[:min(want, len(fields))]
		args := fields[1:]
		switch fields[0] {
		case "topic", "pattern":
			pattern := fields[0] == "pattern"
			access := "readwrite"
			if len(args) > 0 && aclAccess(args[0]) {
				access, args = args[0], args[1:]
			}
			if len(args) != 1 {
				return nil, fail("want %s [read|write|readwrite|deny] FILTER", fields[0])
			}
			f, err := parseACLFilter(args[0], pattern)
			if err != nil {
				return nil, fail("%q: %v", args[0], err)
			}
			s := cur
			if pattern {
				s = &r.patterns
			}
			switch access {
			case "read":
				s.read = append(s.read, f)
			case "write":
				s.write = append(s.write, f)
			case "readwrite":
				s.read = append(s.read, f)
				s.write = append(s.write, f)
			case "deny":
				s.deny = append(s.deny, f)
			}
		case "user", "client":
			if len(args) != 1 {
				return nil, fail("want %s NAME", fields[0])
			}
			sections := r.users
			if fields[0] == "client" {
				sections = r.clients
			}
			if sections[args[0]] == nil {
				sections[args[0]] = &aclSection{}
			}
			cur, global = sections[args[0]], false
		case "max_topic_levels":
			if len(args) != 1 {
				return nil, fail("want max_topic_levels N")
			}
			v, err := strconv.Atoi(args[0])
			if err != nil || v < 1 {
				return nil, fail("%q is not a positive number", args[0])
			}
			if global {
				r.global.maxLevels = v
			} else {
				cur.maxLevels = v
			}
		case "deny_wildcard_subscriptions":
			if len(args) != 0 {
				return nil, fail("takes no value")
			}
			if global {
				r.global.denyWildcards = true
			} else {
				cur.denyWildcards = true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}

// aclAccess says whether s is a rule's access keyword.
func aclAccess(s string) bool {
	return s == "read" || s == "write" || s == "readwrite" || s == "deny"
}

// parseACLFilter checks and compiles a rule's filter; %c and %u are
// substitutions only in patterns.
func parseACLFilter(s string, pattern bool) (aclFilter, error) {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return aclFilter{}, errors.New("a topic filter must be UTF-8 without NUL")
	}
	var f aclFilter
	levels := strings.Split(s, "/")
	for i, l := range levels {
		lv := aclLevel{text: l}
		switch {
		case l == "#":
			if i != len(levels)-1 {
				return aclFilter{}, errors.New("'#' must be the last level")
			}
			lv = aclLevel{kind: hashLevel}
		case l == "+":
			lv = aclLevel{kind: plusLevel}
		case strings.ContainsAny(l, "+#"):
			return aclFilter{}, errors.New("'+' and '#' must be a whole level")
		case l == "%c" || l == "%u":
			if !pattern {
				return aclFilter{}, fmt.Errorf("%s is substituted only in pattern lines", l)
			}
			lv = aclLevel{kind: clientIDLevel}
			if l == "%u" {
				lv.kind = usernameLevel
			}
		case pattern && (strings.Contains(l, "%c") || strings.Contains(l, "%u")):
			return aclFilter{}, errors.New("%c and %u must be a whole level")
		}
		f.levels = append(f.levels, lv)
	}
	return f, nil
}
