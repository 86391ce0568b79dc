package broker

import (
	"hash/maphash"
	"sync"
)

// sessionShards spreads the session table over this many locks, so that
// lookups on the publish path rarely meet a CONNECT's write.
const sessionShards = 64

// sessionTable maps client ids to sessions. It is a sharded map rather
// than a sync.Map: a sync.Map entry costs about 200 bytes, a plain map's
// a few dozen, which counts at a million sessions.
type sessionTable struct {
	seed   maphash.Seed
	shards [sessionShards]struct {
		mu sync.RWMutex
		m  map[string]*clientSession
	}
}

func newSessionTable() *sessionTable {
	t := &sessionTable{seed: maphash.MakeSeed()}
	for i := range t.shards {
		t.shards[i].m = map[string]*clientSession{}
	}
	return t
}

func (t *sessionTable) shard(id string) int {
	return int(maphash.String(t.seed, id) % sessionShards)
}

func (t *sessionTable) load(id string) (*clientSession, bool) {
	sh := &t.shards[t.shard(id)]
	sh.mu.RLock()
	cs, ok := sh.m[id]
	sh.mu.RUnlock()
	return cs, ok
}

func (t *sessionTable) store(id string, cs *clientSession) {
	sh := &t.shards[t.shard(id)]
	sh.mu.Lock()
	sh.m[id] = cs
	sh.mu.Unlock()
}

func (t *sessionTable) delete(id string) {
	sh := &t.shards[t.shard(id)]
	sh.mu.Lock()
	delete(sh.m, id)
	sh.mu.Unlock()
}
