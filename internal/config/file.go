package config

import (
	"errors"
	"fmt"
	"strconv"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// applyFile applies the YAML document data, read from the file name. It
// walks the syntax tree rather than decoding into a struct, because the
// tree keeps every key's line for the errors and lets unknown keys be
// reported where they are.
func (c *Config) applyFile(name string, data []byte) error {
	f, err := parser.ParseBytes(data, 0)
	if err != nil {
		var ye yaml.Error
		if errors.As(err, &ye) {
			return fmt.Errorf("%s:%d: invalid YAML: %s", name, ye.GetToken().Position.Line, ye.GetMessage())
		}
		return fmt.Errorf("%s: invalid YAML: %w", name, err)
	}
	if len(f.Docs) > 1 {
		second := f.Docs[1]
		tok := second.Start // the --- that starts it, or else its first token
		if tok == nil && second.Body != nil {
			tok = second.Body.GetToken()
		}
		if tok != nil {
			return fmt.Errorf("%s:%d: want one YAML document, found another", name, tok.Position.Line)
		}
	}
	if len(f.Docs) == 0 || f.Docs[0].Body == nil {
		return nil // an empty file, or only comments
	}
	at := func(n ast.Node) string { return fmt.Sprintf("%s:%d", name, line(n)) }
	top, ok := f.Docs[0].Body.(*ast.MappingNode)
	if !ok {
		return fmt.Errorf("%s: want a mapping of settings such as max_queued_messages: 1000", at(f.Docs[0].Body))
	}
	for _, kv := range top.Values {
		key := kv.Key.String()
		if key == "listeners" {
			if err := c.applyFileListeners(kv.Value, at); err != nil {
				return err
			}
			c.listenersFrom = at(kv.Key)
			continue
		}
		s := findSetting(key)
		if s == nil {
			return fmt.Errorf("%s: %s: unknown key", at(kv.Key), key)
		}
		v, err := scalar(kv.Value)
		if err == nil {
			err = s.set(c, v)
		}
		if err != nil {
			return fmt.Errorf("%s: %s: %w", at(kv.Value), key, err)
		}
	}
	return nil
}

func (c *Config) applyFileListeners(n ast.Node, at func(ast.Node) string) error {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		return fmt.Errorf("%s: listeners: want a list such as [{address: 127.0.0.1:1883}]", at(n))
	}
	if len(seq.Values) == 0 {
		return fmt.Errorf("%s: listeners: want at least one listener, or leave the key out for %s", at(n), defaultAddress)
	}
	c.Listeners = c.Listeners[:0]
	for i, entry := range seq.Values {
		path := "listeners[" + strconv.Itoa(i) + "]"
		m, ok := entry.(*ast.MappingNode)
		if !ok {
			return fmt.Errorf("%s: %s: want a mapping such as {address: 127.0.0.1:1883}", at(entry), path)
		}
		l := Listener{inFile: true}
		for _, kv := range m.Values {
			key := kv.Key.String()
			i := findListenerSetting(key)
			if i < 0 {
				return fmt.Errorf("%s: %s.%s: unknown key", at(kv.Key), path, key)
			}
			where := at(kv.Value) + ": " + path + "." + key
			v, err := scalar(kv.Value)
			if err == nil {
				err = listenerSettings[i].set(&l, v, where)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", where, err)
			}
		}
		if l.Network == "" {
			return fmt.Errorf("%s: %s: want an address, such as address: 127.0.0.1:1883", at(entry), path)
		}
		c.Listeners = append(c.Listeners, l)
	}
	return nil
}

// scalar is the text of a value that should be a single number, word or
// string, in the form settings parse.
func scalar(n ast.Node) (string, error) {
	switch n := n.(type) {
	case *ast.StringNode:
		return n.Value, nil
	case *ast.IntegerNode, *ast.BoolNode:
		// Their values, not their text, so 0x10 and True read as 16 and true.
		return fmt.Sprint(n.(ast.ScalarNode).GetValue()), nil
	case *ast.FloatNode:
		return n.GetToken().Value, nil
	case *ast.LiteralNode:
		return n.Value.Value, nil
	case *ast.NullNode:
		return "", errors.New("want a value")
	}
	return "", fmt.Errorf("want a single value, not a %s", n.Type().YAMLName())
}

func line(n ast.Node) int { return n.GetToken().Position.Line }
