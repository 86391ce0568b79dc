package topic

import "iter"

// children maps level text to the child nodes of a trie node. Most nodes have
// one or two children, for which a scan beats hashing and costs a fraction of
// a map's memory; a node switches to a map once it has many.
type children[N any] struct {
	kids   []kid[N]
	bigger map[string]*N
}

type kid[N any] struct {
	level string
	node  *N
}

// mapAbove is the child count past which a node switches to a map.
const mapAbove = 8

func (c *children[N]) get(level string) *N {
	if c.bigger != nil {
		return c.bigger[level]
	}
	for i := range c.kids {
		if c.kids[i].level == level {
			return c.kids[i].node
		}
	}
	return nil
}

func (c *children[N]) add(level string, n *N) {
	if c.bigger == nil && len(c.kids) < mapAbove {
		c.kids = append(c.kids, kid[N]{level, n})
		return
	}
	if c.bigger == nil {
		c.bigger = make(map[string]*N, 2*mapAbove)
		for _, k := range c.kids {
			c.bigger[k.level] = k.node
		}
		c.kids = nil
	}
	c.bigger[level] = n
}

func (c *children[N]) remove(level string) {
	if c.bigger != nil {
		delete(c.bigger, level)
		return
	}
	for i := range c.kids {
		if c.kids[i].level == level {
			last := len(c.kids) - 1
			c.kids[i] = c.kids[last]
			c.kids[last] = kid[N]{}
			c.kids = c.kids[:last]
			return
		}
	}
}

func (c *children[N]) len() int {
	return len(c.kids) + len(c.bigger)
}

func (c *children[N]) all() iter.Seq2[string, *N] {
	return func(yield func(string, *N) bool) {
		if c.bigger != nil {
			for level, n := range c.bigger {
				if !yield(level, n) {
					return
				}
			}
			return
		}
		for _, k := range c.kids {
			if !yield(k.level, k.node) {
				return
			}
		}
	}
}
