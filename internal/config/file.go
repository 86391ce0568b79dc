package config

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

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
		c.record(key, v, at(kv.Value)+": "+key)
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
			if key != "tls" {
				if strings.Contains(key, ".") {
					return fmt.Errorf("%s: %s.%s: unknown key", at(kv.Key), path, key)
				}
				if err := applyFileListenerKey(&l, key, path+"."+key, kv, at); err != nil {
					return err
				}
				continue
			}
			tm, ok := kv.Value.(*ast.MappingNode)
			if !ok {
				return fmt.Errorf("%s: %s.tls: want a mapping such as {cert_file: server.crt, key_file: server.key}", at(kv.Value), path)
			}
			l.tls()
			l.tlsAt = at(kv.Key)
			for _, tkv := range tm.Values {
				tkey := tkv.Key.String()
				if err := applyFileListenerKey(&l, "tls."+tkey, path+".tls."+tkey, tkv, at); err != nil {
					return err
				}
			}
		}
		if l.Network == "" {
			return fmt.Errorf("%s: %s: want an address, such as address: 127.0.0.1:1883", at(entry), path)
		}
		c.Listeners = append(c.Listeners, l)
	}
	return nil
}

// applyFileListenerKey applies one key of a listener; path is the key as
// errors name it, such as listeners[0].tls.cert_file.
func applyFileListenerKey(l *Listener, key, path string, kv *ast.MappingValueNode, at func(ast.Node) string) error {
	s := findListenerSetting(key)
	if s == nil {
		return fmt.Errorf("%s: %s: unknown key", at(kv.Key), path)
	}
	where := at(kv.Value) + ": " + path
	var vs []string
	var err error
	if s.setList != nil {
		vs, err = scalars(kv.Value)
	} else {
		var v string
		v, err = scalar(kv.Value)
		vs = []string{v}
	}
	if err == nil {
		err = s.apply(l, vs, where)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", where, err)
	}
	return nil
}

// scalars are the values of a list: a sequence of single values, or one
// value alone.
func scalars(n ast.Node) ([]string, error) {
	seq, ok := n.(*ast.SequenceNode)
	if !ok {
		v, err := scalar(n)
		return []string{v}, err
	}
	vs := make([]string, len(seq.Values))
	for i, item := range seq.Values {
		v, err := scalar(item)
		if err != nil {
			return nil, err
		}
		vs[i] = v
	}
	return vs, nil
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
