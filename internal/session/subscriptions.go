package session

import "iter"

// indexAbove is the number of subscriptions past which Subscriptions keeps
// a map from filter to position; below it a linear scan is as fast.
const indexAbove = 16

// Subscriptions is a session's subscriptions, keyed by the filter as the
// client sent it ("$share/g/f" included). Most sessions hold a few, so
// they sit in a slice: an empty Go map alone costs more than a handful of
// entries, and that counts at a million idle sessions. Past indexAbove a
// map finds them.
type Subscriptions struct {
	list  []Subscription
	index map[string]int
}

// Len is the number of subscriptions.
func (s *Subscriptions) Len() int { return len(s.list) }

func (s *Subscriptions) find(filter string) int {
	if s.index != nil {
		if i, ok := s.index[filter]; ok {
			return i
		}
		return -1
	}
	for i := range s.list {
		if s.list[i].Filter == filter {
			return i
		}
	}
	return -1
}

// Get returns the subscription to filter.
func (s *Subscriptions) Get(filter string) (Subscription, bool) {
	if i := s.find(filter); i >= 0 {
		return s.list[i], true
	}
	return Subscription{}, false
}

// Put adds sub, or replaces the subscription with the same filter.
func (s *Subscriptions) Put(sub Subscription) {
	if i := s.find(sub.Filter); i >= 0 {
		s.list[i] = sub
		return
	}
	s.list = append(s.list, sub)
	switch {
	case s.index != nil:
		s.index[sub.Filter] = len(s.list) - 1
	case len(s.list) > indexAbove:
		s.index = make(map[string]int, len(s.list))
		for i := range s.list {
			s.index[s.list[i].Filter] = i
		}
	}
}

// Delete removes the subscription to filter and reports whether there was
// one.
func (s *Subscriptions) Delete(filter string) bool {
	i := s.find(filter)
	if i < 0 {
		return false
	}
	last := len(s.list) - 1
	if s.index != nil {
		delete(s.index, filter)
		if i != last {
			s.index[s.list[last].Filter] = i
		}
	}
	s.list[i] = s.list[last]
	s.list[last] = Subscription{}
	s.list = s.list[:last]
	return true
}

// All yields every subscription, in no particular order. The sequence must
// not be used while the set changes.
func (s *Subscriptions) All() iter.Seq[Subscription] {
	return func(yield func(Subscription) bool) {
		for _, sub := range s.list {
			if !yield(sub) {
				return
			}
		}
	}
}

// Clear removes every subscription.
func (s *Subscriptions) Clear() { *s = Subscriptions{} }
