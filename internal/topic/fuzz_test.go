package topic

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// program decodes fuzz bytes into subscribe, unsubscribe, retain and match
// steps over a small alphabet of levels, so that filters and names collide
// often enough for matching to be exercised.
type program struct {
	data []byte
}

func (p *program) next() int {
	if len(p.data) == 0 {
		return 0
	}
	b := p.data[0]
	p.data = p.data[1:]
	return int(b)
}

var (
	nameLevels   = []string{"a", "b", "", "$SYS", "$", "aé", "sport"}
	filterLevels = append(slices.Clone(nameLevels), "+", "#", "+", "#")
)

func (p *program) levels(alphabet []string) string {
	n := 1 + p.next()%4
	parts := make([]string, n)
	for i := range parts {
		parts[i] = alphabet[p.next()%len(alphabet)]
		if parts[i] == "#" && i != n-1 {
			parts[i] = "+"
		}
	}
	return strings.Join(parts, "/")
}

// runProgram executes the steps against Tree and Retained and against the
// reference list, failing at the first difference.
func runProgram(t *testing.T, data []byte) {
	p := &program{data: data}
	var (
		tr      Tree
		ref     refTree
		ret     Retained[string]
		refRet  = map[string]bool{}
		result  Result
		clients = []string{"c1", "c2", "c3"}
		shares  = []string{"", "", "g", "h"}
	)
	for len(p.data) > 0 {
		switch op := p.next() % 6; op {
		case 0, 1:
			s := Subscription{
				ClientID:   clients[p.next()%len(clients)],
				ShareName:  shares[p.next()%len(shares)],
				Filter:     p.levels(filterLevels),
				QoS:        byte(p.next() % 3),
				Identifier: uint32(p.next() % 4),
			}
			existed, err := tr.Subscribe(s)
			if verr := ValidateFilter(s.Filter); verr != nil {
				if err == nil {
					t.Fatalf("Subscribe(%+v) accepted an invalid filter", s)
				}
				continue
			}
			if err != nil {
				t.Fatalf("Subscribe(%+v): %v", s, err)
			}
			if want := ref.subscribe(s); existed != want {
				t.Fatalf("Subscribe(%+v) existed = %v, want %v", s, existed, want)
			}
		case 2:
			c, sh, f := clients[p.next()%len(clients)], shares[p.next()%len(shares)], p.levels(filterLevels)
			if got, want := tr.Unsubscribe(c, sh, f), ref.unsubscribe(c, sh, f); got != want {
				t.Fatalf("Unsubscribe(%q, %q, %q) = %v, want %v", c, sh, f, got, want)
			}
		case 3:
			name := p.levels(nameLevels)
			if ValidateName(name) != nil {
				continue
			}
			if p.next()%3 == 0 {
				if got, want := ret.Delete(name), refRet[name]; got != want {
					t.Fatalf("Retained.Delete(%q) = %v, want %v", name, got, want)
				}
				delete(refRet, name)
			} else {
				if got, want := ret.Set(name, name), refRet[name]; got != want {
					t.Fatalf("Retained.Set(%q) = %v, want %v", name, got, want)
				}
				refRet[name] = true
			}
		case 4:
			filter := p.levels(filterLevels)
			if ValidateFilter(filter) != nil {
				continue
			}
			got := slices.Sorted(slices.Values(ret.Match(filter, nil)))
			var want []string
			for name := range refRet {
				if refMatches(filter, name) {
					want = append(want, name)
				}
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Fatalf("Retained.Match(%q) = %q, want %q", filter, got, want)
			}
		case 5:
			name := p.levels(nameLevels)
			if ValidateName(name) != nil {
				continue
			}
			tr.Match(name, &result)
			gotSubs, gotMembers, ok := flatten(&result)
			if !ok {
				t.Fatalf("Match(%q) returned malformed groups %+v", name, result.Groups)
			}
			wantSubs, wantMembers := ref.match(name)
			if !slices.Equal(gotSubs, wantSubs) || !slices.Equal(gotMembers, wantMembers) {
				t.Fatalf("Match(%q)\n got %+v %+v\nwant %+v %+v", name, gotSubs, gotMembers, wantSubs, wantMembers)
			}
		}
		if tr.Len() != len(ref.subs) || ret.Len() != len(refRet) {
			t.Fatalf("Len = %d and %d, want %d and %d", tr.Len(), ret.Len(), len(ref.subs), len(refRet))
		}
	}
}

// FuzzMatch compares Tree and Retained with the reference matcher over
// sequences of operations.
func FuzzMatch(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0, 0, 1, 5, 0, 0})
	f.Add([]byte{0, 1, 2, 0, 7, 2, 5, 1, 0, 3, 0, 1, 4, 0, 7})
	f.Add([]byte{3, 1, 1, 0, 3, 0, 2, 1, 4, 0, 8, 4, 0, 7, 3, 0, 3, 3})
	f.Add([]byte{0, 0, 2, 2, 0, 8, 0, 0, 1, 0, 2, 1, 0, 9, 1, 0, 5, 2, 0, 0, 5, 0, 1})
	f.Fuzz(func(t *testing.T, data []byte) {
		runProgram(t, data)
	})
}

// FuzzFilterName checks arbitrary strings: validation never panics, and for
// every valid pair both indexes agree with the reference matcher.
func FuzzFilterName(f *testing.F) {
	for _, seed := range [][2]string{
		{"sport/#", "sport"}, {"+/+", "/finance"}, {"#", "$SYS/x"}, {"$share/g/a/+", "a/b"},
		{"a/+/c", "a//c"}, {"+", "café"}, {"a/#/b", "a/x/b"}, {"a\x00", "a"}, {"$SYS/+", "$SYS/"},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, filter, name string) {
		shareName, inner, shared, err := ParseShared(filter)
		if err != nil {
			var tr Tree
			if !shared {
				if _, serr := tr.Subscribe(Subscription{ClientID: "c", Filter: filter}); serr == nil {
					t.Fatalf("Subscribe accepted %q, which ParseShared rejects: %v", filter, err)
				}
			}
			return
		}
		if ValidateName(name) != nil {
			return
		}
		want := refMatches(inner, name)

		var tr Tree
		if _, err := tr.Subscribe(Subscription{ClientID: "c", ShareName: shareName, Filter: inner}); err != nil {
			t.Fatalf("Subscribe(%q, %q): %v", shareName, inner, err)
		}
		var r Result
		tr.Match(name, &r)
		if got := len(r.Subscriptions)+len(r.Groups) == 1; got != want {
			t.Fatalf("Tree: %q (share %q, shared %v) matches %q: %v, want %v", inner, shareName, shared, name, got, want)
		}

		var ret Retained[string]
		ret.Set(name, name)
		if got := len(ret.Match(inner, nil)) == 1; got != want {
			t.Fatalf("Retained: %q matches %q: %v, want %v", inner, name, got, want)
		}
	})
}

// TestMatchAgainstReference runs random programs, so that plain go test
// covers far more than the fuzz seeds.
func TestMatchAgainstReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	n := 300
	if testing.Short() {
		n = 50
	}
	for range n {
		data := make([]byte, 50+rng.IntN(400))
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		runProgram(t, data)
		if t.Failed() {
			t.Logf("program: %v", data)
			return
		}
	}
}
