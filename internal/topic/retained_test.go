package topic

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func retainedMatch(r *Retained[string], filter string) []string {
	return slices.Sorted(slices.Values(r.Match(filter, nil)))
}

func TestRetainedMatch(t *testing.T) {
	var r Retained[string]
	topics := []string{"sport", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
		"sport/", "/finance", "$SYS/broker/load", "$SYS", "a/b/c", "a/x/c", "a//c", "caf\u00e9"}
	for _, tp := range topics {
		if r.Set(tp, tp) {
			t.Fatalf("Set(%q) reported a replacement", tp)
		}
	}
	cases := []struct {
		ref    string
		filter string
		want   []string
	}{
		{"MQTT-4.7.1-2", "sport/#", []string{"sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking"}},
		{"MQTT-4.7.1-2", "sport/tennis/player1/#", []string{"sport/tennis/player1", "sport/tennis/player1/ranking"}},
		{"MQTT-4.7.1-2", "#", []string{"/finance", "a//c", "a/b/c", "a/x/c", "caf\u00e9", "sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking"}},
		{"MQTT-4.7.1-3", "sport/+", []string{"sport/", "sport/tennis"}},
		{"MQTT-4.7.1-3", "+", []string{"caf\u00e9", "sport"}},
		{"MQTT-4.7.1-3", "+/+", []string{"/finance", "sport/", "sport/tennis"}},
		{"MQTT-4.7.1-3", "a/+/c", []string{"a//c", "a/b/c", "a/x/c"}},
		{"MQTT-4.7.2-1", "+/broker/load", nil},
		{"MQTT-4.7.2-1", "$SYS/#", []string{"$SYS", "$SYS/broker/load"}},
		{"MQTT-4.7.2-1", "$SYS/+/load", []string{"$SYS/broker/load"}},
		{"MQTT-4.7.3-4", "cafe\u0301", nil},
		{"MQTT-4.7.3-4", "SPORT/#", nil},
		{"MQTT-4.7.3-4", "a/b/c", []string{"a/b/c"}},
	}
	for _, c := range cases {
		for _, ref := range rule(v311and5, c.ref) {
			t.Run(ref+"/"+printable(c.filter), func(t *testing.T) {
				if got := retainedMatch(&r, c.filter); !slices.Equal(got, c.want) {
					t.Errorf("Match(%q) = %q, want %q", c.filter, got, c.want)
				}
				for _, tp := range topics {
					if refMatches(c.filter, tp) != slices.Contains(c.want, tp) {
						t.Errorf("reference matcher disagrees on (%q, %q)", c.filter, tp)
					}
				}
			})
		}
	}
}

func TestRetainedSetDelete(t *testing.T) {
	var r Retained[int]
	if r.Set("a/b", 1) || !r.Set("a/b", 2) {
		t.Fatal("Set did not report replacement correctly")
	}
	r.Set("a", 3)
	if r.Len() != 2 {
		t.Fatalf("Len = %d, want 2", r.Len())
	}
	if got := r.Match("a/b", nil); !slices.Equal(got, []int{2}) {
		t.Fatalf("Match after replacement = %v", got)
	}
	if r.Delete("a/b/c") || r.Delete("x") {
		t.Fatal("Delete of an absent topic succeeded")
	}
	if !r.Delete("a") || r.Delete("a") {
		t.Fatal("Delete of an interior topic misreported")
	}
	if got := r.Match("a/#", nil); !slices.Equal(got, []int{2}) {
		t.Fatalf("Match(a/#) after deleting a = %v", got)
	}
	if !r.Delete("a/b") || r.Len() != 0 {
		t.Fatalf("Delete(a/b) left Len = %d", r.Len())
	}
	for side := range r.lr.inst {
		if n := r.lr.inst[side].children.len(); n != 0 {
			t.Errorf("copy %d keeps %d empty levels after deleting everything", side, n)
		}
	}
}

func TestRetainedManyChildren(t *testing.T) {
	var r Retained[string]
	var want []string
	for i := range 100 {
		tp := "dev/" + itoa(i) + "/temp"
		r.Set(tp, tp)
		want = append(want, tp)
		r.Set("dev/"+itoa(i)+"/hum", "h")
	}
	slices.Sort(want)
	if got := retainedMatch(&r, "dev/+/temp"); !slices.Equal(got, want) {
		t.Fatalf("Match(dev/+/temp) returned %d topics, want %d", len(got), len(want))
	}
	buf := make([]string, 0, 256)
	if n := testing.AllocsPerRun(50, func() { buf = r.Match("dev/+/temp", buf[:0]) }); n != 0 {
		t.Errorf("Match into a large enough buffer allocates %v times", n)
	}
}

// TestRetainedConcurrent checks that a topic retained throughout is always
// found, and that a writer sees its own Set and Delete at once.
func TestRetainedConcurrent(t *testing.T) {
	var r Retained[string]
	stable := []string{"s/a", "s/b/c", "$SYS/x"}
	for _, tp := range stable {
		r.Set(tp, tp)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
		stop.Store(true)
	}
	for w := range 2 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 2))
			for !stop.Load() {
				tp := fmt.Sprintf("s/w%d/%d", w, rng.IntN(20))
				r.Set(tp, tp)
				if !slices.Contains(r.Match("s/#", nil), tp) {
					report(fmt.Errorf("own Set(%q) not matched", tp))
					return
				}
				r.Delete(tp)
				if slices.Contains(r.Match("s/+/+", nil), tp) {
					report(fmt.Errorf("own Delete(%q) still matched", tp))
					return
				}
			}
		})
	}
	for range 2 {
		wg.Go(func() {
			var buf []string
			for !stop.Load() {
				buf = r.Match("#", buf[:0])
				for _, want := range []string{"s/a", "s/b/c"} {
					if !slices.Contains(buf, want) {
						report(fmt.Errorf("stable %q missing from Match(#)", want))
						return
					}
				}
				if slices.Contains(buf, "$SYS/x") {
					report(fmt.Errorf("Match(#) returned $SYS/x"))
					return
				}
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if r.Len() != len(stable) {
		t.Errorf("Len = %d after churn, want %d", r.Len(), len(stable))
	}
}
