package packet

// arena copies strings and byte slices into one block so a clone costs one
// allocation for all its variable-length data.
type arena []byte

func (a *arena) bytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	start := len(*a)
	*a = append(*a, b...)
	return (*a)[start:len(*a):len(*a)]
}

func (a *arena) string(s string) string {
	start := len(*a)
	*a = append(*a, s...)
	return alias((*a)[start:len(*a)])
}

// variableSize is the number of bytes clone copies into its arena.
func (p *Properties) variableSize() int {
	n := len(p.ContentType) + len(p.ResponseTopic) + len(p.CorrelationData) + len(p.AssignedClientID) +
		len(p.AuthMethod) + len(p.AuthData) + len(p.ResponseInfo) + len(p.ServerReference) + len(p.ReasonString)
	for _, u := range p.User {
		n += len(u.Key) + len(u.Value)
	}
	return n
}

// clone copies p's variable-length data into a, which must have room for
// variableSize more bytes so that earlier copies are not moved.
func (p *Properties) clone(a *arena) Properties {
	q := *p
	q.ContentType = a.string(p.ContentType)
	q.ResponseTopic = a.string(p.ResponseTopic)
	q.CorrelationData = a.bytes(p.CorrelationData)
	q.AssignedClientID = a.string(p.AssignedClientID)
	q.AuthMethod = a.string(p.AuthMethod)
	q.AuthData = a.bytes(p.AuthData)
	q.ResponseInfo = a.string(p.ResponseInfo)
	q.ServerReference = a.string(p.ServerReference)
	q.ReasonString = a.string(p.ReasonString)
	q.User = nil
	if len(p.User) > 0 {
		q.User = make([]UserProperty, len(p.User))
		for i, u := range p.User {
			q.User[i] = UserProperty{Key: a.string(u.Key), Value: a.string(u.Value)}
		}
	}
	q.SubscriptionIdentifiers = nil
	if len(p.SubscriptionIdentifiers) > 0 {
		q.SubscriptionIdentifiers = append([]uint32(nil), p.SubscriptionIdentifiers...)
	}
	return q
}

// CloneTopicPayload returns copies of p's topic and payload that share one
// new allocation: what a broker keeps of most messages.
func (p *Publish) CloneTopicPayload() (topic string, payload []byte) {
	a := arena(make([]byte, 0, len(p.Topic)+len(p.Payload)))
	topic = a.string(p.Topic)
	payload = a.bytes(p.Payload)
	if payload == nil {
		payload = a[len(a):]
	}
	return topic, payload
}

// Clone returns a deep copy of p that shares no memory with it.
func (p *Properties) Clone() *Properties {
	a := arena(make([]byte, 0, p.variableSize()))
	q := p.clone(&a)
	return &q
}

// Clone returns a copy of p that owns its memory, so it outlives the
// buffer p was decoded from. The copy is made by encoding p for version v
// and decoding the result.
func Clone(p Packet, v Version) (Packet, error) {
	if pub, ok := p.(*Publish); ok {
		return pub.Clone(), nil
	}
	wire, err := p.Encode(nil, v)
	if err != nil {
		return nil, err
	}
	h, n, err := parseFixedHeader(wire, v)
	if err != nil {
		return nil, err
	}
	q := New(h.Type)
	if err := q.Decode(h.Flags, wire[n:], v); err != nil {
		return nil, err
	}
	return q, nil
}
