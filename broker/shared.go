package broker

import (
	"hash/maphash"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/petrelmq/petrel/internal/session"
	"github.com/petrelmq/petrel/internal/topic"
)

type groupKey struct{ share, filter string }

// sharedPicker chooses the member of a shared subscription group that gets
// a message, preferring members whose clients are online.
type sharedPicker struct {
	strategy SharedStrategy
	seed     maphash.Seed

	mu     sync.RWMutex
	turns  map[groupKey]*atomic.Uint64
	sticky map[groupKey]string
}

func (p *sharedPicker) pick(s *Server, g *topic.Group, m *session.Message) *topic.Subscription {
	return p.pickExcept(s, g, m, "")
}

// pickExcept picks a member other than except.
func (p *sharedPicker) pickExcept(s *Server, g *topic.Group, m *session.Message, except string) *topic.Subscription {
	var online, all [16]int
	on, every := online[:0], all[:0]
	for i := range g.Members {
		id := g.Members[i].ClientID
		if id == except {
			continue
		}
		every = append(every, i)
		if cs, ok := s.sessions.load(id); ok && cs.online.Load() {
			on = append(on, i)
		}
	}
	candidates := on
	if len(candidates) == 0 {
		candidates = every
	}
	if len(candidates) == 0 {
		return nil
	}
	key := groupKey{g.ShareName, g.Filter}
	var i int
	switch p.strategy {
	case Random:
		i = rand.IntN(len(candidates))
	case HashClientID:
		i = int(maphash.String(p.seed, m.Publisher) % uint64(len(candidates)))
	case HashTopic:
		i = int(maphash.String(p.seed, m.Topic) % uint64(len(candidates)))
	case Sticky:
		p.mu.RLock()
		last := p.sticky[key]
		p.mu.RUnlock()
		for _, c := range candidates {
			if g.Members[c].ClientID == last {
				return &g.Members[c]
			}
		}
		i = rand.IntN(len(candidates))
		p.mu.Lock()
		if p.sticky == nil {
			p.sticky = map[groupKey]string{}
		}
		p.sticky[key] = g.Members[candidates[i]].ClientID
		p.mu.Unlock()
	default:
		i = int(p.turn(key) % uint64(len(candidates)))
	}
	return &g.Members[candidates[i]]
}

// turn returns the group's next round-robin counter value.
func (p *sharedPicker) turn(key groupKey) uint64 {
	p.mu.RLock()
	t := p.turns[key]
	p.mu.RUnlock()
	if t == nil {
		p.mu.Lock()
		if p.turns == nil {
			p.turns = map[groupKey]*atomic.Uint64{}
		}
		if t = p.turns[key]; t == nil {
			t = new(atomic.Uint64)
			p.turns[key] = t
		}
		p.mu.Unlock()
	}
	return t.Add(1) - 1
}
