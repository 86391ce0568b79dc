package config

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
)

const envPrefix = "PETREL_"

// envName is the environment variable for a top-level key.
func envName(key string) string { return envPrefix + strings.ToUpper(key) }

// listEnv replaces the listeners with a comma-separated list of addresses.
var listEnv = envName("listeners")

// notSettings are PETREL_ variables that belong to something else than the
// broker's configuration: the test suite's switch that turns a missing
// interop client from a skip into a failure. CI sets it in the same
// environment the binary starts in.
var notSettings = map[string]bool{"PETREL_REQUIRE_INTEROP": true}

// applyEnv applies the PETREL_ variables in env. PETREL_LISTENERS goes
// first, since the per-listener variables refine the list it makes.
func (c *Config) applyEnv(env []string) error {
	vars := map[string]string{}
	for _, kv := range env {
		name, v, _ := strings.Cut(kv, "=")
		// An empty variable counts as unset, as shells and container
		// runtimes make it easy to set one to nothing by accident.
		if strings.HasPrefix(name, envPrefix) && v != "" && !notSettings[name] {
			vars[name] = v
		}
	}
	if v, ok := vars[listEnv]; ok {
		c.Listeners = c.Listeners[:0]
		for addr := range strings.SplitSeq(v, ",") {
			l, err := newListener(strings.TrimSpace(addr), listEnv)
			if err != nil {
				return fmt.Errorf("%s: %w", listEnv, err)
			}
			c.Listeners = append(c.Listeners, l)
		}
		c.listenersFrom = listEnv
		delete(vars, listEnv)
	}
	// Sorted, so that with several bad variables the same one is reported
	// every time.
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		if err := c.applyEnvVar(name, vars[name]); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func (c *Config) applyEnvVar(name, v string) error {
	for _, s := range settings {
		if envName(s.key) == name {
			if err := s.set(c, v); err != nil {
				return err
			}
			c.record(s.key, v, name)
			return nil
		}
	}
	if upper := strings.ToUpper(name); name != upper {
		return fmt.Errorf("unknown setting; the variables are upper case, as in %s", upper)
	}
	rest, ok := strings.CutPrefix(name, listEnv+"_")
	if !ok {
		return errors.New("unknown setting")
	}
	index, lkey, _ := strings.Cut(rest, "_")
	i, err := strconv.Atoi(index)
	var ls *listenerSetting
	for j := range listenerSettings {
		if strings.ToUpper(strings.ReplaceAll(listenerSettings[j].key, ".", "_")) == lkey {
			ls = &listenerSettings[j]
		}
	}
	if err != nil || ls == nil {
		keys := make([]string, len(listenerSettings))
		for j, s := range listenerSettings {
			keys[j] = strings.TrimPrefix(listenerEnvName(0, s.key), listEnv+"_0")
		}
		last := len(keys) - 1
		return fmt.Errorf("unknown setting; a listener's settings are %s_<index>%s and %s",
			listEnv, strings.Join(keys[:last], ", "), keys[last])
	}
	if len(c.Listeners) == 0 {
		// Refining the default listener, as in
		// PETREL_LISTENERS_0_ADDRESS=0.0.0.0:1883.
		c.Listeners = []Listener{defaultListener(defaultAddress, "")}
	}
	if i < 0 || i >= len(c.Listeners) {
		return fmt.Errorf("there is no listener %d: %d are configured (list their addresses in PETREL_LISTENERS)", i, len(c.Listeners))
	}
	if c.listenersFrom == "" {
		c.listenersFrom = name
	}
	vs := []string{v}
	if ls.setList != nil {
		vs = strings.Split(v, ",")
		for j := range vs {
			vs[j] = strings.TrimSpace(vs[j])
		}
	}
	return ls.apply(&c.Listeners[i], vs, name)
}
