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

// indexedAbove is the subscriber count past which a pattern keeps a client
// index; below it a linear scan is faster and costs no memory.
const indexedAbove = 16

// inline is how many subscriptions a pattern holds in itself: a filter's
// first few subscribers are read with the pattern, at no cache miss of their
// own. Most filters have one to three.
const inline = 3

// rareParts holds what few patterns need, out of line to keep patterns
// small.
type rareParts struct {
	more     []entry        // the subscriptions past the inline ones
	byClient map[string]int // position of each client's entry; nil while few
	groups   []*Group
}

func (p *pattern) groups() []*Group {
	if p.rare == nil {
		return nil
	}
	return p.rare.groups
}

// live reports whether anybody subscribed to the pattern's key.
func (p *pattern) live() bool {
	return p.n > 0 || len(p.groups()) > 0
}

// at returns the i-th of the pattern's n entries.
func (p *pattern) at(i int) *entry {
	if i < inline {
		return &p.first[i]
	}
	return &p.rare.more[i-inline]
}

func (p *pattern) byClient() map[string]int {
	if p.rare == nil {
		return nil
	}
	return p.rare.byClient
}

func (p *pattern) find(clientID string) int {
	if byClient := p.byClient(); byClient != nil {
		if i, ok := byClient[clientID]; ok {
			return i
		}
		return -1
	}
	for i := range int(p.n) {
		if p.at(i).clientID == clientID {
			return i
		}
	}
	return -1
}

func (p *pattern) rareParts() *rareParts {
	if p.rare == nil {
		p.rare = &rareParts{}
	}
	return p.rare
}

// put adds or replaces the client's subscription and reports whether it
// replaced one.
func (p *pattern) put(e entry) (existed bool) {
	if i := p.find(e.clientID); i >= 0 {
		*p.at(i) = e
		return true
	}
	if p.n < inline {
		p.first[p.n] = e
	} else {
		r := p.rareParts()
		r.more = append(r.more, e)
	}
	p.n++
	if byClient := p.byClient(); byClient != nil {
		byClient[e.clientID] = int(p.n) - 1
	} else if p.n > indexedAbove {
		r := p.rareParts()
		r.byClient = make(map[string]int, p.n)
		for i := range int(p.n) {
			r.byClient[p.at(i).clientID] = i
		}
	}
	return false
}

// remove deletes the client's subscription, moving the last entry into its
// place: delivery order carries no meaning.
func (p *pattern) remove(clientID string) bool {
	i := p.find(clientID)
	if i < 0 {
		return false
	}
	byClient := p.byClient()
	last := int(p.n) - 1
	if i != last {
		*p.at(i) = *p.at(last)
		if byClient != nil {
			byClient[p.at(i).clientID] = i
		}
	}
	*p.at(last) = entry{} // drop the client ID for the collector
	p.n--
	if last >= inline {
		p.rare.more = p.rare.more[:last-inline]
		if len(p.rare.more) == 0 {
			p.rare.more = nil // let go of an outgrown array
		}
	}
	if byClient != nil {
		delete(byClient, clientID)
		if p.n <= indexedAbove/2 {
			p.rare.byClient = nil
		}
	}
	p.dropRare()
	return true
}

func (p *pattern) dropRare() {
	if r := p.rare; r != nil && r.more == nil && r.byClient == nil && len(r.groups) == 0 {
		p.rare = nil
	}
}

func (p *pattern) group(shareName string) (int, *Group) {
	for i, g := range p.groups() {
		if g.ShareName == shareName {
			return i, g
		}
	}
	return -1, nil
}

// setGroup installs g under its share name, or removes the group when g has
// no members.
func (p *pattern) setGroup(shareName string, g *Group) {
	i, _ := p.group(shareName)
	switch {
	case i < 0 && len(g.Members) > 0:
		r := p.rareParts()
		r.groups = append(r.groups, g)
	case i >= 0 && len(g.Members) > 0:
		p.rare.groups[i] = g
	case i >= 0:
		groups := p.rare.groups
		last := len(groups) - 1
		groups[i] = groups[last]
		groups[last] = nil
		p.rare.groups = groups[:last]
		p.dropRare()
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
