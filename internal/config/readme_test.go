package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestREADME keeps the user's documentation true: its example file loads,
// and it lists every key.
func TestREADME(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "```yaml\n")
	example, _, closed := strings.Cut(rest, "```")
	if !ok || !closed {
		t.Fatal("README.md has no ```yaml example")
	}
	c, err := load(t, example, nil, Flags{})
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	if len(c.Listeners) != 3 || !c.Listeners[1].AllowAnonymous {
		t.Errorf("README example gave listeners %+v", c.Listeners)
	}
	for _, s := range settings {
		if !strings.Contains(string(readme), "| `"+s.key+"` |") {
			t.Errorf("README.md does not list %s", s.key)
		}
	}
	for _, s := range listenerSettings {
		if !strings.Contains(string(readme), "| `"+s.key+"` |") {
			t.Errorf("README.md does not list the listener key %s", s.key)
		}
	}
}

// TestREADMEListeners loads the README's example of listeners.
func TestREADMEListeners(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), "### Listeners")
	_, rest, ok2 := strings.Cut(rest, "```yaml\n")
	example, _, closed := strings.Cut(rest, "```")
	if !ok || !ok2 || !closed {
		t.Fatal("README.md has no ```yaml example under ### Listeners")
	}
	c, err := load(t, example, nil, Flags{})
	if err != nil {
		t.Fatalf("README listeners example: %v", err)
	}
	var kinds []string
	for _, l := range c.Listeners {
		kinds = append(kinds, l.Kind())
	}
	if got := strings.Join(kinds, " "); got != "mqtts wss mqtt" {
		t.Errorf("README example gave listeners of kinds %s, want mqtts wss mqtt", got)
	}
}
