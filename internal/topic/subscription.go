package topic

// Subscription is one client's subscription as delivery needs it. A client
// has at most one subscription per (ShareName, Filter): subscribing again
// replaces the options [MQTT-3.8.4-3].
type Subscription struct {
	// ClientID is kept as given, not copied: pass a string the caller owns
	// for the subscription's lifetime (the session's), never one that
	// aliases a reused read buffer.
	ClientID string
	// ShareName is the group of a shared subscription, empty for an
	// ordinary one.
	ShareName string
	// Filter is the topic filter without any "$share/{ShareName}/" prefix.
	Filter string
	// QoS is the maximum QoS granted, 0 to 2.
	QoS byte
	// NoLocal (v5): do not deliver the client's own publications to it.
	NoLocal bool
	// RetainAsPublished (v5): keep the RETAIN flag on forwarded messages.
	RetainAsPublished bool
	// RetainHandling (v5), 0 to 2: when to send retained messages on
	// subscribe. The tree only stores it; Subscribe's existed result is what
	// value 1 needs.
	RetainHandling byte
	// Identifier is the v5 Subscription Identifier, 0 for none.
	Identifier uint32
}

// Group is a shared subscription group: the members subscribed to Filter
// under ShareName. A message matching Filter goes to one member, which the
// broker picks.
type Group struct {
	ShareName string
	Filter    string
	// Members is shared with the tree and with other Results and never
	// changes after the tree publishes it: read it, keep it, but do not
	// modify it.
	Members []Subscription
}

// entry is a non-shared subscription as the tree stores it; the filter lives
// once in the subscriber set that holds the entry.
type entry struct {
	clientID          string
	identifier        uint32
	qos               byte
	noLocal           bool
	retainAsPublished bool
	retainHandling    byte
}

func newEntry(s Subscription) entry {
	return entry{
		clientID:          s.ClientID,
		identifier:        s.Identifier,
		qos:               s.QoS,
		noLocal:           s.NoLocal,
		retainAsPublished: s.RetainAsPublished,
		retainHandling:    s.RetainHandling,
	}
}

func (e *entry) subscription(filter string) Subscription {
	return Subscription{
		ClientID:          e.clientID,
		Filter:            filter,
		QoS:               e.qos,
		NoLocal:           e.noLocal,
		RetainAsPublished: e.retainAsPublished,
		RetainHandling:    e.retainHandling,
		Identifier:        e.identifier,
	}
}

// indexedAbove is the subscriber count past which a set keeps a client index;
// below it a linear scan is faster and costs no memory.
const indexedAbove = 16

// subscribers holds every subscription to one filter. It lives inside its
// pattern, and its first entry inside it, so that reading a filter's lone
// subscriber costs no cache miss beyond the pattern's own.
type subscribers struct {
	// filter is the filter the set belongs to, or "" while nobody has
	// subscribed to it: the set of a pattern that exists only for its '+'
	// children.
	filter  string
	entries []entry // starts out in first
	first   [1]entry
	rare    *rareParts
}

// rareParts holds what few sets need, out of line to keep patterns small.
type rareParts struct {
	byClient map[string]int // position in entries; nil while the set is small
	groups   []*Group
}

func (s *subscribers) groups() []*Group {
	if s.rare == nil {
		return nil
	}
	return s.rare.groups
}

func (s *subscribers) empty() bool {
	return len(s.entries) == 0 && len(s.groups()) == 0
}

func (s *subscribers) byClient() map[string]int {
	if s.rare == nil {
		return nil
	}
	return s.rare.byClient
}

func (s *subscribers) find(clientID string) int {
	if byClient := s.byClient(); byClient != nil {
		if i, ok := byClient[clientID]; ok {
			return i
		}
		return -1
	}
	for i := range s.entries {
		if s.entries[i].clientID == clientID {
			return i
		}
	}
	return -1
}

// put adds or replaces the client's subscription and reports whether it
// replaced one.
func (s *subscribers) put(e entry) (existed bool) {
	if i := s.find(e.clientID); i >= 0 {
		s.entries[i] = e
		return true
	}
	if s.entries == nil {
		s.entries = s.first[:0]
	}
	s.entries = append(s.entries, e)
	if byClient := s.byClient(); byClient != nil {
		byClient[e.clientID] = len(s.entries) - 1
	} else if len(s.entries) > indexedAbove {
		if s.rare == nil {
			s.rare = &rareParts{}
		}
		s.rare.byClient = make(map[string]int, len(s.entries))
		for i := range s.entries {
			s.rare.byClient[s.entries[i].clientID] = i
		}
	}
	return false
}

// remove deletes the client's subscription, moving the last entry into its
// place: delivery order carries no meaning.
func (s *subscribers) remove(clientID string) bool {
	i := s.find(clientID)
	if i < 0 {
		return false
	}
	byClient := s.byClient()
	last := len(s.entries) - 1
	if i != last {
		s.entries[i] = s.entries[last]
		if byClient != nil {
			byClient[s.entries[i].clientID] = i
		}
	}
	s.entries[last] = entry{} // drop the client ID for the collector
	s.entries = s.entries[:last]
	if byClient != nil {
		delete(byClient, clientID)
		if len(s.entries) <= indexedAbove/2 {
			s.rare.byClient = nil
			s.dropRare()
		}
	}
	if len(s.entries) == 0 {
		s.entries = nil // let go of an outgrown array
	}
	return true
}

func (s *subscribers) dropRare() {
	if s.rare.byClient == nil && len(s.rare.groups) == 0 {
		s.rare = nil
	}
}

func (s *subscribers) group(shareName string) (int, *Group) {
	for i, g := range s.groups() {
		if g.ShareName == shareName {
			return i, g
		}
	}
	return -1, nil
}

// setGroup installs g under its share name, or removes the group when g has
// no members.
func (s *subscribers) setGroup(shareName string, g *Group) {
	i, _ := s.group(shareName)
	switch {
	case i < 0 && len(g.Members) > 0:
		if s.rare == nil {
			s.rare = &rareParts{}
		}
		s.rare.groups = append(s.rare.groups, g)
	case i >= 0 && len(g.Members) > 0:
		s.rare.groups[i] = g
	case i >= 0:
		groups := s.rare.groups
		last := len(groups) - 1
		groups[i] = groups[last]
		groups[last] = nil
		s.rare.groups = groups[:last]
		s.dropRare()
	}
}

// joined returns a copy of g with sub added or replaced. Groups are copied on
// write because Match hands their member lists out without copying, and a
// group changes far less often than messages reach it.
func joined(g *Group, shareName, filter string, sub Subscription) (next *Group, existed bool) {
	sub.ShareName, sub.Filter = shareName, filter
	next = &Group{ShareName: shareName, Filter: filter}
	if g == nil {
		next.Members = []Subscription{sub}
		return next, false
	}
	next.Members = make([]Subscription, 0, len(g.Members)+1)
	for _, m := range g.Members {
		if m.ClientID == sub.ClientID {
			existed = true
			continue
		}
		next.Members = append(next.Members, m)
	}
	next.Members = append(next.Members, sub)
	return next, existed
}

// left returns a copy of g without the client, and whether it was a member.
func left(g *Group, clientID string) (next *Group, found bool) {
	next = &Group{ShareName: g.ShareName, Filter: g.Filter}
	for _, m := range g.Members {
		if m.ClientID == clientID {
			found = true
			continue
		}
		next.Members = append(next.Members, m)
	}
	return next, found
}
