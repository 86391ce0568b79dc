package auth

import (
	"strings"
	"sync/atomic"

	"github.com/petrelmq/petrel/plugin"
)

// ACL is an Authorizer over an ACL file in Mosquitto's syntax with a few
// additions. A client may do what some rule that applies to it allows,
// unless a deny rule that applies to it forbids it; a client no rule
// allows may do nothing. The rules that apply to a client are those of its
// user (or the anonymous rules, when it sent no user name), those of its
// client identifier, and every pattern. The syntax is OpenACL's.
//
// Publish is checked against write rules and Receive against read rules,
// by matching the topic name with each rule's filter, as a subscription
// would match it; deny rules forbid both. Subscribe is checked against
// read rules by containment: a subscription is allowed when a rule's
// filter covers every topic the subscription's filter can match (rule
// "a/#" allows subscribing to "a/#", "a/+/b" and "a/b"; rule "a/+"
// allows "a/b" but not "a/#"), and refused when a deny rule covers it.
// A subscription that only overlaps a deny rule ("a/#" beside
// "deny a/secret/#") is allowed, and the messages under the denied part
// are withheld from it when Receive is checked, as Mosquitto does. The
// "$share/{group}/" prefix of a shared subscription is removed before
// any of this. Wildcards in a rule, as in a subscription, do not match
// topics that begin with '$' at their first level.
//
// Authorize makes no allocation and takes no lock: the rules of each user
// and client are compiled when the file is read, and Reload swaps in a new
// set atomically.
type ACL struct {
	path  string
	rules atomic.Pointer[aclRules]
}

// aclRules is one reading of the file.
type aclRules struct {
	global    aclSection // settings before the first user or client line
	anonymous aclSection
	users     map[string]*aclSection
	clients   map[string]*aclSection
	patterns  aclSection
}

// aclSection is the rules of one user, one client, the anonymous clients
// or the patterns, sorted by what they rule on.
type aclSection struct {
	deny, read, write []aclFilter
	maxLevels         int // 0: not set here
	denyWildcards     bool
}

// Authorize says whether c may do a with topic (a topic name, or for
// Subscribe a topic filter).
func (a *ACL) Authorize(c *plugin.Client, act plugin.Action, topic string) bool {
	r := a.rules.Load()
	user := &r.anonymous
	if c.HasUsername {
		user = r.users[c.Username]
	}
	client := r.clients[c.ID]
	sections := [3]*aclSection{user, client, &r.patterns}
	switch act {
	case plugin.Publish:
		return r.withinLevels(user, client, topic) && allowed(sections, c, act, topic)
	case plugin.Receive:
		return allowed(sections, c, act, topic)
	case plugin.Subscribe:
		if rest, ok := strings.CutPrefix(topic, "$share/"); ok {
			if _, filter, ok := strings.Cut(rest, "/"); ok {
				topic = filter
			}
		}
		if strings.ContainsAny(topic, "+#") && r.denyWildcards(user, client) {
			return false
		}
		return r.withinLevels(user, client, topic) && allowed(sections, c, act, topic)
	}
	return false
}

// allowed applies the deny rules of sections, then the rules that allow
// act: write rules for Publish, read rules otherwise.
func allowed(sections [3]*aclSection, c *plugin.Client, act plugin.Action, topic string) bool {
	test := (*aclFilter).matchName
	if act == plugin.Subscribe {
		test = (*aclFilter).covers
	}
	for _, s := range sections {
		if s == nil {
			continue
		}
		for i := range s.deny {
			if test(&s.deny[i], topic, c) {
				return false
			}
		}
	}
	for _, s := range sections {
		if s == nil {
			continue
		}
		rules := s.read
		if act == plugin.Publish {
			rules = s.write
		}
		for i := range rules {
			if test(&rules[i], topic, c) {
				return true
			}
		}
	}
	return false
}

// withinLevels applies max_topic_levels: the user's or client's own
// setting (the smaller, when both have one), else the global one.
func (r *aclRules) withinLevels(user, client *aclSection, topic string) bool {
	limit := 0
	for _, s := range [2]*aclSection{user, client} {
		if s != nil && s.maxLevels > 0 && (limit == 0 || s.maxLevels < limit) {
			limit = s.maxLevels
		}
	}
	if limit == 0 {
		limit = r.global.maxLevels
	}
	return limit == 0 || strings.Count(topic, "/") < limit
}

// denyWildcards says whether deny_wildcard_subscriptions applies, set
// globally or for the user or the client.
func (r *aclRules) denyWildcards(user, client *aclSection) bool {
	return r.global.denyWildcards || user != nil && user.denyWildcards || client != nil && client.denyWildcards
}

// aclFilter is a rule's topic filter split into levels.
type aclFilter struct {
	levels []aclLevel
}

type aclLevel struct {
	kind levelKind
	text string // of a literal level
}

type levelKind uint8

const (
	literalLevel  levelKind = iota
	plusLevel               // +
	hashLevel               // #, always the last level
	clientIDLevel           // %c, in patterns
	usernameLevel           // %u, in patterns
)

// matchName says whether the filter matches topic name, with the client's
// identifier and user name in place of %c and %u.
func (f *aclFilter) matchName(topic string, c *plugin.Client) bool {
	rest, done := topic, false
	for i := range f.levels {
		l := &f.levels[i]
		if l.kind == hashLevel {
			// [MQTT-4.7.1-2] '#' also matches the parent level;
			// [MQTT-4.7.2-1] a leading wildcard does not match '$' topics.
			return i > 0 || !strings.HasPrefix(topic, "$")
		}
		if done {
			return false
		}
		var seg string
		seg, rest, done = nextTopicLevel(rest)
		if !l.matchLevel(seg, i, c) {
			return false
		}
	}
	return done
}

// covers says whether every topic that filter sub matches is matched by f.
func (f *aclFilter) covers(sub string, c *plugin.Client) bool {
	rest, done := sub, false
	for i := range f.levels {
		l := &f.levels[i]
		if l.kind == hashLevel {
			return i > 0 || !strings.HasPrefix(sub, "$")
		}
		if done {
			return false
		}
		var seg string
		seg, rest, done = nextTopicLevel(rest)
		// A '#' in sub is covered only by a '#' in f, handled above.
		if seg == "#" || !l.matchLevel(seg, i, c) {
			return false
		}
	}
	return done
}

// matchLevel says whether level i of the filter matches seg, a level of a
// topic name or a literal or '+' level of a filter.
func (l *aclLevel) matchLevel(seg string, i int, c *plugin.Client) bool {
	switch l.kind {
	case literalLevel:
		return seg == l.text
	case plusLevel:
		return i > 0 || !strings.HasPrefix(seg, "$")
	case clientIDLevel:
		return seg == c.ID && substitutes(c.ID, i)
	case usernameLevel:
		return c.HasUsername && seg == c.Username && substitutes(c.Username, i)
	}
	return false
}

// substitutes says whether s may stand in for %c or %u at level i. A name
// that is empty, holds a wildcard or a separator, or begins with '$' at the
// first level would widen the rule or reach the server's topics, so it
// matches nothing.
func substitutes(s string, i int) bool {
	return s != "" && !strings.ContainsAny(s, "+#/") && (i > 0 || s[0] != '$')
}

// nextTopicLevel splits the first level off a topic or filter.
func nextTopicLevel(s string) (level, rest string, last bool) {
	if i := strings.IndexByte(s, '/'); i >= 0 {
		return s[:i], s[i+1:], false
	}
	return s, "", true
}
